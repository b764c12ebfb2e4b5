//! REST handlers. Every error is an [`ApiError`]; every request that fails changes
//! nothing (checks come before the mempool; the mempool takes all or nothing of one
//! transaction).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use markets::{
    Action, AssetId, CancelOrder, ChainId, ExecutedBlock, Hash, MarketId, OrderAction,
    SignedTransaction, Transaction,
};
use matching::{OrderId, OrderRef};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast::error::RecvError;

use crate::binary::{self, SubmitBody};
use crate::candles::{Candle, Interval, QUERY_CANDLES_MAX};
use crate::error::{ApiError, from_rejection};
use crate::feed::{Cursor, tx_status};
use crate::history::{self, Subject};
use crate::view::ReadView;
use crate::wire::ApiCode;
use crate::wire::{
    AccountJson, ActionJson, BalanceJson, BatchItem, BatchRequest, BatchResponse, BlockJson,
    BookJson, CancelBody, CandlesJson, CandlesQuery, DepthQuery, ErrorBody, FaucetRequest,
    FillsPage, FillsQuery, HealthJson, MarketJson, OrderActionJson, OrderJson, SubmitRequest,
    SubmitResponse, TradesPage, TransactionJson, TxStatus, TxStatusKind, WaitQuery, parse_hex32,
};
use crate::{App, Node};

/// Book levels per side a request may ask for.
pub const BOOK_DEPTH_MAX: usize = 5_000;
/// Trades or fills per page.
pub const PAGE_MAX: usize = 1_000;

/// Every route the server answers, as `(method, path)` in OpenAPI's path syntax. The
/// router is built from this list ([`routes`]), and a test checks that the OpenAPI
/// document has exactly these operations, so the router and the document cannot
/// disagree.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/markets"),
    ("GET", "/v1/markets/{market}"),
    ("GET", "/v1/markets/{market}/book"),
    ("GET", "/v1/markets/{market}/trades"),
    ("GET", "/v1/markets/{market}/candles"),
    ("GET", "/v1/accounts/{account}"),
    ("GET", "/v1/accounts/{account}/orders"),
    ("GET", "/v1/accounts/{account}/fills"),
    ("POST", "/v1/orders"),
    ("GET", "/v1/orders/{order_id}"),
    ("DELETE", "/v1/orders/{order_id}"),
    ("POST", "/v1/transactions"),
    ("POST", "/v1/transactions/batch"),
    ("GET", "/v1/transactions/{hash}"),
    ("GET", "/v1/blocks/latest"),
    ("GET", "/v1/blocks/{height}"),
    ("GET", "/v1/blocks/{height}/raw"),
    ("POST", "/v1/faucet"),
    ("GET", "/v1/ws"),
];

/// The handler of one route of [`ROUTES`].
fn handler<N: Node>(method: &str, path: &str) -> MethodRouter<Arc<App<N>>> {
    match (method, path) {
        ("GET", "/v1/health") => get(health::<N>),
        ("GET", "/metrics") => get(metrics::<N>),
        ("GET", "/openapi.json") => get(openapi),
        ("GET", "/v1/markets") => get(markets_list::<N>),
        ("GET", "/v1/markets/{market}") => get(market_one::<N>),
        ("GET", "/v1/markets/{market}/book") => get(book::<N>),
        ("GET", "/v1/markets/{market}/trades") => get(trades::<N>),
        ("GET", "/v1/markets/{market}/candles") => get(candles::<N>),
        ("GET", "/v1/accounts/{account}") => get(account::<N>),
        ("GET", "/v1/accounts/{account}/orders") => get(account_orders::<N>),
        ("GET", "/v1/accounts/{account}/fills") => get(account_fills::<N>),
        ("POST", "/v1/orders") => post(place_order::<N>),
        ("GET", "/v1/orders/{order_id}") => get(order::<N>),
        ("DELETE", "/v1/orders/{order_id}") => delete(cancel_order::<N>),
        ("POST", "/v1/transactions") => post(submit::<N>),
        ("POST", "/v1/transactions/batch") => post(submit_batch::<N>),
        ("GET", "/v1/transactions/{hash}") => get(transaction::<N>),
        ("GET", "/v1/blocks/latest") => get(block_latest::<N>),
        ("GET", "/v1/blocks/{height}") => get(block_at::<N>),
        ("GET", "/v1/blocks/{height}/raw") => get(block_raw::<N>),
        ("POST", "/v1/faucet") => post(faucet::<N>),
        ("GET", "/v1/ws") => get(crate::ws::upgrade::<N>),
        _ => panic!("{method} {path} is in ROUTES but has no handler"),
    }
}

/// Every route of [`ROUTES`] and nothing else (axum merges the methods of one path).
pub fn routes<N: Node>() -> Router<Arc<App<N>>> {
    ROUTES
        .iter()
        .fold(Router::new(), |router, &(method, path)| {
            router.route(path, handler::<N>(method, path))
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ApiCode::MethodNotAllowed,
        "this route does not take this method",
    )
}

/// JSON body whose failures use the API's error shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    from_rejection(rejection.status(), rejection.body_text())
}

/// Query string whose failures use the API's error shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::malformed(rejection.body_text())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

#[utoipa::path(get, path = "/openapi.json", tag = "node",
    responses((status = 200, description = "This document.", content_type = "application/json", body = Object)))]
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
        .into_response()
}

type AppState<N> = State<Arc<App<N>>>;

