//! What traders get besides submitting: trades and fills pages over the whole stored
//! history (the feed's memory, then stored blocks), candles that survive a restart and
//! follow the `candles` channel, order entry on the websocket, and the market's resting
//! order limits.

use api::feed::FeedLimits;
use api::wire::{CandlesJson, FillJson, FillsPage, MarketJson, TradesPage};
use matching::Side;
use serde_json::{Value, json};

use crate::node_support::{BTC_USD, Trader, Ws, hex_body, start_node};

/// Follows `next` from the first page to the end; every page at most `limit`.
async fn all_pages(api: &crate::node_support::Api, path: &str, limit: usize) -> Vec<FillJson> {
    let mut out = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..1_000 {
        let query = match &before {
            Some(b) => format!("{path}?limit={limit}&before={b}"),
            None => format!("{path}?limit={limit}"),
        };
        let reply = api.get(&query).await;
        let (items, next): (Vec<FillJson>, Option<String>) = if path.contains("/trades") {
            let page: TradesPage = reply.json();
            (page.trades, page.next)
        } else {
            let page: FillsPage = reply.json();
            (page.fills, page.next)
        };
        assert!(items.len() <= limit, "{query}: a page holds at most limit");
        out.extend(items);
        match next {
            Some(next) => before = Some(next),
            None => return out,
        }
    }
    panic!("{path}: pages never ended");
}

/// With a feed that keeps only 3 trades per market and 4 fills in all, the pages still
/// give every trade and fill once, newest first, equal to what the trades channel
/// replays from height 1: the older ones come from stored blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_trades_and_fills_pages_cover_the_whole_history() {
    let node = start_node(|config| {
        config.feed = FeedLimits {
            trades_per_market: 3,
            fills: 4,
            ..FeedLimits::default()
        };
    })
    .await;
    let api = &node.api;
    let (maker, taker) = (Trader::dev(0), Trader::dev(1));
    for i in 0..6 {
        let price = 6_500_000 + i * 100;
        api.submit_committed(&maker.place(BTC_USD, Side::Sell, price, 20_000))
            .await;
        // Two fills a block: the taker lifts the maker's ask in two pieces.
        api.submit_committed(&taker.place(BTC_USD, Side::Buy, price, 10_000))
            .await;
        api.submit_committed(&taker.place(BTC_USD, Side::Buy, price, 10_000))
            .await;
    }
    let trades = all_pages(api, "/v1/markets/0/trades", 2).await;
    let seqs: Vec<u64> = trades.iter().map(|t| t.seq).collect();
    assert_eq!(
        seqs,
        (1..=12).rev().collect::<Vec<_>>(),
        "every trade once, newest first"
    );

    let mut ws = Ws::connect(api).await;
    ws.subscribe(json!({"op": "subscribe", "channel": "trades", "market": 0, "from_height": 1}))
        .await;
    let mut replayed: Vec<FillJson> = Vec::new();
    while replayed.len() < 12 {
        let message = ws.next_of("trades").await;
        replayed.extend(crate::node_support::message_fills(&message));
    }
    replayed.reverse();
    assert_eq!(trades, replayed, "pages equal the replayed channel");

    for key in [maker.hex(), taker.hex()] {
        let fills = all_pages(api, &format!("/v1/accounts/{key}/fills"), 5).await;
        assert_eq!(fills, trades, "{key}: one side of every trade");
    }
    let stranger = Trader::with_key(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    let none = all_pages(api, &format!("/v1/accounts/{}/fills", stranger.hex()), 5).await;
    assert!(none.is_empty(), "a key the chain never saw has no fills");
    node.stop().await;
}

