//! The node end to end over loopback: REST and websocket clients against a node started
//! in this process (STYLE.md #14). The crash and restart tests, which run the binary,
//! are in `node_crash.rs`; the helpers in `node_support.rs`.

use std::collections::BTreeMap;

use api::wire::{
    AccountJson, ActionResult, BatchItem, BatchResponse, EventJson, FillJson, OrderJson,
    OrderStatusJson, SideJson, SubmitResponse, TradesPage, TxStatusKind,
};
use client::{Method, StatusCode};
use markets::dev::{BTC, USD};
use markets::{Action, ChainId, OrderAction};
use matching::Side;
use serde_json::{Value, json};

use crate::node_support::{
    Api, BTC_USD, ETH_USD, Reply, Trader, Ws, balance, first_order_id, hex_body, limit,
    message_fills, start_node,
};

/// A book rebuilt from the `book` channel: a snapshot, then deltas (qty 0 = level gone).
#[derive(Debug)]
struct WsBook {
    seq: u64,
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
}

fn levels(value: &Value) -> Vec<[u64; 2]> {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("levels ({e}): {value}"))
}

impl WsBook {
    fn from_snapshot(message: &Value) -> WsBook {
        assert_eq!(message["type"], json!("book"), "{message}");
        assert_eq!(
            message["snapshot"],
            json!(true),
            "a subscription starts with a snapshot"
        );
        let mut book = WsBook {
            seq: message["seq"].as_u64().expect("seq"),
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
        };
        book.set(message);
        book
    }

    fn set(&mut self, message: &Value) {
        for (side, key) in [(&mut self.bids, "bids"), (&mut self.asks, "asks")] {
            for [price, qty] in levels(&message[key]) {
                if qty == 0 {
                    side.remove(&price);
                } else {
                    side.insert(price, qty);
                }
            }
        }
    }

    #[track_caller]
    fn apply(&mut self, delta: &Value) {
        assert_eq!(delta["snapshot"], json!(false), "{delta}");
        assert_eq!(
            delta["seq"].as_u64(),
            Some(self.seq + 1),
            "each delta's seq is the last one's + 1: {delta}"
        );
        self.seq += 1;
        self.set(delta);
    }

    /// `(bids best first, asks best first)`, as REST shows them.
    fn sides(&self) -> (Vec<[u64; 2]>, Vec<[u64; 2]>) {
        (
            self.bids.iter().rev().map(|(&p, &q)| [p, q]).collect(),
            self.asks.iter().map(|(&p, &q)| [p, q]).collect(),
        )
    }

    /// The REST book of the same market agrees, sequence number included.
    async fn assert_matches_rest(&self, api: &Api, market: u32) {
        let rest = api.book(market).await;
        assert_eq!(
            self.sides(),
            (rest.bids, rest.asks),
            "websocket book vs REST depth"
        );
        assert_eq!(self.seq, rest.seq, "websocket book seq vs REST");
    }
}

fn fills_of(events: &[EventJson]) -> Vec<FillJson> {
    events
        .iter()
        .filter_map(|e| match e {
            EventJson::Fill(fill) => Some(fill.clone()),
            _ => None,
        })
        .collect()
}

/// A balance after minus before, per field.
fn delta(before: &AccountJson, after: &AccountJson, asset: markets::AssetId) -> (i128, i128) {
    let (a0, h0) = balance(before, asset);
    let (a1, h1) = balance(after, asset);
    (
        i128::from(a1) - i128::from(a0),
        i128::from(h1) - i128::from(h0),
    )
}

