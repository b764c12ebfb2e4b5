//! The websocket: `GET /v1/ws`, JSON text frames: [`ClientMessage`] in,
//! [`ServerMessage`] out (both in [`crate::wire`]).
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
//! **Serialize once, fan out bytes.** A block's message for a channel is encoded once
//! ([`BlockUpdate::message`]) into shared bytes; every subscriber's connection pushes the
//! same bytes into its own bounded queue, and a writer task per connection (owning the
//! socket's sink) writes them out. Replays use the same function.
//!
//! **Slow clients.** A connection that cannot keep up is closed; it never makes the
//! chain or other clients wait:
//! - its queue (`ws_queue_messages`) is full: it is sent
//!   `{"type": "lagged", "resume_from_height": H}` if the socket takes it within a second,
//!   and closed. `H` is the lowest height of a message it was not sent, so every block
//!   below `H` was delivered whole;
//! - one write takes longer than `ws_send_timeout_ms`: closed;
//! - the bus (which keeps the last `bus_blocks` blocks) moved on without it: `lagged`
//!   with the block after its cursor, then closed.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};

use crate::candles::Interval;
use crate::error::ApiError;
pub use crate::feed::Channel;
use crate::feed::{BlockUpdate, encode};
use crate::limits::{WS_CLIENT_MESSAGE_BYTES_MAX, WS_READ_BUFFER_BYTES};
use crate::rest::book_json;
use crate::wire::{
    ApiCode, ChannelName, ClientMessage, MarketRef, ServerMessage, SubmitResponse, SubscribeArgs,
    parse_hex32,
};
use crate::{App, Node};
use markets::{ExecutedBlock, SignedTransaction};

/// Levels per side in a book snapshot.
pub const BOOK_SNAPSHOT_LEVELS: usize = 5_000;
/// Subscriptions one connection may hold.
pub const SUBSCRIPTIONS_MAX: usize = 256;
/// Blocks read from storage per replay step.
const REPLAY_CHUNK: u64 = 64;
/// After its queue overflows, how long a connection has to take the `lagged` message
/// (and the close) before its socket is dropped.
const LAGGED_CLOSE: Duration = Duration::from_secs(1);

#[utoipa::path(get, path = "/v1/ws", tag = "websocket",
    description = "The websocket (JSON text frames; the protocol is in docs/API.md). A GET without upgrade headers gets axum's plain-text 400.",
    responses(
        (status = 101, description = "Switching to the websocket protocol."),
        (status = 400, description = "Not a websocket upgrade (plain text).", content_type = "text/plain", body = String),
        (status = 503, description = "`TOO_MANY_CLIENTS`.", body = crate::wire::ErrorBody),
    ))]
pub async fn upgrade<N: Node>(State(app): State<Arc<App<N>>>, ws: WebSocketUpgrade) -> Response {
    let clients = usize::try_from(app.metrics.ws_clients.get()).unwrap_or(0);
    if clients >= app.config.ws_clients_max {
        return ApiError::new(
            ApiCode::TooManyClients,
            "the node has as many websocket clients as it serves",
        )
        .into_response();
    }
    // Counted from here, not from when the upgrade completes, so that a node stopping
    // waits for a client it has just answered 101 (see `wait_closed`).
    let slot = ClientSlot::take(&app.metrics);
    ws.read_buffer_size(WS_READ_BUFFER_BYTES)
        .max_message_size(WS_CLIENT_MESSAGE_BYTES_MAX)
        .max_frame_size(WS_CLIENT_MESSAGE_BYTES_MAX)
        .on_upgrade(move |socket| connection(app, socket, slot))
}

/// One websocket client counted in `ws_clients`, from the upgrade's answer until its
/// connection ends, or until the upgrade fails (the callback holding it is dropped).
struct ClientSlot(Arc<crate::Metrics>);

impl ClientSlot {
    fn take(metrics: &Arc<crate::Metrics>) -> ClientSlot {
        metrics.ws_clients.inc();
        ClientSlot(Arc::clone(metrics))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.ws_clients.dec();
    }
}

