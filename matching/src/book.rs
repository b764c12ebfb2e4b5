//! The fast book.
//!
//! Layout (see ARCHITECTURE.md for the reasons):
//! - every resting order lives in one slab (`orders`), addressed by a `u32` slot and
//!   reused through a free list; an order links to its neighbours in its level's FIFO
//!   (`prev`/`next`) and knows its place in its account's list of slots, so removing
//!   any order is O(1) once its slot is known;
//! - `by_id` maps an order id to its slot (an open-addressing table of our own, looked
//!   up, never iterated, whose probe start can be prefetched: see `execute_all`);
//! - every price level lives in a second slab (`levels`) with its total and its FIFO's
//!   head and tail; each side keeps a `BTreeMap<Price, level slot>` for price order and
//!   the best level of each side is cached, so matching never searches the tree;
//! - good-till-block orders are also in a `BTreeSet<(Height, OrderId)>`, so expiry is
//!   ordered and costs only the orders that expire.
//!
//! Nothing that reaches an event or the digest comes from iterating a hash map: events
//! follow the level FIFOs and the ordered maps; lists that need an order (cancel-all)
//! are sorted by order id.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use hashbrown::HashMap;

use crate::digest::level_hash_encoded;
use crate::index::OrderIndex;
use crate::{
    AccountId, BookDigest, CancelReason, ClientOrderId, Command, DigestBuilder, Event, EventSink,
    Fill, Height, MarketParams, NewOrder, OrderBook, OrderId, OrderRef, Price, Qty, RejectCode,
    RestingOrder, SelfTradePrevention, Side, TimeInForce, book_digest, encode_order, level_hash,
};

/// The null link in the intrusive lists.
const NIL: u32 = u32::MAX;

const FLAG_SELL: u8 = 1;
const FLAG_POST_ONLY: u8 = 1 << 1;
const FLAG_HAS_CLIENT: u8 = 1 << 2;
const FLAG_HAS_EXPIRY: u8 = 1 << 3;
/// Bits 4–5 hold the [`SelfTradePrevention`] discriminant.
const STP_SHIFT: u8 = 4;

/// A resting order: exactly one 64-byte cache line, so touching an order is one line.
/// Optional fields are plain numbers with a flag; the price is the level's.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Slot {
    order_id: OrderId,
    account: AccountId,
    /// Valid when `FLAG_HAS_CLIENT` is set.
    client_order_id: u64,
    qty: Qty,
    /// Valid when `FLAG_HAS_EXPIRY` is set.
    expiry: u64,
    level: u32,
    /// Neighbours in the level's FIFO.
    prev: u32,
    next: u32,
    /// The account's entry in `account_entries`, and this order's index in its list.
    account_entry: u32,
    account_pos: u32,
    flags: u8,
}

const _: () = assert!(size_of::<Slot>() == 64, "an order is one cache line");

impl Slot {
    fn flags(incoming: &Incoming) -> u8 {
        let mut flags = (incoming.self_trade as u8) << STP_SHIFT;
        if incoming.side == Side::Sell {
            flags |= FLAG_SELL;
        }
        if incoming.post_only {
            flags |= FLAG_POST_ONLY;
        }
        if incoming.client_order_id.is_some() {
            flags |= FLAG_HAS_CLIENT;
        }
        if incoming.time_in_force.expiry().is_some() {
            flags |= FLAG_HAS_EXPIRY;
        }
        flags
    }

    #[inline]
    fn side(&self) -> Side {
        if self.flags & FLAG_SELL != 0 {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    fn post_only(&self) -> bool {
        self.flags & FLAG_POST_ONLY != 0
    }

    fn self_trade(&self) -> SelfTradePrevention {
        match (self.flags >> STP_SHIFT) & 3 {
            0 => SelfTradePrevention::CancelResting,
            1 => SelfTradePrevention::CancelIncoming,
            _ => SelfTradePrevention::CancelBoth,
        }
    }

    fn client_order_id(&self) -> Option<ClientOrderId> {
        (self.flags & FLAG_HAS_CLIENT != 0).then_some(ClientOrderId(self.client_order_id))
    }

    fn expiry(&self) -> Option<Height> {
        (self.flags & FLAG_HAS_EXPIRY != 0).then_some(Height(self.expiry))
    }

    fn time_in_force(&self) -> TimeInForce {
        match self.expiry() {
            Some(height) => TimeInForce::GoodTillBlock(height),
            None => TimeInForce::GoodTillCancel,
        }
    }
}

/// How many commands ahead [`Book::execute_all`] prefetches the order index entry.
pub const PREFETCH_INDEX_AHEAD: usize = 16;
/// How many commands ahead [`Book::execute_all`] prefetches the named order's slot.
pub const PREFETCH_ORDER_AHEAD: usize = 8;

/// The order id whose index entry `command` looks up first: a new order's (checked for
/// duplicates, then inserted), or the one a cancel or amend names.
fn named_order(command: &Command) -> Option<OrderId> {
    match *command {
        Command::Place(order) => Some(order.order_id),
        Command::Cancel {
            order: OrderRef::Id(id),
            ..
        }
        | Command::Amend { order_id: id, .. } => Some(id),
        Command::Cancel { .. } | Command::CancelAll { .. } | Command::Expire { .. } => None,
    }
}

/// A price level: 32 bytes, two to a cache line. Its cached digest hash lives apart
/// (`level_hashes`), off the matching path.
#[derive(Clone, Copy, Debug)]
struct Level {
    price: Price,
    qty: Qty,
    count: u32,
    head: u32,
    tail: u32,
    side: Side,
}

/// One account's resting orders in this book, unordered; each order knows its index.
#[derive(Clone, Debug)]
struct AccountOrders {
    account: AccountId,
    slots: Vec<u32>,
    count_by_side: [u32; 2],
}

/// An order looking for a match: a new order, or an amended one that lost its place.
#[derive(Clone, Copy, Debug)]
struct Incoming {
    order_id: OrderId,
    account: AccountId,
    client_order_id: Option<ClientOrderId>,
    side: Side,
    price: Price,
    qty: Qty,
    time_in_force: TimeInForce,
    post_only: bool,
    self_trade: SelfTradePrevention,
}

impl From<NewOrder> for Incoming {
    fn from(o: NewOrder) -> Incoming {
        Incoming {
            order_id: o.order_id,
            account: o.account,
            client_order_id: o.client_order_id,
            side: o.side,
            price: o.price,
            qty: o.qty,
            time_in_force: o.time_in_force,
            post_only: o.post_only,
            self_trade: o.self_trade,
        }
    }
}

/// Everything a book holds, in canonical order (each side best price first, oldest first
/// within a price): enough to rebuild it exactly, and nothing that depends on its
/// internals. Two books with the same snapshot have the same digest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub struct BookSnapshot {
    pub height: Height,
    pub trade_seq: u64,
    pub bids: Vec<RestingOrder>,
    pub asks: Vec<RestingOrder>,
}

/// A snapshot that no book could have produced (it is read from disk, so this is
/// corruption, reported rather than trusted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("order {0:?}: on the wrong side, out of priority order, or crossing the book")]
    Order(OrderId),
    #[error("order {0:?}: price, quantity or expiry outside the market's limits")]
    Limits(OrderId),
    #[error("order {0:?}: duplicate order id or client order id")]
    Duplicate(OrderId),
    #[error("more resting orders than the market allows")]
    TooMany,
}