/// A resting sell is crossed by a buy at a better price: the fill reaches both accounts'
/// `fills` channels and every REST view, balances move by exactly the notional and the
/// fees, the remainder is cancelled through `DELETE /v1/orders/{id}` and its hold comes
/// back; the `book` channel's snapshot plus deltas tracks the REST depth throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_trade_settles_with_fees_and_streams_fills_and_book() {
    let node = start_node(|_| {}).await;
    let api = &node.api;
    let market = api.market(BTC_USD).await;
    let (lot, tick) = (market.lot_size, market.tick_size);
    let (seller, buyer) = (Trader::dev(1), Trader::dev(2));
    let fee_account = hex::encode(markets::dev::fee_key().verifying_key().to_bytes());

    let mut ws = Ws::connect(api).await;
    for trader in [&seller, &buyer] {
        ws.subscribe(json!({"op": "subscribe", "channel": "fills", "account": trader.hex()}))
            .await;
    }
    ws.subscribe(json!({"op": "subscribe", "channel": "book", "market": "BTC-USD"}))
        .await;
    let mut book = WsBook::from_snapshot(&ws.next_of("book").await);
    assert_eq!(
        book.sides(),
        (vec![], vec![]),
        "the dev chain starts with empty books"
    );
    book.assert_matches_rest(api, BTC_USD).await;

    let before = [
        api.account(&seller.hex()).await,
        api.account(&buyer.hex()).await,
        api.account(&fee_account).await,
    ];

    // A resting sell of 5 lots, sent as JSON fields.
    let price = 5_000_003 / tick * tick;
    let sell = seller.place(BTC_USD, Side::Sell, price, 5 * lot);
    let sell_id = first_order_id(&sell);
    let placed = api.place_json_committed(&sell).await;
    assert_eq!(placed.order_ids, vec![sell_id.to_string()]);
    let receipt = placed
        .receipt
        .expect("a committed answer carries its receipt");
    assert_eq!(
        receipt.actions,
        vec![ActionResult::Placed { order_id: sell_id }]
    );
    let delta_msg = ws
        .next_where("book delta", |m| m["type"] == json!("book"))
        .await;
    assert_eq!(delta_msg["height"].as_u64(), receipt.height, "{delta_msg}");
    book.apply(&delta_msg);
    assert_eq!(book.sides(), (vec![], vec![[price, 5 * lot]]));
    book.assert_matches_rest(api, BTC_USD).await;
    let seller_now = api.account(&seller.hex()).await;
    assert_eq!(
        balance(&seller_now, BTC),
        (balance(&before[0], BTC).0 - 5 * lot, 5 * lot),
        "a sell holds its base"
    );

    // A buy of 2 lots at a higher limit, sent as borsh hex: it trades at the maker's price.
    let buy = buyer.place(BTC_USD, Side::Buy, price + 100 * tick, 2 * lot);
    let buy_id = first_order_id(&buy);
    let bought = api.submit_committed(&buy).await;
    let receipt = bought.receipt.expect("receipt");
    let fills = fills_of(&receipt.events);
    assert_eq!(fills.len(), 1, "one fill: {:?}", receipt.events);
    let fill = fills[0].clone();
    let notional = price * 2;
    let maker_fee = notional * u64::from(market.maker_fee_bps) / 10_000;
    let taker_fee = notional * u64::from(market.taker_fee_bps) / 10_000;
    assert_eq!(
        (fill.price, fill.qty, fill.taker_side),
        (price, 2 * lot, SideJson::Buy)
    );
    assert_eq!(
        (fill.maker.as_str(), fill.taker.as_str()),
        (&*seller.hex(), &*buyer.hex())
    );
    assert_eq!(
        (fill.maker_order_id, fill.taker_order_id),
        (sell_id, buy_id)
    );
    assert_eq!(
        (fill.maker_qty_remaining, fill.taker_qty_remaining),
        (3 * lot, 0)
    );
    assert_eq!((fill.maker_fee, fill.taker_fee), (maker_fee, taker_fee));
    assert_eq!(Some(fill.height), receipt.height);

    // The same fill on both accounts' channels, in the buy's block.
    for trader in [&seller, &buyer] {
        let key = trader.hex();
        let message = ws
            .next_where("fills", |m| {
                m["type"] == json!("fills") && m["account"] == json!(key)
            })
            .await;
        assert_eq!(message["height"].as_u64(), receipt.height);
        assert_eq!(message_fills(&message), vec![fill.clone()]);
    }
    let delta_msg = ws
        .next_where("book delta", |m| m["type"] == json!("book"))
        .await;
    book.apply(&delta_msg);
    assert_eq!(book.sides(), (vec![], vec![[price, 3 * lot]]));
    book.assert_matches_rest(api, BTC_USD).await;

    assert_fill_in_every_rest_view(
        api,
        [&seller, &buyer],
        &fill,
        &bought.hash,
        &receipt,
        buy_id,
    )
    .await;

    // Cancel the remaining 3 lots.
    cancel_the_rest(api, &mut ws, &mut book, &seller, sell_id, lot).await;

    // Balances: exactly the trade and its fees; nothing left held.
    let after = [
        api.account(&seller.hex()).await,
        api.account(&buyer.hex()).await,
        api.account(&fee_account).await,
    ];
    assert_settled(&before, &after, notional, 2 * lot, (maker_fee, taker_fee));

    // Nothing else was streamed: no other fill, no other book delta.
    let rest = ws.until_pong().await;
    assert!(
        rest.iter().all(|m| m["type"] == json!("heartbeat")),
        "unexpected messages: {rest:?}"
    );
    drop(ws);
    node.stop().await;
}

/// A fill as every REST view shows it: both accounts' fills, the market's trades, the
/// taker's transaction status (its receipt) and its filled order.
async fn assert_fill_in_every_rest_view(
    api: &Api,
    [seller, buyer]: [&Trader; 2],
    fill: &FillJson,
    bought: &str,
    receipt: &api::wire::TxStatus,
    buy_id: u64,
) {
    assert_eq!(api.fills(&seller.hex()).await, vec![fill.clone()]);
    assert_eq!(api.fills(&buyer.hex()).await, vec![fill.clone()]);
    let trades: TradesPage = api.get_json("/v1/markets/0/trades").await;
    assert_eq!(trades.trades, vec![fill.clone()]);
    assert_eq!(trades.next, None, "one trade: the history ends there");
    let status = api.tx_status(bought).await.expect("known");
    assert_eq!(
        status, *receipt,
        "GET /v1/transactions/{{hash}} is the receipt"
    );
    let order: OrderJson = api.get_json(&format!("/v1/orders/{buy_id}")).await;
    assert_eq!(order.status, OrderStatusJson::Filled);
}

/// Cancels the rest of `sell_id` with `DELETE /v1/orders/{id}?wait=true` (3 lots left):
/// the receipt, the book delta that empties the level, the order's final status.
async fn cancel_the_rest(
    api: &Api,
    ws: &mut Ws,
    book: &mut WsBook,
    seller: &Trader,
    sell_id: u64,
    lot: u64,
) {
    let cancel = seller.cancel_body(BTC_USD, sell_id);
    let reply = api
        .send_json(
            Method::DELETE,
            &format!("/v1/orders/{sell_id}?wait=true"),
            &cancel,
        )
        .await
        .expect("DELETE");
    let cancelled: SubmitResponse = reply.json();
    assert_eq!(cancelled.status, TxStatusKind::Committed, "{}", reply.body);
    let receipt = cancelled.receipt.expect("receipt");
    assert_eq!(receipt.actions, vec![ActionResult::Done]);
    assert!(
        receipt.events.iter().any(|e| matches!(
            e,
            EventJson::Cancelled { order_id, qty, .. } if *order_id == sell_id && *qty == 3 * lot
        )),
        "{:?}",
        receipt.events
    );
    let delta_msg = ws
        .next_where("book delta", |m| m["type"] == json!("book"))
        .await;
    book.apply(&delta_msg);
    assert_eq!(
        book.sides(),
        (vec![], vec![]),
        "the emptied level is sent with qty 0"
    );
    book.assert_matches_rest(api, BTC_USD).await;
    let order: OrderJson = api.get_json(&format!("/v1/orders/{sell_id}")).await;
    assert_eq!(
        (order.status, order.qty_remaining, order.qty_filled),
        (OrderStatusJson::Cancelled, 0, Some(2 * lot))
    );
    let open: Vec<OrderJson> = api
        .get_json(&format!("/v1/accounts/{}/orders", seller.hex()))
        .await;
    assert!(open.is_empty(), "{open:?}");
}