/// After [`crate::Feed::close`]: waits until every websocket connection has sent its
/// `closing` message and closed, or `timeout` passes. A stopping node calls it so that
/// its clients learn why the socket closed instead of seeing it cut.
pub async fn wait_closed(metrics: &crate::Metrics, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while metrics.ws_clients.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One message waiting for the writer; `height` is the block it belongs to, if any.
#[derive(Debug)]
struct Outgoing {
    text: Utf8Bytes,
    height: Option<u64>,
}

struct Conn<N> {
    app: Arc<App<N>>,
    /// To the writer task; bounded by `ws_queue_messages`.
    queue: mpsc::Sender<Outgoing>,
    /// Tells the writer the queue overflowed, with the lowest height that may be lost.
    overflow: Option<oneshot::Sender<u64>>,
    /// Per subscription: deliver live blocks above this height.
    subs: BTreeMap<Channel, u64>,
    /// The last height taken from the bus (or read at connect).
    cursor: u64,
}

async fn connection<N: Node>(app: Arc<App<N>>, socket: WebSocket, slot: ClientSlot) {
    let mut bus = app.feed.subscribe();
    let cursor = app.feed.latest();
    let heartbeat = Duration::from_secs(app.config.heartbeat_secs.max(1));
    let send_timeout = Duration::from_millis(app.config.ws_send_timeout_ms.max(1));
    let (sink, mut stream) = socket.split();
    let (queue, queued) = mpsc::channel(app.config.ws_queue_messages.max(2));
    let (overflow, overflowed) = oneshot::channel();
    let writer = tokio::spawn(write(sink, queued, overflowed, send_timeout));
    let mut conn = Conn {
        app: Arc::clone(&app),
        queue,
        overflow: Some(overflow),
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
                    let _ = conn.push(&ServerMessage::Closing {
                        message: "the node is shutting down; resume with from_height".into(),
                    });
                    return Err(());
                }
                // The writer gave up (a send timed out or failed).
                () = conn.queue.closed() => return Err(()),
                incoming = stream.next() => {
                    let frame = match incoming {
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(()),
                        Some(Ok(message)) => Incoming::of(message),
                    };
                    let Incoming::Submit(id, transaction) = frame else {
                        conn.on_request(frame).await?;
                        continue;
                    };
                    // Submissions already waiting behind this one are admitted with it,
                    // in one call (signatures checked together); the first other frame
                    // is handled after them, so answers keep the frames' order.
                    let mut batch = vec![(id, transaction)];
                    let mut after = None;
                    let mut closed = false;
                    while batch.len() < SUBMIT_BATCH_MAX {
                        match stream.next().now_or_never() {
                            None => break,
                            Some(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                            Some(Some(Ok(Message::Close(_)) | Err(_)) | None) => {
                                closed = true;
                                break;
                            }
                            Some(Some(Ok(message))) => match Incoming::of(message) {
                                Incoming::Submit(id, transaction) => batch.push((id, transaction)),
                                other => {
                                    after = Some(other);
                                    break;
                                }
                            },
                        }
                    }
                    conn.submit(batch).await?;
                    if let Some(frame) = after {
                        conn.on_request(frame).await?;
                    }
                    if closed {
                        return Err(());
                    }
                }
                update = bus.recv() => {
                    match update {
                        Ok(update) => conn.on_block(&update)?,
                        Err(RecvError::Lagged(_)) => {
                            // Everything up to the cursor is queued ahead of this.
                            let resume = conn.cursor + 1;
                            let _ = conn.push(&lagged(resume));
                            return Err(());
                        }
                        Err(RecvError::Closed) => return Err(()),
                    }
                }
                _ = ticker.tick() => {
                    // The connection's own cursor: every block up to it is queued ahead.
                    let height = conn.cursor;
                    conn.push(&ServerMessage::Heartbeat { height })?;
                }
            }
        }
    }
    .await;
    let _ = result;
    // The writer sends what is queued (each write bounded by the send timeout), closes
    // the socket and ends; the overflow sender stays alive until then, so the writer
    // never mistakes the end for an overflow.
    let Conn {
        queue, overflow, ..
    } = conn;
    drop(queue);
    let _ = writer.await;
    drop(overflow);
    drop(bus);
    drop(slot);
}

