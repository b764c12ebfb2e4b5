//! The book's state digest: sha256 over a canonical encoding of what the book holds,
//! so two books with the same contents share a digest whatever their internals.
//!
//! The digest is built in two levels so that a book can keep the hash of each price
//! level and, after a block, rehash only the levels that changed plus one short pass
//! over `(price, level hash)` pairs, instead of every order (the chain's state root
//! must cost in proportion to what a block touched).
//!
//! Encoding (all integers little-endian, every record fixed-size, so the bytes can be
//! read one way only):
//!
//! ```text
//! level hash = sha256(b"clobchain/matching/level/v1" ‖ price u64 ‖
//!                     order records, oldest first ‖ count u64)
//! digest     = sha256(b"clobchain/matching/book/v2" ‖
//!                     height u64 ‖              last height given by Expire (0 before any)
//!                     trade_seq u64 ‖           seq of the last fill (0 before any)
//!                     for side in [Buy, Sell]:
//!                         (price u64 ‖ level hash) per level, best price first
//!                         level count u64)
//! order record (52 bytes):
//!     order_id u64, account u64,
//!     client_order_id: flag u8 (0 none, 1 some) + u64 (0 when none),
//!     price u64, qty u64,
//!     expiry: flag u8 + u64 (0 when none),
//!     post_only u8, self_trade u8 (the SelfTradePrevention discriminant)
//! ```

use sha2::{Digest as _, Sha256};

use crate::{AccountId, ClientOrderId, Height, OrderId, Price, Qty, SelfTradePrevention, Side};

const DOMAIN: &[u8] = b"clobchain/matching/book/v2";
const LEVEL_DOMAIN: &[u8] = b"clobchain/matching/level/v1";

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
    let mut digest = DigestBuilder::new(height, trade_seq);
    for (side, orders) in [
        (Side::Buy, bids.into_iter().collect::<Vec<_>>()),
        (Side::Sell, asks.into_iter().collect()),
    ] {
        digest.begin_side(side);
        for level in orders.chunk_by(|a, b| a.price == b.price) {
            for order in level {
                assert_eq!(order.side, side, "digest fed an order on the wrong side");
            }
            digest.level(level[0].price, level_hash(level[0].price, level));
        }
    }
    digest.finish()
}

/// The hash of one price level: its price and its orders, oldest first.
pub fn level_hash<'a>(
    price: Price,
    orders: impl IntoIterator<Item = &'a RestingOrder>,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(LEVEL_DOMAIN);
    hasher.update(price.0.to_le_bytes());
    let mut count: u64 = 0;
    for order in orders {
        assert_eq!(
            order.price, price,
            "level hash fed an order of another price"
        );
        hasher.update(encode_order(order));
        count += 1;
    }
    hasher.update(count.to_le_bytes());
    hasher.finalize().into()
}

/// [`level_hash`] from the level's `count` orders already [`encode_order`]d and
/// concatenated in `encoded`, oldest first (the book's fast path; the bytes hashed are
/// the same).
pub(crate) fn level_hash_encoded(price: Price, count: u64, encoded: &[u8]) -> [u8; 32] {
    debug_assert_eq!(encoded.len() as u64, count * 52);
    let mut hasher = Sha256::new();
    hasher.update(LEVEL_DOMAIN);
    hasher.update(price.0.to_le_bytes());
    hasher.update(encoded);
    hasher.update(count.to_le_bytes());
    hasher.finalize().into()
}

/// Assembles a digest from level hashes: `begin_side(Buy)`, its levels best first,
/// `begin_side(Sell)`, its levels best first, `finish`.
#[derive(Debug)]
pub struct DigestBuilder {
    hasher: Sha256,
    side: Option<Side>,
    levels: u64,
}

impl DigestBuilder {
    pub fn new(height: Height, trade_seq: u64) -> DigestBuilder {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        hasher.update(height.0.to_le_bytes());
        hasher.update(trade_seq.to_le_bytes());
        DigestBuilder {
            hasher,
            side: None,
            levels: 0,
        }
    }

    pub fn begin_side(&mut self, side: Side) {
        match (self.side, side) {
            (None, Side::Buy) => {}
            (Some(Side::Buy), Side::Sell) => self.end_side(),
            (previous, next) => panic!("digest sides out of order: {previous:?} then {next:?}"),
        }
        self.side = Some(side);
    }

    pub fn level(&mut self, price: Price, level_hash: [u8; 32]) {
        assert!(self.side.is_some(), "digest level before any side");
        self.hasher.update(price.0.to_le_bytes());
        self.hasher.update(level_hash);
        self.levels += 1;
    }

    fn end_side(&mut self) {
        self.hasher.update(self.levels.to_le_bytes());
        self.levels = 0;
    }

    pub fn finish(mut self) -> BookDigest {
        assert_eq!(
            self.side,
            Some(Side::Sell),
            "digest finished before both sides"
        );
        self.end_side();
        BookDigest(self.hasher.finalize().into())
    }
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