/// The seller and buyer moved by exactly the notional and their fees, the fee account
/// received both fees, and nothing is left held.
fn assert_settled(
    before: &[AccountJson; 3],
    after: &[AccountJson; 3],
    notional: u64,
    qty: u64,
    (maker_fee, taker_fee): (u64, u64),
) {
    let (n, lots2) = (i128::from(notional), i128::from(qty));
    let (mf, tf) = (i128::from(maker_fee), i128::from(taker_fee));
    assert_eq!(delta(&before[0], &after[0], USD), (n - mf, 0), "seller USD");
    assert_eq!(delta(&before[0], &after[0], BTC), (-lots2, 0), "seller BTC");
    assert_eq!(delta(&before[1], &after[1], USD), (-n - tf, 0), "buyer USD");
    assert_eq!(delta(&before[1], &after[1], BTC), (lots2, 0), "buyer BTC");
    assert_eq!(
        delta(&before[2], &after[2], USD),
        (mf + tf, 0),
        "fee account USD"
    );
    for account in &after[..2] {
        assert!(account.balances.iter().all(|b| b.held == 0), "{account:?}");
    }
}

/// Sends `n` one-lot buys against the maker; the last one waits for its block, then
/// every one is checked committed. Returns `n` (one fill each).
async fn buy_round(api: &Api, taker: &Trader, n: usize, price: u64, lot: u64) -> usize {
    let txs: Vec<_> = (0..n)
        .map(|_| taker.place(BTC_USD, Side::Buy, price, lot))
        .collect();
    for (i, tx) in txs.iter().enumerate() {
        let reply = api.submit(tx, i + 1 == n).await;
        assert!(reply.status.is_success(), "{}", reply.body);
    }
    for tx in &txs {
        let status = api.wait_committed(&tx.hash().to_string()).await;
        assert_eq!(status.status, TxStatusKind::Committed);
        assert_eq!(fills_of(&status.events).len(), 1, "{status:?}");
    }
    n
}

/// A client of the `fills` channel drops its connection with messages in flight, trading
/// goes on, and it reconnects with `from_height` = last height received + 1 while
/// blocks keep coming: it sees every fill exactly once, as REST lists them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_websocket_resume_from_height_gives_every_fill_once() {
    let node = start_node(|_| {}).await;
    let api = node.api.clone();
    let lot = api.market(BTC_USD).await.lot_size;
    let price = 4_000_000;
    let (maker, taker) = (Trader::dev(3), Trader::dev(4));
    api.submit_committed(&maker.place(BTC_USD, Side::Sell, price, 1_000 * lot))
        .await;
    let subscribe = |from_height: Option<u64>| {
        let mut request = json!({"op": "subscribe", "channel": "fills", "account": maker.hex()});
        if let Some(from) = from_height {
            request["from_height"] = json!(from);
        }
        request
    };

    let mut ws = Ws::connect(&api).await;
    ws.subscribe(subscribe(None)).await;
    let mut expected = 0;
    for round in 0..5 {
        expected += buy_round(&api, &taker, round % 3 + 1, price, lot).await;
    }
    // Take part of what was sent, then drop the connection with the rest unread.
    let mut got: Vec<FillJson> = Vec::new();
    let mut last_height = 0;
    while got.len() < 4 {
        let message = ws.next_of("fills").await;
        let height = message["height"].as_u64().expect("height");
        assert!(height > last_height, "heights increase: {message}");
        last_height = height;
        got.extend(message_fills(&message));
    }
    assert!(got.len() < expected, "the drop must leave fills unread");
    drop(ws);

    // Trade while disconnected, then reconnect while trading goes on.
    for round in 0..4 {
        expected += buy_round(&api, &taker, round % 3 + 1, price, lot).await;
    }
    let trading = {
        let (api, taker) = (api.clone(), taker.clone());
        tokio::spawn(async move {
            let mut n = 0;
            for round in 0..6 {
                n += buy_round(&api, &taker, round % 2 + 1, price, lot).await;
            }
            n
        })
    };
    let mut ws = Ws::connect(&api).await;
    let reply = ws.subscribe(subscribe(Some(last_height + 1))).await;
    assert_eq!(
        reply["from_height"].as_u64(),
        Some(last_height + 1),
        "{reply}"
    );
    expected += trading.await.expect("the trading task");

    let rest = api.fills(&maker.hex()).await;
    assert_eq!(rest.len(), expected, "REST lists every fill of the maker");
    // Walking the pages with `before` gives the same list, newest first.
    let mut paged: Vec<FillJson> = Vec::new();
    let mut path = format!("/v1/accounts/{}/fills?limit=7", maker.hex());
    loop {
        let page: api::wire::FillsPage = api.get_json(&path).await;
        paged.extend(page.fills);
        let Some(next) = page.next else { break };
        path = format!("/v1/accounts/{}/fills?limit=7&before={next}", maker.hex());
    }
    assert_eq!(paged, rest, "pages of 7 vs one page");
    while got.len() < expected {
        let message = ws.next_of("fills").await;
        let height = message["height"].as_u64().expect("height");
        assert!(
            height > last_height,
            "no block twice: {height} after {last_height}"
        );
        last_height = height;
        got.extend(message_fills(&message));
    }
    let late = ws.until_pong().await;
    assert!(
        late.iter().all(|m| m["type"] != json!("fills")),
        "more fills than REST lists: {late:?}"
    );

    let mut seqs: Vec<u64> = got.iter().map(|f| f.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), got.len(), "a fill was delivered twice");
    let mut got_sorted = got.clone();
    got_sorted.sort_by_key(|f| f.seq);
    let mut rest_sorted = rest.clone();
    rest_sorted.sort_by_key(|f| f.seq);
    assert_eq!(
        got_sorted, rest_sorted,
        "the websocket's fills are REST's fills"
    );
    let trades: TradesPage = api.get_json("/v1/markets/0/trades?limit=1000").await;
    let mut trade_seqs: Vec<u64> = trades.trades.iter().map(|f| f.seq).collect();
    trade_seqs.sort_unstable();
    assert_eq!(
        trade_seqs, seqs,
        "every trade of the market is one of the maker's fills"
    );
    assert_eq!(
        seqs,
        (1..=expected as u64).collect::<Vec<_>>(),
        "trade seqs have no gap"
    );
    drop(ws);
    node.stop().await;
}