/// Queues a message without waiting. A full queue means the client does not read: the
/// writer is told to send `lagged` and close.
fn enqueue(
    queue: &mpsc::Sender<Outgoing>,
    overflow: &mut Option<oneshot::Sender<u64>>,
    cursor: u64,
    out: Outgoing,
) -> Result<(), ()> {
    match queue.try_send(out) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(out)) => {
            overflowed(overflow, cursor, out.height);
            Err(())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

/// The queue is full: the lowest height possibly lost is this message's, or the block
/// after the cursor (everything up to it was queued; the writer lowers this to the
/// lowest height still queued).
fn overflowed(overflow: &mut Option<oneshot::Sender<u64>>, cursor: u64, height: Option<u64>) {
    let lost = height.map_or(cursor + 1, |h| h.min(cursor + 1));
    if let Some(overflow) = overflow.take() {
        let _ = overflow.send(lost);
    }
}

fn lagged(resume: u64) -> ServerMessage<'static> {
    ServerMessage::Lagged {
        message: "this connection fell too far behind the chain; reconnect and subscribe with from_height".into(),
        resume_from_height: resume,
    }
}

/// The writer task: owns the socket's sink and writes what the connection queues, one
/// message at a time, each within `send_timeout`. Ends when the queue closes, a write
/// fails or times out, or the queue overflowed (then `lagged`, within [`LAGGED_CLOSE`]).
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Outgoing>,
    mut overflowed: oneshot::Receiver<u64>,
    send_timeout: Duration,
) {
    let mut floor = None;
    loop {
        tokio::select! {
            biased;
            lost = &mut overflowed => {
                floor = lost.ok();
                break;
            }
            next = queued.recv() => {
                let Some(out) = next else { break };
                tokio::select! {
                    biased;
                    lost = &mut overflowed => {
                        floor = lost.ok().map(|h| out.height.map_or(h, |o| o.min(h)));
                        break;
                    }
                    sent = tokio::time::timeout(send_timeout, sink.send(Message::Text(out.text))) => {
                        if !matches!(sent, Ok(Ok(()))) {
                            break;
                        }
                    }
                }
            }
        }
    }
    let deadline = tokio::time::Instant::now() + LAGGED_CLOSE.min(send_timeout);
    if let Some(mut resume) = floor {
        // What is still queued is lost too: resume from the lowest of it.
        while let Ok(out) = queued.try_recv() {
            if let Some(height) = out.height {
                resume = resume.min(height);
            }
        }
        let text = encode(&lagged(resume));
        let _ = tokio::time::timeout_at(deadline, sink.send(Message::Text(text))).await;
        let _ = tokio::time::timeout_at(deadline, sink.close()).await;
    } else {
        let _ = tokio::time::timeout(send_timeout, sink.close()).await;
    }
}

impl<N: Node> Conn<N> {
    /// Queues a per-connection message (a reply, a heartbeat).
    fn push(&mut self, message: &ServerMessage<'_>) -> Result<(), ()> {
        self.push_bytes(encode(message), None)
    }

    fn push_bytes(&mut self, text: Utf8Bytes, height: Option<u64>) -> Result<(), ()> {
        enqueue(
            &self.queue,
            &mut self.overflow,
            self.cursor,
            Outgoing { text, height },
        )
    }

    /// Queues a replayed message, waiting up to the send timeout for room: a replay may
    /// outrun any network, but only a client that does not read stays full that long.
    async fn push_replay(&mut self, text: Utf8Bytes, height: u64) -> Result<(), ()> {
        let timeout = Duration::from_millis(self.app.config.ws_send_timeout_ms.max(1));
        let reserved = tokio::time::timeout(timeout, self.queue.reserve()).await;
        match reserved {
            Ok(Ok(permit)) => {
                permit.send(Outgoing {
                    text,
                    height: Some(height),
                });
                Ok(())
            }
            Ok(Err(_closed)) => Err(()),
            Err(_elapsed) => {
                overflowed(&mut self.overflow, self.cursor, Some(height));
                Err(())
            }
        }
    }

    fn send_error(&mut self, code: ApiCode, message: &str) -> Result<(), ()> {
        self.push(&ServerMessage::Error {
            id: None,
            code,
            message: message.to_string(),
        })
    }