#[utoipa::path(get, path = "/v1/health", tag = "node",
    responses((status = 200, description = "The node's chain, height and mempool.", body = HealthJson)))]
async fn health<N: Node>(State(app): AppState<N>) -> axum::Json<HealthJson> {
    let mempool = app.node.mempool_len() as u64;
    let view = app.node.view();
    axum::Json(HealthJson {
        status: "ok".into(),
        chain_id: view.chain_id,
        height: view.height,
        last_block_hash: view.block_hash.to_string(),
        last_block_timestamp_ms: view.timestamp_ms,
        mempool,
        genesis_hash: view.genesis_hash.to_string(),
    })
}

#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus/OpenMetrics text.", content_type = "application/openmetrics-text", body = String)))]
async fn metrics<N: Node>(State(app): AppState<N>) -> Response {
    app.metrics
        .mempool
        .set(i64::try_from(app.node.mempool_len()).unwrap_or(i64::MAX));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

/// A market by id (`0`) or symbol (`BTC-USD`, any case).
/// The longest market name a path may hold, as the document says (ids and symbols are
/// far shorter).
pub const MARKET_NAME_LENGTH_MAX: usize = 64;

/// Unknown: 404 `NOT_FOUND` (a path that names nothing), not the transaction reject
/// `UNKNOWN_MARKET` (422): one status per code. Longer than the document allows: 400
/// `MALFORMED`, even if it would parse (`000…0` is market 0).
fn find_market(view: &ReadView, name: &str) -> Result<u32, ApiError> {
    // Characters, as JSON Schema's maxLength counts them, not bytes.
    if name.is_empty() || name.chars().count() > MARKET_NAME_LENGTH_MAX {
        return Err(ApiError::malformed(format!(
            "a market is its id or symbol: 1 to {MARKET_NAME_LENGTH_MAX} characters"
        )));
    }
    view.find_market(name)
        .ok_or_else(|| ApiError::not_found(format!("no market {name:?} (an id or a symbol)")))
}

fn market_json(view: &ReadView, id: u32) -> MarketJson {
    let market = &view.markets[id as usize];
    let mut json = MarketJson::new(id, &market.config, &view.assets);
    json.best_bid = market.best_bid();
    json.best_ask = market.best_ask();
    json.resting_orders = market.resting_orders;
    json.last_trade_seq = market.trade_seq;
    json
}

#[utoipa::path(get, path = "/v1/markets", tag = "markets",
    responses((status = 200, description = "Every market, in id order.", body = Vec<MarketJson>)))]
async fn markets_list<N: Node>(State(app): AppState<N>) -> axum::Json<Vec<MarketJson>> {
    let view = app.node.view();
    axum::Json(
        (0..view.markets.len())
            .map(|i| market_json(&view, u32::try_from(i).expect("markets are few")))
            .collect(),
    )
}

#[utoipa::path(get, path = "/v1/markets/{market}", tag = "markets", params(("market" = String, Path, description = "The market: its id (`0`) or its symbol in any case (`BTC-USD`).", min_length = 1, max_length = 64)),
    responses((status = 200, description = "The market.", body = MarketJson),
        (status = 400, description = "`MALFORMED`: a market name over 64 characters.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such market.", body = ErrorBody)))]
async fn market_one<N: Node>(
    State(app): AppState<N>,
    Path(market): Path<String>,
) -> Result<axum::Json<MarketJson>, ApiError> {
    let view = app.node.view();
    Ok(axum::Json(market_json(&view, find_market(&view, &market)?)))
}

#[utoipa::path(get, path = "/v1/markets/{market}/book", tag = "markets", params(("market" = String, Path, description = "The market: its id (`0`) or its symbol in any case (`BTC-USD`).", min_length = 1, max_length = 64), DepthQuery),
    responses((status = 200, description = "Aggregated levels, best first.", body = BookJson),
        (status = 400, description = "`MALFORMED`: `depth` out of range or not a number, or a market name over 64 characters.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such market.", body = ErrorBody)))]
async fn book<N: Node>(
    State(app): AppState<N>,
    Path(market): Path<String>,
    ApiQuery(query): ApiQuery<DepthQuery>,
) -> Result<axum::Json<BookJson>, ApiError> {
    let depth = in_range("depth", query.depth, 50, BOOK_DEPTH_MAX)?;
    let view = app.node.view();
    let id = find_market(&view, &market)?;
    Ok(axum::Json(book_json(&view, id, depth)))
}

/// The book of `market` in `view`, `depth` levels a side, with the sequence number of
/// the same view: the deltas that follow it on the websocket start at `seq + 1`.
pub fn book_json(view: &ReadView, market: u32, depth: usize) -> BookJson {
    let m = &view.markets[market as usize];
    BookJson {
        market,
        height: view.height,
        seq: m.seq,
        bids: m.bids.iter().take(depth).copied().collect(),
        asks: m.asks.iter().take(depth).copied().collect(),
    }
}

#[utoipa::path(get, path = "/v1/markets/{market}/trades", tag = "markets", params(("market" = String, Path, description = "The market: its id (`0`) or its symbol in any case (`BTC-USD`).", min_length = 1, max_length = 64), FillsQuery),
    responses((status = 200, description = "A page of the market's fills, newest first, over its whole history.", body = TradesPage),
        (status = 400, description = "`MALFORMED`: `limit` or `before` out of range or not a number, or a market name over 64 characters.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such market.", body = ErrorBody)))]