/// The same signed bytes sent again (a client that lost the answer) execute once: the
/// resends answer `duplicate: true`, one block holds the transaction, one order rests
/// and its funds are held once. A different transaction with a used (or pending) nonce
/// is refused with 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_resent_transaction_executes_once() {
    let node = start_node(|_| {}).await;
    let api = &node.api;
    let lot = api.market(BTC_USD).await.lot_size;
    let trader = Trader::dev(5);
    let before = api.account(&trader.hex()).await;

    let tx = trader.place(BTC_USD, Side::Sell, 6_000_000, lot);
    let hash = tx.hash().to_string();
    let first: SubmitResponse = api.submit(&tx, false).await.json();
    assert_eq!(
        (first.hash.as_str(), first.duplicate),
        (hash.as_str(), false)
    );
    let second: SubmitResponse = api.submit(&tx, false).await.json();
    assert_eq!(
        (second.hash.as_str(), second.duplicate),
        (hash.as_str(), true)
    );
    let batch: BatchResponse = api
        .post(
            "/v1/transactions/batch",
            &json!({"transactions": [hex_body(&tx)]}),
        )
        .await
        .json();
    match &batch.results[..] {
        [BatchItem::Accepted(r)] => assert!(r.duplicate && r.hash == hash, "{r:?}"),
        other => panic!("a batch resend is a duplicate: {other:?}"),
    }
    let committed = api.wait_committed(&hash).await;
    assert_eq!(committed.status, TxStatusKind::Committed);
    let third: SubmitResponse = api.submit(&tx, true).await.json();
    assert!(third.duplicate, "{third:?}");
    assert_eq!(third.status, TxStatusKind::Committed);
    assert_eq!(third.receipt.as_deref(), Some(&committed));

    // Exactly one block holds it.
    let latest = api.health().await.height;
    let mut blocks_with_it = Vec::new();
    for height in 1..=latest {
        let block: api::wire::BlockJson = api.get_json(&format!("/v1/blocks/{height}")).await;
        let count = block
            .transactions
            .unwrap_or_default()
            .iter()
            .filter(|h| **h == hash)
            .count();
        blocks_with_it.extend(std::iter::repeat_n(height, count));
    }
    assert_eq!(blocks_with_it, vec![committed.height.expect("height")]);
    let orders: Vec<OrderJson> = api
        .get_json(&format!("/v1/accounts/{}/orders", trader.hex()))
        .await;
    assert_eq!(
        orders.iter().map(|o| o.order_id).collect::<Vec<_>>(),
        vec![first_order_id(&tx)]
    );
    let after = api.account(&trader.hex()).await;
    assert_eq!(
        balance(&after, BTC),
        (balance(&before, BTC).0 - lot, lot),
        "held once"
    );
    assert_eq!(after.last_nonce, Some(tx.transaction.nonce));

    // Another transaction with the committed nonce.
    let mut reuse = tx.transaction.clone();
    reuse.action = Action::Order(OrderAction::Place(limit(
        BTC_USD,
        Side::Sell,
        6_000_100,
        lot,
    )));
    let reuse = trader.sign(reuse);
    api.submit(&reuse, false).await.assert_error(
        StatusCode::CONFLICT,
        "NONCE_ALREADY_USED",
        "a committed nonce",
    );
    // Another transaction with the nonce of one still pending.
    let pending = trader.place(BTC_USD, Side::Sell, 6_000_200, lot);
    let mut rival = pending.transaction.clone();
    rival.action = Action::Order(OrderAction::Place(limit(
        BTC_USD,
        Side::Sell,
        6_000_300,
        lot,
    )));
    let rival = trader.sign(rival);
    // Both in one batch, so the first is surely still pending when the second is
    // admitted (sent one after the other, a 20 ms block may commit the first between).
    let both: BatchResponse = api
        .post(
            "/v1/transactions/batch",
            &json!({"transactions": [hex_body(&pending), hex_body(&rival)]}),
        )
        .await
        .json();
    match &both.results[..] {
        [BatchItem::Accepted(first), BatchItem::Error { error }] => {
            assert!(!first.duplicate, "{first:?}");
            assert_eq!(error.code, api::ApiCode::NoncePending, "a pending nonce");
        }
        other => panic!("the rival of a pending nonce is refused: {other:?}"),
    }
    api.wait_committed(&pending.hash().to_string()).await;
    let next = api.health().await.height + 1;
    api.wait_height(next).await;
    assert_eq!(api.tx_status(&reuse.hash().to_string()).await, None);
    assert_eq!(api.tx_status(&rival.hash().to_string()).await, None);
    let after = api.account(&trader.hex()).await;
    assert_eq!(
        balance(&after, BTC).1,
        2 * lot,
        "two orders rest, each held once"
    );
    node.stop().await;
}

