//! The read side of the node: what each committed block means to traders, indexed for
//! REST and broadcast to websocket clients.
//!
//! ```text
//! node's publisher, once block N is durable ─► Feed::publish(block N, view N)
//!                         ├─ BlockUpdate::build: trades, book deltas, per-account fills
//!                         │   and order updates, the header, all as JSON values
//!                         ├─ indexes: tx hash → (height, index), recent trades per market,
//!                         │   fills per account, recent orders (each bounded)
//!                         └─ bus: broadcast::Sender<Arc<BlockUpdate>> (bounded; never blocks)
//! websocket task: BlockUpdate::message(channel) ─► the channel's JSON, encoded once
//!                 (by whichever subscriber asks first) and shared by all of them
//! ```
//!
//! The feed is one of the node's reporters: it runs on the publisher thread, after the
//! block is durable, and never holds up execution (block N+1 executes meanwhile). Book
//! deltas and their sequence numbers come from the block's [`ReadView`], so a book
//! snapshot read from a view and the deltas after it always agree.
//!
//! Everything here is bounded (see [`FeedLimits`]); old entries fall off first. What
//! falls off is still in the block store: a websocket replay reads stored blocks.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::Hash as StdHash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;

use markets::{ActionOutcome, ExecutedBlock, Hash, MarketConfig, Outcome, TaggedEvent};
use matching::{AccountId, Event, Price};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::candles::{Candles, Interval};
pub use crate::view::BookDelta;
use crate::view::{ReadView, event_accounts};
use crate::wire::{
    ActionResult, BlockJson, CandleJson, EventJson, FillJson, FinalityJson, OrderJson,
    OrderStatusJson, OrderUpdateJson, ServerMessage, TxStatus, TxStatusKind, UpdateKind,
};

/// Bounds on the feed's memory.
#[derive(Clone, Copy, Debug)]
pub struct FeedLimits {
    /// Transactions whose status the node remembers (by hash).
    pub transactions: usize,
    /// Recent trades kept per market.
    pub trades_per_market: usize,
    /// Account fills kept, over all accounts (a fill counts once for each side); the
    /// oldest go first.
    pub fills: usize,
    /// Orders remembered with their fills and final status (oldest forgotten first;
    /// live orders are always read from the books).
    pub orders: usize,
    /// Blocks buffered for websocket clients; a client further behind is told to resume.
    pub bus_blocks: usize,
}

impl Default for FeedLimits {
    fn default() -> FeedLimits {
        FeedLimits {
            transactions: 500_000,
            trades_per_market: 1_000,
            fills: 200_000,
            orders: 100_000,
            // Each connection has its own queue of messages besides; the bus need only
            // cover a client's scheduling hiccup (under a second at 10 blocks/s). Its
            // blocks are whole BlockUpdates, so it is the feed's largest buffer.
            bus_blocks: 8,
        }
    }
}

/// What one block means to each channel, built once and shared by every client.
#[derive(Debug)]
pub struct BlockUpdate {
    pub height: u64,
    pub block: BlockJson,
    /// Per market that traded: its fills in order.
    pub trades: BTreeMap<u32, Vec<FillJson>>,
    /// Per market whose book changed. Live blocks only (a replay has no book state).
    pub book: BTreeMap<u32, BookDelta>,
    /// Per account key: its fills and order updates.
    pub fills: HashMap<[u8; 32], Vec<FillJson>>,
    pub orders: HashMap<[u8; 32], Vec<OrderUpdateJson>>,
    /// Every book event of the block, markets in id order, each in emission order.
    pub events: Vec<EventJson>,
    /// Per market that traded and interval: its candle after this block. Live blocks
    /// only (the `candles` channel does not replay).
    pub candles: BTreeMap<(u32, Interval), [CandleJson; 1]>,
    /// Each channel's message, encoded once by the first subscriber that asks
    /// ([`BlockUpdate::message`]) and shared by all of them.
    pub encoded: Encoded,
}

/// A websocket channel: what a client subscribes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Trades(u32),
    Book(u32),
    Fills([u8; 32]),
    Orders([u8; 32]),
    Blocks,
    Candles(u32, Interval),
}

/// One slot per key, made when first asked for: the map of slots is built once (by the
/// first subscriber of that kind of channel), each slot's bytes once (by the first
/// subscriber of that channel).
type Slots<K> = OnceLock<HashMap<K, OnceLock<Utf8Bytes>>>;

