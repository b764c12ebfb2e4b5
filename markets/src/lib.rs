//! # markets — clobchain's state machine
//!
//! Accounts and balances, the market registry, signed transactions, blocks, and the
//! block executor. A pure function of (state, block): no I/O, no clock, no randomness;
//! block production and storage live in the node.
//!
//! ```text
//! signed txs ─► 1 verify signatures (batched, parallel)
//!            ─► 2 hold funds per account (accounts in parallel, each in block order)
//!            ─► 3 match each market (one rayon task per market)
//!            ─► 4 settle fills and fees per account (parallel)
//!            ─► 5 commit roots ─► BlockHeader
//! ```
//!
//! ```
//! use markets::*;
//! use matching::{Side, TimeInForce, SelfTradePrevention};
//!
//! let (genesis, keys) = dev::genesis(2);
//! let mut state = State::from_genesis(&genesis).unwrap();
//! let market = &state.markets()[0].config;
//! let place = |key: &ed25519_dalek::SigningKey, nonce, side, price_ticks| {
//!     let tx = Transaction {
//!         chain_id: genesis.chain_id,
//!         signer: key.verifying_key().to_bytes(),
//!         nonce,
//!         expiry_height: None,
//!         action: Action::Order(OrderAction::Place(PlaceOrder {
//!             market: MarketId(0),
//!             client_order_id: None,
//!             side,
//!             price: price_ticks * market.params.tick_size,
//!             qty: market.params.lot_size,
//!             time_in_force: TimeInForce::GoodTillCancel,
//!             post_only: false,
//!             self_trade: SelfTradePrevention::default(),
//!         })),
//!     };
//!     SignedTransaction::sign(tx, key)
//! };
//! let block = vec![place(&keys[0], 1, Side::Sell, 100), place(&keys[1], 1, Side::Buy, 101)];
//! let context = BlockContext { height: 1, timestamp_ms: genesis.timestamp_ms + 100 };
//! let output = execute_block(&mut state, context, &block).unwrap();
//! let fills = output.market_events[0].iter().filter(|e| matches!(e.event, matching::Event::Fill(_))).count();
//! assert_eq!(fills, 1);
//! state.check_invariants();
//! ```

use borsh::{BorshDeserialize, BorshSerialize};

pub mod admit;
pub mod block;
pub mod dev;
pub mod execute;
pub mod limits;
pub mod merkle;
pub mod reject;
#[cfg(any(test, feature = "test-utils"))]
pub mod sim;
pub mod snapshot;
pub mod state;
pub mod tx;
pub mod verify;

pub use admit::{
    Encoded, Prechecked, Verified, admit, precheck_all, verify_block, verify_block_except,
};
pub use block::{
    ActionOutcome, Block, BlockHeader, ExecutedBlock, Finality, Outcome, Receipt, TaggedEvent,
};
pub use execute::{
    BlockContext, BlockError, execute_block, execute_block_except, execute_verified, precheck,
};
pub use merkle::Hash;
pub use reject::{ChainReject, Reject};
pub use state::{
    Account, AssetConfig, Balance, FaucetConfig, Genesis, GenesisBalance, Market, MarketConfig,
    State,
};
pub use tx::{
    Action, AmendOrder, CancelAll, CancelOrder, Faucet, Framed, OrderAction, PlaceOrder,
    SignedTransaction, Transaction, Transfer,
};

/// sha256 of `bytes`, as a [`Hash`].
pub fn sha256(bytes: &[u8]) -> Hash {
    use sha2::Digest as _;
    Hash(sha2::Sha256::digest(bytes).into())
}

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
        pub struct $name(pub $inner);

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_newtype!(
    /// Which chain a transaction is for. Set at genesis; part of every signed message.
    ChainId(u64)
);
id_newtype!(
    /// An asset, by its index in the genesis asset list.
    AssetId(u32)
);
id_newtype!(
    /// A market, by its index in the genesis market list.
    MarketId(u32)
);