/// What a refused request must not change: balances, nonces, books, the mempool.
async fn observable_state(api: &Api, keys: &[String]) -> Value {
    let mut accounts = Vec::new();
    for key in keys {
        let mut account = serde_json::to_value(api.account(key).await).expect("JSON");
        account["height"] = Value::Null;
        accounts.push(account);
    }
    let mut books = Vec::new();
    for market in 0..3 {
        let mut book = serde_json::to_value(api.book(market).await).expect("JSON");
        book["height"] = Value::Null;
        books.push(book);
    }
    json!({"accounts": accounts, "books": books, "mempool": api.health().await.mempool})
}

/// Each bad request gets its status and stable code in the error shape, and none of
/// them changes anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_bad_requests_are_refused_and_change_nothing() {
    let node = start_node(|_| {}).await;
    let api = &node.api;
    let lot = api.market(BTC_USD).await.lot_size;
    let trader = Trader::dev(6);
    let stranger = Trader::with_key(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    // Something on the books and a used nonce.
    let resting = trader.place(BTC_USD, Side::Buy, 3_000_000, lot);
    api.submit_committed(&resting).await;
    let used_nonce = resting.transaction.nonce;
    let keys = [trader.hex(), Trader::dev(7).hex(), stranger.hex()];
    let before = observable_state(api, &keys).await;

    let good = place(BTC_USD, Side::Buy, 3_000_000, lot);

    refuse_bodies_that_are_not_a_transaction(api, &trader, &good).await;
    let forged = refuse_bad_signatures_and_a_replay(api, &trader, &good, used_nonce, lot).await;
    refuse_well_formed_but_unacceptable(api, &trader, &stranger, &good, lot).await;
    refuse_bad_batches_and_an_oversized_body(api, &trader, &forged, lot).await;
    refuse_bad_paths(api, &trader, &resting).await;

    // Two blocks later (anything wrongly admitted would have executed), nothing moved.
    let height = api.health().await.height;
    api.wait_height(height + 2).await;
    assert_eq!(observable_state(api, &keys).await, before);

    // The stranger becomes an account through the faucet, and then may trade.
    let faucet = api
        .post(
            "/v1/faucet?wait=true",
            &json!({"account": stranger.hex(), "asset": USD.0, "amount": 1_000_000_000}),
        )
        .await;
    let funded: SubmitResponse = faucet.json();
    assert_eq!(funded.status, TxStatusKind::Committed, "{}", faucet.body);
    let placed = api
        .submit_committed(&stranger.tx(place(BTC_USD, Side::Buy, 3_000_000, lot)))
        .await;
    assert!(
        matches!(
            placed.receipt.as_deref().map(|r| &r.actions[..]),
            Some([ActionResult::Placed { .. }])
        ),
        "{placed:?}"
    );
    node.stop().await;
}

/// A place of a limit order as an action.
fn place(market: u32, side: Side, price: u64, qty: u64) -> Action {
    Action::Order(OrderAction::Place(limit(market, side, price, qty)))
}

/// Bodies that are not a transaction: each refused with its code.
async fn refuse_bodies_that_are_not_a_transaction(api: &Api, trader: &Trader, good: &Action) {
    let raw = |body: &'static str| async move {
        let answer = api
            .client
            .raw(
                Method::POST,
                "/v1/transactions",
                &[("content-type", "application/json")],
                Some(body.as_bytes().to_vec()),
            )
            .await;
        answer.map(Reply::from)
    };
    raw(r#"{"tx": "#).await.unwrap().assert_error(
        StatusCode::BAD_REQUEST,
        "MALFORMED",
        "JSON that does not parse",
    );
    raw(r#"{"nothing": 1}"#).await.unwrap().assert_error(
        StatusCode::BAD_REQUEST,
        "MALFORMED",
        "JSON of the wrong shape",
    );
    api.post("/v1/transactions", &json!({"tx": "not hex"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "MALFORMED", "not hex");
    // Well-formed hex whose bytes are not a transaction: the request parsed, its content
    // did not decode.
    api.post("/v1/transactions", &json!({"tx": "deadbeef"}))
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNDECODABLE",
            "hex that is not a transaction",
        );
    let mut trailing = trader.tx(good.clone()).to_bytes();
    trailing.push(0);
    api.post("/v1/transactions", &json!({"tx": hex::encode(trailing)}))
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNDECODABLE",
            "trailing bytes",
        );
    api.post(
        "/v1/transactions",
        &json!({"tx": hex::encode(vec![0u8; 5_000])}),
    )
    .await
    .assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "TOO_LARGE",
        "bytes over the transaction limit",
    );
}

/// Signatures that do not hold, and a used nonce; returns the forged transaction.
async fn refuse_bad_signatures_and_a_replay(
    api: &Api,
    trader: &Trader,
    good: &Action,
    used_nonce: u64,
    lot: u64,
) -> markets::SignedTransaction {
    let mut forged = trader.tx(good.clone());
    forged.signature[5] ^= 1;
    api.submit(&forged, false).await.assert_error(
        StatusCode::UNAUTHORIZED,
        "BAD_SIGNATURE",
        "a flipped bit",
    );
    let someone_else = Trader::dev(7).sign(trader.unsigned(good.clone()));
    api.submit(&someone_else, false).await.assert_error(
        StatusCode::UNAUTHORIZED,
        "BAD_SIGNATURE",
        "signed by another key",
    );

    // Replay.
    let mut replayed = trader.unsigned(place(BTC_USD, Side::Buy, 3_000_100, lot));
    replayed.nonce = used_nonce;
    api.submit(&trader.sign(replayed), false)
        .await
        .assert_error(StatusCode::CONFLICT, "NONCE_ALREADY_USED", "a used nonce");

    forged
}

