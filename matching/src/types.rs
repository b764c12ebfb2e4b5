//! Integer newtypes for everything the book counts. No floats anywhere: a price is a
//! whole number of ticks and a quantity a whole number of lots, so matching is exact.

use core::fmt;

macro_rules! integer_newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
        pub struct $name(pub $inner);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

integer_newtype!(
    /// A price in ticks of the market (see [`crate::MarketParams::tick_size`]).
    /// Valid prices are `1..=price_ticks_max`.
    Price(u64)
);
integer_newtype!(
    /// A quantity in lots of the market (see [`crate::MarketParams::lot_size`]).
    Qty(u64)
);
integer_newtype!(
    /// The book's identifier of an order. Assigned by the caller (the chain derives it
    /// from what the client signed), unique among the book's live orders.
    OrderId(u64)
);
integer_newtype!(
    /// An account's own identifier for an order, unique among that account's live orders.
    ClientOrderId(u64)
);
integer_newtype!(
    /// The book's name for an account. The chain maps public keys to these.
    AccountId(u64)
);
integer_newtype!(
    /// A block height. The book has no clock: heights arrive with commands.
    Height(u64)
);

impl Qty {
    pub const ZERO: Qty = Qty(0);
}

/// The side of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
#[cfg_attr(feature = "borsh", borsh(use_discriminant = true))]
pub enum Side {
    /// A bid: buys the base asset.
    Buy = 0,
    /// An ask: sells the base asset.
    Sell = 1,
}

impl Side {
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Whether an order on this side at `limit` may trade against a resting order at
    /// `resting` on the opposite side.
    #[inline]
    pub const fn crosses(self, limit: Price, resting: Price) -> bool {
        match self {
            Side::Buy => resting.0 <= limit.0,
            Side::Sell => resting.0 >= limit.0,
        }
    }

    /// Whether `a` is a better price than `b` for a resting order on this side
    /// (higher for bids, lower for asks).
    #[inline]
    pub const fn is_better(self, a: Price, b: Price) -> bool {
        match self {
            Side::Buy => a.0 > b.0,
            Side::Sell => a.0 < b.0,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// How long an order may stay on the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub enum TimeInForce {
    /// Rests until filled or cancelled.
    GoodTillCancel,
    /// Rests while the block height is at most the given height: it may trade in that
    /// block and is removed by [`crate::Command::Expire`] for any later height.
    GoodTillBlock(Height),
    /// Takes what it can at once; the remainder is cancelled. A "market" order is an
    /// immediate-or-cancel order with a protective limit price.
    ImmediateOrCancel,
    /// Fills completely at once or does nothing.
    FillOrKill,
}

impl TimeInForce {
    /// Whether an order with this time in force can rest on the book.
    pub const fn rests(self) -> bool {
        matches!(
            self,
            TimeInForce::GoodTillCancel | TimeInForce::GoodTillBlock(_)
        )
    }

    pub const fn expiry(self) -> Option<Height> {
        match self {
            TimeInForce::GoodTillBlock(h) => Some(h),
            _ => None,
        }
    }
}

/// What happens when an incoming order would trade with a resting order of the same
/// account. Self-trades never produce a fill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
#[cfg_attr(feature = "borsh", borsh(use_discriminant = true))]
pub enum SelfTradePrevention {
    /// Cancel the resting order and keep matching the incoming one. The default, as on
    /// dYdX and Binance: the resting order is the older intent, the incoming one is what
    /// the trader wants now.
    #[default]
    CancelResting = 0,
    /// Cancel the rest of the incoming order; the resting order stays.
    CancelIncoming = 1,
    /// Cancel both the resting order and the rest of the incoming order.
    CancelBoth = 2,
}