/// A block's encoded channel messages. Encoding happens on the websocket tasks, never
/// in [`Feed::publish`]: that runs under the state's write lock, and a block nobody
/// subscribes to is never encoded.
#[derive(Debug, Default)]
pub struct Encoded {
    trades: Slots<u32>,
    book: Slots<u32>,
    fills: Slots<[u8; 32]>,
    orders: Slots<[u8; 32]>,
    blocks: OnceLock<Utf8Bytes>,
    candles: Slots<(u32, Interval)>,
}

/// A server message as a websocket text frame.
pub fn encode(message: &ServerMessage<'_>) -> Utf8Bytes {
    Utf8Bytes::from(message.to_json())
}

/// The slot for `key` if this block has something for it.
fn slot<'a, K: StdHash + Eq>(
    slots: &'a Slots<K>,
    source: impl FnOnce() -> Vec<K>,
    key: &K,
) -> Option<&'a OnceLock<Utf8Bytes>> {
    slots
        .get_or_init(|| source().into_iter().map(|k| (k, OnceLock::new())).collect())
        .get(key)
}

struct Index {
    limits: FeedLimits,
    txs: HashMap<Hash, (u64, u32)>,
    tx_order: VecDeque<Hash>,
    trades: Vec<VecDeque<FillJson>>,
    fills: HashMap<[u8; 32], VecDeque<FillJson>>,
    /// Whose fill each kept fill is, oldest first: evicting the front evicts that
    /// account's oldest fill.
    fill_order: VecDeque<[u8; 32]>,
    orders: HashMap<u64, OrderJson>,
    order_order: VecDeque<u64>,
    /// The first height indexed (at start-up the node loads only its last blocks).
    indexed_from: Option<u64>,
    /// Per market: the height after the newest trade evicted (0: none evicted).
    trades_evicted_below: Vec<u64>,
    /// The height after the newest fill evicted, over all accounts (0: none).
    fills_evicted_below: u64,
}