/// Transactions that decode and are signed but that the chain refuses, through
/// `/v1/transactions` and `/v1/orders`.
async fn refuse_well_formed_but_unacceptable(
    api: &Api,
    trader: &Trader,
    stranger: &Trader,
    good: &Action,
    lot: u64,
) {
    let unprocessable = [
        (place(99, Side::Buy, 3_000_000, lot), "UNKNOWN_MARKET"),
        (
            place(ETH_USD, Side::Buy, 12_345, 1_000_000),
            "PRICE_OFF_TICK",
        ),
        (
            place(BTC_USD, Side::Buy, 3_000_000, lot + lot / 2),
            "QTY_OFF_LOT",
        ),
        (
            // 1,000,000 lots at $1M/BTC is $10^8: more than the account's $10M.
            place(BTC_USD, Side::Buy, 100_000_000, 1_000_000 * lot),
            "INSUFFICIENT_FUNDS",
        ),
        (Action::Batch(vec![]), "EMPTY_BATCH"),
    ];
    for (action, code) in unprocessable {
        api.submit(&trader.tx(action), false).await.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            code,
        );
    }
    let mut wrong_chain = trader.unsigned(good.clone());
    wrong_chain.chain_id = ChainId(1);
    api.submit(&trader.sign(wrong_chain), false)
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "WRONG_CHAIN",
            "another chain's id",
        );
    let mut expired = trader.unsigned(good.clone());
    expired.expiry_height = Some(0);
    api.submit(&trader.sign(expired), false).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "TRANSACTION_EXPIRED",
        "an expiry in the past",
    );
    api.submit(&stranger.tx(good.clone()), false)
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_ACCOUNT",
            "a key the chain has never seen",
        );
    // The same refusals through POST /v1/orders (JSON fields).
    let json_tx = |tx: &markets::SignedTransaction| {
        serde_json::to_value(api::wire::TransactionJson::from_chain(tx)).expect("JSON")
    };
    api.post(
        "/v1/orders",
        &json_tx(&trader.tx(place(BTC_USD, Side::Buy, 3_000_000, 7))),
    )
    .await
    .assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "QTY_OFF_LOT",
        "JSON qty off lot",
    );
    let transfer = Action::Transfer(markets::Transfer {
        to: Trader::dev(7).public(),
        asset: USD,
        amount: 1,
    });
    api.post("/v1/orders", &json_tx(&trader.tx(transfer)))
        .await
        .assert_error(
            StatusCode::BAD_REQUEST,
            "WRONG_ACTION",
            "a transfer to /v1/orders",
        );
}

/// A batch answers each entry on its own (none admitted here); empty and oversized
/// batches, and a body over the limit, are refused as a whole.
async fn refuse_bad_batches_and_an_oversized_body(
    api: &Api,
    trader: &Trader,
    forged: &markets::SignedTransaction,
    lot: u64,
) {
    let batch: BatchResponse = api
        .post(
            "/v1/transactions/batch",
            &json!({"transactions": [
                hex_body(forged),
                {"tx": "00"},
                hex_body(&trader.tx(place(99, Side::Sell, 1, lot))),
            ]}),
        )
        .await
        .json();
    let codes: Vec<String> = batch
        .results
        .iter()
        .map(|r| match r {
            BatchItem::Error { error } => error.code.to_string(),
            BatchItem::Accepted(a) => panic!("admitted: {a:?}"),
        })
        .collect();
    assert_eq!(codes, ["BAD_SIGNATURE", "UNDECODABLE", "UNKNOWN_MARKET"]);
    let too_many: Vec<Value> = (0..2_001).map(|_| json!({"tx": "00"})).collect();
    api.post("/v1/transactions/batch", &json!({"transactions": too_many}))
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "BAD_BATCH",
            "a batch over the limit",
        );
    api.post("/v1/transactions/batch", &json!({"transactions": []}))
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "BAD_BATCH",
            "an empty batch",
        );

    // A body over the limit (2 MiB by default). On a connection of its own: the node
    // closes the connection after answering (see the test below).
    oversized_body(api).await.assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
        "3 MiB",
    );
}

/// Unknown routes and malformed path parameters.
async fn refuse_bad_paths(api: &Api, trader: &Trader, resting: &markets::SignedTransaction) {
    api.get("/v1/no-such-thing").await.assert_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "unknown route",
    );
    api.get("/v1/orders/not-a-number").await.assert_error(
        StatusCode::BAD_REQUEST,
        "MALFORMED",
        "order id not a number",
    );
    let cancel = trader.cancel_body(BTC_USD, first_order_id(resting));
    api.send_json(Method::DELETE, "/v1/orders/-1", &cancel)
        .await
        .unwrap()
        .assert_error(StatusCode::BAD_REQUEST, "MALFORMED", "DELETE bad id");
    api.get("/v1/orders/12345").await.assert_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "an order nobody placed",
    );
    api.get("/v1/accounts/xyz").await.assert_error(
        StatusCode::BAD_REQUEST,
        "BAD_ACCOUNT",
        "a bad account key",
    );
    api.get("/v1/markets/99/book").await.assert_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "an unknown market",
    );
    api.get("/v1/transactions/zz").await.assert_error(
        StatusCode::BAD_REQUEST,
        "MALFORMED",
        "a bad hash",
    );
}