/// One market's order book, price-time priority. See the crate docs for the semantics.
#[derive(Clone, Debug)]
pub struct Book {
    params: MarketParams,
    orders: Vec<Slot>,
    free_orders: Vec<u32>,
    levels: Vec<Level>,
    /// Each level's [`crate::level_hash`] as of the last [`Book::commit_digest`], or
    /// `None` if the level changed since; indexed like `levels`.
    level_hashes: Vec<Option<[u8; 32]>>,
    free_levels: Vec<u32>,
    /// Level slot by price, for either side: a price has at most one level, since the
    /// book is never crossed. The O(1) path to a level for new orders.
    level_at: HashMap<Price, u32>,
    /// Level slot by price, per side (index by `Side as usize`): price order.
    prices: [BTreeMap<Price, u32>; 2],
    /// Best level slot per side, or `NIL`.
    best: [u32; 2],
    by_id: OrderIndex,
    by_client: HashMap<(AccountId, ClientOrderId), u32>,
    /// Entry in `account_entries` of each account with resting orders.
    account_index: HashMap<AccountId, u32>,
    account_entries: Vec<AccountOrders>,
    free_entries: Vec<u32>,
    expiries: BTreeSet<(Height, OrderId)>,
    height: Height,
    trade_seq: u64,
}

impl Book {
    /// An empty book. Panics if `params` fail [`MarketParams::validate`]: parameters are
    /// checked once, when a market is created.
    pub fn new(params: MarketParams) -> Book {
        if let Err(e) = params.validate() {
            panic!("invalid market parameters {params:?}: {e}");
        }
        Book {
            params,
            orders: Vec::new(),
            free_orders: Vec::new(),
            levels: Vec::new(),
            level_hashes: Vec::new(),
            free_levels: Vec::new(),
            level_at: HashMap::new(),
            prices: [BTreeMap::new(), BTreeMap::new()],
            best: [NIL, NIL],
            by_id: OrderIndex::new(),
            by_client: HashMap::new(),
            account_index: HashMap::new(),
            account_entries: Vec::new(),
            free_entries: Vec::new(),
            expiries: BTreeSet::new(),
            height: Height(0),
            trade_seq: 0,
        }
    }

    pub fn params(&self) -> &MarketParams {
        &self.params
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.len() == 0
    }

    /// The last height given by [`Command::Expire`].
    pub fn height(&self) -> Height {
        self.height
    }

    /// The sequence number of the last fill (0 before any).
    pub fn trade_seq(&self) -> u64 {
        self.trade_seq
    }

    /// The earliest last block of any good-till-block order on the book: an
    /// `Expire { height }` with a greater height would remove something.
    pub fn next_expiry(&self) -> Option<Height> {
        self.expiries.first().map(|&(height, _)| height)
    }

    /// The best resting price on `side`.
    pub fn best_price(&self, side: Side) -> Option<Price> {
        let level = self.best[side as usize];
        (level != NIL).then(|| self.levels[level as usize].price)
    }

    /// Total resting quantity at `price` on `side` (zero when there is no such level).
    pub fn level_qty(&self, side: Side, price: Price) -> Qty {
        match self.level_at.get(&price) {
            Some(&level) if self.levels[level as usize].side == side => {
                self.levels[level as usize].qty
            }
            _ => Qty::ZERO,
        }
    }

    /// Up to `levels_max` levels of `side` as `(price, total quantity)`, best first.
    pub fn depth(&self, side: Side, levels_max: usize) -> Vec<(Price, Qty)> {
        self.side_levels(side)
            .take(levels_max)
            .map(|level| {
                let level = &self.levels[level as usize];
                (level.price, level.qty)
            })
            .collect()
    }

    /// A live order.
    pub fn order(&self, order_id: OrderId) -> Option<RestingOrder> {
        self.by_id.get(order_id).map(|slot| self.resting(slot))
    }

