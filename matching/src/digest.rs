//! The book's state digest: sha256 over a canonical encoding of what the book holds,
//! so two books with the same contents share a digest whatever their internals.
//!
//! Encoding (all integers little-endian, every record fixed-size, so the bytes can be
//! read one way only):
//!
//! ```text
//! b"clobchain/matching/book/v1"
//! height: u64                      last height given by Expire (0 before any)
//! trade_seq: u64                   seq of the last fill (0 before any)
//! for side in [Buy, Sell]:
//!     order records, best price first, oldest first within a price
//!     count: u64                   how many records this side had
//! order record (52 bytes):
//!     order_id u64, account u64,
//!     client_order_id: flag u8 (0 none, 1 some) + u64 (0 when none),
//!     price u64, qty u64,
//!     expiry: flag u8 + u64 (0 when none),
//!     post_only u8, self_trade u8 (the SelfTradePrevention discriminant)
//! ```

use sha2::{Digest as _, Sha256};

use crate::{AccountId, ClientOrderId, Height, OrderId, Price, Qty, SelfTradePrevention, Side};

const DOMAIN: &[u8] = b"clobchain/matching/book/v1";

/// sha256 of a book's canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookDigest(pub [u8; 32]);

impl core::fmt::Debug for BookDigest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "BookDigest(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// A resting order as seen from outside the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub struct RestingOrder {
    pub order_id: OrderId,
    pub account: AccountId,
    pub client_order_id: Option<ClientOrderId>,
    pub side: Side,
    pub price: Price,
    /// Remaining quantity, always at least one lot.
    pub qty: Qty,
    /// Last block of a good-till-block order.
    pub expiry: Option<Height>,
    pub post_only: bool,
    pub self_trade: SelfTradePrevention,
}

/// Computes the digest from the book's orders in priority order: `bids` best (highest)
/// price first and `asks` best (lowest) price first, oldest first within a price.
pub fn book_digest(
    height: Height,
    trade_seq: u64,
    bids: impl IntoIterator<Item = RestingOrder>,
    asks: impl IntoIterator<Item = RestingOrder>,
) -> BookDigest {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(height.0.to_le_bytes());
    hasher.update(trade_seq.to_le_bytes());
    let mut side_records = |side: Side, orders: &mut dyn Iterator<Item = RestingOrder>| {
        let mut count: u64 = 0;
        for order in orders {
            assert_eq!(order.side, side, "digest fed an order on the wrong side");
            hasher.update(encode_order(&order));
            count += 1;
        }
        hasher.update(count.to_le_bytes());
    };
    side_records(Side::Buy, &mut bids.into_iter());
    side_records(Side::Sell, &mut asks.into_iter());
    BookDigest(hasher.finalize().into())
}

/// The fixed-size canonical record of one resting order.
pub fn encode_order(order: &RestingOrder) -> [u8; 52] {
    let mut out = [0u8; 52];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&order.order_id.0.to_le_bytes());
    put(&order.account.0.to_le_bytes());
    put(&[u8::from(order.client_order_id.is_some())]);
    put(&order.client_order_id.map_or(0, |c| c.0).to_le_bytes());
    put(&order.price.0.to_le_bytes());
    put(&order.qty.0.to_le_bytes());
    put(&[u8::from(order.expiry.is_some())]);
    put(&order.expiry.map_or(0, |h| h.0).to_le_bytes());
    put(&[u8::from(order.post_only)]);
    put(&[order.self_trade as u8]);
    debug_assert_eq!(at, 52);
    out
}