/// No block is cut while a test fills the mempool.
fn no_blocks_for_ten_minutes(config: &mut ::node::NodeConfig) {
    config.block_interval_ms = 600_000;
    config.empty_block_interval_ms = 600_000;
}

/// The mempool is bounded: over the per-account limit a submission gets 429, over the
/// total 503 MEMPOOL_FULL, each with Retry-After; what was admitted is committed when the
/// node stops, and is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mempool_limits_answer_429_and_503_with_retry_after() {
    let node = start_node(|config| {
        no_blocks_for_ten_minutes(config);
        config.mempool_max = 5;
        config.mempool_per_account_max = 3;
    })
    .await;
    let api = node.api.clone();
    let lot = api.market(BTC_USD).await.lot_size;
    let traders = [Trader::dev(1), Trader::dev(2), Trader::dev(3)];
    let order = |t: &Trader, i: u64| t.place(BTC_USD, Side::Sell, 7_000_000 + i, lot);
    let retry_after = |reply: &Reply| -> u64 {
        reply
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After in {:?}", reply.headers))
    };

    let mut admitted = Vec::new();
    for i in 0..3 {
        let tx = order(&traders[0], i);
        // The first waits for its block, but no block comes within its timeout: 202.
        let path = if i == 0 {
            "/v1/transactions?wait=true&timeout_ms=100"
        } else {
            "/v1/transactions"
        };
        let reply = api.post(path, &hex_body(&tx)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        let response: SubmitResponse = reply.json();
        assert_eq!(response.status, TxStatusKind::Pending);
        admitted.push(tx);
    }
    let over_account = order(&traders[0], 3);
    let reply = api.submit(&over_account, false).await;
    reply.assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "4th of one account",
    );
    assert!(retry_after(&reply) >= 1);
    for i in 0..2 {
        let tx = order(&traders[1], i);
        let reply = api.submit(&tx, false).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        admitted.push(tx);
    }
    let over_total = order(&traders[2], 0);
    let reply = api.submit(&over_total, false).await;
    reply.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "MEMPOOL_FULL",
        "6th in all",
    );
    assert!(retry_after(&reply) >= 1);
    let health = api.health().await;
    assert_eq!(
        (health.height, health.mempool),
        (0, 5),
        "no block yet, five waiting"
    );
    for tx in &admitted {
        let status = api.tx_status(&tx.hash().to_string()).await;
        assert_eq!(status.map(|s| s.status), Some(TxStatusKind::Pending));
    }
    for tx in [&over_account, &over_total] {
        assert_eq!(api.tx_status(&tx.hash().to_string()).await, None, "refused");
    }

    // A graceful stop commits what waits.
    let dir = node.stop().await;
    let config = crate::node_support::fast_config(dir.path());
    let running = ::node::start(config).await.expect("restart");
    let api = Api::new(&format!("http://{}", running.addr));
    for tx in &admitted {
        let status = api.tx_status(&tx.hash().to_string()).await;
        assert_eq!(status.map(|s| s.status), Some(TxStatusKind::Committed));
    }
    for tx in [&over_account, &over_total] {
        assert_eq!(
            api.tx_status(&tx.hash().to_string()).await,
            None,
            "never ran"
        );
    }
    let held = balance(&api.account(&traders[0].hex()).await, BTC).1;
    assert_eq!(held, 3 * lot);
    running.shutdown().await.expect("stop");
    drop(dir);
}

/// Admission takes its places in the mempool before it checks signatures: a batch
/// larger than the room left has its excess refused `MEMPOOL_FULL` without a signature
/// check (a forged transaction past the room is refused as full, not as forged), and the
/// place of a transaction that failed its check is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_refuses_what_the_mempool_cannot_hold_before_checking_signatures() {
    let node = start_node(|config| {
        no_blocks_for_ten_minutes(config);
        config.mempool_max = 4;
    })
    .await;
    let api = node.api.clone();
    let lot = api.market(BTC_USD).await.lot_size;
    let order = |t: u64, i: u64| Trader::dev(t).place(BTC_USD, Side::Sell, 7_000_000 + i, lot);
    let forge = |mut tx: markets::SignedTransaction| {
        tx.signature[5] ^= 1;
        tx
    };
    // Four places: the 2nd is forged (checked, refused, its place given back), the 5th
    // and 6th find no place (one of them forged: never checked).
    let batch = [
        order(1, 0),
        forge(order(2, 0)),
        order(3, 0),
        order(4, 0),
        forge(order(5, 0)),
        order(6, 0),
    ];
    let reply: BatchResponse = api
        .post(
            "/v1/transactions/batch",
            &json!({"transactions": batch.iter().map(hex_body).collect::<Vec<_>>()}),
        )
        .await
        .json();
    let codes: Vec<String> = reply
        .results
        .iter()
        .map(|r| match r {
            BatchItem::Accepted(_) => "accepted".to_string(),
            BatchItem::Error { error } => error.code.to_string(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "accepted",
            "BAD_SIGNATURE",
            "accepted",
            "accepted",
            "MEMPOOL_FULL",
            "MEMPOOL_FULL"
        ]
    );
    // The forged one's place is free again: one more is admitted, then none.
    let reply = api.submit(&order(7, 0), false).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    api.submit(&order(8, 0), false).await.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "MEMPOOL_FULL",
        "a fifth in a mempool of four",
    );
    assert_eq!(api.health().await.mempool, 4);
    node.stop().await;
}

/// The OpenAPI document is served and is JSON. (Its content is checked against the
/// routes elsewhere.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_serves_openapi_json() {
    let node = start_node(|_| {}).await;
    let reply = node.api.get("/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply
        .headers
        .get("content-type")
        .map(|v| v.to_str().unwrap_or(""));
    assert_eq!(content_type, Some("application/json"));
    assert!(
        reply.body.is_object(),
        "the document parses as a JSON object: {}",
        reply.body
    );
    node.stop().await;
}

