//! A slow, obviously correct order book: the semantics in the crate docs written as
//! directly as possible, for differential tests against the fast [`crate::Book`]
//! (STYLE.md #4).
//!
//! Each side is a `BTreeMap<Price, VecDeque<RestingOrder>>` and nothing else: there is
//! no index, no cached count and no level total that could go stale. Lookups by order
//! id, client order id or account are linear scans, and counts are recounted every
//! time. Every command is checked completely before anything is changed or emitted,
//! so a rejection cannot leave a trace. It was written from the crate docs alone, not
//! from `book.rs`, so the two books can only agree by both following the spec. For the
//! same reason it writes the checks out itself rather than calling
//! `MarketParams::check_new_order`/`check_amend`, which the fast book (and the chain)
//! share: the property tests then hold those helpers to the documented order too.
//!
//! # Readings of the spec
//!
//! Where the crate docs leave room, this book reads them as follows (the fast book is
//! held to the same readings by the property tests):
//!
//! - **Cancel by client id** looks among the command account's own live orders only:
//!   client order ids are unique per account, so an id used only by another account's
//!   order is `UnknownOrder`, never `NotOrderOwner`.
//! - **The incoming order's `Cancelled`** (fill-or-kill, immediate-or-cancel,
//!   self-trade stop) carries the order's limit price (for an amend, its new price) and
//!   the quantity it had left: the whole quantity for a fill-or-kill that could not
//!   fill.
//! - **`Amended::old_qty`** is the remaining quantity before the amend (not the size
//!   the order was placed with), matching "sets the *remaining* quantity".
//! - **An amend that changes nothing** (same price, same remaining quantity) still
//!   emits `Amended { priority_kept: true }`; it is not a rejection.
//! - **Post-only crossing** (place check 9 and the amend check) looks at the best
//!   opposite price whoever owns it: a post-only order that would meet only its own
//!   account's orders is still `PostOnlyWouldTake`, since self-trade prevention is a
//!   matching rule and post-only is decided before matching.
//! - **Amend** does not check `qty_lots_min`, the order limits or the expiry: the order
//!   is already on the book and counted, and a live good-till-block order is never
//!   expired. An order that loses its place and then fills completely emits no
//!   `Rested`.
//! - **Expire** at the current height is allowed (heights never *decrease*) and removes
//!   nothing new; `GoodTillBlock(h)` with `h == height` is accepted and leaves the book
//!   at `Expire { height: h + 1 }`.
//! - **An amend that loses its place** keeps the order's id, client order id, expiry,
//!   post-only flag and self-trade mode. With the price unchanged and more quantity it
//!   goes to the back of its own level (`Amended`, then `Rested`; the book is never
//!   crossed, so it cannot trade).
//! - **`Rejected`** carries the command's account for every command that has one, and
//!   `order_id` for `Place`, `Amend` and `Cancel` by id; `None` for `Cancel` by client
//!   id. `CancelAll` and `Expire` never reject.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::{
    AccountId, BookDigest, CancelReason, ClientOrderId, Command, Event, EventSink, Fill, Height,
    MarketParams, NewOrder, OrderBook, OrderId, OrderRef, Price, Qty, RejectCode, RestingOrder,
    SelfTradePrevention, Side, TimeInForce, book_digest,
};

/// The naive reference book. See the module docs.
#[derive(Clone, Debug)]
pub struct ReferenceBook {
    params: MarketParams,
    height: Height,
    trade_seq: u64,
    bids: BTreeMap<Price, VecDeque<RestingOrder>>,
    asks: BTreeMap<Price, VecDeque<RestingOrder>>,
}

/// An order that is matching: a new one, or an amended one that lost its place.
/// `order.qty` is what it has left.
struct Taker {
    order: RestingOrder,
    time_in_force: TimeInForce,
}

/// How matching ended.
#[derive(PartialEq, Eq)]
enum MatchEnd {
    /// No quantity left, or no crossing order left.
    Exhausted,
    /// Self-trade prevention stopped the incoming order.
    SelfTradeStop,
}

impl ReferenceBook {
    pub fn params(&self) -> &MarketParams {
        &self.params
    }