/// The node's read model and websocket bus.
pub struct Feed {
    index: Mutex<Index>,
    /// Drops for the next block's `orders` messages ([`Feed::dropped`]).
    dropped_next: Mutex<Vec<crate::Dropped>>,
    /// Every market's candles: the node folds each block in (and stores what changed)
    /// before [`Feed::publish`].
    candles: Arc<Candles>,
    bus: broadcast::Sender<Arc<BlockUpdate>>,
    latest: AtomicU64,
    /// Set when the node shuts down: websocket connections close.
    closing: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("latest", &self.latest.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

fn key_hex(view: &ReadView, id: AccountId) -> String {
    view.key_hex(id)
        .map_or_else(|| format!("#{}", id.0), str::to_owned)
}

/// An event in chain units. `fill_context` is (height, timestamp) for fills.
pub fn event_json(
    view: &ReadView,
    market: u32,
    config: &MarketConfig,
    event: &Event,
    height: u64,
    timestamp_ms: u64,
) -> EventJson {
    let price = |p: Price| p.0 * config.params.tick_size;
    let qty = |q: matching::Qty| q.0 * config.params.lot_size;
    match *event {
        Event::Accepted {
            order_id,
            account,
            client_order_id,
            side,
            price: p,
            qty: q,
        } => EventJson::Accepted {
            market,
            order_id: order_id.0,
            account: key_hex(view, account),
            client_order_id: client_order_id.map(|c| c.0),
            side: side.into(),
            price: price(p),
            qty: qty(q),
        },
        Event::Fill(fill) => {
            EventJson::Fill(fill_json(view, market, config, &fill, height, timestamp_ms))
        }
        Event::Rested {
            order_id,
            account,
            side,
            price: p,
            qty: q,
        } => EventJson::Rested {
            market,
            order_id: order_id.0,
            account: key_hex(view, account),
            side: side.into(),
            price: price(p),
            qty: qty(q),
        },
        Event::Amended {
            order_id,
            account,
            side,
            old_price,
            old_qty,
            price: p,
            qty: q,
            priority_kept,
        } => EventJson::Amended {
            market,
            order_id: order_id.0,
            account: key_hex(view, account),
            side: side.into(),
            old_price: price(old_price),
            old_qty: qty(old_qty),
            price: price(p),
            qty: qty(q),
            priority_kept,
        },
        Event::Cancelled {
            order_id,
            account,
            side,
            price: p,
            qty: q,
            reason,
        } => EventJson::Cancelled {
            market,
            order_id: order_id.0,
            account: key_hex(view, account),
            side: side.into(),
            price: price(p),
            qty: qty(q),
            reason: cancel_reason(reason).to_string(),
        },
        Event::Expired {
            order_id,
            account,
            side,
            price: p,
            qty: q,
        } => EventJson::Expired {
            market,
            order_id: order_id.0,
            account: key_hex(view, account),
            side: side.into(),
            price: price(p),
            qty: qty(q),
        },
        Event::Rejected {
            account,
            order_id,
            code,
        } => EventJson::Rejected {
            market,
            account: account.map(|a| key_hex(view, a)),
            order_id: order_id.map(|o| o.0),
            code: code.name().to_string(),
        },
    }
}

/// The wire name of a cancel reason.
pub fn cancel_reason(reason: matching::CancelReason) -> &'static str {
    match reason {
        matching::CancelReason::Requested => "requested",
        matching::CancelReason::CancelAll => "cancel_all",
        matching::CancelReason::SelfTrade => "self_trade",
        matching::CancelReason::ImmediateOrCancel => "immediate_or_cancel",
        matching::CancelReason::FillOrKill => "fill_or_kill",
    }
}

pub fn fill_json(
    view: &ReadView,
    market: u32,
    config: &MarketConfig,
    fill: &matching::Fill,
    height: u64,
    timestamp_ms: u64,
) -> FillJson {
    let notional = config.notional(fill.price, fill.qty);
    FillJson {
        market,
        seq: fill.seq,
        height,
        timestamp_ms,
        price: fill.price.0 * config.params.tick_size,
        qty: fill.qty.0 * config.params.lot_size,
        taker_side: fill.taker_side.into(),
        maker_order_id: fill.maker_order_id.0,
        maker: key_hex(view, fill.maker_account),
        taker_order_id: fill.taker_order_id.0,
        taker: key_hex(view, fill.taker_account),
        maker_qty_remaining: fill.maker_qty_remaining.0 * config.params.lot_size,
        taker_qty_remaining: fill.taker_qty_remaining.0 * config.params.lot_size,
        maker_fee: MarketConfig::fee(notional, config.maker_fee_bps),
        taker_fee: MarketConfig::fee(notional, config.taker_fee_bps),
    }
}

impl BlockUpdate {
    /// What `stored` means to each channel. `view` is the view after this block (live)
    /// or any later one (a replay): accounts and markets are never removed, so it knows
    /// every account the block names. Only a live block carries book deltas, taken from
    /// its view.
    pub fn build(stored: &ExecutedBlock, view: &ReadView, live: bool) -> BlockUpdate {
        let header = &stored.header;
        let height = header.height;
        let timestamp_ms = header.timestamp_ms;
        let tx_hashes: Vec<String> = stored
            .receipts
            .iter()
            .map(|r| r.tx_hash.to_string())
            .collect();
        let mut update = BlockUpdate {
            height,
            block: BlockJson::from_block(stored),
            trades: BTreeMap::new(),
            book: BTreeMap::new(),
            fills: HashMap::new(),
            orders: HashMap::new(),
            events: Vec::new(),
            candles: BTreeMap::new(),
            encoded: Encoded::default(),
        };
        for (m, events) in stored.market_events.iter().enumerate() {
            if events.is_empty() {
                continue;
            }
            let market = u32::try_from(m).expect("markets are few");
            let config = &view.markets[m].config;
            for tagged in events {
                let event = &tagged.event;
                let json = event_json(view, market, config, event, height, timestamp_ms);
                if let EventJson::Fill(fill) = &json {
                    update.trades.entry(market).or_default().push(fill.clone());
                }
                let (tx, action) = if tagged.tx == TaggedEvent::BLOCK {
                    (None, None)
                } else {
                    (
                        tx_hashes.get(tagged.tx as usize).cloned(),
                        Some(tagged.action),
                    )
                };
                for account in event_accounts(event).into_iter().flatten() {
                    let Some(key) = view.key(account) else {
                        continue;
                    };
                    if let EventJson::Fill(fill) = &json {
                        update.fills.entry(key).or_default().push(fill.clone());
                    }
                    update.orders.entry(key).or_default().push(OrderUpdateJson {
                        tx: tx.clone(),
                        action,
                        event: UpdateKind::Book(json.clone()),
                    });
                }
                update.events.push(json);
            }
        }
        if live {
            for market in &view.markets {
                if market.height == height
                    && let Some(delta) = &market.delta
                {
                    update.book.insert(market.id, delta.clone());
                }
            }
        }
        // Refusals the books never saw: whole transactions, and actions refused before
        // matching (chain codes, and book codes the chain checks first, such as an
        // off-tick price in a batch). A book's own refusal is already an event above.
        let refused_by_book: BTreeSet<(u32, u16)> = stored
            .market_events
            .iter()
            .flatten()
            .filter(|t| matches!(t.event, Event::Rejected { .. }))
            .map(|t| (t.tx, t.action))
            .collect();
        for (i, receipt) in stored.receipts.iter().enumerate() {
            let signer = stored.transactions[i].signed().transaction.signer;
            let refusals: Vec<(Option<u16>, &'static str)> = match &receipt.outcome {
                Outcome::Rejected(reject) => vec![(None, reject.name())],
                Outcome::Executed(actions) => actions
                    .iter()
                    .enumerate()
                    .filter_map(|(a, outcome)| match outcome {
                        ActionOutcome::Rejected(reject) => {
                            let action = u16::try_from(a).expect("batches are small");
                            let tx = u32::try_from(i).expect("bounded by the block limit");
                            (!refused_by_book.contains(&(tx, action)))
                                .then_some((Some(action), reject.name()))
                        }
                        _ => None,
                    })
                    .collect(),
            };
            for (action, code) in refusals {
                update
                    .orders
                    .entry(signer)
                    .or_default()
                    .push(OrderUpdateJson {
                        tx: Some(tx_hashes[i].clone()),
                        action,
                        event: UpdateKind::Refused {
                            refused: code.to_string(),
                        },
                    });
            }
        }
        update
    }
}

impl BlockUpdate {
    /// This block's message for `channel`, if it has anything for it: encoded once, then
    /// the same bytes for every subscriber (live or replaying). The JSON is what
    /// `docs/API.md` shows for each channel.
    pub fn message(&self, channel: Channel) -> Option<Utf8Bytes> {
        let height = self.height;
        let encoded = &self.encoded;
        let bytes = match channel {
            Channel::Trades(m) => {
                let fills = self.trades.get(&m)?;
                slot(
                    &encoded.trades,
                    || self.trades.keys().copied().collect(),
                    &m,
                )?
                .get_or_init(|| {
                    encode(&ServerMessage::Trades {
                        market: m,
                        height,
                        data: Cow::Borrowed(fills),
                    })
                })
            }
            Channel::Book(m) => {
                let delta = self.book.get(&m)?;
                slot(&encoded.book, || self.book.keys().copied().collect(), &m)?.get_or_init(|| {
                    encode(&ServerMessage::Book {
                        market: m,
                        height,
                        seq: delta.seq,
                        snapshot: false,
                        bids: Cow::Borrowed(&delta.bids),
                        asks: Cow::Borrowed(&delta.asks),
                    })
                })
            }
            Channel::Fills(k) => {
                let fills = self.fills.get(&k)?;
                slot(&encoded.fills, || self.fills.keys().copied().collect(), &k)?.get_or_init(
                    || {
                        encode(&ServerMessage::Fills {
                            account: Cow::Owned(hex::encode(k)),
                            height,
                            data: Cow::Borrowed(fills),
                        })
                    },
                )
            }
            Channel::Orders(k) => {
                let updates = self.orders.get(&k)?;
                slot(
                    &encoded.orders,
                    || self.orders.keys().copied().collect(),
                    &k,
                )?
                .get_or_init(|| {
                    encode(&ServerMessage::Orders {
                        account: Cow::Owned(hex::encode(k)),
                        height,
                        data: Cow::Borrowed(updates),
                    })
                })
            }
            Channel::Candles(m, interval) => {
                let candle = self.candles.get(&(m, interval))?;
                slot(
                    &encoded.candles,
                    || self.candles.keys().copied().collect(),
                    &(m, interval),
                )?
                .get_or_init(|| {
                    encode(&ServerMessage::Candles {
                        market: m,
                        interval,
                        height,
                        data: Cow::Borrowed(candle),
                    })
                })
            }
            Channel::Blocks => encoded.blocks.get_or_init(|| {
                encode(&ServerMessage::Blocks {
                    height,
                    data: Cow::Borrowed(&self.block),
                })
            }),
        };
        Some(bytes.clone())
    }
}

impl Feed {
    pub fn new(limits: FeedLimits, markets: usize, height: u64) -> Feed {
        let (bus, _) = broadcast::channel(limits.bus_blocks.max(1));
        Feed {
            dropped_next: Mutex::new(Vec::new()),
            index: Mutex::new(Index {
                limits,
                txs: HashMap::new(),
                tx_order: VecDeque::new(),
                trades: vec![VecDeque::new(); markets],
                fills: HashMap::new(),
                fill_order: VecDeque::new(),
                orders: HashMap::new(),
                order_order: VecDeque::new(),
                indexed_from: None,
                trades_evicted_below: vec![0; markets],
                fills_evicted_below: 0,
            }),
            candles: Arc::new(Candles::new(markets)),
            bus,
            latest: AtomicU64::new(height),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    /// Tells every websocket connection to close (the node is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Feed::close`] has been called.
    pub async fn closed(&self) {
        let mut receiver = self.closing.subscribe();
        let _ = receiver.wait_for(|closing| *closing).await;
    }

    /// The height of the last block published (or loaded at start).
    pub fn latest(&self) -> u64 {
        self.latest.load(Ordering::Acquire)
    }

    /// A receiver of every block published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BlockUpdate>> {
        self.bus.subscribe()
    }

    /// Live websocket receivers.
    pub fn receivers(&self) -> usize {
        self.bus.receiver_count()
    }

    /// Indexes a block at start-up (no broadcast, no book deltas).
    pub fn load(&self, stored: &ExecutedBlock, view: &ReadView) {
        let update = BlockUpdate::build(stored, view, false);
        self.index.lock().add(stored, &update);
        self.latest.store(stored.header.height, Ordering::Release);
    }

    /// Every market's candles.
    pub fn candles(&self) -> &Arc<Candles> {
        &self.candles
    }

    /// Indexes a newly durable block and broadcasts it; `view` is the view after it.
    /// [`Feed::candles`] must already hold the block.
    pub fn publish(&self, stored: &ExecutedBlock, view: &ReadView) -> Arc<BlockUpdate> {
        let mut update = BlockUpdate::build(stored, view, true);
        for dropped in std::mem::take(&mut *self.dropped_next.lock()) {
            update
                .orders
                .entry(dropped.signer)
                .or_default()
                .push(OrderUpdateJson {
                    tx: Some(dropped.hash.to_string()),
                    action: None,
                    event: UpdateKind::Dropped {
                        dropped: dropped.code.name().to_string(),
                        rule: dropped.rule.name().to_string(),
                    },
                });
        }
        let time = stored.header.timestamp_ms;
        for &market in update.trades.keys() {
            for interval in Interval::ALL {
                if let Some(candle) = self.candles.at(market, interval, time) {
                    update.candles.insert((market, interval), [candle.json()]);
                }
            }
        }
        self.index.lock().add(stored, &update);
        // The bus keeps its last blocks whether or not anyone reads them: keep only what
        // the websocket channels send.
        update.events = Vec::new();
        let update = Arc::new(update);
        self.latest.store(stored.header.height, Ordering::Release);
        // No receivers is fine; a full channel overwrites the oldest entry and lagging
        // receivers learn it on their next receive.
        let _ = self.bus.send(Arc::clone(&update));
        update
    }

    /// Transactions the node dropped after the block it publishes next: that block's
    /// `orders` messages carry them, to each signer (live only; a replay has no drops,
    /// `GET /v1/transactions/{hash}` has them).
    pub fn dropped(&self, dropped: &[crate::Dropped]) {
        self.dropped_next.lock().extend_from_slice(dropped);
    }

    /// Where a committed transaction is: `(height, index in block)`.
    pub fn tx_location(&self, hash: &Hash) -> Option<(u64, u32)> {
        self.index.lock().txs.get(hash).copied()
    }

    /// A market's trades the feed holds, newest first, older than `before`, and the
    /// height from which it holds all of them: what is older than that height is only
    /// on disk (see [`crate::history`]).
    pub fn trades(&self, market: u32, before: Option<Cursor>, limit: usize) -> Recent {
        let index = self.index.lock();
        let complete_from = index.complete_from(self.latest()).max(
            index
                .trades_evicted_below
                .get(market as usize)
                .copied()
                .unwrap_or(0),
        );
        let items = index
            .trades
            .get(market as usize)
            .map(|t| newest_before(t, before, complete_from, limit))
            .unwrap_or_default();
        Recent {
            items,
            complete_from,
        }
    }

    /// An account's fills the feed holds, newest first, older than `before`, and the
    /// height from which it holds all of them.
    pub fn fills(&self, account: &[u8; 32], before: Option<Cursor>, limit: usize) -> Recent {
        let index = self.index.lock();
        let complete_from = index
            .complete_from(self.latest())
            .max(index.fills_evicted_below);
        let items = index
            .fills
            .get(account)
            .map(|f| newest_before(f, before, complete_from, limit))
            .unwrap_or_default();
        Recent {
            items,
            complete_from,
        }
    }

    /// A finished (or recently seen) order.
    pub fn order(&self, order_id: u64) -> Option<OrderJson> {
        self.index.lock().orders.get(&order_id).cloned()
    }

    /// Panics if the indexes disagree with each other or with their limits.
    pub fn check_invariants(&self) {
        let index = self.index.lock();
        let limits = &index.limits;
        assert_eq!(
            index.txs.len(),
            index.tx_order.len(),
            "one order entry per tx"
        );
        assert!(index.txs.len() <= limits.transactions, "tx index bounded");
        assert_eq!(
            index.fill_order.len(),
            index.fills.values().map(VecDeque::len).sum::<usize>(),
            "one order entry per kept fill"
        );
        assert!(index.fill_order.len() <= limits.fills, "fills bounded");
        assert!(
            index.fills.values().all(|f| !f.is_empty()),
            "no empty fill lists"
        );
        assert_eq!(
            index.orders.len(),
            index.order_order.len(),
            "one order entry per order"
        );
        assert!(index.orders.len() <= limits.orders, "orders bounded");
        assert!(
            index
                .trades
                .iter()
                .all(|t| t.len() <= limits.trades_per_market),
            "trades bounded"
        );
    }
}

/// Where a page of trades or fills starts: `(height, market, seq)` of the last entry of
/// the page before; the page holds what is strictly older.
pub type Cursor = (u64, u32, u64);

/// The key that orders trades and fills (newest is greatest).
pub fn cursor_of(fill: &FillJson) -> Cursor {
    (fill.height, fill.market, fill.seq)
}

/// What the feed holds of a history: its newest entries, and the height from which it
/// holds every one.
#[derive(Debug)]
pub struct Recent {
    pub items: Vec<FillJson>,
    pub complete_from: u64,
}

fn newest_before(
    list: &VecDeque<FillJson>,
    before: Option<Cursor>,
    complete_from: u64,
    limit: usize,
) -> Vec<FillJson> {
    list.iter()
        .rev()
        .filter(|f| before.is_none_or(|b| cursor_of(f) < b))
        .take_while(|f| f.height >= complete_from)
        .take(limit)
        .cloned()
        .collect()
}

impl Index {
    /// The height from which every block has been indexed.
    fn complete_from(&self, latest: u64) -> u64 {
        self.indexed_from.unwrap_or(latest + 1)
    }