    /// The orders of `side` in priority order: best price first, oldest first.
    pub fn orders(&self, side: Side) -> impl Iterator<Item = RestingOrder> + '_ {
        self.side_levels(side).flat_map(move |level| {
            let mut slot = self.levels[level as usize].head;
            std::iter::from_fn(move || {
                (slot != NIL).then(|| {
                    let order = self.resting(slot);
                    slot = self.orders[slot as usize].next;
                    order
                })
            })
        })
    }

    /// An account's resting orders, in ascending order id.
    pub fn account_orders(&self, account: AccountId) -> Vec<RestingOrder> {
        let mut orders: Vec<RestingOrder> = self
            .account_slots(account)
            .into_iter()
            .map(|slot| self.resting(slot))
            .collect();
        orders.sort_unstable_by_key(|o| o.order_id);
        orders
    }

    /// The book as a ladder, highest price first, one line per level: the bid orders'
    /// quantities (oldest first), the price, the ask orders' quantities.
    ///
    /// ```text
    ///          bid |    price | ask
    ///              |      103 | 5
    ///          4 1 |      100 |
    /// ```
    pub fn ladder(&self) -> String {
        let mut rows: Vec<(Price, String, String)> = Vec::new();
        for side in [Side::Buy, Side::Sell] {
            for level in self.side_levels(side) {
                let level = &self.levels[level as usize];
                let mut quantities = String::new();
                let mut slot = level.head;
                while slot != NIL {
                    if !quantities.is_empty() {
                        quantities.push(' ');
                    }
                    write!(quantities, "{}", self.orders[slot as usize].qty).expect("String");
                    slot = self.orders[slot as usize].next;
                }
                match side {
                    Side::Buy => rows.push((level.price, quantities, String::new())),
                    Side::Sell => rows.push((level.price, String::new(), quantities)),
                }
            }
        }
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        let mut out = format!("{:>12} | {:>8} | ask\n", "bid", "price");
        for (price, bid, ask) in rows {
            let line = format!("{bid:>12} | {:>8} | {ask}", price.0);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The book's contents in canonical order (see [`BookSnapshot`]).
    pub fn snapshot(&self) -> BookSnapshot {
        BookSnapshot {
            height: self.height,
            trade_seq: self.trade_seq,
            bids: self.orders(Side::Buy).collect(),
            asks: self.orders(Side::Sell).collect(),
        }
    }

    /// Rebuilds a book from a snapshot, checking that a book could have held it.
    pub fn restore(params: MarketParams, snapshot: &BookSnapshot) -> Result<Book, RestoreError> {
        let mut book = Book::new(params);
        book.height = snapshot.height;
        book.trade_seq = snapshot.trade_seq;
        for (side, orders) in [(Side::Buy, &snapshot.bids), (Side::Sell, &snapshot.asks)] {
            let mut previous: Option<Price> = None;
            for order in orders {
                let id = order.order_id;
                let out_of_order = previous.is_some_and(|p| side.is_better(order.price, p));
                if order.side != side || out_of_order || book.would_take(side, order.price) {
                    return Err(RestoreError::Order(id));
                }
                previous = Some(order.price);
                if params.check_price(order.price).is_err()
                    || order.qty.0 == 0
                    || order.qty > params.qty_lots_max
                    || order.expiry.is_some_and(|e| e < snapshot.height)
                {
                    return Err(RestoreError::Limits(id));
                }
                let duplicate_client = order
                    .client_order_id
                    .is_some_and(|c| book.by_client.contains_key(&(order.account, c)));
                if book.by_id.contains(id) || duplicate_client {
                    return Err(RestoreError::Duplicate(id));
                }
                let account_count = book.account_count(order.account);
                if book.len() >= params.orders_per_book_max as usize
                    || account_count >= params.orders_per_account_max
                {
                    return Err(RestoreError::TooMany);
                }
                let time_in_force = match order.expiry {
                    Some(height) => TimeInForce::GoodTillBlock(height),
                    None => TimeInForce::GoodTillCancel,
                };
                let incoming = Incoming {
                    order_id: id,
                    account: order.account,
                    client_order_id: order.client_order_id,
                    side,
                    price: order.price,
                    qty: order.qty,
                    time_in_force,
                    post_only: order.post_only,
                    self_trade: order.self_trade,
                };
                book.rest(&incoming, order.qty, None);
            }
        }
        book.check_invariants();
        Ok(book)
    }

    /// Applies one command. See the crate docs for the checks, their order, and the
    /// events each command emits.
    pub fn execute<S: EventSink>(
        &mut self,
        command: Command,
        sink: &mut S,
    ) -> Result<(), RejectCode> {
        let result = match command {
            Command::Place(order) => self.place(order, sink),
            Command::Cancel { account, order } => self.cancel(account, order, sink),
            Command::CancelAll { account } => {
                self.cancel_all(account, sink);
                Ok(())
            }
            Command::Amend {
                account,
                order_id,
                price,
                qty,
            } => self.amend(account, order_id, price, qty, sink),
            Command::Expire { height } => {
                self.expire(height, sink);
                Ok(())
            }
        };
        if let Err(code) = result {
            let (account, order_id) = match command {
                Command::Place(o) => (Some(o.account), Some(o.order_id)),
                Command::Cancel {
                    account,
                    order: OrderRef::Id(id),
                } => (Some(account), Some(id)),
                Command::Cancel {
                    account,
                    order: OrderRef::Client(_),
                } => (Some(account), None),
                Command::Amend {
                    account, order_id, ..
                } => (Some(account), Some(order_id)),
                Command::CancelAll { account } => (Some(account), None),
                Command::Expire { .. } => (None, None),
            };
            sink.push(Event::Rejected {
                account,
                order_id,
                code,
            });
        }
        result
    }

    /// Applies `commands` in order, exactly as [`Book::execute`] on each would, and
    /// passes each result to `result` with the command's index. While it runs a command
    /// it asks the CPU for the memory the next ones will touch: the order index entry
    /// of the command [`PREFETCH_INDEX_AHEAD`] ahead, and the slot of the order named by
    /// the one [`PREFETCH_ORDER_AHEAD`] ahead (whose index entry is in cache by then).
    /// The book is bound by memory latency, so overlapping those misses is the gain;
    /// the events and results are the same, which the tests check.
    ///
    /// Prefetching the named order's neighbours and account entry as well (4 commands
    /// ahead) was tried and dropped: finding them is itself a chain of loads, and it
    /// measured 8–10% slower than without (BENCHMARKS.md, 2026-12-03).
    pub fn execute_all<S: EventSink>(
        &mut self,
        commands: &[Command],
        sink: &mut S,
        mut result: impl FnMut(usize, Result<(), RejectCode>),
    ) {
        for (i, &command) in commands.iter().enumerate() {
            if let Some(ahead) = commands.get(i + PREFETCH_INDEX_AHEAD) {
                self.prefetch_index(ahead);
            }
            if let Some(ahead) = commands.get(i + PREFETCH_ORDER_AHEAD) {
                self.prefetch_order(ahead);
            }
            result(i, self.execute(command, sink));
        }
    }

    /// Cache hint: the order index entry where the lookup `command` will make starts.
    #[inline]
    fn prefetch_index(&self, command: &Command) {
        if let Some(id) = named_order(command) {
            self.by_id.prefetch(id);
        }
    }

    /// Cache hint: the slot of the resting order `command` cancels or amends, if there
    /// is one. (A new order's id is looked up only to find it absent.)
    #[inline]
    fn prefetch_order(&self, command: &Command) {
        let named = match *command {
            Command::Cancel {
                order: OrderRef::Id(id),
                ..
            }
            | Command::Amend { order_id: id, .. } => self.by_id.get(id),
            _ => None,
        };
        if let Some(slot) = named {
            crate::prefetch::prefetch(&self.orders[slot as usize]);
        }
    }

    /// sha256 of the book's canonical contents (see [`crate::book_digest`]), computed
    /// from scratch.
    pub fn digest(&self) -> BookDigest {
        book_digest(
            self.height,
            self.trade_seq,
            self.orders(Side::Buy),
            self.orders(Side::Sell),
        )
    }

    /// The same digest as [`Book::digest`], rehashing only the levels that changed since
    /// the last call (each level keeps its hash), plus one pass over `(price, level
    /// hash)` pairs. The chain calls this once per block for each book it touched.
    pub fn commit_digest(&mut self) -> BookDigest {
        let mut builder = DigestBuilder::new(self.height, self.trade_seq);
        let mut encoded = Vec::new();
        for side in [Side::Buy, Side::Sell] {
            builder.begin_side(side);
            let levels: Vec<u32> = self.side_levels(side).collect();
            for level in levels {
                let hash = match self.level_hashes[level as usize] {
                    Some(hash) => hash,
                    None => {
                        let hash = self.level_hash_now(level, &mut encoded);
                        self.level_hashes[level as usize] = Some(hash);
                        hash
                    }
                };
                builder.level(self.levels[level as usize].price, hash);
            }
        }
        builder.finish()
    }

    /// [`level_hash`] of a level, from the slab: its orders are encoded into `encoded`
    /// (a scratch buffer) and hashed in one call. `check_invariants` checks it against
    /// [`level_hash`] itself.
    fn level_hash_now(&self, level: u32, encoded: &mut Vec<u8>) -> [u8; 32] {
        let level = &self.levels[level as usize];
        encoded.clear();
        let mut count: u64 = 0;
        let mut slot = level.head;
        while slot != NIL {
            let o = &self.orders[slot as usize];
            encoded.extend_from_slice(&encode_order(&RestingOrder {
                order_id: o.order_id,
                account: o.account,
                client_order_id: o.client_order_id(),
                side: o.side(),
                price: level.price,
                qty: o.qty,
                expiry: o.expiry(),
                post_only: o.post_only(),
                self_trade: o.self_trade(),
            }));
            count += 1;
            slot = o.next;
        }
        level_hash_encoded(level.price, count, encoded)
    }

    /// [`level_hash`] of a level, computed the plain way: for `check_invariants`.
    fn level_hash_reference(&self, level: u32) -> [u8; 32] {
        let mut orders = Vec::with_capacity(self.levels[level as usize].count as usize);
        let mut slot = self.levels[level as usize].head;
        while slot != NIL {
            orders.push(self.resting(slot));
            slot = self.orders[slot as usize].next;
        }
        level_hash(self.levels[level as usize].price, &orders)
    }

    // ---- commands ----

    fn place<S: EventSink>(&mut self, order: NewOrder, sink: &mut S) -> Result<(), RejectCode> {
        self.params.check_new_order(&order, self.height)?;
        let rests = order.time_in_force.rests();
        if self.by_id.contains(order.order_id) {
            return Err(RejectCode::DuplicateOrderId);
        }
        if let Some(client) = order.client_order_id
            && self.by_client.contains_key(&(order.account, client))
        {
            return Err(RejectCode::DuplicateClientOrderId);
        }
        let entry_hint = self.account_index.get(&order.account).copied();
        if rests {
            let account_count =
                entry_hint.map_or(0, |e| self.account_entries[e as usize].slots.len());
            if account_count >= self.params.orders_per_account_max as usize {
                return Err(RejectCode::AccountOrderLimit);
            }
            if self.by_id.len() >= self.params.orders_per_book_max as usize {
                return Err(RejectCode::BookOrderLimit);
            }
        }
        if order.post_only && self.would_take(order.side, order.price) {
            return Err(RejectCode::PostOnlyWouldTake);
        }

        sink.push(Event::Accepted {
            order_id: order.order_id,
            account: order.account,
            client_order_id: order.client_order_id,
            side: order.side,
            price: order.price,
            qty: order.qty,
        });
        let incoming = Incoming::from(order);
        if order.time_in_force == TimeInForce::FillOrKill
            && !self.can_fill_completely(&incoming, entry_hint)
        {
            sink.push(Event::Cancelled {
                order_id: order.order_id,
                account: order.account,
                side: order.side,
                price: order.price,
                qty: order.qty,
                reason: CancelReason::FillOrKill,
            });
            return Ok(());
        }
        self.match_and_rest(&incoming, entry_hint, sink);
        Ok(())
    }

    fn cancel<S: EventSink>(
        &mut self,
        account: AccountId,
        order: OrderRef,
        sink: &mut S,
    ) -> Result<(), RejectCode> {
        let slot = match order {
            OrderRef::Id(id) => self.owned_slot(account, id)?,
            OrderRef::Client(client) => *self
                .by_client
                .get(&(account, client))
                .ok_or(RejectCode::UnknownOrder)?,
        };
        self.cancel_slot(slot, CancelReason::Requested, sink);
        Ok(())
    }

    fn cancel_all<S: EventSink>(&mut self, account: AccountId, sink: &mut S) {
        for slot in self.account_slots(account) {
            self.cancel_slot(slot, CancelReason::CancelAll, sink);
        }
    }

    fn amend<S: EventSink>(
        &mut self,
        account: AccountId,
        order_id: OrderId,
        price: Price,
        qty: Qty,
        sink: &mut S,
    ) -> Result<(), RejectCode> {
        self.params.check_amend(price, qty)?;
        let slot = self.owned_slot(account, order_id)?;
        let old = self.orders[slot as usize];
        let old_price = self.levels[old.level as usize].price;
        let side = old.side();

        if price == old_price && qty <= old.qty {
            // Reducing in place keeps the order's place in the queue.
            let reduce = Qty(old.qty.0 - qty.0);
            self.orders[slot as usize].qty = qty;
            self.levels[old.level as usize].qty.0 -= reduce.0;
            self.level_hashes[old.level as usize] = None;
            sink.push(Event::Amended {
                order_id,
                account,
                side,
                old_price,
                old_qty: old.qty,
                price,
                qty,
                priority_kept: true,
            });
            return Ok(());
        }
        if old.post_only() && self.would_take(side, price) {
            return Err(RejectCode::PostOnlyWouldTake);
        }

        // A new price or a larger quantity: the order goes to the back of the queue, as
        // a cancel-replace that keeps its id, and may trade on the way.
        self.remove_slot(slot);
        sink.push(Event::Amended {
            order_id,
            account,
            side,
            old_price,
            old_qty: old.qty,
            price,
            qty,
            priority_kept: false,
        });
        self.match_and_rest(
            &Incoming {
                order_id,
                account,
                client_order_id: old.client_order_id(),
                side,
                price,
                qty,
                time_in_force: old.time_in_force(),
                post_only: old.post_only(),
                self_trade: old.self_trade(),
            },
            None,
            sink,
        );
        Ok(())
    }

    fn expire<S: EventSink>(&mut self, height: Height, sink: &mut S) {
        assert!(
            height >= self.height,
            "Expire heights must not decrease: {height:?} after {:?}",
            self.height
        );
        self.height = height;
        while let Some(&(expiry, order_id)) = self.expiries.first() {
            if expiry >= height {
                break;
            }
            let slot = self
                .by_id
                .get(order_id)
                .expect("an expiring order is indexed");
            let order = self.resting(slot);
            self.remove_slot(slot);
            sink.push(Event::Expired {
                order_id,
                account: order.account,
                side: order.side,
                price: order.price,
                qty: order.qty,
            });
        }
    }

    // ---- matching ----

    /// Matches `incoming` against the opposite side, then rests or cancels what is left.
    fn match_and_rest<S: EventSink>(
        &mut self,
        incoming: &Incoming,
        entry_hint: Option<u32>,
        sink: &mut S,
    ) {
        let mut left = incoming.qty;
        let stopped_by_self_trade = self.take(incoming, &mut left, sink);
        if left.0 == 0 {
            return;
        }
        let reason = if stopped_by_self_trade {
            CancelReason::SelfTrade
        } else if incoming.time_in_force.rests() {
            self.rest(incoming, left, entry_hint);
            sink.push(Event::Rested {
                order_id: incoming.order_id,
                account: incoming.account,
                side: incoming.side,
                price: incoming.price,
                qty: left,
            });
            return;
        } else {
            assert_eq!(
                incoming.time_in_force,
                TimeInForce::ImmediateOrCancel,
                "a fill-or-kill order passed its check but did not fill: {incoming:?}"
            );
            CancelReason::ImmediateOrCancel
        };
        sink.push(Event::Cancelled {
            order_id: incoming.order_id,
            account: incoming.account,
            side: incoming.side,
            price: incoming.price,
            qty: left,
            reason,
        });
    }

    /// Trades `incoming` against the opposite side while it crosses, reducing `left`.
    /// Returns whether self-trade prevention stopped the incoming order.
    fn take<S: EventSink>(&mut self, incoming: &Incoming, left: &mut Qty, sink: &mut S) -> bool {
        let opposite = incoming.side.opposite() as usize;
        while left.0 > 0 {
            let level = self.best[opposite];
            if level == NIL {
                break;
            }
            let level_price = self.levels[level as usize].price;
            if !incoming.side.crosses(incoming.price, level_price) {
                break;
            }
            let maker_slot = self.levels[level as usize].head;
            let maker = &mut self.orders[maker_slot as usize];
            if maker.account == incoming.account {
                let mode = incoming.self_trade;
                if mode != SelfTradePrevention::CancelIncoming {
                    self.cancel_slot(maker_slot, CancelReason::SelfTrade, sink);
                }
                if mode == SelfTradePrevention::CancelResting {
                    continue;
                }
                return true;
            }
            let qty = Qty(left.0.min(maker.qty.0));
            maker.qty.0 -= qty.0;
            left.0 -= qty.0;
            let maker_qty_remaining = maker.qty;
            let (maker_order_id, maker_account) = (maker.order_id, maker.account);
            self.levels[level as usize].qty.0 -= qty.0;
            self.level_hashes[level as usize] = None;
            self.trade_seq += 1;
            sink.push(Event::Fill(Fill {
                seq: self.trade_seq,
                maker_order_id,
                maker_account,
                taker_order_id: incoming.order_id,
                taker_account: incoming.account,
                taker_side: incoming.side,
                price: level_price,
                qty,
                maker_qty_remaining,
                taker_qty_remaining: *left,
            }));
            if maker_qty_remaining.0 == 0 {
                self.remove_slot(maker_slot);
            }
        }
        false
    }

    /// Whether a fill-or-kill order can fill completely under its self-trade mode.
    fn can_fill_completely(&self, incoming: &Incoming, entry: Option<u32>) -> bool {
        let opposite = incoming.side.opposite();
        let own_resting = entry.map_or(0, |e| {
            self.account_entries[e as usize].count_by_side[opposite as usize]
        });
        let mut available: u64 = 0;
        for level in self.side_levels(opposite) {
            let level = &self.levels[level as usize];
            if !incoming.side.crosses(incoming.price, level.price) {
                break;
            }
            if own_resting == 0 {
                available += level.qty.0;
            } else {
                let mut slot = level.head;
                while slot != NIL {
                    let order = &self.orders[slot as usize];
                    if order.account != incoming.account {
                        available += order.qty.0;
                    } else if incoming.self_trade != SelfTradePrevention::CancelResting {
                        return available >= incoming.qty.0;
                    }
                    if available >= incoming.qty.0 {
                        return true;
                    }
                    slot = order.next;
                }
            }
            if available >= incoming.qty.0 {
                return true;
            }
        }
        false
    }

    /// Whether an order on `side` at `price` would trade on arrival.
    fn would_take(&self, side: Side, price: Price) -> bool {
        self.best_price(side.opposite())
            .is_some_and(|best| side.crosses(price, best))
    }

    // ---- storage of resting orders ----

    fn owned_slot(&self, account: AccountId, order_id: OrderId) -> Result<u32, RejectCode> {
        let slot = self.by_id.get(order_id).ok_or(RejectCode::UnknownOrder)?;
        if self.orders[slot as usize].account != account {
            return Err(RejectCode::NotOrderOwner);
        }
        Ok(slot)
    }

    /// The slots of `account`'s live orders, in ascending order id.
    fn account_slots(&self, account: AccountId) -> Vec<u32> {
        let Some(&entry) = self.account_index.get(&account) else {
            return Vec::new();
        };
        let mut slots = self.account_entries[entry as usize].slots.clone();
        slots.sort_unstable_by_key(|&slot| self.orders[slot as usize].order_id);
        slots
    }

    /// Resting orders of `account` in this book.
    fn account_count(&self, account: AccountId) -> u32 {
        self.account_index.get(&account).map_or(0, |&e| {
            u32::try_from(self.account_entries[e as usize].slots.len())
                .expect("bounded by the account limit")
        })
    }

    fn resting(&self, slot: u32) -> RestingOrder {
        let o = &self.orders[slot as usize];
        RestingOrder {
            order_id: o.order_id,
            account: o.account,
            client_order_id: o.client_order_id(),
            side: o.side(),
            price: self.levels[o.level as usize].price,
            qty: o.qty,
            expiry: o.expiry(),
            post_only: o.post_only(),
            self_trade: o.self_trade(),
        }
    }

    /// Level slots of `side`, best first.
    fn side_levels(&self, side: Side) -> Box<dyn Iterator<Item = u32> + '_> {
        let levels = self.prices[side as usize].values().copied();
        match side {
            Side::Buy => Box::new(levels.rev()),
            Side::Sell => Box::new(levels),
        }
    }

    fn cancel_slot<S: EventSink>(&mut self, slot: u32, reason: CancelReason, sink: &mut S) {
        let order = self.resting(slot);
        self.remove_slot(slot);
        sink.push(Event::Cancelled {
            order_id: order.order_id,
            account: order.account,
            side: order.side,
            price: order.price,
            qty: order.qty,
            reason,
        });
    }

    /// Puts `incoming` on the book with `qty` left, at the back of its level.
    fn rest(&mut self, incoming: &Incoming, qty: Qty, entry_hint: Option<u32>) {
        let side = incoming.side;
        let level = match self.level_at.get(&incoming.price) {
            Some(&level) => {
                debug_assert_eq!(
                    self.levels[level as usize].side, side,
                    "a resting order never crosses"
                );
                level
            }
            None => self.new_level(side, incoming.price),
        };
        let entry = self.account_entry(incoming.account, entry_hint);
        let account_orders = &mut self.account_entries[entry as usize];
        let slot_value = Slot {
            order_id: incoming.order_id,
            account: incoming.account,
            client_order_id: incoming.client_order_id.map_or(0, |c| c.0),
            qty,
            expiry: incoming.time_in_force.expiry().map_or(0, |h| h.0),
            level,
            prev: self.levels[level as usize].tail,
            next: NIL,
            account_entry: entry,
            account_pos: u32::try_from(account_orders.slots.len())
                .expect("bounded by the account limit"),
            flags: Slot::flags(incoming),
        };
        let slot = match self.free_orders.pop() {
            Some(slot) => {
                self.orders[slot as usize] = slot_value;
                slot
            }
            None => {
                self.orders.push(slot_value);
                u32::try_from(self.orders.len() - 1).expect("bounded by orders_per_book_max")
            }
        };
        account_orders.slots.push(slot);
        account_orders.count_by_side[side as usize] += 1;

        let lvl = &mut self.levels[level as usize];
        if lvl.tail == NIL {
            lvl.head = slot;
        } else {
            self.orders[lvl.tail as usize].next = slot;
        }
        lvl.tail = slot;
        lvl.count += 1;
        lvl.qty.0 += qty.0;
        self.level_hashes[level as usize] = None;

        let previous = self.by_id.insert(incoming.order_id, slot);
        assert!(
            previous.is_none(),
            "order id {:?} rested twice",
            incoming.order_id
        );
        if let Some(client) = incoming.client_order_id {
            let previous = self.by_client.insert((incoming.account, client), slot);
            assert!(
                previous.is_none(),
                "client order id {client:?} rested twice"
            );
        }
        if let Some(expiry) = incoming.time_in_force.expiry() {
            self.expiries.insert((expiry, incoming.order_id));
        }
    }

    /// The entry of `account` in `account_entries`, created if it has none. `hint` is
    /// an entry looked up earlier in the same command: used if it still belongs to the
    /// account (matching may have freed it, and another account may have taken it).
    fn account_entry(&mut self, account: AccountId, hint: Option<u32>) -> u32 {
        if let Some(entry) = hint {
            let orders = &self.account_entries[entry as usize];
            if orders.account == account && !orders.slots.is_empty() {
                return entry;
            }
        }
        if let Some(&entry) = self.account_index.get(&account) {
            return entry;
        }
        let entry = match self.free_entries.pop() {
            Some(entry) => {
                self.account_entries[entry as usize].account = account;
                entry
            }
            None => {
                self.account_entries.push(AccountOrders {
                    account,
                    slots: Vec::new(),
                    count_by_side: [0, 0],
                });
                u32::try_from(self.account_entries.len() - 1)
                    .expect("bounded by orders_per_book_max")
            }
        };
        self.account_index.insert(account, entry);
        entry
    }

    /// Removes a resting order from every index and frees its slot.
    fn remove_slot(&mut self, slot: u32) {
        let o = self.orders[slot as usize];
        let side = o.side();

        let level = &mut self.levels[o.level as usize];
        level.qty.0 -= o.qty.0;
        level.count -= 1;
        if o.prev == NIL {
            level.head = o.next;
        } else {
            self.orders[o.prev as usize].next = o.next;
        }
        if o.next == NIL {
            level.tail = o.prev;
        } else {
            self.orders[o.next as usize].prev = o.prev;
        }
        let level_empty = level.count == 0;
        self.level_hashes[o.level as usize] = None;
        if level_empty {
            self.remove_level(side, o.level);
        }

        let entry = &mut self.account_entries[o.account_entry as usize];
        let pos = o.account_pos as usize;
        entry.slots.swap_remove(pos);
        if let Some(&moved) = entry.slots.get(pos) {
            self.orders[moved as usize].account_pos = o.account_pos;
        }
        entry.count_by_side[side as usize] -= 1;
        if entry.slots.is_empty() {
            self.account_index.remove(&o.account);
            self.free_entries.push(o.account_entry);
        }

        self.by_id.remove(o.order_id);
        if let Some(client) = o.client_order_id() {
            self.by_client.remove(&(o.account, client));
        }
        if let Some(expiry) = o.expiry() {
            self.expiries.remove(&(expiry, o.order_id));
        }
        self.free_orders.push(slot);
    }

    fn new_level(&mut self, side: Side, price: Price) -> u32 {
        let value = Level {
            price,
            qty: Qty::ZERO,
            count: 0,
            head: NIL,
            tail: NIL,
            side,
        };
        let level = match self.free_levels.pop() {
            Some(level) => {
                self.levels[level as usize] = value;
                self.level_hashes[level as usize] = None;
                level
            }
            None => {
                self.levels.push(value);
                self.level_hashes.push(None);
                u32::try_from(self.levels.len() - 1).expect("bounded by orders_per_book_max")
            }
        };
        self.level_at.insert(price, level);
        self.prices[side as usize].insert(price, level);
        let best = self.best[side as usize];
        if best == NIL || side.is_better(price, self.levels[best as usize].price) {
            self.best[side as usize] = level;
        }
        level
    }

    fn remove_level(&mut self, side: Side, level: u32) {
        let price = self.levels[level as usize].price;
        self.level_at.remove(&price);
        self.prices[side as usize].remove(&price);
        self.free_levels.push(level);
        if self.best[side as usize] == level {
            let next_best = match side {
                Side::Buy => self.prices[side as usize].last_key_value(),
                Side::Sell => self.prices[side as usize].first_key_value(),
            };
            self.best[side as usize] = next_best.map_or(NIL, |(_, &level)| level);
        }
    }

    /// Panics if any internal invariant is broken. Tests call it after every command.
    ///
    /// Walks every level of both sides (links, totals, cached hashes), then checks that
    /// the indexes hold exactly the resting orders, then each account's order list.
    pub fn check_invariants(&self) {
        let mut tally = Tally::default();
        for side in [Side::Buy, Side::Sell] {
            let map = &self.prices[side as usize];
            let expected_best = match side {
                Side::Buy => map.last_key_value(),
                Side::Sell => map.first_key_value(),
            };
            assert_eq!(
                expected_best.map_or(NIL, |(_, &l)| l),
                self.best[side as usize],
                "cached best level of {side} is stale"
            );
            for (&price, &level_slot) in map {
                let count = self.check_level(side, price, level_slot, &mut tally);
                tally.resting += count as usize;
            }
        }
        self.check_indexes(&tally);
        self.check_accounts(&tally.per_account);
    }

    /// One level: keyed right, its FIFO linked both ways, its totals and cached hash
    /// current. Returns its order count; counts each order into `tally`.
    fn check_level(&self, side: Side, price: Price, level_slot: u32, tally: &mut Tally) -> u32 {
        let level = &self.levels[level_slot as usize];
        assert_eq!(level.price, price, "level keyed under the wrong price");
        assert_eq!(
            self.level_at.get(&price),
            Some(&level_slot),
            "price index disagrees"
        );
        assert_eq!(level.side, side, "level on the wrong side");
        assert!(level.count > 0, "empty level {price:?} left on the book");
        let (mut count, mut total, mut prev) = (0u32, 0u64, NIL);
        let mut slot = level.head;
        while slot != NIL {
            let o = &self.orders[slot as usize];
            assert_eq!(o.prev, prev, "broken FIFO link at {:?}", o.order_id);
            assert_eq!(
                o.level, level_slot,
                "order {:?} points at another level",
                o.order_id
            );
            assert_eq!(o.side(), side, "order {:?} on the wrong side", o.order_id);
            assert!(
                o.qty.0 > 0,
                "order {:?} rests with zero quantity",
                o.order_id
            );
            assert_eq!(self.by_id.get(o.order_id), Some(slot), "index disagrees");
            if let Some(client) = o.client_order_id() {
                assert_eq!(self.by_client.get(&(o.account, client)), Some(&slot));
                tally.with_client += 1;
            }
            if let Some(expiry) = o.expiry() {
                assert!(
                    expiry >= self.height,
                    "order {:?} outlived its expiry",
                    o.order_id
                );
                assert!(self.expiries.contains(&(expiry, o.order_id)));
                tally.with_expiry += 1;
            }
            tally.per_account.entry(o.account).or_default()[side as usize] += 1;
            count += 1;
            total += o.qty.0;
            prev = slot;
            slot = o.next;
        }
        assert_eq!(level.tail, prev, "level tail is not the last order");
        if let Some(hash) = self.level_hashes[level_slot as usize] {
            let now = self.level_hash_reference(level_slot);
            assert_eq!(hash, now, "cached hash of level {price:?} is stale");
        }
        assert_eq!(
            (level.count, level.qty.0),
            (count, total),
            "level totals at {price:?}"
        );
        count
    }

    /// The indexes (by id, by client id, expiries, prices, slabs) hold exactly the resting
    /// orders and levels, and the book is within its limits and not crossed.
    fn check_indexes(&self, tally: &Tally) {
        if let (Some(bid), Some(ask)) = (self.best_price(Side::Buy), self.best_price(Side::Sell)) {
            assert!(bid < ask, "crossed book: bid {bid:?} >= ask {ask:?}");
        }
        assert_eq!(
            self.by_id.len(),
            tally.resting,
            "order index holds orders not on any level"
        );
        assert_eq!(
            self.orders.len() - self.free_orders.len(),
            tally.resting,
            "slab leak"
        );
        self.by_id.check_invariants();
        assert_eq!(
            self.levels.len() - self.free_levels.len(),
            self.prices[0].len() + self.prices[1].len()
        );
        assert_eq!(
            self.level_at.len(),
            self.prices[0].len() + self.prices[1].len(),
            "price index size"
        );
        assert_eq!(
            self.levels.len(),
            self.level_hashes.len(),
            "a cached hash per level"
        );
        assert_eq!(
            self.by_client.len(),
            tally.with_client,
            "client index holds dead orders"
        );
        assert_eq!(
            self.expiries.len(),
            tally.with_expiry,
            "expiry index holds dead orders"
        );
        assert!(
            tally.resting <= self.params.orders_per_book_max as usize,
            "book over its order limit"
        );
        assert_eq!(
            self.account_index.len(),
            tally.per_account.len(),
            "account index holds empty accounts"
        );
        assert_eq!(
            self.account_entries.len() - self.free_entries.len(),
            tally.per_account.len(),
            "account entries leak"
        );
    }

    /// Each account's order list names exactly its resting orders, by side, in place.
    fn check_accounts(&self, per_account: &BTreeMap<AccountId, [u32; 2]>) {
        for (&account, &counts) in per_account {
            let entry = *self
                .account_index
                .get(&account)
                .expect("account of a resting order indexed");
            let orders = &self.account_entries[entry as usize];
            assert_eq!(
                orders.count_by_side, counts,
                "account {account:?} side counts"
            );
            assert_eq!(
                orders.slots.len(),
                (counts[0] + counts[1]) as usize,
                "account list length"
            );
            assert!(
                orders.slots.len() <= self.params.orders_per_account_max as usize,
                "account over its limit"
            );
            assert_eq!(orders.account, account, "entry names its account");
            for (pos, &slot) in orders.slots.iter().enumerate() {
                let o = &self.orders[slot as usize];
                assert_eq!(o.account, account, "order in another's list");
                assert_eq!(
                    (o.account_entry, o.account_pos as usize),
                    (entry, pos),
                    "account position"
                );
            }
        }
    }
}

