//! What a book reports. Every command produces its events in one documented order
//! (see [`crate::Book::execute`]); the events are the book's whole output.

use crate::{AccountId, ClientOrderId, OrderId, Price, Qty, RejectCode, Side};

/// Why an order left the book without being filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
#[cfg_attr(feature = "borsh", borsh(use_discriminant = true))]
pub enum CancelReason {
    /// The owner cancelled it.
    Requested = 0,
    /// The owner cancelled all its orders.
    CancelAll = 1,
    /// Self-trade prevention.
    SelfTrade = 2,
    /// The unfilled rest of an immediate-or-cancel order.
    ImmediateOrCancel = 3,
    /// A fill-or-kill order that could not fill completely; nothing traded.
    FillOrKill = 4,
}

/// One trade: a taker order met a resting (maker) order, at the maker's price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub struct Fill {
    /// Per-market trade sequence number: 1 for the book's first fill, then +1 per fill.
    pub seq: u64,
    pub maker_order_id: OrderId,
    pub maker_account: AccountId,
    pub taker_order_id: OrderId,
    pub taker_account: AccountId,
    /// The side of the taker (the maker is on the other side).
    pub taker_side: Side,
    /// The resting order's price.
    pub price: Price,
    pub qty: Qty,
    /// What is left of the maker order; zero means it left the book.
    pub maker_qty_remaining: Qty,
    /// What is left of the taker order after this fill.
    pub taker_qty_remaining: Qty,
}

/// An event from the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub enum Event {
    /// A new order passed every check and will now match.
    Accepted {
        order_id: OrderId,
        account: AccountId,
        client_order_id: Option<ClientOrderId>,
        side: Side,
        price: Price,
        qty: Qty,
    },
    /// A trade.
    Fill(Fill),
    /// The order (or what is left of it) now rests on the book, at the back of its level.
    Rested {
        order_id: OrderId,
        account: AccountId,
        side: Side,
        price: Price,
        qty: Qty,
    },
    /// A live order was changed. `priority_kept` is false when it moved to the back of
    /// the queue (new price, or larger quantity); it may then trade and rest again, and
    /// the events that follow say so.
    Amended {
        order_id: OrderId,
        account: AccountId,
        side: Side,
        old_price: Price,
        old_qty: Qty,
        price: Price,
        qty: Qty,
        priority_kept: bool,
    },
    /// An order (resting, or the incoming one) ended unfilled for `qty`.
    Cancelled {
        order_id: OrderId,
        account: AccountId,
        side: Side,
        price: Price,
        qty: Qty,
        reason: CancelReason,
    },
    /// A good-till-block order reached its last block and left the book.
    Expired {
        order_id: OrderId,
        account: AccountId,
        side: Side,
        price: Price,
        qty: Qty,
    },
    /// The command was refused and changed nothing. `order_id` is the order the command
    /// named, when it named one by id.
    Rejected {
        account: Option<AccountId>,
        order_id: Option<OrderId>,
        code: RejectCode,
    },
}

/// Where a book writes its events.
pub trait EventSink {
    fn push(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    #[inline]
    fn push(&mut self, event: Event) {
        Vec::push(self, event);
    }
}

/// A sink that only counts, for benchmarks and callers that need no events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountingSink {
    pub events: u64,
    pub fills: u64,
    pub rejects: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn push(&mut self, event: Event) {
        self.events += 1;
        match event {
            Event::Fill(_) => self.fills += 1,
            Event::Rejected { .. } => self.rejects += 1,
            _ => {}
        }
    }
}