    fn add(&mut self, stored: &ExecutedBlock, update: &BlockUpdate) {
        let height = stored.header.height;
        self.indexed_from.get_or_insert(height);
        for (i, receipt) in stored.receipts.iter().enumerate() {
            let index = u32::try_from(i).expect("bounded by the block limit");
            if self.txs.insert(receipt.tx_hash, (height, index)).is_none() {
                self.tx_order.push_back(receipt.tx_hash);
            }
        }
        while self.tx_order.len() > self.limits.transactions {
            let old = self.tx_order.pop_front().expect("non-empty");
            self.txs.remove(&old);
        }
        for (&market, fills) in &update.trades {
            let trades = &mut self.trades[market as usize];
            trades.extend(fills.iter().cloned());
            while trades.len() > self.limits.trades_per_market {
                let old = trades.pop_front().expect("non-empty");
                self.trades_evicted_below[market as usize] = old.height + 1;
            }
        }
        for (key, fills) in &update.fills {
            let list = self.fills.entry(*key).or_default();
            list.extend(fills.iter().cloned());
            self.fill_order
                .extend(std::iter::repeat_n(*key, fills.len()));
        }
        while self.fill_order.len() > self.limits.fills {
            let key = self.fill_order.pop_front().expect("non-empty");
            let list = self
                .fills
                .get_mut(&key)
                .expect("every kept fill has its account");
            let old = list.pop_front().expect("non-empty");
            self.fills_evicted_below = self.fills_evicted_below.max(old.height + 1);
            if list.is_empty() {
                self.fills.remove(&key);
            }
        }
        for event in &update.events {
            self.order_event(event, height);
        }
        while self.order_order.len() > self.limits.orders {
            let old = self.order_order.pop_front().expect("non-empty");
            self.orders.remove(&old);
        }
    }