    /// Admits submissions exactly as `POST /v1/transactions` does (without `wait`), in
    /// one call to the node, and answers each `submitted` or `error` with its id, in
    /// order.
    async fn submit(
        &mut self,
        batch: Vec<(u64, Result<SignedTransaction, ApiError>)>,
    ) -> Result<(), ()> {
        let door = self.app.node.accepting();
        let mut ids = Vec::with_capacity(batch.len());
        let mut answers: Vec<Option<Result<SubmitResponse, ApiError>>> =
            Vec::with_capacity(batch.len());
        let mut transactions = Vec::with_capacity(batch.len());
        for (id, transaction) in batch {
            ids.push(id);
            match (transaction, &door) {
                // Not a transaction: counted nowhere, as over REST.
                (Err(e), _) => answers.push(Some(Err(e))),
                (Ok(_), Err(refused)) => {
                    self.app.metrics.refused_at_ingest.inc();
                    answers.push(Some(Err(refused.clone())));
                }
                (Ok(transaction), Ok(())) => {
                    transactions.push(transaction);
                    answers.push(None);
                }
            }
        }
        if !transactions.is_empty() {
            let mut admitted = match crate::rest::admit_all(&self.app, transactions).await {
                Ok(admitted) => admitted.into_iter(),
                Err(e) => Vec::from([(Err(e), Vec::new())]).into_iter(),
            };
            for answer in answers.iter_mut().filter(|a| a.is_none()) {
                let (result, order_ids) = admitted.next().unwrap_or_else(|| {
                    (
                        Err(ApiError::internal("no answer from the node")),
                        Vec::new(),
                    )
                });
                *answer = Some(match result {
                    Ok(admitted) => {
                        crate::rest::pending_answer(&self.app, admitted, order_ids).await
                    }
                    Err(e) => Err(e),
                });
            }
        }
        for (id, answer) in ids.into_iter().zip(answers) {
            let message = match answer.expect("every submission answered") {
                Ok(response) => ServerMessage::Submitted { id, response },
                Err(e) => ServerMessage::Error {
                    id: Some(id),
                    code: e.code,
                    message: e.message,
                },
            };
            self.push(&message)?;
        }
        Ok(())
    }

    /// A frame that is not a submission.
    async fn on_request(&mut self, frame: Incoming) -> Result<(), ()> {
        match frame {
            Incoming::Request(message) => self.on_message(message).await,
            Incoming::Bad(code, message) => self.send_error(code, &message),
            Incoming::Submit(id, transaction) => self.submit(vec![(id, transaction)]).await,
        }
    }

    async fn on_message(&mut self, message: ClientMessage) -> Result<(), ()> {
        match message {
            ClientMessage::Ping => {
                let height = self.cursor;
                self.push(&ServerMessage::Pong { height })
            }
            ClientMessage::Submit { id, request } => {
                let transaction = crate::rest::decode(&request);
                self.submit(vec![(id, transaction)]).await
            }
            ClientMessage::Subscribe(args) => match self.channel(&args) {
                Err(e) => self.send_error(e.code, &e.message),
                Ok(channel) => self.subscribe(channel, args.from_height).await,
            },
            ClientMessage::Unsubscribe(args) => match self.channel(&args) {
                Err(e) => self.send_error(e.code, &e.message),
                Ok(channel) => {
                    let was_subscribed = self.subs.remove(&channel).is_some();
                    let (channel, market, interval, account) = describe(channel);
                    self.push(&ServerMessage::Unsubscribed {
                        channel,
                        market,
                        interval,
                        account,
                        was_subscribed,
                    })
                }
            },
        }
    }

