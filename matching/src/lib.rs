//! # matching — one market's central limit order book
//!
//! Price-time priority, integer prices (ticks) and quantities (lots), and nothing else:
//! no I/O, no async, no threads, no clock, no floats, no randomness that reaches the
//! output. The book knows nothing about balances; it takes [`Command`]s one at a time
//! and writes [`Event`]s into an [`EventSink`]. Risk checks and settlement live in the
//! chain's state machine, which reads those events.
//!
//! ```text
//!   Command ──► Book::execute ──► checks (fixed order) ──► Rejected{code}   (book unchanged)
//!                                        │
//!                                        ▼
//!                       Accepted ─► match against the opposite side ─► Fill*
//!                                        │
//!                                        ▼
//!                            Rested | Cancelled{reason}
//! ```
//!
//! ```
//! use matching::*;
//!
//! let mut book = Book::new(MarketParams::for_tests());
//! let mut events = Vec::new();
//! let order = |id, account, side, price, qty| Command::Place(NewOrder {
//!     order_id: OrderId(id),
//!     account: AccountId(account),
//!     client_order_id: None,
//!     side,
//!     price: Price(price),
//!     qty: Qty(qty),
//!     time_in_force: TimeInForce::GoodTillCancel,
//!     post_only: false,
//!     self_trade: SelfTradePrevention::default(),
//! });
//! book.execute(order(1, 7, Side::Sell, 101, 5), &mut events).unwrap();
//! book.execute(order(2, 8, Side::Buy, 105, 3), &mut events).unwrap();
//! let fills: Vec<_> = events.iter().filter_map(|e| match e { Event::Fill(f) => Some(*f), _ => None }).collect();
//! assert_eq!(fills.len(), 1);
//! assert_eq!((fills[0].price, fills[0].qty), (Price(101), Qty(3))); // at the resting price
//! book.check_invariants();
//! ```
//!
//! # Semantics
//!
//! This is the contract both the fast [`Book`] and the naive reference book
//! (feature `test-utils`) implement; the property tests hold them to it event by event.
//!
//! **State.** Two sides of price levels; each level a FIFO queue of resting orders.
//! `height` (last [`Command::Expire`] height, initially 0) and `trade_seq` (seq of the
//! last fill, initially 0).
//!
//! **Place.** Checks, in this order; the first that fails rejects the command with
//! [`Event::Rejected`] (and `Err(code)`), and nothing else happens:
//! 1. `price` in `1..=price_ticks_max`, else `PriceOutOfRange`;
//! 2. `qty >= qty_lots_min`, else `QtyBelowMinimum`;
//! 3. `qty <= qty_lots_max`, else `QtyAboveMaximum`;
//! 4. `post_only` only with `GoodTillCancel`/`GoodTillBlock`, else `PostOnlyNotResting`;
//! 5. `GoodTillBlock(h)` needs `h >= height`, else `AlreadyExpired`;
//! 6. `order_id` not live in the book, else `DuplicateOrderId`;
//! 7. `client_order_id`, if given, not used by a live order of the account, else
//!    `DuplicateClientOrderId`;
//! 8. orders that can rest (GTC/GTB) only: the account has fewer than
//!    `orders_per_account_max` resting orders, else `AccountOrderLimit`; then the book
//!    has fewer than `orders_per_book_max`, else `BookOrderLimit` (checked up front,
//!    even if the order would fill completely);
//! 9. `post_only`: the order must not cross the best opposite price (a buy at or above
//!    the best ask, a sell at or below the best bid), else `PostOnlyWouldTake` — whoever
//!    owns that price: self-trade prevention does not apply to post-only orders.
//!
//! Then `Accepted`. A fill-or-kill order first checks that it can fill completely under
//! its self-trade mode (own resting orders are skipped under `CancelResting`; under
//! `CancelIncoming` and `CancelBoth` only the quantity ahead of the first own order in
//! priority order counts); if it cannot, `Cancelled{reason: FillOrKill, qty}` and
//! nothing else changes. Otherwise the order matches: while it has quantity left and the
//! best opposite level crosses its limit, take that level's oldest order `m`:
//! - `m` of the same account: `CancelResting` cancels `m` (`Cancelled{SelfTrade}`) and
//!   goes on; `CancelIncoming` stops; `CancelBoth` cancels `m` and stops. In both
//!   stopping modes the incoming order's rest is then `Cancelled{SelfTrade}`.
//! - otherwise trade `min(left, m.qty)` at `m`'s price: `trade_seq += 1`, `Fill`; `m`
//!   leaves the book when it reaches zero (its fill shows `maker_qty_remaining == 0`).
//!
//! Afterwards, if quantity is left (and self-trade prevention did not stop it): an
//! immediate-or-cancel order emits `Cancelled{ImmediateOrCancel}`; a resting order joins
//! the back of its level and emits `Rested`.
//!
//! **Cancel** by id needs a live order (`UnknownOrder`) of the account
//! (`NotOrderOwner`); by client id, a live order of the account with that client id
//! (client ids are per account, so another account's is `UnknownOrder`). It emits
//! `Cancelled{Requested}`. **CancelAll** emits
//! `Cancelled{CancelAll}` for each of the account's resting orders in ascending order id,
//! and nothing (not a rejection) when there are none.
//!
//! **Amend** `{order_id, price, qty}` sets the order's price and *remaining* quantity
//! (so resending the same amend is harmless). Checks: price range (`PriceOutOfRange`),
//! `qty >= 1` (`QtyBelowMinimum`: the minimum order size applies to new orders only),
//! `qty <= qty_lots_max` (`QtyAboveMaximum`), the order is live (`UnknownOrder`) and the
//! account's (`NotOrderOwner`). The order limits do not apply: an amended order is still
//! one order. If the price is unchanged and `qty <= ` the remaining quantity, the order
//! keeps its place: `Amended{priority_kept: true}` (also when nothing changes). Otherwise: a post-only order that would cross at the
//! new price is rejected `PostOnlyWouldTake` (order unchanged); else the order leaves
//! its level, `Amended{priority_kept: false}`, and matches at the new price exactly as
//! a new order with its original time in force, post-only flag and self-trade mode
//! would (fills, then `Rested` or `Cancelled{SelfTrade}`), without a new `Accepted`.
//!
//! **Expire** `{height}` (never lower than the last; a lower one is a caller bug and
//! panics) sets `height` and removes every good-till-block order whose last block is
//! below it, emitting `Expired` in ascending `(last block, order_id)`.
//!
//! Every event field is as documented on [`Event`]; `Fill::seq` numbers fills from 1.