/// Candles after a restart are the candles before it; the `candles` channel starts with
/// the latest candle and follows each block that trades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_candles_survive_a_restart_and_stream_live() {
    let node = start_node(|_| {}).await;
    let (maker, taker) = (Trader::dev(0), Trader::dev(1));
    let api = node.api.clone();
    api.submit_committed(&maker.place(BTC_USD, Side::Sell, 6_500_000, 50_000))
        .await;
    api.submit_committed(&taker.place(BTC_USD, Side::Buy, 6_500_000, 10_000))
        .await;
    api.get("/v1/markets/0/candles?interval=2m")
        .await
        .assert_error(
            client::StatusCode::BAD_REQUEST,
            "MALFORMED",
            "unknown interval",
        );
    api.get("/v1/markets/0/candles?from=10&to=9")
        .await
        .assert_error(
            client::StatusCode::BAD_REQUEST,
            "MALFORMED",
            "from after to",
        );
    let before: CandlesJson = api
        .get_json("/v1/markets/BTC-USD/candles?interval=1h")
        .await;
    assert_eq!(before.candles.len(), 1, "{before:?}");
    assert_eq!(before.candles[0].trades, 1);

    let dir = node.stop().await;
    // The first record's header damaged, the records after it whole (as a power loss can
    // leave an unsynced log): the node throws the log away and rebuilds it from blocks.
    let log = dir
        .path()
        .join("candles")
        .join("blocks-00000000000000000001.log");
    let mut bytes = std::fs::read(&log).expect("the candle log");
    assert!(bytes.len() > 64, "several candle records");
    bytes[12] ^= 0xff;
    std::fs::write(&log, bytes).expect("rewrite the candle log");
    let mut config = crate::node_support::fast_config(dir.path());
    config.listen = "127.0.0.1:0".parse().expect("an address");
    let running = ::node::start(config).await.expect("restarts");
    let api = crate::node_support::Api::new(&format!("http://{}", running.addr));
    let after: CandlesJson = api
        .get_json("/v1/markets/BTC-USD/candles?interval=1h")
        .await;
    assert_eq!(after, before, "the same candles after a restart");

    let mut ws = Ws::connect(&api).await;
    let reply = ws
        .subscribe(
            json!({"op": "subscribe", "channel": "candles", "market": "BTC-USD", "interval": "1h"}),
        )
        .await;
    assert_eq!(reply["interval"], json!("1h"), "{reply}");
    let first = ws.next_of("candles").await;
    assert_eq!(first["data"][0]["trades"], json!(1), "{first}");
    api.submit_committed(&taker.place(BTC_USD, Side::Buy, 6_500_000, 10_000))
        .await;
    let next = ws.next_of("candles").await;
    assert_eq!(next["data"][0]["trades"], json!(2), "{next}");
    assert_eq!(next["data"][0]["volume"], json!("20000"), "{next}");
    ws.send(json!({"op": "subscribe", "channel": "candles", "market": 0, "from_height": 1}))
        .await;
    let refused = ws.next_of("error").await;
    assert_eq!(refused["code"], json!("MALFORMED"), "{refused}");
    running.shutdown().await.expect("stops");
    drop(dir);
}