    /// The last height given by [`Command::Expire`] (0 before any).
    pub fn height(&self) -> Height {
        self.height
    }

    /// The seq of the last fill (0 before any).
    pub fn trade_seq(&self) -> u64 {
        self.trade_seq
    }

    /// How many orders rest on the book.
    pub fn len(&self) -> usize {
        self.bids
            .values()
            .chain(self.asks.values())
            .map(VecDeque::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One side's orders in priority order: best price first, oldest first within it.
    pub fn orders(&self, side: Side) -> Vec<RestingOrder> {
        match side {
            Side::Buy => self.bids.values().rev().flatten().copied().collect(),
            Side::Sell => self.asks.values().flatten().copied().collect(),
        }
    }

    /// Every resting order, in ascending order id.
    pub fn all_orders(&self) -> Vec<RestingOrder> {
        let mut all = self.orders(Side::Buy);
        all.extend(self.orders(Side::Sell));
        all.sort_by_key(|o| o.order_id);
        all
    }

    /// An account's resting orders, in ascending order id.
    pub fn account_orders(&self, account: AccountId) -> Vec<RestingOrder> {
        self.all_orders()
            .into_iter()
            .filter(|o| o.account == account)
            .collect()
    }

    /// The live order with this id.
    pub fn order(&self, order_id: OrderId) -> Option<RestingOrder> {
        self.all_orders()
            .into_iter()
            .find(|o| o.order_id == order_id)
    }

    /// The best price resting on `side`: the highest bid or the lowest ask.
    pub fn best_price(&self, side: Side) -> Option<Price> {
        match side {
            Side::Buy => self.bids.keys().next_back().copied(),
            Side::Sell => self.asks.keys().next().copied(),
        }
    }

    /// The total quantity resting at one price.
    pub fn level_qty(&self, side: Side, price: Price) -> Qty {
        let total = self
            .levels(side)
            .get(&price)
            .map_or(0, |q| q.iter().map(|o| o.qty.0).sum());
        Qty(total)
    }

    fn levels(&self, side: Side) -> &BTreeMap<Price, VecDeque<RestingOrder>> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn levels_mut(&mut self, side: Side) -> &mut BTreeMap<Price, VecDeque<RestingOrder>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Whether an order on `side` at `price` would meet the best opposite order.
    fn would_cross(&self, side: Side, price: Price) -> bool {
        self.best_price(side.opposite())
            .is_some_and(|best| side.crosses(price, best))
    }

    fn price_in_range(&self, price: Price) -> bool {
        price.0 >= 1 && price <= self.params.price_ticks_max
    }

    /// Removes a live order from its level, dropping the level if it empties.
    fn remove(&mut self, order_id: OrderId) -> RestingOrder {
        let order = self
            .order(order_id)
            .expect("removing an order that is not on the book");
        let levels = self.levels_mut(order.side);
        let queue = levels
            .get_mut(&order.price)
            .expect("the order's level exists");
        let at = queue
            .iter()
            .position(|o| o.order_id == order_id)
            .expect("order in its level");
        let removed = queue.remove(at).expect("position is in range");
        if queue.is_empty() {
            levels.remove(&order.price);
        }
        removed
    }

    /// Puts an order at the back of its level.
    fn push_back(&mut self, order: RestingOrder) {
        self.levels_mut(order.side)
            .entry(order.price)
            .or_default()
            .push_back(order);
    }

    /// The checks of a new order, in the documented order.
    fn check_place(&self, order: &NewOrder) -> Result<(), RejectCode> {
        let params = &self.params;
        if !self.price_in_range(order.price) {
            return Err(RejectCode::PriceOutOfRange);
        }
        if order.qty < params.qty_lots_min {
            return Err(RejectCode::QtyBelowMinimum);
        }
        if order.qty > params.qty_lots_max {
            return Err(RejectCode::QtyAboveMaximum);
        }
        if order.post_only && !order.time_in_force.rests() {
            return Err(RejectCode::PostOnlyNotResting);
        }
        if let TimeInForce::GoodTillBlock(last) = order.time_in_force
            && last < self.height
        {
            return Err(RejectCode::AlreadyExpired);
        }
        if self.order(order.order_id).is_some() {
            return Err(RejectCode::DuplicateOrderId);
        }
        if let Some(client) = order.client_order_id
            && self
                .account_orders(order.account)
                .iter()
                .any(|o| o.client_order_id == Some(client))
        {
            return Err(RejectCode::DuplicateClientOrderId);
        }
        if order.time_in_force.rests() {
            if self.account_orders(order.account).len() >= params.orders_per_account_max as usize {
                return Err(RejectCode::AccountOrderLimit);
            }
            if self.len() >= params.orders_per_book_max as usize {
                return Err(RejectCode::BookOrderLimit);
            }
        }
        if order.post_only && self.would_cross(order.side, order.price) {
            return Err(RejectCode::PostOnlyWouldTake);
        }
        Ok(())
    }

    /// Whether a fill-or-kill order would fill completely under its self-trade mode.
    fn fill_or_kill_fills(&self, order: &NewOrder) -> bool {
        let mut available: u64 = 0;
        for maker in self.orders(order.side.opposite()) {
            if !order.side.crosses(order.price, maker.price) {
                break;
            }
            if maker.account == order.account {
                match order.self_trade {
                    SelfTradePrevention::CancelResting => continue,
                    SelfTradePrevention::CancelIncoming | SelfTradePrevention::CancelBoth => break,
                }
            }
            available += maker.qty.0;
            if available >= order.qty.0 {
                return true;
            }
        }
        false
    }

    fn place<S: EventSink>(&mut self, order: NewOrder, sink: &mut S) -> Result<(), RejectCode> {
        self.check_place(&order)?;
        sink.push(Event::Accepted {
            order_id: order.order_id,
            account: order.account,
            client_order_id: order.client_order_id,
            side: order.side,
            price: order.price,
            qty: order.qty,
        });
        let taker = Taker {
            order: RestingOrder {
                order_id: order.order_id,
                account: order.account,
                client_order_id: order.client_order_id,
                side: order.side,
                price: order.price,
                qty: order.qty,
                expiry: order.time_in_force.expiry(),
                post_only: order.post_only,
                self_trade: order.self_trade,
            },
            time_in_force: order.time_in_force,
        };
        if order.time_in_force == TimeInForce::FillOrKill && !self.fill_or_kill_fills(&order) {
            sink.push(cancelled(&taker.order, CancelReason::FillOrKill));
            return Ok(());
        }
        self.match_and_finish(taker, sink);
        Ok(())
    }

    /// Matches `taker` against the opposite side, then rests or cancels what is left.
    fn match_and_finish<S: EventSink>(&mut self, mut taker: Taker, sink: &mut S) {
        let end = self.match_taker(&mut taker.order, sink);
        if taker.order.qty == Qty::ZERO {
            assert!(end == MatchEnd::Exhausted);
            return;
        }
        if end == MatchEnd::SelfTradeStop {
            sink.push(cancelled(&taker.order, CancelReason::SelfTrade));
            return;
        }
        match taker.time_in_force {
            TimeInForce::GoodTillCancel | TimeInForce::GoodTillBlock(_) => {
                let order = taker.order;
                self.push_back(order);
                sink.push(Event::Rested {
                    order_id: order.order_id,
                    account: order.account,
                    side: order.side,
                    price: order.price,
                    qty: order.qty,
                });
            }
            TimeInForce::ImmediateOrCancel => {
                sink.push(cancelled(&taker.order, CancelReason::ImmediateOrCancel));
            }
            TimeInForce::FillOrKill => {
                panic!("a fill-or-kill order passed its pre-check but did not fill completely")
            }
        }
    }

    /// The matching loop of the crate docs; `taker.qty` goes down as it fills.
    fn match_taker<S: EventSink>(&mut self, taker: &mut RestingOrder, sink: &mut S) -> MatchEnd {
        let maker_side = taker.side.opposite();
        while taker.qty > Qty::ZERO {
            let Some(best) = self.best_price(maker_side) else {
                break;
            };
            if !taker.side.crosses(taker.price, best) {
                break;
            }
            let maker = self.levels(maker_side)[&best][0];
            if maker.account == taker.account {
                match taker.self_trade {
                    SelfTradePrevention::CancelResting => {
                        self.remove(maker.order_id);
                        sink.push(cancelled(&maker, CancelReason::SelfTrade));
                    }
                    SelfTradePrevention::CancelIncoming => return MatchEnd::SelfTradeStop,
                    SelfTradePrevention::CancelBoth => {
                        self.remove(maker.order_id);
                        sink.push(cancelled(&maker, CancelReason::SelfTrade));
                        return MatchEnd::SelfTradeStop;
                    }
                }
                continue;
            }
            let qty = taker.qty.min(maker.qty);
            let maker_left = Qty(maker.qty.0 - qty.0);
            taker.qty = Qty(taker.qty.0 - qty.0);
            self.trade_seq = self.trade_seq.checked_add(1).expect("trade_seq overflow");
            if maker_left == Qty::ZERO {
                self.remove(maker.order_id);
            } else {
                let front = self
                    .levels_mut(maker_side)
                    .get_mut(&best)
                    .and_then(|q| q.front_mut());
                front.expect("the maker is at the front").qty = maker_left;
            }
            sink.push(Event::Fill(Fill {
                seq: self.trade_seq,
                maker_order_id: maker.order_id,
                maker_account: maker.account,
                taker_order_id: taker.order_id,
                taker_account: taker.account,
                taker_side: taker.side,
                price: maker.price,
                qty,
                maker_qty_remaining: maker_left,
                taker_qty_remaining: taker.qty,
            }));
        }
        MatchEnd::Exhausted
    }

    fn cancel<S: EventSink>(
        &mut self,
        account: AccountId,
        order: OrderRef,
        sink: &mut S,
    ) -> Result<(), RejectCode> {
        let found = match order {
            OrderRef::Id(order_id) => {
                let found = self.order(order_id).ok_or(RejectCode::UnknownOrder)?;
                if found.account != account {
                    return Err(RejectCode::NotOrderOwner);
                }
                found
            }
            OrderRef::Client(client) => self
                .account_orders(account)
                .into_iter()
                .find(|o| o.client_order_id == Some(client))
                .ok_or(RejectCode::UnknownOrder)?,
        };
        self.remove(found.order_id);
        sink.push(cancelled(&found, CancelReason::Requested));
        Ok(())
    }

    fn cancel_all<S: EventSink>(&mut self, account: AccountId, sink: &mut S) {
        for order in self.account_orders(account) {
            self.remove(order.order_id);
            sink.push(cancelled(&order, CancelReason::CancelAll));
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
        if !self.price_in_range(price) {
            return Err(RejectCode::PriceOutOfRange);
        }
        if qty == Qty::ZERO {
            return Err(RejectCode::QtyBelowMinimum);
        }
        if qty > self.params.qty_lots_max {
            return Err(RejectCode::QtyAboveMaximum);
        }
        let old = self.order(order_id).ok_or(RejectCode::UnknownOrder)?;
        if old.account != account {
            return Err(RejectCode::NotOrderOwner);
        }
        let amended = |priority_kept| Event::Amended {
            order_id,
            account,
            side: old.side,
            old_price: old.price,
            old_qty: old.qty,
            price,
            qty,
            priority_kept,
        };
        if price == old.price && qty <= old.qty {
            let queue = self
                .levels_mut(old.side)
                .get_mut(&old.price)
                .expect("the order's level");
            let slot = queue
                .iter_mut()
                .find(|o| o.order_id == order_id)
                .expect("order in level");
            slot.qty = qty;
            sink.push(amended(true));
            return Ok(());
        }
        if old.post_only && self.would_cross(old.side, price) {
            return Err(RejectCode::PostOnlyWouldTake);
        }
        self.remove(order_id);
        sink.push(amended(false));
        let time_in_force = match old.expiry {
            Some(last) => TimeInForce::GoodTillBlock(last),
            None => TimeInForce::GoodTillCancel,
        };
        self.match_and_finish(
            Taker {
                order: RestingOrder { price, qty, ..old },
                time_in_force,
            },
            sink,
        );
        Ok(())
    }

    fn expire<S: EventSink>(&mut self, height: Height, sink: &mut S) {
        assert!(
            height >= self.height,
            "Expire height {height} is below the last, {}",
            self.height
        );
        self.height = height;
        let mut expired: Vec<RestingOrder> = self
            .all_orders()
            .into_iter()
            .filter(|o| o.expiry.is_some_and(|last| last < height))
            .collect();
        expired.sort_by_key(|o| (o.expiry, o.order_id));
        for order in expired {
            self.remove(order.order_id);
            sink.push(Event::Expired {
                order_id: order.order_id,
                account: order.account,
                side: order.side,
                price: order.price,
                qty: order.qty,
            });
        }
    }
}

/// The `Cancelled` event of an order (resting, or incoming with what it has left).
fn cancelled(order: &RestingOrder, reason: CancelReason) -> Event {
    Event::Cancelled {
        order_id: order.order_id,
        account: order.account,
        side: order.side,
        price: order.price,
        qty: order.qty,
        reason,
    }
}

impl OrderBook for ReferenceBook {
    fn new(params: MarketParams) -> Self {
        if let Err(error) = params.validate() {
            panic!("invalid market parameters {params:?}: {error}");
        }
        ReferenceBook {
            params,
            height: Height(0),
            trade_seq: 0,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
        }
    }

    fn execute<S: EventSink>(&mut self, command: Command, sink: &mut S) -> Result<(), RejectCode> {
        let (account, named) = match command {
            Command::Place(order) => (Some(order.account), Some(order.order_id)),
            Command::Cancel {
                account,
                order: OrderRef::Id(order_id),
            } => (Some(account), Some(order_id)),
            Command::Cancel {
                account,
                order: OrderRef::Client(_),
            } => (Some(account), None),
            Command::CancelAll { account } => (Some(account), None),
            Command::Amend {
                account, order_id, ..
            } => (Some(account), Some(order_id)),
            Command::Expire { .. } => (None, None),
        };
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
            sink.push(Event::Rejected {
                account,
                order_id: named,
                code,
            });
        }
        result
    }

    fn digest(&self) -> BookDigest {
        book_digest(
            self.height,
            self.trade_seq,
            self.orders(Side::Buy),
            self.orders(Side::Sell),
        )
    }

    fn check_invariants(&self) {
        let params = &self.params;
        for side in [Side::Buy, Side::Sell] {
            for (&price, queue) in self.levels(side) {
                assert!(!queue.is_empty(), "empty {side} level at {price}");
                assert!(
                    self.price_in_range(price),
                    "{side} level at {price} is out of range"
                );
                for order in queue {
                    assert_eq!(
                        (order.side, order.price),
                        (side, price),
                        "{order:?} in the wrong level"
                    );
                    assert!(order.qty > Qty::ZERO, "{order:?} has no quantity");
                    assert!(
                        order.qty <= params.qty_lots_max,
                        "{order:?} is above the maximum"
                    );
                    if let Some(last) = order.expiry {
                        assert!(last >= self.height, "{order:?} outlived its last block");
                    }
                }
            }
        }
        if let (Some(bid), Some(ask)) = (self.best_price(Side::Buy), self.best_price(Side::Sell)) {
            assert!(bid < ask, "crossed book: best bid {bid}, best ask {ask}");
        }
        let all = self.all_orders();
        assert!(
            all.len() <= params.orders_per_book_max as usize,
            "book over its order limit"
        );
        let mut ids = BTreeSet::new();
        let mut clients: BTreeSet<(AccountId, ClientOrderId)> = BTreeSet::new();
        let mut per_account: BTreeMap<AccountId, u32> = BTreeMap::new();
        for order in &all {
            assert!(
                ids.insert(order.order_id),
                "duplicate order id {}",
                order.order_id
            );
            if let Some(client) = order.client_order_id {
                assert!(
                    clients.insert((order.account, client)),
                    "duplicate client id {order:?}"
                );
            }
            *per_account.entry(order.account).or_default() += 1;
        }
        for (account, count) in per_account {
            assert!(
                count <= params.orders_per_account_max,
                "account {account} has {count} orders"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: u64, account: u64, side: Side, price: u64, qty: u64) -> Command {
        Command::Place(NewOrder {
            order_id: OrderId(id),
            account: AccountId(account),
            client_order_id: None,
            side,
            price: Price(price),
            qty: Qty(qty),
            time_in_force: TimeInForce::GoodTillCancel,
            post_only: false,
            self_trade: SelfTradePrevention::CancelResting,
        })
    }

    /// Runs an accepted command and returns its events.
    fn run(book: &mut ReferenceBook, command: Command) -> Vec<Event> {
        let mut events = Vec::new();
        book.execute(command, &mut events)
            .expect("command accepted");
        book.check_invariants();
        events
    }

    fn with(command: Command, change: impl FnOnce(&mut NewOrder)) -> Command {
        let Command::Place(mut order) = command else {
            unreachable!()
        };
        change(&mut order);
        Command::Place(order)
    }

    #[test]
    fn fill_or_kill_counts_only_quantity_ahead_of_own_order_when_stopping() {
        let mut book = ReferenceBook::new(MarketParams::for_tests());
        run(&mut book, place(1, 1, Side::Sell, 100, 5));
        run(&mut book, place(2, 2, Side::Sell, 100, 5));
        run(&mut book, place(3, 1, Side::Sell, 101, 5));
        let fok = |id, self_trade| {
            with(place(id, 2, Side::Buy, 101, 10), |o| {
                o.time_in_force = TimeInForce::FillOrKill;
                o.self_trade = self_trade;
            })
        };
        // Only order 1 (5 lots) is ahead of the account's own order 2.
        let events = run(&mut book, fok(4, SelfTradePrevention::CancelIncoming));
        assert!(matches!(
            events[..],
            [
                Event::Accepted { .. },
                Event::Cancelled {
                    reason: CancelReason::FillOrKill,
                    qty: Qty(10),
                    ..
                }
            ]
        ));
        // Skipping own order 2 leaves orders 1 and 3: exactly 10 lots.
        let events = run(&mut book, fok(5, SelfTradePrevention::CancelResting));
        let fills = events
            .iter()
            .filter(|e| matches!(e, Event::Fill(_)))
            .count();
        assert_eq!((fills, book.len(), book.trade_seq()), (2, 0, 2));
    }

    #[test]
    fn amend_keeps_priority_only_for_same_price_and_no_more_quantity() {
        let mut book = ReferenceBook::new(MarketParams::for_tests());
        run(&mut book, place(1, 1, Side::Buy, 100, 5));
        run(&mut book, place(2, 2, Side::Buy, 100, 5));
        let amend = |qty| Command::Amend {
            account: AccountId(1),
            order_id: OrderId(1),
            price: Price(100),
            qty: Qty(qty),
        };
        let events = run(&mut book, amend(3));
        assert!(matches!(
            events[..],
            [Event::Amended {
                priority_kept: true,
                old_qty: Qty(5),
                ..
            }]
        ));
        assert_eq!(book.orders(Side::Buy)[0].order_id, OrderId(1));
        let events = run(&mut book, amend(4));
        assert!(matches!(
            events[..],
            [
                Event::Amended {
                    priority_kept: false,
                    ..
                },
                Event::Rested { .. }
            ]
        ));
        assert_eq!(book.orders(Side::Buy)[0].order_id, OrderId(2));
    }

    #[test]
    fn rejection_changes_nothing_and_names_the_order() {
        let mut book = ReferenceBook::new(MarketParams::for_tests());
        run(&mut book, place(1, 1, Side::Sell, 100, 5));
        let before = book.digest();
        let mut events = Vec::new();
        let post_only = with(place(2, 2, Side::Buy, 100, 5), |o| o.post_only = true);
        let result = book.execute(post_only, &mut events);
        assert_eq!(result, Err(RejectCode::PostOnlyWouldTake));
        let rejected = Event::Rejected {
            account: Some(AccountId(2)),
            order_id: Some(OrderId(2)),
            code: RejectCode::PostOnlyWouldTake,
        };
        assert_eq!(events, [rejected]);
        assert_eq!(book.digest(), before);
    }

    #[test]
    #[should_panic(expected = "below the last")]
    fn expire_panics_when_height_goes_down() {
        let mut book = ReferenceBook::new(MarketParams::for_tests());
        run(&mut book, Command::Expire { height: Height(5) });
        run(&mut book, Command::Expire { height: Height(4) });
    }
}