#![deny(clippy::float_arithmetic)]

mod book;
mod command;
mod digest;
mod event;
mod index;
mod params;
mod prefetch;
#[cfg(any(test, feature = "test-utils"))]
pub mod reference;
mod reject;
mod types;

pub use book::{Book, BookSnapshot, PREFETCH_INDEX_AHEAD, PREFETCH_ORDER_AHEAD, RestoreError};
pub use command::{Command, NewOrder, OrderRef};
pub use digest::{BookDigest, DigestBuilder, RestingOrder, book_digest, encode_order, level_hash};
pub use event::{CancelReason, CountingSink, Event, EventSink, Fill};
pub use params::{MarketParams, ParamsError, limits};
pub use reject::RejectCode;
pub use types::{
    AccountId, ClientOrderId, Height, OrderId, Price, Qty, SelfTradePrevention, Side, TimeInForce,
};

/// What every book implementation offers; the differential tests and benches drive the
/// fast [`Book`] and the reference book through it.
pub trait OrderBook {
    /// An empty book. Panics on parameters that fail [`MarketParams::validate`].
    fn new(params: MarketParams) -> Self;
    /// Applies one command, writing its events into `sink`. A rejection is also
    /// returned as `Err`, and leaves the book unchanged.
    fn execute<S: EventSink>(&mut self, command: Command, sink: &mut S) -> Result<(), RejectCode>;
    /// sha256 of the book's canonical contents (see [`book_digest`]).
    fn digest(&self) -> BookDigest;
    /// Panics if any internal invariant is broken.
    fn check_invariants(&self);
}