    fn channel(&self, args: &SubscribeArgs) -> Result<Channel, ApiError> {
        let market = || -> Result<u32, ApiError> {
            let name = match &args.market {
                Some(MarketRef::Symbol(s)) => s.clone(),
                Some(MarketRef::Id(n)) => n.to_string(),
                None => {
                    return Err(ApiError::new(
                        ApiCode::Malformed,
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
                    ApiError::new(
                        ApiCode::BadAccount,
                        "this channel needs an account: 64 hex characters",
                    )
                })
        };
        match args.channel {
            ChannelName::Trades => Ok(Channel::Trades(market()?)),
            ChannelName::Book => Ok(Channel::Book(market()?)),
            ChannelName::Fills => Ok(Channel::Fills(account()?)),
            ChannelName::Orders => Ok(Channel::Orders(account()?)),
            ChannelName::Blocks => Ok(Channel::Blocks),
            ChannelName::Candles => Ok(Channel::Candles(
                market()?,
                args.interval.unwrap_or(Interval::M1),
            )),
        }
    }

    async fn subscribe(&mut self, channel: Channel, from_height: Option<u64>) -> Result<(), ()> {
        if !self.subs.contains_key(&channel) && self.subs.len() >= SUBSCRIPTIONS_MAX {
            return self.send_error(
                ApiCode::TooManySubscriptions,
                "unsubscribe from something first",
            );
        }
        match channel {
            Channel::Book(_) | Channel::Candles(..) => match from_height {
                Some(_) => self.send_error(
                    ApiCode::Malformed,
                    "the book and candles channels start from what is now (a snapshot, the latest candle); they take no from_height (GET /v1/markets/{market}/candles has the history)",
                ),
                None => self.subscribe_from_now(channel),
            },
            _ => self.subscribe_replaying(channel, from_height).await,
        }
    }

    /// Confirms a subscription whose messages start above `height`.
    fn confirm(
        &mut self,
        channel: Channel,
        height: u64,
        from_height: Option<u64>,
    ) -> Result<(), ()> {
        let (name, market, interval, account) = describe(channel);
        self.push(&ServerMessage::Subscribed {
            channel: name,
            market,
            interval,
            account,
            height,
            from_height,
        })
    }

    /// `book` and `candles`: what stands now (a book snapshot, the latest candle), then
    /// live messages above its height. What stands now may be a few blocks past this
    /// connection's cursor (the node publishes a block's view, and folds it into the
    /// candles, before its websocket messages): its height is what the client is told.
    fn subscribe_from_now(&mut self, channel: Channel) -> Result<(), ()> {
        let (height, now) = match channel {
            Channel::Book(market) => {
                let snapshot = book_json(&self.app.node.view(), market, BOOK_SNAPSHOT_LEVELS);
                let message = encode(&ServerMessage::Book {
                    market,
                    height: snapshot.height,
                    seq: snapshot.seq,
                    snapshot: true,
                    bids: Cow::Borrowed(&snapshot.bids),
                    asks: Cow::Borrowed(&snapshot.asks),
                });
                (snapshot.height, Some(message))
            }
            Channel::Candles(market, interval) => {
                let (latest, height) = self.app.feed.candles().latest(market, interval);
                let message = latest.map(|candle| {
                    encode(&ServerMessage::Candles {
                        market,
                        interval,
                        height,
                        data: Cow::Owned(vec![candle.json()]),
                    })
                });
                (height, message)
            }
            _ => unreachable!("only book and candles start from now"),
        };
        self.subs.insert(channel, height);
        self.confirm(channel, height, None)?;
        match now {
            Some(message) => self.push_bytes(message, None),
            None => Ok(()),
        }
    }

    /// The other channels: the stored blocks from `from_height` up to the cursor, then
    /// live above it.
    async fn subscribe_replaying(
        &mut self,
        channel: Channel,
        from_height: Option<u64>,
    ) -> Result<(), ()> {
        let cursor = self.cursor;
        let from = from_height.unwrap_or(cursor + 1).max(1);
        if cursor.saturating_sub(from) >= self.app.config.replay_blocks_max {
            return self.send_error(
                ApiCode::ReplayTooLong,
                &format!(
                    "from_height may be at most {} blocks back",
                    self.app.config.replay_blocks_max
                ),
            );
        }
        // Deliver nothing live until the replay is done; then everything above the cursor.
        self.subs.remove(&channel);
        self.confirm(channel, cursor, from_height.map(|_| from))?;
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
                Err(e) => return self.send_error(e.code, &e.message),
            };
            let view = self.app.node.view();
            for block in &stored {
                let update = BlockUpdate::build(block, &view, false);
                if let Some(message) = update.message(channel) {
                    self.push_replay(message, update.height).await?;
                }
            }
            height = last + 1;
        }
        // A from_height beyond the cursor starts live from there.
        self.subs.insert(channel, cursor.max(from - 1));
        Ok(())
    }