async fn trades<N: Node>(
    State(app): AppState<N>,
    Path(market): Path<String>,
    ApiQuery(query): ApiQuery<FillsQuery>,
) -> Result<axum::Json<TradesPage>, ApiError> {
    let id = find_market(&app.node.view(), &market)?;
    let (before, limit) = page_query(&query)?;
    let recent = app.feed.trades(id, before, limit);
    let page = history_page(&app, Subject::Market(id), recent, before, limit).await?;
    Ok(axum::Json(TradesPage {
        trades: page.items,
        next: page.next.map(cursor_text),
    }))
}

/// `limit` and `before` of a history page.
fn page_query(query: &FillsQuery) -> Result<(Option<Cursor>, usize), ApiError> {
    let limit = in_range("limit", query.limit, 100, PAGE_MAX)?;
    let before = match query.before.as_deref() {
        None => None,
        Some(text) => Some(
            parse_cursor(text).ok_or_else(|| ApiError::malformed("before is height:market:seq"))?,
        ),
    };
    Ok((before, limit))
}

fn cursor_text((height, market, seq): Cursor) -> String {
    format!("{height}:{market}:{seq}")
}

/// A page of history: what the feed holds, then stored blocks (off the async workers).
async fn history_page<N: Node>(
    app: &Arc<App<N>>,
    subject: Subject,
    recent: crate::feed::Recent,
    before: Option<Cursor>,
    limit: usize,
) -> Result<history::Page, ApiError> {
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || {
        let view = app.node.view();
        history::page(&*app.node, &view, subject, recent, before, limit)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}

#[utoipa::path(get, path = "/v1/markets/{market}/candles", tag = "markets", params(("market" = String, Path, description = "The market: its id (`0`) or its symbol in any case (`BTC-USD`).", min_length = 1, max_length = 64), CandlesQuery),
    responses((status = 200, description = "The market's candles (OHLCV), oldest first; only intervals with a fill.", body = CandlesJson),
        (status = 400, description = "`MALFORMED`: an unknown `interval`, `limit` out of range, `from` after `to`, or a market name over 64 characters.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such market.", body = ErrorBody)))]
async fn candles<N: Node>(
    State(app): AppState<N>,
    Path(market): Path<String>,
    ApiQuery(query): ApiQuery<CandlesQuery>,
) -> Result<axum::Json<CandlesJson>, ApiError> {
    let id = find_market(&app.node.view(), &market)?;
    let interval = match query.interval.as_deref() {
        None => Interval::M1,
        Some(text) => Interval::parse(text)
            .ok_or_else(|| ApiError::malformed("interval is 1m, 5m, 15m, 1h, 4h or 1d"))?,
    };
    let limit = in_range("limit", query.limit, 500, QUERY_CANDLES_MAX)?;
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(ApiError::malformed("from is after to"));
    }
    // Merging up to a year of minutes: off the async workers.
    let all = Arc::clone(app.feed.candles());
    let (from, to) = (query.from, query.to);
    let candles = tokio::task::spawn_blocking(move || all.query(id, interval, from, to, limit))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(CandlesJson {
        market: id,
        interval,
        candles: candles.iter().map(Candle::json).collect(),
    }))
}

fn parse_account(text: &str) -> Result<[u8; 32], ApiError> {
    parse_hex32(text).ok_or_else(|| {
        ApiError::new(
            ApiCode::BadAccount,
            "an account is its ed25519 public key: 64 hex characters",
        )
    })
}

#[utoipa::path(get, path = "/v1/accounts/{account}", tag = "accounts", params(("account" = String, Path, description = "The account: its ed25519 public key, 64 hex characters (either case, optional 0x).", pattern = "^(0x)?[0-9a-fA-F]{64}$")),
    responses((status = 200, description = "Balances and the highest used nonce (any key is answered).", body = AccountJson),
        (status = 400, description = "`BAD_ACCOUNT`.", body = ErrorBody)))]
async fn account<N: Node>(
    State(app): AppState<N>,
    Path(account): Path<String>,
) -> Result<axum::Json<AccountJson>, ApiError> {
    let key = parse_account(&account)?;
    let view = app.node.view();
    let found = view.account(&key);
    Ok(axum::Json(AccountJson {
        account: hex::encode(key),
        height: view.height,
        exists: found.is_some(),
        balances: view
            .assets
            .iter()
            .enumerate()
            .map(|(i, asset)| {
                let balance = found.map(|a| a.balances[i]).unwrap_or_default();
                BalanceJson {
                    asset: u32::try_from(i).expect("assets are few"),
                    symbol: asset.symbol.clone(),
                    available: balance.available,
                    held: balance.held,
                }
            })
            .collect(),
        last_nonce: found.and_then(|a| a.last_nonce),
    }))
}

#[utoipa::path(get, path = "/v1/accounts/{account}/orders", tag = "accounts", params(("account" = String, Path, description = "The account: its ed25519 public key, 64 hex characters (either case, optional 0x).", pattern = "^(0x)?[0-9a-fA-F]{64}$")),
    responses((status = 200, description = "The account's open orders, markets in id order.", body = Vec<OrderJson>),
        (status = 400, description = "`BAD_ACCOUNT`.", body = ErrorBody)))]
async fn account_orders<N: Node>(
    State(app): AppState<N>,
    Path(account): Path<String>,
) -> Result<axum::Json<Vec<OrderJson>>, ApiError> {
    let key = parse_account(&account)?;
    let view = app.node.view();
    Ok(axum::Json(view.account_orders(&key)))
}