/// What [`Book::check_invariants`] counts while it walks the levels.
#[derive(Debug, Default)]
struct Tally {
    resting: usize,
    per_account: BTreeMap<AccountId, [u32; 2]>,
    with_client: usize,
    with_expiry: usize,
}

impl OrderBook for Book {
    fn new(params: MarketParams) -> Book {
        Book::new(params)
    }

    fn execute<S: EventSink>(&mut self, command: Command, sink: &mut S) -> Result<(), RejectCode> {
        Book::execute(self, command, sink)
    }

    fn digest(&self) -> BookDigest {
        Book::digest(self)
    }

    fn check_invariants(&self) {
        Book::check_invariants(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientOrderId, SelfTradePrevention};

    fn place(id: u64, account: u64, side: Side, price: u64, qty: u64, tif: TimeInForce) -> Command {
        Command::Place(NewOrder {
            order_id: OrderId(id),
            account: AccountId(account),
            client_order_id: Some(ClientOrderId(id * 10)),
            side,
            price: Price(price),
            qty: Qty(qty),
            time_in_force: tif,
            post_only: id.is_multiple_of(3),
            self_trade: SelfTradePrevention::CancelBoth,
        })
    }

    #[test]
    fn snapshot_restores_the_same_book() {
        let mut book = Book::new(MarketParams::for_tests());
        let mut events = Vec::new();
        for i in 1..=40u64 {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let price = if side == Side::Buy {
                90 + i % 7
            } else {
                100 + i % 5
            };
            let tif = if i % 4 == 0 {
                TimeInForce::GoodTillBlock(Height(50 + i))
            } else {
                TimeInForce::GoodTillCancel
            };
            let _ = book.execute(place(i, i % 6, side, price, 1 + i % 9, tif), &mut events);
        }
        book.execute(Command::Expire { height: Height(3) }, &mut events)
            .unwrap();
        let snapshot = book.snapshot();
        let restored = Book::restore(*book.params(), &snapshot).unwrap();
        assert_eq!(restored.digest(), book.digest());
        assert_eq!(restored.snapshot(), snapshot);
        assert_eq!(restored.ladder(), book.ladder());
        // The restored book behaves the same from here on.
        let (mut a, mut b) = (book, restored);
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        let sweep = place(1000, 99, Side::Buy, 200, 60, TimeInForce::ImmediateOrCancel);
        assert_eq!(a.execute(sweep, &mut ea), b.execute(sweep, &mut eb));
        assert_eq!(ea, eb);
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn cached_digest_equals_the_full_digest() {
        // A deterministic stream of places, cancels, amends and sweeps; the cached
        // digest is committed at irregular points and must always equal the full one.
        let mut book = Book::new(MarketParams::for_tests());
        let mut events = Vec::new();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 1..=5_000u64 {
            let r = next();
            let side = if r % 2 == 0 { Side::Buy } else { Side::Sell };
            let price = 95 + (r >> 8) % 11;
            let command = match (r >> 16) % 6 {
                0..=2 => place(
                    i,
                    (r >> 24) % 7,
                    side,
                    price,
                    1 + (r >> 32) % 9,
                    TimeInForce::GoodTillCancel,
                ),
                3 => Command::Cancel {
                    account: AccountId((r >> 24) % 7),
                    order: OrderRef::Id(OrderId(i.saturating_sub((r >> 40) % 50))),
                },
                4 => Command::Amend {
                    account: AccountId((r >> 24) % 7),
                    order_id: OrderId(i.saturating_sub((r >> 40) % 50)),
                    price: Price(price),
                    qty: Qty(1 + (r >> 32) % 5),
                },
                _ => place(
                    i,
                    (r >> 24) % 7,
                    side,
                    price,
                    5 + (r >> 32) % 30,
                    TimeInForce::ImmediateOrCancel,
                ),
            };
            let _ = book.execute(command, &mut events);
            if (r >> 48) % 7 == 0 {
                assert_eq!(book.commit_digest(), book.digest(), "after command {i}");
                book.check_invariants(); // also checks every cached level hash
            }
        }
        assert_eq!(book.commit_digest(), book.digest());
    }

    #[test]
    fn restore_refuses_snapshots_no_book_could_hold() {
        let mut book = Book::new(MarketParams::for_tests());
        let mut events = Vec::new();
        book.execute(
            place(1, 1, Side::Buy, 100, 5, TimeInForce::GoodTillCancel),
            &mut events,
        )
        .unwrap();
        book.execute(
            place(2, 2, Side::Sell, 110, 5, TimeInForce::GoodTillCancel),
            &mut events,
        )
        .unwrap();
        let good = book.snapshot();
        let params = *book.params();

        let mut crossed = good.clone();
        crossed.asks[0].price = Price(100);
        assert_eq!(
            Book::restore(params, &crossed).err(),
            Some(RestoreError::Order(OrderId(2)))
        );
        let mut duplicate = good.clone();
        duplicate.asks[0].order_id = OrderId(1);
        assert_eq!(
            Book::restore(params, &duplicate).err(),
            Some(RestoreError::Duplicate(OrderId(1)))
        );
        let mut zero = good.clone();
        zero.bids[0].qty = Qty(0);
        assert_eq!(
            Book::restore(params, &zero).err(),
            Some(RestoreError::Limits(OrderId(1)))
        );
        let mut wrong_side = good;
        wrong_side.bids[0].side = Side::Sell;
        assert_eq!(
            Book::restore(params, &wrong_side).err(),
            Some(RestoreError::Order(OrderId(1)))
        );
    }
}