/// Stopping a node with websocket clients connected tells them (`closing`) and releases
/// the data directory: a node started right after opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_stop_with_websocket_clients_releases_the_data_directory() {
    let node = start_node(|_| {}).await;
    let mut ws = Ws::connect(&node.api).await;
    ws.subscribe(json!({"op": "subscribe", "channel": "blocks"}))
        .await;
    ws.next_of("blocks").await;
    let dir = tokio::time::timeout(crate::node_support::DEADLINE, node.stop())
        .await
        .expect("the node stops with a websocket client connected");
    let restarted = ::node::start(crate::node_support::fast_config(dir.path())).await;
    let closing = ws.next_of("closing").await;
    assert!(closing["message"].is_string(), "{closing}");
    let running = restarted.expect("a stopped node's directory opens again at once");
    running.shutdown().await.expect("stop");
}

/// `POST /v1/transactions` with a 3 MiB body, on a fresh connection.
async fn oversized_body(api: &Api) -> Reply {
    let fresh = Api::new(api.base());
    let huge = format!(r#"{{"tx": "{}"}}"#, "0".repeat(3 << 20));
    let answer = fresh
        .client
        .raw(
            Method::POST,
            "/v1/transactions",
            &[("content-type", "application/json")],
            Some(huge.into_bytes()),
        )
        .await;
    answer.expect("the node answers an oversized body").into()
}

/// The node answers an oversized body without reading it and then closes the
/// connection; it must say so (`Connection: close`), or a keep-alive client reuses the
/// dead connection and its next request fails ("error sending request").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_oversized_body_answer_says_connection_close() {
    let node = start_node(|_| {}).await;
    let reply = oversized_body(&node.api).await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE", "3 MiB");
    let connection = reply
        .headers
        .get("connection")
        .map(|v| v.to_str().unwrap_or(""));
    assert_eq!(
        connection,
        Some("close"),
        "413 without `Connection: close` on a connection the server then closes: {:?}",
        reply.headers
    );
    node.stop().await;
}

/// Reads never wait for a commit: with the writer stage stuck in its `fdatasync` (a slow
/// disk, injected through the sync hook, which runs under the store's shared lock as the
/// real `fdatasync` does), REST reads and a websocket replay answer at once from the last
/// durable block, and what executed but is not durable is not shown anywhere. Once the
/// disk is back, the order in flight commits and fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reads_answer_while_a_commit_is_blocked() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    let blocked = Arc::new(AtomicBool::new(false));
    let stuck_at = Arc::new(AtomicU64::new(0));
    let hook: ::node::SyncHook = {
        let (blocked, stuck_at) = (Arc::clone(&blocked), Arc::clone(&stuck_at));
        Arc::new(move |height| {
            let started = std::time::Instant::now();
            while blocked.load(Ordering::Acquire) && started.elapsed() < Duration::from_secs(30) {
                stuck_at.store(height, Ordering::Release);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let node = start_node(|c| c.hooks.before_sync = Some(hook)).await;
    let api = &node.api;
    let market = api.market(BTC_USD).await;
    let (lot, tick) = (market.lot_size, market.tick_size);
    let (seller, buyer) = (Trader::dev(1), Trader::dev(2));
    let price = 5_000_003 / tick * tick;
    let sell = seller.place(BTC_USD, Side::Sell, price, 3 * lot);
    let placed = api.submit_committed(&sell).await;
    let durable = placed.receipt.expect("receipt").height.expect("height");
    node.running.node.check_invariants();

    blocked.store(true, Ordering::Release);
    let buy = buyer.place(BTC_USD, Side::Buy, price, lot);
    let pending: SubmitResponse = api.submit(&buy, false).await.json();
    assert_eq!(pending.status, TxStatusKind::Pending);
    let started = std::time::Instant::now();
    while stuck_at.load(Ordering::Acquire) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the writer never synced"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stuck = stuck_at.load(Ordering::Acquire);

    let quick = Duration::from_secs(3);
    let health = tokio::time::timeout(quick, api.health())
        .await
        .expect("health answers while the commit is blocked");
    assert!(
        health.height >= durable && health.height < stuck,
        "{health:?} vs stuck at {stuck}"
    );
    let book = tokio::time::timeout(quick, api.book(BTC_USD))
        .await
        .expect("the book answers while the commit is blocked");
    assert_eq!(
        book.asks,
        vec![[price, 3 * lot]],
        "the fill is not durable, so not shown"
    );
    let account = tokio::time::timeout(quick, api.account(&seller.hex()))
        .await
        .expect("an account answers while the commit is blocked");
    assert_eq!(balance(&account, BTC).1, 3 * lot);
    assert!(
        api.tx_status(&pending.hash)
            .await
            .is_none_or(|s| s.status == TxStatusKind::Pending),
        "executed but not durable is not committed"
    );
    let mut ws = Ws::connect(api).await;
    tokio::time::timeout(quick, async {
        ws.subscribe(json!({"op": "subscribe", "channel": "blocks", "from_height": 1}))
            .await;
        for height in 1..=durable {
            let block = ws.next_of("blocks").await;
            assert_eq!(block["height"].as_u64(), Some(height), "{block}");
        }
    })
    .await
    .expect("a websocket replay answers while the commit is blocked");
    assert!(
        api.health().await.height < stuck,
        "nothing past the stuck block was published meanwhile"
    );

    blocked.store(false, Ordering::Release);
    let status = api.wait_committed(&pending.hash).await;
    assert_eq!(status.status, TxStatusKind::Committed);
    assert_eq!(fills_of(&status.events).len(), 1, "{:?}", status.events);
    node.running.node.check_invariants();
    node.stop().await;
}
