//! A small typed client for the node's REST API (`api::rest`), over `reqwest`.
//!
//! Every method returns the API's own types (`api::wire`); an error the API answers
//! keeps its stable `code` ([`ClientError::Api`]) so callers can branch on it.

use std::time::Duration;

use api::ErrorBody;
use api::candles::Interval;
use api::wire::CancelBody;
use api::wire::{
    AccountJson, BatchRequest, BatchResponse, BlockJson, BookJson, CandlesJson, FaucetRequest,
    FillsPage, FinalityJson, HealthJson, MarketJson, OrderJson, SubmitRequest, SubmitResponse,
    TradesPage, TransactionJson, TxStatus,
};
use bytes::Bytes;
use markets::SignedTransaction;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::tx::{SignedRequest, next_nonce, now_micros};

/// How long one request may take. Waiting submissions are bounded by the node
/// (`wait_ms_max`), well below this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong talking to the node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error (`{"code", "message"}`).
    #[error("error {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable code (`NONCE_ALREADY_USED`, `NOT_FOUND`, …).
        code: String,
        /// A sentence for people.
        message: String,
    },
    /// No answer: connection refused, timeout, bad URL.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// The request's URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl ClientError {
    /// The API's error code, if the API answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A client for one node.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

impl Client {
    /// A client for the node at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Client, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            url: base.to_string(),
            reason,
        };
        let base = Url::parse(base).map_err(|e| unreachable(format!("not a URL: {e}")))?;
        if base.scheme() != "http" {
            return Err(unreachable(
                "only http:// nodes are supported (this build has no TLS)".into(),
            ));
        }
        // A node is reached directly: a web proxy set in the environment must not sit
        // between a client and its node (nor add latency to the load tester's requests).
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Client { http, base })
    }

    /// The node's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The websocket URL (`ws://…/v1/ws`).
    pub fn ws_url(&self) -> String {
        let mut url = self.url(&["v1", "ws"], &[]);
        url.set_scheme("ws")
            .expect("http and ws are both special schemes");
        url.to_string()
    }

    /// The node's URL for `path` (which starts with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http URL has a path")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.read(request).await?.decode()
    }

    /// Sends `request` and reads the whole answer, whatever its status.
    async fn read(&self, request: reqwest::RequestBuilder) -> Result<RawResponse, ClientError> {
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: e.url().map_or_else(String::new, Url::to_string),
            reason: error_chain(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok(RawResponse {
            status,
            headers,
            body,
            url,
        })
    }

    /// Any request, on `path` (which starts with `/` and may carry a query), with these
    /// headers and body; the answer whole, whatever its status. For what the typed
    /// methods cannot say: bodies that are not JSON, odd headers, bodies encoded ahead
    /// of time. `Err` only when no answer came.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, ClientError> {
        let mut request = self.http.request(method, self.url_for(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        self.read(request).await
    }

    /// `POST` of a body encoded ahead of time (the load tester's hot path: no encoding,
    /// no header parsing, the bytes moved into the request).
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        let request = self.post_with(self.url_for(path), content_type, body);
        self.read(request).await
    }

    /// A `POST` of `body`, already encoded, with its content type.
    fn post_with(
        &self,
        url: impl reqwest::IntoUrl,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .body(body)
    }

    /// `POST` of a binary (borsh) body, answered in JSON.
    async fn post_binary<T: DeserializeOwned>(
        &self,
        url: Url,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let request = self.post_with(url, api::binary::OCTET_STREAM, body);
        self.read(request).await?.decode()
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        self.call(Method::GET, self.url(segments, query), None::<&()>)
            .await
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<HealthJson, ClientError> {
        self.get(&["v1", "health"], &[]).await
    }

    /// `GET /v1/markets`.
    pub async fn markets(&self) -> Result<Vec<MarketJson>, ClientError> {
        self.get(&["v1", "markets"], &[]).await
    }

    /// `GET /v1/markets/{market}`: by id or symbol (any case).
    pub async fn market(&self, market: &str) -> Result<MarketJson, ClientError> {
        self.get(&["v1", "markets", market], &[]).await
    }

    /// `GET /v1/markets/{market}/book`: `depth` levels a side (the node's default 50).
    pub async fn book(&self, market: &str, depth: Option<usize>) -> Result<BookJson, ClientError> {
        let query: Vec<_> = depth
            .map(|d| ("depth", d.to_string()))
            .into_iter()
            .collect();
        self.get(&["v1", "markets", market, "book"], &query).await
    }

    /// `GET /v1/markets/{market}/trades`: one page, newest first (`before`: the last
    /// page's `next`).
    pub async fn trades(
        &self,
        market: &str,
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Result<TradesPage, ClientError> {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(before) = before {
            query.push(("before", before.to_string()));
        }
        self.get(&["v1", "markets", market, "trades"], &query).await
    }

    /// `GET /v1/markets/{market}/candles`.
    pub async fn candles(
        &self,
        market: &str,
        interval: Interval,
        from: Option<u64>,
        to: Option<u64>,
        limit: Option<usize>,
    ) -> Result<CandlesJson, ClientError> {
        let mut query = vec![("interval", interval.as_str().to_string())];
        for (name, value) in [("from", from), ("to", to)] {
            if let Some(value) = value {
                query.push((name, value.to_string()));
            }
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        self.get(&["v1", "markets", market, "candles"], &query)
            .await
    }

    /// `GET /v1/accounts/{account}`: balances and last nonce.
    pub async fn account(&self, account: &[u8; 32]) -> Result<AccountJson, ClientError> {
        self.get(&["v1", "accounts", &hex::encode(account)], &[])
            .await
    }

    /// `GET /v1/accounts/{account}/orders`: open orders.
    pub async fn orders(&self, account: &[u8; 32]) -> Result<Vec<OrderJson>, ClientError> {
        self.get(&["v1", "accounts", &hex::encode(account), "orders"], &[])
            .await
    }

    /// `GET /v1/accounts/{account}/fills`: one page, newest first.
    pub async fn fills(
        &self,
        account: &[u8; 32],
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Result<FillsPage, ClientError> {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(before) = before {
            query.push(("before", before.to_string()));
        }
        self.get(&["v1", "accounts", &hex::encode(account), "fills"], &query)
            .await
    }

    /// `GET /v1/orders/{order_id}`.
    pub async fn order(&self, order_id: u64) -> Result<OrderJson, ClientError> {
        self.get(&["v1", "orders", &order_id.to_string()], &[])
            .await
    }

    /// `GET /v1/transactions/{hash}`.
    pub async fn transaction(&self, hash: &str) -> Result<TxStatus, ClientError> {
        self.get(&["v1", "transactions", hash], &[]).await
    }

    /// `GET /v1/blocks/{height}`: the header and the transaction hashes in block order.
    pub async fn block(&self, height: u64) -> Result<BlockJson, ClientError> {
        self.get(&["v1", "blocks", &height.to_string()], &[]).await
    }

    /// `GET /v1/blocks/{height}/raw`: the block's borsh bytes and, on a chain of
    /// validators, the certificate that made it final; `None` when the node has no
    /// block at that height (yet).
    pub async fn block_raw(&self, height: u64) -> Result<Option<RawBlock>, ClientError> {
        let url = self.url(&["v1", "blocks", &height.to_string(), "raw"], &[]);
        let response = self.read(self.http.get(url)).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status.is_success() {
            return Err(response.error());
        }
        let header =
            |name: &str| -> Option<u64> { response.headers.get(name)?.to_str().ok()?.parse().ok() };
        let finality = match (
            header(api::rest::FINALITY_VIEW_HEADER),
            header(api::rest::FINALITY_HEIGHT_HEADER),
        ) {
            (Some(view), Some(height)) => Some(FinalityJson { view, height }),
            _ => None,
        };
        Ok(Some(RawBlock {
            bytes: response.body,
            finality,
        }))
    }

    fn wait_query(wait: bool) -> Vec<(&'static str, String)> {
        if wait {
            vec![("wait", "true".to_string())]
        } else {
            Vec::new()
        }
    }

    /// `POST /v1/transactions`; with `wait`, answers once the transaction is in a block
    /// (or the node's wait limit passes: then the status is still `pending`).
    pub async fn submit(
        &self,
        request: &SubmitRequest,
        wait: bool,
    ) -> Result<SubmitResponse, ClientError> {
        let url = self.url(&["v1", "transactions"], &Self::wait_query(wait));
        self.call(Method::POST, url, Some(request)).await
    }

    /// `POST /v1/transactions` with the binary body: the borsh bytes of `signed`, exactly
    /// what the node hashes. Same answers and codes as [`Client::submit`].
    pub async fn submit_binary(
        &self,
        signed: &SignedTransaction,
        wait: bool,
    ) -> Result<SubmitResponse, ClientError> {
        let url = self.url(&["v1", "transactions"], &Self::wait_query(wait));
        self.post_binary(url, signed.to_bytes()).await
    }

    /// `POST /v1/transactions/batch` (JSON): one result per transaction, in order.
    pub async fn submit_batch(&self, request: &BatchRequest) -> Result<BatchResponse, ClientError> {
        let url = self.url(&["v1", "transactions", "batch"], &[]);
        self.call(Method::POST, url, Some(request)).await
    }

    /// `POST /v1/transactions/batch` with the binary body (`api::binary::encode_batch`).
    pub async fn submit_batch_binary(
        &self,
        transactions: &[SignedTransaction],
    ) -> Result<BatchResponse, ClientError> {
        let url = self.url(&["v1", "transactions", "batch"], &[]);
        self.post_binary(url, api::binary::encode_batch(transactions))
            .await
    }

    /// `POST /v1/orders`: a place or a batch of order actions.
    pub async fn place(
        &self,
        transaction: &TransactionJson,
        wait: bool,
    ) -> Result<SubmitResponse, ClientError> {
        let url = self.url(&["v1", "orders"], &Self::wait_query(wait));
        self.call(Method::POST, url, Some(transaction)).await
    }

    /// `DELETE /v1/orders/{order_id}`.
    pub async fn cancel(
        &self,
        order_id: u64,
        body: &CancelBody,
        wait: bool,
    ) -> Result<SubmitResponse, ClientError> {
        let url = self.url(
            &["v1", "orders", &order_id.to_string()],
            &Self::wait_query(wait),
        );
        self.call(Method::DELETE, url, Some(body)).await
    }

    /// Sends a request built by [`crate::tx::request_for`] on its route.
    pub async fn send(
        &self,
        request: &SignedRequest,
        wait: bool,
    ) -> Result<SubmitResponse, ClientError> {
        match request {
            SignedRequest::Place(transaction) => self.place(transaction, wait).await,
            SignedRequest::Cancel { order_id, body } => self.cancel(*order_id, body, wait).await,
            SignedRequest::Submit(request) => self.submit(request, wait).await,
        }
    }

    /// `POST /v1/faucet` (dev chains): the node sends funds from its faucet account.
    pub async fn faucet(
        &self,
        request: &FaucetRequest,
        wait: bool,
    ) -> Result<SubmitResponse, ClientError> {
        let url = self.url(&["v1", "faucet"], &Self::wait_query(wait));
        self.call(Method::POST, url, Some(request)).await
    }

    /// The nonce `account` should use next (see [`next_nonce`]).
    pub async fn next_nonce(&self, account: &[u8; 32]) -> Result<u64, ClientError> {
        let account = self.account(account).await?;
        Ok(next_nonce(now_micros(), account.last_nonce))
    }
}

/// A block as `GET /v1/blocks/{height}/raw` gives it.
#[derive(Clone, Debug)]
pub struct RawBlock {
    /// `borsh(Block)`: decode it with a size limit (`markets::limits::BLOCK_BYTES_MAX`).
    pub bytes: Bytes,
    /// The certificate that made it final, on a chain of validators.
    pub finality: Option<FinalityJson>,
}

/// An answer as it came: status, headers and body.
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, whole.
    pub body: Bytes,
    url: Url,
}

impl RawResponse {
    /// The body as one of the API's types when the status is a success; the API's
    /// error ([`ClientError::Api`]) when it is not.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        if !self.status.is_success() {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Unexpected {
            url: self.url.to_string(),
            reason: format!("{e} in {}", self.text()),
        })
    }

    /// The answer as an error: the API's `{"code", "message"}` if the body is one,
    /// else `HTTP_{status}` and the body's text.
    pub fn error(&self) -> ClientError {
        let status = self.status.as_u16();
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(body) => ClientError::Api {
                status,
                code: body.code.as_str().to_string(),
                message: body.message,
            },
            Err(_) => ClientError::Api {
                status,
                code: format!("HTTP_{status}"),
                message: if self.body.is_empty() {
                    self.status
                        .canonical_reason()
                        .unwrap_or("no message")
                        .to_string()
                } else {
                    self.text().into_owned()
                },
            },
        }
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// An error and its sources in one line (reqwest hides the useful part in a source).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_segment_by_segment() {
        let client = Client::new("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            client
                .url(
                    &["v1", "markets", "BTC-USD", "book"],
                    &[("depth", "5".into())]
                )
                .as_str(),
            "http://127.0.0.1:8080/v1/markets/BTC-USD/book?depth=5"
        );
        // A name with a slash stays one segment.
        assert_eq!(
            client.url(&["v1", "markets", "a/b"], &[]).as_str(),
            "http://127.0.0.1:8080/v1/markets/a%2Fb"
        );
        assert_eq!(client.ws_url(), "ws://127.0.0.1:8080/v1/ws");
        assert_eq!(
            client.url_for("/v1/orders?wait=true"),
            "http://127.0.0.1:8080/v1/orders?wait=true"
        );
        let prefixed = Client::new("http://host:1/node").unwrap();
        assert_eq!(
            prefixed.url(&["v1", "health"], &[]).as_str(),
            "http://host:1/node/v1/health"
        );
        assert!(Client::new("https://host").is_err());
        assert!(Client::new("host:8080").is_err());
    }

    fn answer(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
            url: Url::parse("http://127.0.0.1:8080/v1/x").unwrap(),
        }
    }

    #[test]
    fn an_answer_decodes_to_its_type_or_to_the_apis_error() {
        let health: serde_json::Value = answer(200, r#"{"status":"ok"}"#).decode().unwrap();
        assert_eq!(health["status"], "ok");
        let refused = answer(409, r#"{"code":"NONCE_ALREADY_USED","message":"used"}"#);
        match refused.decode::<serde_json::Value>() {
            Err(ClientError::Api { status, code, .. }) => {
                assert_eq!((status, code.as_str()), (409, "NONCE_ALREADY_USED"));
            }
            other => panic!("{other:?}"),
        }
        // Not the API's shape: the status stands in for the code.
        assert_eq!(answer(502, "bad gateway").error().code(), Some("HTTP_502"));
        assert!(matches!(
            answer(200, "not json").decode::<serde_json::Value>(),
            Err(ClientError::Unexpected { .. })
        ));
    }
}
