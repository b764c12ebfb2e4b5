//! What a book can be asked to do.

use crate::{
    AccountId, ClientOrderId, Height, OrderId, Price, Qty, SelfTradePrevention, Side, TimeInForce,
};

/// A new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub struct NewOrder {
    pub order_id: OrderId,
    pub account: AccountId,
    /// The account's own id for the order, if it gave one.
    pub client_order_id: Option<ClientOrderId>,
    pub side: Side,
    /// The limit price: the worst price the order accepts.
    pub price: Price,
    pub qty: Qty,
    pub time_in_force: TimeInForce,
    /// Refuse the order ([`crate::RejectCode::PostOnlyWouldTake`]) rather than let it
    /// take liquidity. Only for orders that can rest.
    pub post_only: bool,
    pub self_trade: SelfTradePrevention,
}

/// Which order a cancel names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub enum OrderRef {
    /// By the book's order id.
    Id(OrderId),
    /// By the account's client order id.
    Client(ClientOrderId),
}

/// A command to one book. Commands are applied one at a time, in the order given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub enum Command {
    /// Place a new order.
    Place(NewOrder),
    /// Cancel one of the account's live orders.
    Cancel { account: AccountId, order: OrderRef },
    /// Cancel every live order of the account in this book.
    CancelAll { account: AccountId },
    /// Change a live order's price and/or remaining quantity. Keeping the price and not
    /// raising the quantity keeps the order's place in the queue; anything else sends it
    /// to the back of the queue at the new price, where it may trade as if new.
    Amend {
        account: AccountId,
        order_id: OrderId,
        price: Price,
        qty: Qty,
    },
    /// Block `height` has begun: remove every good-till-block order whose last block
    /// is before `height`. Heights given to a book never decrease.
    Expire { height: Height },
}
