//! State snapshots: the whole state as bytes, so a node restarts from its latest
//! snapshot and replays only the blocks after it.
//!
//! The encoding is borsh of [`StateSnapshot`]: every book as its canonical
//! [`matching::BookSnapshot`], every account in id order. Caches (the account tree,
//! market leaves, the key index) are rebuilt on load, never stored, so a snapshot cannot
//! smuggle in a stale commitment: the loaded state's root is recomputed and must equal
//! the root the snapshot claims.

use borsh::{BorshDeserialize, BorshSerialize};
use hashbrown::HashMap;
use matching::{AccountId, Book, BookSnapshot};

use crate::merkle::{Hash, IncrementalTree};
use crate::state::{
    Account, AssetConfig, Balance, FaucetConfig, Market, MarketConfig, NonceWindow,
};
use crate::verify::AccountKey;
use crate::{ChainId, State};

/// Format version of [`StateSnapshot`]; bumped on any change.
pub const SNAPSHOT_VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AccountSnapshot {
    pub key: [u8; 32],
    pub balances: Vec<Balance>,
    pub nonces: NonceWindow,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StateSnapshot {
    pub version: u32,
    pub chain_id: ChainId,
    pub genesis_hash: Hash,
    pub height: u64,
    pub block_hash: Hash,
    pub timestamp_ms: u64,
    pub assets: Vec<AssetConfig>,
    pub supply: Vec<u64>,
    pub markets: Vec<(MarketConfig, BookSnapshot)>,
    pub accounts: Vec<AccountSnapshot>,
    pub fee_account: AccountId,
    pub faucet: Option<FaucetConfig>,
    /// The state root at `height`, checked on load.
    pub state_root: Hash,
}

/// A snapshot that does not describe a state this chain could be in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot bytes do not decode: {0}")]
    Decode(String),
    #[error("snapshot format version {0}, this node reads {SNAPSHOT_VERSION}")]
    Version(u32),
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

impl State {
    /// The state as snapshot bytes.
    pub fn snapshot_bytes(&mut self) -> Vec<u8> {
        let snapshot = StateSnapshot {
            version: SNAPSHOT_VERSION,
            chain_id: self.chain_id,
            genesis_hash: self.genesis_hash,
            height: self.height,
            block_hash: self.block_hash,
            timestamp_ms: self.timestamp_ms,
            assets: self.assets.clone(),
            supply: self.supply.clone(),
            markets: self
                .markets
                .iter()
                .map(|m| (m.config.clone(), m.book.snapshot()))
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|a| AccountSnapshot {
                    key: *a.key.as_bytes(),
                    balances: a.balances.clone(),
                    nonces: a.nonces.clone(),
                })
                .collect(),
            fee_account: self.fee_account,
            faucet: self.faucet,
            state_root: self.state_root(),
        };
        borsh::to_vec(&snapshot).expect("Vec")
    }

    /// Rebuilds a state from snapshot bytes, checking it is consistent (books valid,
    /// balances per asset, assets conserved and backed, the recomputed root as claimed).
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<State, SnapshotError> {
        let snapshot: StateSnapshot =
            borsh::from_slice(bytes).map_err(|e| SnapshotError::Decode(e.to_string()))?;
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(snapshot.version));
        }
        let bad = |what: String| SnapshotError::Inconsistent(what);
        let assets = snapshot.assets.len();
        if snapshot.supply.len() != assets {
            return Err(bad("supply per asset".into()));
        }
        if assets == 0
            || assets > crate::limits::ASSETS_MAX
            || snapshot.markets.len() > crate::limits::MARKETS_MAX
        {
            return Err(bad("asset or market count outside the limits".into()));
        }
        let mut markets = Vec::with_capacity(snapshot.markets.len());
        for (config, book) in snapshot.markets {
            config.validate(assets).map_err(|e| bad(e.to_string()))?;
            let book = Book::restore(config.params, &book)
                .map_err(|e| bad(format!("market {}: {e}", config.symbol)))?;
            markets.push(Market { config, book });
        }
        let mut accounts = Vec::with_capacity(snapshot.accounts.len());
        let mut account_ids = HashMap::with_capacity(snapshot.accounts.len());
        for (id, account) in snapshot.accounts.into_iter().enumerate() {
            let key = AccountKey::from_bytes(&account.key)
                .map_err(|e| bad(format!("account {id}: {e}")))?;
            if account.balances.len() != assets {
                return Err(bad(format!("account {id}: balances per asset")));
            }
            account
                .nonces
                .canonical()
                .map_err(|e| bad(format!("account {id}: {e}")))?;
            if account_ids
                .insert(account.key, AccountId(id as u64))
                .is_some()
            {
                return Err(bad(format!("account {id}: key listed twice")));
            }
            accounts.push(Account {
                key,
                balances: account.balances,
                nonces: account.nonces,
            });
        }
        if crate::state::ix(snapshot.fee_account) >= accounts.len() {
            return Err(bad("fee account".into()));
        }
        let leaves: Vec<Hash> = accounts.iter().map(Account::leaf).collect();
        let mut state = State {
            chain_id: snapshot.chain_id,
            genesis_hash: snapshot.genesis_hash,
            height: snapshot.height,
            block_hash: snapshot.block_hash,
            timestamp_ms: snapshot.timestamp_ms,
            assets: snapshot.assets,
            supply: snapshot.supply,
            markets,
            accounts,
            account_ids,
            fee_account: snapshot.fee_account,
            faucet: snapshot.faucet,
            account_tree: IncrementalTree::from_leaves(leaves),
            market_leaves: Vec::new(),
            config_hash: Hash([0; 32]),
        };
        state.config_hash = state.compute_config_hash();
        state.market_leaves = (0..state.markets.len())
            .map(|m| state.market_leaf(m))
            .collect();
        if state.state_root() != snapshot.state_root {
            return Err(bad(
                "recomputed state root differs from the recorded one".into()
            ));
        }
        state.audit().map_err(bad)?;
        Ok(state)
    }
}