/// `submit` on the websocket answers like `POST /v1/transactions`: pending, then a
/// duplicate for the same bytes (also when they come over REST), the REST codes for
/// refusals, each with its id; a binary frame is the same submission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_websocket_order_entry_answers_like_rest() {
    let node = start_node(|_| {}).await;
    let api = &node.api;
    let trader = Trader::dev(2);
    let mut ws = Ws::connect(api).await;

    let tx = trader.place(BTC_USD, Side::Buy, 6_400_000, 10_000);
    let mut request = hex_body(&tx);
    request["op"] = json!("submit");
    request["id"] = json!(1);
    ws.send(request.clone()).await;
    let first = ws.next_of("submitted").await;
    assert_eq!(first["id"], json!(1), "{first}");
    assert_eq!(first["status"], json!("pending"), "{first}");
    assert_eq!(first["duplicate"], json!(false), "{first}");
    assert_eq!(
        first["order_ids"],
        json!([crate::node_support::first_order_id(&tx).to_string()])
    );
    let hash = first["hash"].as_str().expect("a hash").to_string();
    api.wait_committed(&hash).await;

    request["id"] = json!(2);
    ws.send(request).await;
    let again = ws.next_of("submitted").await;
    assert_eq!(
        (again["id"].clone(), again["duplicate"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(again["status"], json!("committed"), "{again}");
    let rest = api.submit(&tx, false).await;
    assert_eq!(rest.body["duplicate"], json!(true), "{}", rest.body);

    // A bad signature: the REST code, with the id.
    let mut forged = trader.place(BTC_USD, Side::Buy, 6_400_000, 10_000);
    forged.signature[0] ^= 1;
    let mut bad = hex_body(&forged);
    bad["op"] = json!("submit");
    bad["id"] = json!(3);
    ws.send(bad).await;
    let refused = ws.next_of("error").await;
    assert_eq!(refused["id"], json!(3), "{refused}");
    let rest = api.submit(&forged, false).await;
    assert_eq!(refused["code"], rest.body["code"], "the same code as REST");

    // A binary frame: id little-endian, then the borsh bytes.
    let binary = trader.place(BTC_USD, Side::Buy, 6_300_000, 10_000);
    let mut frame = 4_u64.to_le_bytes().to_vec();
    frame.extend_from_slice(&binary.to_bytes());
    ws.send_binary(frame).await;
    let taken = ws.next_of("submitted").await;
    assert_eq!(taken["id"], json!(4), "{taken}");
    let hash = taken["hash"].as_str().expect("a hash").to_string();
    assert_eq!(
        api.wait_committed(&hash).await.status,
        api::wire::TxStatusKind::Committed
    );
    ws.send_binary(vec![1, 2, 3]).await;
    let short = ws.next_of("error").await;
    assert_eq!(short["code"], json!("MALFORMED"), "{short}");
    assert!(short.get("id").is_none(), "no id to answer: {short}");

    // A pipelined burst, with a frame that is no request in the middle: admitted
    // together, answered one by one in the frames' order.
    let burst = |first: u64| -> Vec<Value> {
        (first..first + 10)
            .map(|id| {
                let mut request = hex_body(&trader.place(BTC_USD, Side::Buy, 6_000_000, 10_000));
                request["op"] = json!("submit");
                request["id"] = json!(id);
                request
            })
            .collect()
    };
    for request in burst(100) {
        ws.send(request).await;
    }
    ws.send(json!("not a request")).await;
    for request in burst(110) {
        ws.send(request).await;
    }
    let answers: Vec<Value> = ws
        .until_pong()
        .await
        .into_iter()
        .filter(|m| m["type"] == json!("submitted") || m["type"] == json!("error"))
        .collect();
    let order: Vec<Value> = answers.iter().map(|m| m["id"].clone()).collect();
    let mut expected: Vec<Value> = (100..110).map(|id| json!(id)).collect();
    expected.push(Value::Null);
    expected.extend((110..120).map(|id| json!(id)));
    assert_eq!(order, expected, "answers in the frames' order: {answers:?}");
    assert!(
        answers
            .iter()
            .filter(|m| m["type"] == json!("submitted"))
            .all(|m| m["status"] == json!("pending")),
        "{answers:?}"
    );
    node.stop().await;
}

/// The limits behind codes 305/306 are in the market, and a receipt always names its
/// events, even when there are none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_markets_show_resting_limits_and_receipts_always_have_events() {
    let node = start_node(|_| {}).await;
    let market: MarketJson = node.api.get_json("/v1/markets/BTC-USD").await;
    let params = markets::dev::genesis(1).0.markets[0].params;
    assert_eq!(
        market.resting_orders_per_account_max,
        params.orders_per_account_max
    );
    assert_eq!(
        market.resting_orders_per_book_max,
        params.orders_per_book_max
    );
    let trader = Trader::dev(3);
    let cancel_all = trader.tx(markets::Action::Order(markets::OrderAction::CancelAll(
        markets::CancelAll {
            market: markets::MarketId(BTC_USD),
        },
    )));
    let committed = node.api.submit(&cancel_all, true).await;
    let receipt = &committed.body["receipt"];
    assert_eq!(receipt["events"], json!([]), "{}", committed.body);
    node.stop().await;
}
