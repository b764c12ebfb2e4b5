//! The websocket: `GET /v1/ws`, JSON text frames.
//!
//! Client → server:
//! ```json
//! {"op": "subscribe",   "channel": "trades", "market": "BTC-USD"}
//! {"op": "subscribe",   "channel": "book",   "market": 0}
//! {"op": "subscribe",   "channel": "fills",  "account": "<hex key>", "from_height": 120}
//! {"op": "subscribe",   "channel": "orders", "account": "<hex key>"}
//! {"op": "subscribe",   "channel": "blocks", "from_height": 1}
//! {"op": "unsubscribe", "channel": "trades", "market": "BTC-USD"}
//! {"op": "ping"}
//! ```
//! Server → client: one message per channel per block, each with its block `height`:
//! `{"type": "trades", "market": 0, "height": H, "data": [fill…]}`,
//! `{"type": "book", "market": 0, "height": H, "seq": S, "snapshot": bool, "bids": [[price, qty]…], "asks": […]}`,
//! `{"type": "fills", "account": k, "height": H, "data": […]}`,
//! `{"type": "orders", "account": k, "height": H, "data": [update…]}`,
//! `{"type": "blocks", "height": H, "data": block}`; and `subscribed`, `unsubscribed`,
//! `heartbeat` and `pong` (with the connection's cursor: every block up to it has been
//! delivered), `error`, `lagged`, `closing`.
//!
//! **No gap, no duplicate.** The connection subscribes to the feed's bus first, then
//! reads the latest height `C` (its cursor). A subscription with `from_height: F`
//! replays blocks `F..=C` from storage and then takes live blocks above `C`; blocks the
//! bus delivers at or below the cursor are skipped. All of a block's messages for a
//! channel are one message, so "resume from the last height I processed + 1" is exact.
//!
//! **Book.** A `book` subscription starts with a snapshot at height `S` and sequence
//! number `seq`; each later delta has `seq + 1`, and a level with qty 0 is gone. A
//! client that sees a jump in `seq` resubscribes for a new snapshot. Sequence numbers
//! restart when the node restarts (every connection then starts with a snapshot).
//!
//! **Slow clients.** The bus keeps the last `bus_blocks` blocks; a client that falls
//! further behind gets `{"type": "lagged", "resume_from_height": H}` and is closed; a send
//! that takes longer than `ws_send_timeout_ms` closes the connection too. Block
//! production never waits for a client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::feed::BlockUpdate;
use crate::rest::book_json;
use crate::types::parse_hex32;
use crate::{App, Node};
use markets::ExecutedBlock;

/// Levels per side in a book snapshot.
pub const BOOK_SNAPSHOT_LEVELS: usize = 5_000;
/// Subscriptions one connection may hold.
pub const SUBSCRIPTIONS_MAX: usize = 256;
/// Blocks read from storage per replay step.
const REPLAY_CHUNK: u64 = 64;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum ClientMessage {
    Subscribe(SubscribeArgs),
    Unsubscribe(SubscribeArgs),
    Ping,
}

#[derive(Debug, Deserialize)]
struct SubscribeArgs {
    channel: String,
    #[serde(default)]
    market: Option<Value>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    from_height: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Channel {
    Trades(u32),
    Book(u32),
    Fills([u8; 32]),
    Orders([u8; 32]),
    Blocks,
}

pub async fn upgrade<N: Node>(State(app): State<Arc<App<N>>>, ws: WebSocketUpgrade) -> Response {
    let clients = usize::try_from(app.metrics.ws_clients.get()).unwrap_or(0);
    if clients >= app.config.ws_clients_max {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "TOO_MANY_CLIENTS",
            "the node has as many websocket clients as it serves",
        )
        .into_response();
    }
    ws.on_upgrade(move |socket| connection(app, socket))
}

struct Conn<N> {
    app: Arc<App<N>>,
    socket: WebSocket,
    /// Per subscription: deliver live blocks above this height.
    subs: BTreeMap<Channel, u64>,
    /// The last height taken from the bus (or read at connect).
    cursor: u64,
}