#[utoipa::path(get, path = "/v1/accounts/{account}/fills", tag = "accounts", params(("account" = String, Path, description = "The account: its ed25519 public key, 64 hex characters (either case, optional 0x).", pattern = "^(0x)?[0-9a-fA-F]{64}$"), FillsQuery),
    responses((status = 200, description = "A page of the account's fills, newest first.", body = FillsPage),
        (status = 400, description = "`BAD_ACCOUNT`, or `MALFORMED` (`limit` or `before`).", body = ErrorBody)))]
async fn account_fills<N: Node>(
    State(app): AppState<N>,
    Path(account): Path<String>,
    ApiQuery(query): ApiQuery<FillsQuery>,
) -> Result<axum::Json<FillsPage>, ApiError> {
    let key = parse_account(&account)?;
    let (before, limit) = page_query(&query)?;
    let recent = app.feed.fills(&key, before, limit);
    let page = history_page(&app, Subject::Account(key), recent, before, limit).await?;
    Ok(axum::Json(FillsPage {
        fills: page.items,
        next: page.next.map(cursor_text),
    }))
}

fn parse_cursor(text: &str) -> Option<(u64, u32, u64)> {
    let mut parts = text.split(':');
    let cursor = (
        parse_decimal(parts.next()?)?,
        u32::try_from(parse_decimal_at_most(parts.next()?, u64::from(u32::MAX))?).ok()?,
        parse_decimal(parts.next()?)?,
    );
    parts.next().is_none().then_some(cursor)
}

/// A u64 as text, exactly as the document's pattern says (`wire::schemas::u64_pattern`):
/// decimal digits only (`str::parse` would also take a leading `+`), at most 20.
pub fn parse_decimal(text: &str) -> Option<u64> {
    parse_decimal_at_most(text, u64::MAX)
}

/// Decimal digits, no more of them than `max` has, with a value at most `max`
/// (`wire::schemas::decimal_pattern`).
fn parse_decimal_at_most(text: &str, max: u64) -> Option<u64> {
    let digits_max = max.to_string().len();
    if text.is_empty() || text.len() > digits_max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&value| value <= max)
}

/// `timeout_ms` as the document says: at most the longest wait.
fn check_wait(wait: &WaitQuery, config: &crate::ApiConfig) -> Result<(), ApiError> {
    match wait.timeout_ms {
        Some(ms) if ms > config.wait_ms_max => Err(ApiError::malformed(format!(
            "timeout_ms is at most {}",
            config.wait_ms_max
        ))),
        _ => Ok(()),
    }
}

/// A paging or depth parameter: `default` when absent, else 1 to `max` as the document
/// says; anything else is `MALFORMED` rather than silently clamped.
fn in_range(name: &str, value: Option<u32>, default: u32, max: usize) -> Result<usize, ApiError> {
    let value = value.unwrap_or(default) as usize;
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::malformed(format!("{name} is 1 to {max}")))
    }
}

#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "orders", params(("order_id" = String, Path, description = "An order id: a u64 in decimal.", pattern = "^[0-9]+$", min_length = 1, max_length = 20)),
    responses((status = 200, description = "A live order, or a finished one the node remembers.", body = OrderJson),
        (status = 400, description = "`MALFORMED`: not a u64.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`.", body = ErrorBody)))]
async fn order<N: Node>(
    State(app): AppState<N>,
    Path(order_id): Path<String>,
) -> Result<axum::Json<OrderJson>, ApiError> {
    let id = parse_decimal(&order_id).ok_or_else(|| ApiError::malformed("an order id is a u64"))?;
    let live = app.node.view().order(id);
    if let Some(mut order) = live {
        if let Some(seen) = app.feed.order(id) {
            order.qty_filled = seen.qty_filled;
        }
        return Ok(axum::Json(order));
    }
    app.feed.order(id).map(axum::Json).ok_or_else(|| {
        ApiError::not_found("no live order with this id, and none the node remembers")
    })
}

/// Decodes one submission into a signed transaction.
pub(crate) fn decode(request: &SubmitRequest) -> Result<SignedTransaction, ApiError> {
    match request {
        SubmitRequest::Hex { tx } => {
            let bytes = hex::decode(tx.trim_start_matches("0x")).map_err(|_| {
                ApiError::malformed("tx must be the hex of a borsh SignedTransaction")
            })?;
            binary::decode_one(&bytes)
        }
        SubmitRequest::Json { transaction } => transaction.to_chain(),
    }
}

/// Answers a submission: pending at once, or its receipt once committed if asked to wait.
/// Admits transactions in one call to the node (signatures checked together), off the
/// async workers: per transaction, in order, the node's answer and the ids of the orders
/// it places. Counts them as received, and the node's refusals as refused.
pub(crate) async fn admit_all<N: Node>(
    app: &Arc<App<N>>,
    transactions: Vec<SignedTransaction>,
) -> Result<Vec<(Result<crate::Admitted, ApiError>, Vec<String>)>, ApiError> {
    let order_ids: Vec<Vec<String>> = transactions.iter().map(order_ids).collect();
    app.metrics.submitted.inc_by(transactions.len() as u64);
    let node = Arc::clone(&app.node);
    let admitted = tokio::task::spawn_blocking(move || node.submit(transactions))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let refused = admitted.iter().filter(|a| a.is_err()).count() as u64;
    app.metrics.refused_at_ingest.inc_by(refused);
    Ok(admitted.into_iter().zip(order_ids).collect())
}