    fn on_block(&mut self, update: &Arc<BlockUpdate>) -> Result<(), ()> {
        if update.height <= self.cursor {
            return Ok(());
        }
        self.cursor = update.height;
        let height = update.height;
        let Conn {
            subs,
            queue,
            overflow,
            cursor,
            ..
        } = self;
        for (&channel, &after) in subs.iter() {
            if height > after
                && let Some(text) = update.message(channel)
            {
                let out = Outgoing {
                    text,
                    height: Some(height),
                };
                enqueue(queue, overflow, *cursor, out)?;
            }
        }
        Ok(())
    }
}

/// Submissions one connection admits in one call, when they arrive together.
const SUBMIT_BATCH_MAX: usize = 256;

/// A client's frame, read.
enum Incoming {
    /// `submit` (text) or a binary frame: the id and the transaction, or why it is none.
    Submit(u64, Result<SignedTransaction, ApiError>),
    /// Any other request.
    Request(ClientMessage),
    /// Not a request: answered `error` without an id.
    Bad(ApiCode, String),
}

impl Incoming {
    fn of(message: Message) -> Incoming {
        match message {
            Message::Text(text) => match serde_json::from_str::<ClientMessage>(&text) {
                Ok(ClientMessage::Submit { id, request }) => {
                    Incoming::Submit(id, crate::rest::decode(&request))
                }
                Ok(request) => Incoming::Request(request),
                Err(e) => match unknown_channel(&text) {
                    Some(other) => Incoming::Bad(
                        ApiCode::UnknownChannel,
                        format!("no channel {other:?}: trades, book, fills, orders, blocks, candles"),
                    ),
                    None => Incoming::Bad(ApiCode::Malformed, e.to_string()),
                },
            },
            // A binary frame is a submission: the id (8 bytes, little-endian), then the
            // body of a binary `POST /v1/transactions` (the transaction's borsh bytes).
            Message::Binary(bytes) => match bytes.split_first_chunk::<8>() {
                Some((id, body)) => {
                    Incoming::Submit(u64::from_le_bytes(*id), crate::binary::decode_one(body))
                }
                None => Incoming::Bad(
                    ApiCode::Malformed,
                    "a binary frame is a submission: 8 bytes of id (little-endian), then the transaction's borsh bytes".into(),
                ),
            },
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {
                unreachable!("control frames are handled by the connection loop")
            }
        }
    }
}

/// The channel's fields, as subscription replies name it: its name, and its market
/// (and interval) or account.
fn describe(channel: Channel) -> (ChannelName, Option<u32>, Option<Interval>, Option<String>) {
    match channel {
        Channel::Trades(m) => (ChannelName::Trades, Some(m), None, None),
        Channel::Book(m) => (ChannelName::Book, Some(m), None, None),
        Channel::Fills(k) => (ChannelName::Fills, None, None, Some(hex::encode(k))),
        Channel::Orders(k) => (ChannelName::Orders, None, None, Some(hex::encode(k))),
        Channel::Blocks => (ChannelName::Blocks, None, None, None),
        Channel::Candles(m, i) => (ChannelName::Candles, Some(m), Some(i), None),
    }
}

/// The channel a (un)subscribe names, when it names one that does not exist: such a
/// request is `UNKNOWN_CHANNEL`, not `MALFORMED`.
fn unknown_channel(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        op: String,
        channel: String,
    }
    let named: Named = serde_json::from_str(text).ok()?;
    let known = ChannelName::ALL.iter().any(|c| c.as_str() == named.channel);
    (matches!(named.op.as_str(), "subscribe" | "unsubscribe") && !known).then_some(named.channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_channel_is_named_as_such() {
        assert_eq!(
            unknown_channel(r#"{"op": "subscribe", "channel": "foo", "market": 0}"#),
            Some("foo".to_string())
        );
        assert_eq!(
            unknown_channel(r#"{"op": "unsubscribe", "channel": "bar"}"#),
            Some("bar".to_string())
        );
        // A known channel with a bad field, or no channel at all, is malformed.
        assert_eq!(
            unknown_channel(r#"{"op": "subscribe", "channel": "book", "market": []}"#),
            None
        );
        assert_eq!(unknown_channel(r#"{"op": "ping"}"#), None);
        assert_eq!(unknown_channel("not json"), None);
    }
}
