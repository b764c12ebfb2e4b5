//! Stable, numbered reject codes. The number is part of the chain's format: it is
//! recorded in block receipts and returned by the API, so a code is never renumbered
//! or reused. Groups: 1xx validation of the command alone, 3xx checks against the
//! book's state. (2xx funds and 4xx replay belong to the chain's state machine.)
//!
//! Checks run in a fixed order, documented in the crate docs ("Semantics"); the first
//! failing check names the rejection.

/// Why the book refused a command. A rejected command changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
#[repr(u16)]
pub enum RejectCode {
    /// The price is zero or above the market's `price_ticks_max`.
    #[error("price is outside 1..=price_ticks_max")]
    PriceOutOfRange = 101,
    /// The quantity is below the market's minimum order size (or zero, for amends).
    #[error("quantity is below the market's minimum order size")]
    QtyBelowMinimum = 102,
    /// The quantity is above the market's maximum order size.
    #[error("quantity is above the market's maximum order size")]
    QtyAboveMaximum = 103,
    /// Post-only was asked of an order that cannot rest (immediate-or-cancel, fill-or-kill).
    #[error("post-only needs an order that can rest (good-till-cancel or good-till-block)")]
    PostOnlyNotResting = 104,
    /// A good-till-block order whose last block is already past.
    #[error("good-till-block height is already past")]
    AlreadyExpired = 105,
    /// A price in the market's units that is not a whole number of ticks.
    #[error("price is not a multiple of the market's tick size")]
    PriceOffTick = 106,
    /// A quantity in the market's units that is not a whole number of lots.
    #[error("quantity is not a multiple of the market's lot size")]
    QtyOffLot = 107,

    /// Another live order in this book already has this order id.
    #[error("an order with this id is already on the book")]
    DuplicateOrderId = 301,
    /// Another live order of this account already has this client order id.
    #[error("a live order of this account already has this client order id")]
    DuplicateClientOrderId = 302,
    /// No live order with this id (or client order id) in this book.
    #[error("no live order with this id")]
    UnknownOrder = 303,
    /// The order belongs to another account.
    #[error("the order belongs to another account")]
    NotOrderOwner = 304,
    /// The account already has the most resting orders the market allows.
    #[error("the account has the most resting orders this market allows")]
    AccountOrderLimit = 305,
    /// The book already holds the most resting orders the market allows.
    #[error("the book holds the most resting orders this market allows")]
    BookOrderLimit = 306,
    /// A post-only order (or amend of one) would trade on arrival.
    #[error("post-only order would trade on arrival")]
    PostOnlyWouldTake = 307,
}

impl RejectCode {
    /// Every code, in numeric order. Tests use it to check each one is reachable.
    pub const ALL: [RejectCode; 14] = [
        RejectCode::PriceOutOfRange,
        RejectCode::QtyBelowMinimum,
        RejectCode::QtyAboveMaximum,
        RejectCode::PostOnlyNotResting,
        RejectCode::AlreadyExpired,
        RejectCode::PriceOffTick,
        RejectCode::QtyOffLot,
        RejectCode::DuplicateOrderId,
        RejectCode::DuplicateClientOrderId,
        RejectCode::UnknownOrder,
        RejectCode::NotOrderOwner,
        RejectCode::AccountOrderLimit,
        RejectCode::BookOrderLimit,
        RejectCode::PostOnlyWouldTake,
    ];

    /// The stable number of this code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The code with this number, if any.
    pub fn from_code(code: u16) -> Option<RejectCode> {
        RejectCode::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// A stable machine-readable name, e.g. `PRICE_OUT_OF_RANGE`.
    pub const fn name(self) -> &'static str {
        match self {
            RejectCode::PriceOutOfRange => "PRICE_OUT_OF_RANGE",
            RejectCode::QtyBelowMinimum => "QTY_BELOW_MINIMUM",
            RejectCode::QtyAboveMaximum => "QTY_ABOVE_MAXIMUM",
            RejectCode::PostOnlyNotResting => "POST_ONLY_NOT_RESTING",
            RejectCode::AlreadyExpired => "ALREADY_EXPIRED",
            RejectCode::PriceOffTick => "PRICE_OFF_TICK",
            RejectCode::QtyOffLot => "QTY_OFF_LOT",
            RejectCode::DuplicateOrderId => "DUPLICATE_ORDER_ID",
            RejectCode::DuplicateClientOrderId => "DUPLICATE_CLIENT_ORDER_ID",
            RejectCode::UnknownOrder => "UNKNOWN_ORDER",
            RejectCode::NotOrderOwner => "NOT_ORDER_OWNER",
            RejectCode::AccountOrderLimit => "ACCOUNT_ORDER_LIMIT",
            RejectCode::BookOrderLimit => "BOOK_ORDER_LIMIT",
            RejectCode::PostOnlyWouldTake => "POST_ONLY_WOULD_TAKE",
        }
    }
}

/// Encoded as its stable number (`u16`), not as a variant index, so receipts keep their
/// meaning if variants are ever reordered in the source.
#[cfg(feature = "borsh")]
impl borsh::BorshSerialize for RejectCode {
    fn serialize<W: borsh::io::Write>(&self, writer: &mut W) -> borsh::io::Result<()> {
        self.code().serialize(writer)
    }
}

#[cfg(feature = "borsh")]
impl borsh::BorshDeserialize for RejectCode {
    fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
        let code = u16::deserialize_reader(reader)?;
        RejectCode::from_code(code).ok_or_else(|| {
            borsh::io::Error::new(borsh::io::ErrorKind::InvalidData, "unknown reject code")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_round_trip() {
        for pair in RejectCode::ALL.windows(2) {
            assert!(
                pair[0].code() < pair[1].code(),
                "{:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
        for code in RejectCode::ALL {
            assert_eq!(RejectCode::from_code(code.code()), Some(code));
            assert!(matches!(code.code() / 100, 1 | 3), "group of {code:?}");
        }
        assert_eq!(RejectCode::from_code(0), None);
    }
}