/// The ids of the orders a transaction places, as the answer shows them.
fn order_ids(transaction: &SignedTransaction) -> Vec<String> {
    transaction
        .transaction
        .placed_order_ids()
        .iter()
        .map(|id| id.0.to_string())
        .collect()
}

/// The answer to an admitted transaction without `wait`: `pending`, or for a
/// duplicate already in a block, its status and receipt.
pub(crate) async fn pending_answer<N: Node>(
    app: &Arc<App<N>>,
    admitted: crate::Admitted,
    order_ids: Vec<String>,
) -> Result<SubmitResponse, ApiError> {
    let mut response = SubmitResponse {
        hash: admitted.hash.to_string(),
        order_ids,
        status: TxStatusKind::Pending,
        duplicate: admitted.duplicate,
        receipt: None,
    };
    if admitted.duplicate
        && let Some(status) = committed_status(app, &admitted.hash).await?
    {
        response.status = status.status;
        response.receipt = Some(Box::new(status));
    }
    Ok(response)
}

pub(crate) async fn submit_and_answer<N: Node>(
    app: &Arc<App<N>>,
    transaction: SignedTransaction,
    wait: WaitQuery,
) -> Result<SubmitResponse, ApiError> {
    let mut blocks = wait.wait.then(|| app.feed.subscribe());
    let (admitted, order_ids) = admit_all(app, vec![transaction])
        .await?
        .pop()
        .expect("one result per transaction");
    let admitted = admitted?;
    // Without `wait`, a new transaction is answered `pending` even if its block has
    // already committed (a 202 always means "admitted now"); a duplicate gets its
    // receipt when there is one.
    if !wait.wait {
        return pending_answer(app, admitted, order_ids).await;
    }
    let mut response = SubmitResponse {
        hash: admitted.hash.to_string(),
        order_ids,
        status: TxStatusKind::Pending,
        duplicate: admitted.duplicate,
        receipt: None,
    };
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(
            wait.timeout_ms
                .unwrap_or(10_000)
                .min(app.config.wait_ms_max),
        );
    loop {
        if let Some(status) = committed_status(app, &admitted.hash).await? {
            response.status = status.status;
            response.receipt = Some(Box::new(status));
            return Ok(response);
        }
        let Some(receiver) = blocks.as_mut() else {
            return Ok(response);
        };
        match tokio::time::timeout_at(deadline, receiver.recv()).await {
            Err(_) | Ok(Err(RecvError::Closed)) => return Ok(response),
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
        }
    }
}

/// The status of a dropped transaction.
pub(crate) fn dropped_status(dropped: &crate::Dropped) -> TxStatus {
    TxStatus {
        hash: dropped.hash.to_string(),
        status: TxStatusKind::Dropped,
        height: Some(dropped.height),
        index: None,
        code: Some(dropped.code.name().to_string()),
        rule: Some(dropped.rule.name().to_string()),
        reason: Some(dropped.rule.describe().to_string()),
        actions: Vec::new(),
        events: Vec::new(),
        finality: None,
    }
}

/// A transaction's final status, if it has one the node still knows: its receipt once
/// committed, or why it was dropped.
async fn committed_status<N: Node>(
    app: &Arc<App<N>>,
    hash: &Hash,
) -> Result<Option<TxStatus>, ApiError> {
    let Some((height, index)) = app.node.tx_location(hash) else {
        return Ok(app.node.dropped(hash).map(|d| dropped_status(&d)));
    };
    let node = Arc::clone(&app.node);
    let stored = tokio::task::spawn_blocking(move || node.stored(height))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??
        .ok_or_else(|| ApiError::internal(format!("block {height} is indexed but not stored")))?;
    Ok(Some(tx_status(&stored, &app.node.view(), index)))
}