    /// Follows an order's life from its events, in the order the books emitted them.
    fn order_event(&mut self, event: &EventJson, height: u64) {
        match event {
            EventJson::Accepted {
                market,
                order_id,
                account,
                client_order_id,
                side,
                price,
                qty,
            } => {
                if !self.orders.contains_key(order_id) {
                    self.order_order.push_back(*order_id);
                }
                self.orders.insert(
                    *order_id,
                    OrderJson {
                        order_id: *order_id,
                        market: *market,
                        account: account.clone(),
                        client_order_id: *client_order_id,
                        side: *side,
                        price: *price,
                        qty_remaining: *qty,
                        qty_filled: Some(0),
                        status: OrderStatusJson::Open,
                        expiry_height: None,
                        height,
                    },
                );
            }
            EventJson::Fill(fill) => {
                for (id, remaining, who) in [
                    (fill.maker_order_id, fill.maker_qty_remaining, &fill.maker),
                    (fill.taker_order_id, fill.taker_qty_remaining, &fill.taker),
                ] {
                    if let Some(order) = self.orders.get_mut(&id)
                        && order.account == *who
                    {
                        order.qty_filled = order.qty_filled.map(|f| f + fill.qty);
                        order.qty_remaining = remaining;
                        order.height = height;
                        if remaining == 0 {
                            order.status = OrderStatusJson::Filled;
                        }
                    }
                }
            }
            EventJson::Amended {
                order_id,
                price,
                qty,
                ..
            } => {
                if let Some(order) = self.orders.get_mut(order_id) {
                    order.price = *price;
                    order.qty_remaining = *qty;
                    order.height = height;
                }
            }
            EventJson::Cancelled { order_id, .. } => {
                self.end(*order_id, OrderStatusJson::Cancelled, height)
            }
            EventJson::Expired { order_id, .. } => {
                self.end(*order_id, OrderStatusJson::Expired, height)
            }
            EventJson::Rested { .. } | EventJson::Rejected { .. } => {}
        }
    }

