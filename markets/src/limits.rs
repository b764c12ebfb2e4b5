//! Every limit of the state machine, in one place, with the relations between them
//! checked at compile time (STYLE.md #10). Over a limit is a rejection, never growth.

/// Order actions in one batch transaction. A market maker requotes both sides of a
/// ladder in one signature; 32 covers 16 levels a side.
pub const BATCH_ACTIONS_MAX: usize = 32;
/// Bytes of one encoded signed transaction. A full batch of places is about 1.6 KiB.
pub const TRANSACTION_BYTES_MAX: usize = 4096;
/// Transactions in one block. At the target rate (100k orders/s, 10 blocks/s) a block
/// holds ~10k; the limit leaves room for bursts while bounding one block's memory
/// (~4096 B × 50k = 200 MiB worst case, typically far less).
pub const TRANSACTIONS_PER_BLOCK_MAX: usize = 50_000;
/// Bytes of one encoded block a validator proposes or accepts. The transaction limits
/// alone (50,000 × 4 KiB) would allow 205 MB messages between validators; a leader fills
/// a block up to this many bytes instead (~40,000 order transactions of ~200 B).
pub const BLOCK_BYTES_MAX: usize = 8 << 20;
/// Ranges of used nonces an account remembers above its floor (`state::NonceWindow`).
/// A bot counting its nonces up may have any number in flight, arriving in any order,
/// while fewer than this many gaps lie above its lowest unused nonce; a bot with sparse
/// nonces (a clock) gets this many of its highest. Hyperliquid keeps 100. Each range is
/// 16 bytes of the account's state leaf.
pub const NONCE_RANGES_MAX: usize = 128;
/// Assets and markets a chain may define at genesis.
pub const ASSETS_MAX: usize = 256;
pub const MARKETS_MAX: usize = 1024;
/// Accounts: bounded by `AccountId` being a `u32`-sized index in practice; the state
/// refuses to create more.
pub const ACCOUNTS_MAX: u64 = 1 << 32;
/// Largest fee rate, in basis points: 10%. Keeps a taker's proceeds non-negative.
pub const FEE_BPS_MAX: u16 = 1_000;

const _: () = assert!(
    BATCH_ACTIONS_MAX * 64 < TRANSACTION_BYTES_MAX,
    "a full batch must fit one transaction"
);
const _: () = assert!(
    NONCE_RANGES_MAX >= BATCH_ACTIONS_MAX,
    "a bot with sparse nonces needs at least a batch's worth in flight"
);
const _: () = assert!(
    (FEE_BPS_MAX as u64) < 10_000,
    "fees below 100% keep proceeds non-negative"
);