#[utoipa::path(post, path = "/v1/transactions", tag = "transactions", params(WaitQuery),
    request_body(description = "JSON (`tx` hex or `transaction` fields), or `application/octet-stream`: the borsh bytes of the signed transaction.",
        content((SubmitRequest = "application/json"), ("application/octet-stream"))),
    responses(
        (status = 200, description = "With `?wait=true`, final: `committed` or `rejected`, with its receipt, or `dropped` with its code and rule; or a duplicate already final.", body = SubmitResponse),
        (status = 202, description = "Admitted to the mempool (`pending`; `duplicate` if it was already there).", body = SubmitResponse),
        (status = 400, description = "Does not parse (`MALFORMED`), or another per-route shape error (`WRONG_ACTION`, `BAD_ACCOUNT`).", body = ErrorBody),
        (status = 401, description = "`BAD_SIGNATURE`, `INVALID_ACCOUNT_KEY`.", body = ErrorBody),
        (status = 409, description = "`NONCE_ALREADY_USED`, `NONCE_TOO_OLD`, `NONCE_PENDING`.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE` (over 2 MiB) or `TOO_LARGE` (a transaction over 4,096 bytes).", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body needs `Content-Type: application/json` or `application/octet-stream`.", body = ErrorBody),
        (status = 422, description = "Well-formed, but the chain would refuse it now (a chain reject code), or `UNDECODABLE` (bytes that are not a transaction).", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`, with `Retry-After`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody),
        (status = 503, description = "`MEMPOOL_FULL` or `SHUTTING_DOWN`, with `Retry-After`.", body = ErrorBody),
    ))]
async fn submit<N: Node>(
    State(app): AppState<N>,
    ApiQuery(wait): ApiQuery<WaitQuery>,
    body: SubmitBody<SubmitRequest>,
) -> Result<Response, ApiError> {
    check_wait(&wait, &app.config)?;
    let transaction = match body {
        SubmitBody::Json(request) => decode(&request)?,
        SubmitBody::Binary(bytes) => binary::decode_one(&bytes)?,
    };
    let response = submit_and_answer(&app, transaction, wait).await?;
    Ok(accepted(response))
}

fn accepted(response: SubmitResponse) -> Response {
    let status = match response.status {
        TxStatusKind::Pending => StatusCode::ACCEPTED,
        TxStatusKind::Committed | TxStatusKind::Rejected | TxStatusKind::Dropped => StatusCode::OK,
    };
    (status, axum::Json(response)).into_response()
}

/// A batch answers 200 with one result per transaction; when any was refused for load
/// (mempool full, account limit, shutting down) the response carries their Retry-After.
#[utoipa::path(post, path = "/v1/transactions/batch", tag = "transactions",
    request_body(description = "JSON, or `application/octet-stream`: `borsh(Vec<Vec<u8>>)`, each item the borsh bytes of one signed transaction.",
        content((BatchRequest = "application/json"), ("application/octet-stream"))),
    responses(
        (status = 200, description = "One result per transaction, in order.", body = BatchResponse),
        (status = 400, description = "`MALFORMED` (any item).", body = ErrorBody),
        (status = 422, description = "`BAD_BATCH` (empty or too many), or `UNDECODABLE` (a binary body that is not a batch frame).", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE`.", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody),
        (status = 503, description = "`MEMPOOL_FULL` or `SHUTTING_DOWN` at the door, with `Retry-After`.", body = ErrorBody),
    ))]
async fn submit_batch<N: Node>(
    State(app): AppState<N>,
    body: SubmitBody<BatchRequest>,
) -> Result<Response, ApiError> {
    let decoded: Vec<Result<SignedTransaction, ApiError>> = match body {
        SubmitBody::Json(request) => {
            binary::check_batch_len(request.transactions.len(), app.config.batch_max)?;
            request.transactions.iter().map(decode).collect()
        }
        SubmitBody::Binary(bytes) => binary::decode_batch(&bytes, app.config.batch_max)?,
    };
    let valid: Vec<SignedTransaction> = decoded
        .iter()
        .filter_map(|d| d.as_ref().ok().cloned())
        .collect();
    // Items that did not decode count as received and refused (docs/API.md, metrics).
    let undecodable = (decoded.len() - valid.len()) as u64;
    app.metrics.submitted.inc_by(undecodable);
    app.metrics.refused_at_ingest.inc_by(undecodable);
    let mut admitted = admit_all(&app, valid).await?.into_iter();
    let mut retry_after: Option<u32> = None;
    let results = decoded
        .into_iter()
        .map(|d| {
            let outcome = match d {
                Err(e) => Err(e),
                Ok(_) => {
                    let (result, order_ids) = admitted.next().expect("one result per valid tx");
                    result.map(|a| SubmitResponse {
                        hash: a.hash.to_string(),
                        order_ids,
                        // A duplicate may already be in a block.
                        status: if a.duplicate && app.node.tx_location(&a.hash).is_some() {
                            TxStatusKind::Committed
                        } else {
                            TxStatusKind::Pending
                        },
                        duplicate: a.duplicate,
                        receipt: None,
                    })
                }
            };
            match outcome {
                Ok(response) => BatchItem::Accepted(response),
                Err(error) => {
                    retry_after = retry_after.max(error.retry_after);
                    BatchItem::Error {
                        error: error.body(),
                    }
                }
            }
        })
        .collect();
    let mut response = axum::Json(BatchResponse { results }).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
    Ok(response)
}