async fn connection<N: Node>(app: Arc<App<N>>, socket: WebSocket) {
    app.metrics.ws_clients.inc();
    let mut bus = app.feed.subscribe();
    let cursor = app.feed.latest();
    let heartbeat = Duration::from_secs(app.config.heartbeat_secs.max(1));
    let mut conn = Conn {
        app: Arc::clone(&app),
        socket,
        subs: BTreeMap::new(),
        cursor,
    };
    let mut ticker = tokio::time::interval(heartbeat);
    ticker.tick().await;
    let feed = Arc::clone(&app.feed);
    let closed = feed.closed();
    tokio::pin!(closed);
    let result: Result<(), ()> = async {
        loop {
            tokio::select! {
                () = &mut closed => {
                    let _ = conn.send(json!({"type": "closing", "message": "the node is shutting down; resume with from_height"})).await;
                    return Err(());
                }
                incoming = conn.socket.next() => {
                    match incoming {
                        Some(Ok(Message::Text(text))) => conn.on_text(&text).await?,
                        Some(Ok(Message::Binary(_))) => {
                            conn.send_error("MALFORMED_REQUEST", "send JSON text frames").await?;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(()),
                    }
                }
                update = bus.recv() => {
                    match update {
                        Ok(update) => conn.on_block(&update).await?,
                        Err(RecvError::Lagged(_)) => {
                            let resume = conn.cursor + 1;
                            let _ = conn.send(json!({
                                "type": "lagged",
                                "message": "this connection fell too far behind the chain; reconnect and subscribe with from_height",
                                "resume_from_height": resume,
                            })).await;
                            return Err(());
                        }
                        Err(RecvError::Closed) => return Err(()),
                    }
                }
                _ = ticker.tick() => {
                    // The connection's own cursor: every block up to it has been delivered.
                    let height = conn.cursor;
                    conn.send(json!({"type": "heartbeat", "height": height})).await?;
                }
            }
        }
    }
    .await;
    let _ = result;
    let _ = conn.socket.close().await;
    app.metrics.ws_clients.dec();
}

impl<N: Node> Conn<N> {
    async fn send(&mut self, value: Value) -> Result<(), ()> {
        let text = Utf8Bytes::from(value.to_string());
        let timeout = Duration::from_millis(self.app.config.ws_send_timeout_ms);
        match tokio::time::timeout(timeout, self.socket.send(Message::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    async fn send_error(&mut self, code: &str, message: &str) -> Result<(), ()> {
        self.send(json!({"type": "error", "code": code, "message": message}))
            .await
    }

    async fn on_text(&mut self, text: &str) -> Result<(), ()> {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => return self.send_error("MALFORMED_REQUEST", &e.to_string()).await,
        };
        match message {
            ClientMessage::Ping => {
                let height = self.cursor;
                self.send(json!({"type": "pong", "height": height})).await
            }
            ClientMessage::Subscribe(args) => match self.channel(&args) {
                Err(e) => self.send_error(e.code, &e.message).await,
                Ok(channel) => self.subscribe(channel, args.from_height).await,
            },
            ClientMessage::Unsubscribe(args) => match self.channel(&args) {
                Err(e) => self.send_error(e.code, &e.message).await,
                Ok(channel) => {
                    let was = self.subs.remove(&channel).is_some();
                    let mut reply = describe(channel);
                    reply["type"] = json!("unsubscribed");
                    reply["was_subscribed"] = json!(was);
                    self.send(reply).await
                }
            },
        }
    }

    fn channel(&self, args: &SubscribeArgs) -> Result<Channel, ApiError> {
        let market = || -> Result<u32, ApiError> {
            let name = match &args.market {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(ApiError::bad_request(
                        "MALFORMED_REQUEST",
                        "this channel needs a market (id or symbol)",
                    ));
                }
            };
            self.app
                .node
                .view()
                .find_market(&name)
                .ok_or_else(|| ApiError::from(markets::ChainReject::UnknownMarket))
        };
        let account = || -> Result<[u8; 32], ApiError> {
            args.account
                .as_deref()
                .and_then(parse_hex32)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "BAD_ACCOUNT",
                        "this channel needs an account: 64 hex characters",
                    )
                })
        };
        match args.channel.as_str() {
            "trades" => Ok(Channel::Trades(market()?)),
            "book" => Ok(Channel::Book(market()?)),
            "fills" => Ok(Channel::Fills(account()?)),
            "orders" => Ok(Channel::Orders(account()?)),
            "blocks" => Ok(Channel::Blocks),
            other => Err(ApiError::bad_request(
                "UNKNOWN_CHANNEL",
                format!("no channel {other:?}: trades, book, fills, orders, blocks"),
            )),
        }
    }

    async fn subscribe(&mut self, channel: Channel, from_height: Option<u64>) -> Result<(), ()> {
        if !self.subs.contains_key(&channel) && self.subs.len() >= SUBSCRIPTIONS_MAX {
            return self
                .send_error("TOO_MANY_SUBSCRIPTIONS", "unsubscribe from something first")
                .await;
        }
        if let Channel::Book(market) = channel {
            if from_height.is_some() {
                return self
                    .send_error(
                        "MALFORMED_REQUEST",
                        "the book channel starts with a snapshot; it takes no from_height",
                    )
                    .await;
            }
            // The node publishes a block's view before its websocket messages, so this
            // view is at least as new as anything this connection has received.
            let snapshot = book_json(&self.app.node.view(), market, BOOK_SNAPSHOT_LEVELS);
            self.subs.insert(channel, snapshot.height);
            let mut reply = describe(channel);
            reply["type"] = json!("subscribed");
            reply["height"] = json!(snapshot.height);
            self.send(reply).await?;
            return self
                .send(json!({
                    "type": "book", "market": market, "height": snapshot.height,
                    "seq": snapshot.seq, "snapshot": true,
                    "bids": snapshot.bids, "asks": snapshot.asks,
                }))
                .await;
        }
        let cursor = self.cursor;
        let from = from_height.unwrap_or(cursor + 1).max(1);
        if cursor.saturating_sub(from) >= self.app.config.replay_blocks_max {
            return self
                .send_error(
                    "REPLAY_TOO_LONG",
                    &format!(
                        "from_height may be at most {} blocks back",
                        self.app.config.replay_blocks_max
                    ),
                )
                .await;
        }
        // Deliver nothing live until the replay is done; then everything above the cursor.
        self.subs.remove(&channel);
        let mut reply = describe(channel);
        reply["type"] = json!("subscribed");
        reply["height"] = json!(cursor);
        if from_height.is_some() {
            reply["from_height"] = json!(from);
        }
        self.send(reply).await?;
        let mut height = from;
        while height <= cursor {
            let last = (height + REPLAY_CHUNK - 1).min(cursor);
            let node = Arc::clone(&self.app.node);
            let stored: Result<Vec<Arc<ExecutedBlock>>, ApiError> =
                tokio::task::spawn_blocking(move || {
                    (height..=last)
                        .map(|h| {
                            node.stored(h)?.ok_or_else(|| {
                                ApiError::internal(format!("block {h} is not stored"))
                            })
                        })
                        .collect()
                })
                .await
                .unwrap_or_else(|e| Err(ApiError::internal(e.to_string())));
            let stored = match stored {
                Ok(s) => s,
                Err(e) => return self.send_error(e.code, &e.message).await,
            };
            let view = self.app.node.view();
            for block in &stored {
                let update = BlockUpdate::build(block, &view, false);
                if let Some(message) = message_for(channel, &update) {
                    self.send(message).await?;
                }
            }
            height = last + 1;
        }
        // A from_height beyond the cursor starts live from there.
        self.subs.insert(channel, cursor.max(from - 1));
        Ok(())
    }

    async fn on_block(&mut self, update: &Arc<BlockUpdate>) -> Result<(), ()> {
        if update.height <= self.cursor {
            return Ok(());
        }
        self.cursor = update.height;
        let due: Vec<Channel> = self
            .subs
            .iter()
            .filter(|&(_, &after)| update.height > after)
            .map(|(&c, _)| c)
            .collect();
        for channel in due {
            if let Some(message) = message_for(channel, update) {
                self.send(message).await?;
            }
        }
        Ok(())
    }
}