    fn end(&mut self, order_id: u64, status: OrderStatusJson, height: u64) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.status = status;
            order.qty_remaining = 0;
            order.height = height;
        }
    }
}

/// The status of a committed transaction from its stored block.
pub fn tx_status(stored: &ExecutedBlock, view: &ReadView, index: u32) -> TxStatus {
    let i = index as usize;
    let receipt = &stored.receipts[i];
    let header = &stored.header;
    let mut status = TxStatus {
        hash: receipt.tx_hash.to_string(),
        status: TxStatusKind::Committed,
        height: Some(header.height),
        index: Some(index),
        code: None,
        rule: None,
        reason: None,
        actions: Vec::new(),
        events: Vec::new(),
        finality: stored.finality.map(FinalityJson::from),
    };
    match &receipt.outcome {
        Outcome::Rejected(reject) => {
            status.status = TxStatusKind::Rejected;
            status.code = Some(reject.name().to_string());
        }
        Outcome::Executed(actions) => {
            status.actions = actions
                .iter()
                .map(|a| match a {
                    ActionOutcome::Placed(id) => ActionResult::Placed { order_id: id.0 },
                    ActionOutcome::Done => ActionResult::Done,
                    ActionOutcome::Rejected(r) => ActionResult::Rejected {
                        code: r.name().to_string(),
                    },
                })
                .collect();
        }
    }
    for (m, events) in stored.market_events.iter().enumerate() {
        let market = u32::try_from(m).expect("markets are few");
        let config = &view.markets[m].config;
        for tagged in events.iter().filter(|t| t.tx == index) {
            status.events.push(event_json(
                view,
                market,
                config,
                &tagged.event,
                header.height,
                header.timestamp_ms,
            ));
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::wire::SideJson;

    /// What each channel's message was before messages were encoded once (`ws.rs`'s
    /// `message_for` until then): the reference the typed messages must equal.
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
            Channel::Blocks => {
                Some(json!({"type": "blocks", "height": height, "data": update.block}))
            }
            Channel::Candles(m, i) => update.candles.get(&(m, i)).map(|candle| {
                json!({"type": "candles", "market": m, "interval": i.as_str(),
                       "height": height, "data": candle})
            }),
        }
    }

    fn sample() -> BlockUpdate {
        let maker = [1_u8; 32];
        let taker = [2_u8; 32];
        let fill = FillJson {
            market: 0,
            seq: 7,
            height: 42,
            timestamp_ms: 1_767_225_921_437,
            price: 6_500_000,
            qty: 10_000,
            taker_side: SideJson::Sell,
            maker_order_id: 8_476_941_294_980_076_824,
            maker: hex::encode(maker),
            taker_order_id: 2_779_014_468_711_431_180,
            taker: hex::encode(taker),
            maker_qty_remaining: 0,
            taker_qty_remaining: 5_000,
            maker_fee: 1_300,
            taker_fee: 3_250,
        };
        let rested = EventJson::Rested {
            market: 0,
            order_id: 2_779_014_468_711_431_180,
            account: hex::encode(taker),
            side: SideJson::Sell,
            price: 6_500_000,
            qty: 5_000,
        };
        let orders = vec![
            OrderUpdateJson {
                tx: Some("9a0c".into()),
                action: Some(0),
                event: UpdateKind::Book(EventJson::Fill(fill.clone())),
            },
            OrderUpdateJson {
                tx: Some("9a0c".into()),
                action: Some(0),
                event: UpdateKind::Book(rested),
            },
            OrderUpdateJson {
                tx: Some("77e1".into()),
                action: None,
                event: UpdateKind::Refused {
                    refused: "INSUFFICIENT_FUNDS".into(),
                },
            },
        ];
        BlockUpdate {
            height: 42,
            block: BlockJson {
                height: 42,
                hash: "aa".repeat(32),
                parent_hash: "bb".repeat(32),
                timestamp_ms: 1_767_225_921_437,
                transaction_count: 2,
                transactions_root: "cc".repeat(32),
                events_root: "dd".repeat(32),
                state_root: "ee".repeat(32),
                transactions: None,
                finality: Some(FinalityJson {
                    view: 45,
                    height: 42,
                }),
            },
            trades: BTreeMap::from([(0, vec![fill.clone()])]),
            book: BTreeMap::from([(
                0,
                BookDelta {
                    seq: 18,
                    bids: vec![[6_500_000, 0]],
                    asks: vec![[6_500_000, 5_000], [6_500_100, 20_000]],
                },
            )]),
            fills: HashMap::from([(maker, vec![fill.clone()]), (taker, vec![fill])]),
            orders: HashMap::from([(taker, orders)]),
            events: Vec::new(),
            candles: BTreeMap::from([(
                (0, Interval::M5),
                [crate::candles::Candle::of_trade(
                    1_767_225_900_000,
                    7,
                    6_500_000,
                    10_000,
                    650_000,
                )
                .json()],
            )]),
            encoded: Encoded::default(),
        }
    }

    const CHANNELS: [Channel; 6] = [
        Channel::Trades(0),
        Channel::Book(0),
        Channel::Fills([2; 32]),
        Channel::Orders([2; 32]),
        Channel::Blocks,
        Channel::Candles(0, Interval::M5),
    ];

    #[test]
    fn each_channel_message_equals_the_old_json() {
        let update = sample();
        for channel in CHANNELS {
            let message = update
                .message(channel)
                .expect("the sample has every channel");
            let parsed: Value = serde_json::from_str(&message).expect("JSON");
            let old = message_for(channel, &update).expect("the old message");
            assert_eq!(parsed, old, "{channel:?}");
        }
        // Nothing for channels the block has nothing for, as before.
        for channel in [
            Channel::Trades(1),
            Channel::Book(1),
            Channel::Fills([9; 32]),
            Channel::Orders([1; 32]),
            Channel::Candles(0, Interval::M1),
        ] {
            assert_eq!(update.message(channel), None, "{channel:?}");
            assert_eq!(message_for(channel, &update), None, "{channel:?}");
        }
    }

    #[test]
    fn subscribers_of_a_channel_share_one_encoding() {
        let update = Arc::new(sample());
        for channel in CHANNELS {
            // Two subscribers on two threads, as two connection tasks would be.
            let frames: Vec<Utf8Bytes> = (0..2)
                .map(|_| {
                    let update = Arc::clone(&update);
                    std::thread::spawn(move || update.message(channel).expect("a message"))
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().expect("no panic"))
                .collect();
            assert_eq!(frames[0], frames[1], "{channel:?}: byte-identical");
            assert_eq!(
                frames[0].as_str().as_ptr(),
                frames[1].as_str().as_ptr(),
                "{channel:?}: the same shared bytes, not two encodings"
            );
            let again = update.message(channel).expect("a message");
            assert_eq!(again.as_str().as_ptr(), frames[0].as_str().as_ptr());
        }
    }
}