/// `POST /v1/orders`: a signed transaction whose action is one place (or a batch of
/// order actions), as JSON fields.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", params(WaitQuery),
    request_body = crate::wire::schemas::OrderTransactionJson,
    responses(
        (status = 200, description = "With `?wait=true`, final: `committed` or `rejected`, with its receipt, or `dropped` with its code and rule; or a duplicate already final.", body = SubmitResponse),
        (status = 202, description = "Admitted to the mempool (`pending`; `duplicate` if it was already there).", body = SubmitResponse),
        (status = 400, description = "Does not parse (`MALFORMED`), or another per-route shape error (`WRONG_ACTION`, `BAD_ACCOUNT`).", body = ErrorBody),
        (status = 401, description = "`BAD_SIGNATURE`, `INVALID_ACCOUNT_KEY`.", body = ErrorBody),
        (status = 409, description = "`NONCE_ALREADY_USED`, `NONCE_TOO_OLD`, `NONCE_PENDING`.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE` (over 2 MiB) or `TOO_LARGE` (a transaction over 4,096 bytes).", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body needs `Content-Type: application/json`.", body = ErrorBody),
        (status = 422, description = "Well-formed, but the chain would refuse it now (a chain reject code).", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`, with `Retry-After`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody),
        (status = 503, description = "`MEMPOOL_FULL` or `SHUTTING_DOWN`, with `Retry-After`.", body = ErrorBody),
    ))]
async fn place_order<N: Node>(
    State(app): AppState<N>,
    ApiQuery(wait): ApiQuery<WaitQuery>,
    ApiJson(transaction): ApiJson<TransactionJson>,
) -> Result<Response, ApiError> {
    check_wait(&wait, &app.config)?;
    if !matches!(
        transaction.action,
        ActionJson::Order(OrderActionJson::Place(_)) | ActionJson::Batch { .. }
    ) {
        return Err(ApiError::new(
            ApiCode::WrongAction,
            "POST /v1/orders takes a place (or a batch of order actions); use /v1/transactions for others",
        ));
    }
    let signed = transaction.to_chain()?;
    Ok(accepted(submit_and_answer(&app, signed, wait).await?))
}

#[utoipa::path(delete, path = "/v1/orders/{order_id}", tag = "orders", params(("order_id" = String, Path, description = "An order id: a u64 in decimal.", pattern = "^[0-9]+$", min_length = 1, max_length = 20), WaitQuery),
    request_body = CancelBody,
    responses(
        (status = 200, description = "With `?wait=true`, final: `committed` or `rejected`, with its receipt, or `dropped` with its code and rule; or a duplicate already final.", body = SubmitResponse),
        (status = 202, description = "Admitted to the mempool (`pending`; `duplicate` if it was already there).", body = SubmitResponse),
        (status = 400, description = "Does not parse (`MALFORMED`), or another per-route shape error (`WRONG_ACTION`, `BAD_ACCOUNT`).", body = ErrorBody),
        (status = 401, description = "`BAD_SIGNATURE`, `INVALID_ACCOUNT_KEY`.", body = ErrorBody),
        (status = 409, description = "`NONCE_ALREADY_USED`, `NONCE_TOO_OLD`, `NONCE_PENDING`.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE` (over 2 MiB) or `TOO_LARGE` (a transaction over 4,096 bytes).", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body needs `Content-Type: application/json`.", body = ErrorBody),
        (status = 422, description = "Well-formed, but the chain would refuse it now (a chain reject code).", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`, with `Retry-After`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody),
        (status = 503, description = "`MEMPOOL_FULL` or `SHUTTING_DOWN`, with `Retry-After`.", body = ErrorBody),
    ))]
async fn cancel_order<N: Node>(
    State(app): AppState<N>,
    Path(order_id): Path<String>,
    ApiQuery(wait): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Response, ApiError> {
    check_wait(&wait, &app.config)?;
    let id = parse_decimal(&order_id).ok_or_else(|| ApiError::malformed("an order id is a u64"))?;
    let signed = SignedTransaction {
        transaction: Transaction {
            chain_id: ChainId(body.chain_id),
            signer: body.signer,
            nonce: body.nonce,
            expiry_height: body.expiry_height,
            action: Action::Order(OrderAction::Cancel(CancelOrder {
                market: MarketId(body.market),
                order: OrderRef::Id(OrderId(id)),
            })),
        },
        signature: body.signature,
    };
    Ok(accepted(submit_and_answer(&app, signed, wait).await?))
}

#[utoipa::path(get, path = "/v1/transactions/{hash}", tag = "transactions",
    params(("hash" = String, Path, description = "The transaction hash: 64 hex characters.", pattern = "^(0x)?[0-9a-fA-F]{64}$")),
    responses((status = 200, description = "`committed`, `rejected` or `pending`.", body = TxStatus),
        (status = 400, description = "`MALFORMED`: not 64 hex characters.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody)))]
async fn transaction<N: Node>(
    State(app): AppState<N>,
    Path(hash): Path<String>,
) -> Result<axum::Json<TxStatus>, ApiError> {
    let hash = parse_hex32(&hash)
        .map(Hash)
        .ok_or_else(|| ApiError::malformed("a hash is 64 hex characters"))?;
    // Pending first: a status only moves from pending to final, so asking in this
    // order never misses one that moved between the two questions.
    if app.node.is_pending(&hash) {
        return Ok(axum::Json(TxStatus {
            hash: hash.to_string(),
            status: TxStatusKind::Pending,
            height: None,
            index: None,
            code: None,
            rule: None,
            reason: None,
            actions: Vec::new(),
            events: Vec::new(),
            finality: None,
        }));
    }
    if let Some(status) = committed_status(&app, &hash).await? {
        return Ok(axum::Json(status));
    }
    Err(ApiError::not_found(
        "not pending, not dropped, and not among the committed transactions this node indexes",
    ))
}

#[utoipa::path(get, path = "/v1/blocks/latest", tag = "blocks",
    responses((status = 200, description = "The last block's header and transaction hashes.", body = BlockJson),
        (status = 404, description = "`NOT_FOUND`: no block yet.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody)))]
async fn block_latest<N: Node>(State(app): AppState<N>) -> Result<axum::Json<BlockJson>, ApiError> {
    let height = app.node.view().height;
    block_json(&app, height).await
}

#[utoipa::path(get, path = "/v1/blocks/{height}", tag = "blocks",
    params(("height" = String, Path, description = "A block height: a u64 in decimal.", pattern = "^[0-9]+$", min_length = 1, max_length = 20)),
    responses((status = 200, description = "The block's header and transaction hashes.", body = BlockJson),
        (status = 400, description = "`MALFORMED`: not a u64.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: height 0 or above the chain.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody)))]
async fn block_at<N: Node>(
    State(app): AppState<N>,
    Path(height): Path<String>,
) -> Result<axum::Json<BlockJson>, ApiError> {
    let height = parse_decimal(&height).ok_or_else(|| ApiError::malformed("a height is a u64"))?;
    block_json(&app, height).await
}

/// Response headers of `GET /v1/blocks/{height}/raw`: the finality certificate's view
/// and the height it names, on a chain of validators.
pub const FINALITY_VIEW_HEADER: &str = "clobchain-finality-view";
pub const FINALITY_HEIGHT_HEADER: &str = "clobchain-finality-height";

#[utoipa::path(get, path = "/v1/blocks/{height}/raw", tag = "blocks",
    params(("height" = String, Path, description = "A block height: a u64 in decimal.", pattern = "^[0-9]+$", min_length = 1, max_length = 20)),
    responses((status = 200, description = "`application/octet-stream`: the block as stored and as validators vote on it, `borsh(Block { header, transactions })` (ARCHITECTURE.md, \"Encodings\"). On a chain of validators the headers `clobchain-finality-view` and `clobchain-finality-height` name the certificate that made it final. A follower node (`clobchain node --follow`) re-executes these.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "`MALFORMED`: not a u64.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: height 0 or above the chain.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody)))]
async fn block_raw<N: Node>(
    State(app): AppState<N>,
    Path(height): Path<String>,
) -> Result<Response, ApiError> {
    let height = parse_decimal(&height).ok_or_else(|| ApiError::malformed("a height is a u64"))?;
    let stored = stored_block(&app, height).await?;
    let mut response = (
        [(axum::http::header::CONTENT_TYPE, binary::OCTET_STREAM)],
        stored.block_bytes(),
    )
        .into_response();
    if let Some(finality) = stored.finality {
        let headers = response.headers_mut();
        headers.insert(FINALITY_VIEW_HEADER, finality.view.into());
        headers.insert(FINALITY_HEIGHT_HEADER, finality.height.into());
    }
    Ok(response)
}

/// The block at `height` (1 to the published height), read from storage off the
/// runtime's threads.
async fn stored_block<N: Node>(
    app: &Arc<App<N>>,
    height: u64,
) -> Result<Arc<ExecutedBlock>, ApiError> {
    if height == 0 {
        return Err(ApiError::not_found("no block yet (height 0 is genesis)"));
    }
    let node = Arc::clone(&app.node);
    tokio::task::spawn_blocking(move || node.stored(height))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))
}

async fn block_json<N: Node>(
    app: &Arc<App<N>>,
    height: u64,
) -> Result<axum::Json<BlockJson>, ApiError> {
    let stored = stored_block(app, height).await?;
    let mut json = BlockJson::from_block(&stored);
    json.transactions = Some(
        stored
            .receipts
            .iter()
            .map(|r| r.tx_hash.to_string())
            .collect(),
    );
    Ok(axum::Json(json))
}

#[utoipa::path(post, path = "/v1/faucet", tag = "transactions", params(WaitQuery),
    request_body = FaucetRequest,
    responses(
        (status = 200, description = "With `?wait=true`, final: `committed` or `rejected`, with its receipt, or `dropped` with its code and rule; or a duplicate already final.", body = SubmitResponse),
        (status = 202, description = "Admitted to the mempool (`pending`; `duplicate` if it was already there).", body = SubmitResponse),
        (status = 400, description = "Does not parse (`MALFORMED`), or another per-route shape error (`WRONG_ACTION`, `BAD_ACCOUNT`).", body = ErrorBody),
        (status = 401, description = "`BAD_SIGNATURE`, `INVALID_ACCOUNT_KEY`.", body = ErrorBody),
        (status = 409, description = "`NONCE_ALREADY_USED`, `NONCE_TOO_OLD`, `NONCE_PENDING`.", body = ErrorBody),
        (status = 413, description = "`BODY_TOO_LARGE` (over 2 MiB) or `TOO_LARGE` (a transaction over 4,096 bytes).", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body needs `Content-Type: application/json`.", body = ErrorBody),
        (status = 422, description = "Well-formed, but the chain would refuse it now (a chain reject code).", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`, with `Retry-After`.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`.", body = ErrorBody),
        (status = 503, description = "`MEMPOOL_FULL` or `SHUTTING_DOWN`, with `Retry-After`.", body = ErrorBody),
    ))]
async fn faucet<N: Node>(
    State(app): AppState<N>,
    ApiQuery(wait): ApiQuery<WaitQuery>,
    ApiJson(request): ApiJson<FaucetRequest>,
) -> Result<Response, ApiError> {
    check_wait(&wait, &app.config)?;
    let to = parse_account(&request.account)?;
    let node = Arc::clone(&app.node);
    let admitted = tokio::task::spawn_blocking(move || {
        node.faucet(to, AssetId(request.asset), request.amount)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let mut response = SubmitResponse {
        hash: admitted.hash.to_string(),
        order_ids: Vec::new(),
        status: TxStatusKind::Pending,
        duplicate: admitted.duplicate,
        receipt: None,
    };
    if wait.wait {
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(
                wait.timeout_ms
                    .unwrap_or(10_000)
                    .min(app.config.wait_ms_max),
            );
        let mut blocks = app.feed.subscribe();
        loop {
            if let Some(status) = committed_status(&app, &admitted.hash).await? {
                response.status = status.status;
                response.receipt = Some(Box::new(status));
                break;
            }
            match tokio::time::timeout_at(deadline, blocks.recv()).await {
                Err(_) | Ok(Err(RecvError::Closed)) => break,
                Ok(_) => {}
            }
        }
    }
    Ok(accepted(response))
}