/// The channel's fields, as subscription replies name it.
fn describe(channel: Channel) -> Value {
    match channel {
        Channel::Trades(m) => json!({"channel": "trades", "market": m}),
        Channel::Book(m) => json!({"channel": "book", "market": m}),
        Channel::Fills(k) => json!({"channel": "fills", "account": hex::encode(k)}),
        Channel::Orders(k) => json!({"channel": "orders", "account": hex::encode(k)}),
        Channel::Blocks => json!({"channel": "blocks"}),
    }
}

/// The message `channel` gets for this block, if it has anything for it.
fn message_for(channel: Channel, update: &BlockUpdate) -> Option<Value> {
    let height = update.height;
    match channel {
        Channel::Trades(m) => update.trades.get(&m).map(|fills| {
            json!({"type": "trades", "market": m, "height": height, "data": fills})
        }),
        Channel::Book(m) => update.book.get(&m).map(|delta| {
            json!({"type": "book", "market": m, "height": height, "seq": delta.seq,
                   "snapshot": false, "bids": delta.bids, "asks": delta.asks})
        }),
        Channel::Fills(k) => update.fills.get(&k).map(|fills| {
            json!({"type": "fills", "account": hex::encode(k), "height": height, "data": fills})
        }),
        Channel::Orders(k) => update.orders.get(&k).map(|updates| {
            json!({"type": "orders", "account": hex::encode(k), "height": height, "data": updates})
        }),
        Channel::Blocks => Some(json!({"type": "blocks", "height": height, "data": update.block})),
    }
}
