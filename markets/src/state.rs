//! The chain's state: assets, markets with their books, accounts with balances and
//! replay windows, and the commitments over them.

use borsh::{BorshDeserialize, BorshSerialize};
use hashbrown::HashMap;
use matching::{AccountId, Book, MarketParams, Price, Qty, Side};
use sha2::{Digest as _, Sha256};

use crate::limits::{ACCOUNTS_MAX, ASSETS_MAX, FEE_BPS_MAX, MARKETS_MAX, NONCE_RANGES_MAX};
use crate::merkle::{Hash, IncrementalTree, merkle_root};
use crate::verify::AccountKey;
use crate::{AssetId, ChainId, ChainReject, MarketId};

// Account ids index vectors; the chain runs on 64-bit targets only.
const _: () = assert!(usize::BITS == 64, "clobchain needs a 64-bit target");

/// The vector index of an account.
#[inline]
#[allow(
    clippy::cast_possible_truncation,
    reason = "64-bit targets only, asserted above"
)]
pub(crate) const fn ix(id: AccountId) -> usize {
    id.0 as usize
}

/// An asset: balances are whole numbers of its atoms (10^-decimals of a unit).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AssetConfig {
    pub symbol: String,
    pub decimals: u8,
}

/// A market: trades `base` against `quote`.
///
/// Units: a lot is `params.lot_size` base atoms; a price of `p` ticks means
/// `p × params.tick_size` quote atoms per lot. So `q` lots at `p` ticks cost
/// `p × tick_size × q` quote atoms: exact integers, no rounding.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MarketConfig {
    pub symbol: String,
    pub base: AssetId,
    pub quote: AssetId,
    pub params: MarketParams,
    /// Fees in basis points of the quote notional, paid in the quote asset to the chain's
    /// fee account, rounded down. At most [`FEE_BPS_MAX`].
    pub maker_fee_bps: u16,
    pub taker_fee_bps: u16,
}

impl MarketConfig {
    /// Quote atoms for `qty` lots at `price`. Cannot overflow for prices and quantities
    /// within the market's limits (checked at genesis).
    pub fn notional(&self, price: Price, qty: Qty) -> u64 {
        let n = u128::from(price.0) * u128::from(self.params.tick_size) * u128::from(qty.0);
        u64::try_from(n).expect("genesis bounds price × tick × qty to a u64")
    }

    /// Base atoms in `qty` lots.
    pub fn base_amount(&self, qty: Qty) -> u64 {
        qty.0
            .checked_mul(self.params.lot_size)
            .expect("genesis bounds qty × lot to a u64")
    }

    /// A fee of `bps` on `notional`, rounded down.
    pub fn fee(notional: u64, bps: u16) -> u64 {
        u64::try_from(u128::from(notional) * u128::from(bps) / 10_000).expect("fee <= notional")
    }

    fn fee_reserve_bps(&self) -> u16 {
        self.maker_fee_bps.max(self.taker_fee_bps)
    }

    /// What an order of `qty` lots at `price` on `side` holds while it is open: the base
    /// it may sell, or the quote it may pay plus the most fee it may owe (rounded up).
    /// The held balance of an account is always the sum of this over its open orders.
    pub fn hold(&self, side: Side, price: Price, qty: Qty) -> (AssetId, u64) {
        match side {
            Side::Sell => (self.base, self.base_amount(qty)),
            Side::Buy => {
                let notional = self.notional(price, qty);
                let reserve =
                    (u128::from(notional) * u128::from(self.fee_reserve_bps())).div_ceil(10_000);
                let total = u128::from(notional) + reserve;
                (
                    self.quote,
                    u64::try_from(total).expect("genesis bounds the largest hold"),
                )
            }
        }
    }

    /// Checks the market against the chain's limits (at genesis, and when a snapshot is
    /// loaded).
    pub(crate) fn validate(&self, assets: usize) -> Result<(), GenesisError> {
        let symbol = || self.symbol.clone();
        self.params
            .validate()
            .map_err(|e| GenesisError::Market(symbol(), e.to_string()))?;
        let known = |a: AssetId| (a.0 as usize) < assets;
        if !known(self.base) || !known(self.quote) || self.base == self.quote {
            return Err(GenesisError::Market(
                symbol(),
                "base and quote must be two known assets".into(),
            ));
        }
        if self.maker_fee_bps > FEE_BPS_MAX || self.taker_fee_bps > FEE_BPS_MAX {
            return Err(GenesisError::Market(
                symbol(),
                format!("fees are at most {FEE_BPS_MAX} bps"),
            ));
        }
        // The largest hold must fit a u64 so settlement arithmetic cannot overflow.
        let p = &self.params;
        let notional_max = u128::from(p.price_ticks_max.0)
            * u128::from(p.tick_size)
            * u128::from(p.qty_lots_max.0);
        let hold_max =
            notional_max + (notional_max * u128::from(self.fee_reserve_bps())).div_ceil(10_000);
        let base_max = u128::from(p.qty_lots_max.0) * u128::from(p.lot_size);
        if hold_max > u128::from(u64::MAX) || base_max > u128::from(u64::MAX) {
            return Err(GenesisError::Market(
                symbol(),
                "largest order overflows a u64 amount".into(),
            ));
        }
        Ok(())
    }
}

/// The faucet of a dev chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FaucetConfig {
    /// Most atoms of any asset one faucet transaction may mint.
    pub amount_max: u64,
}

/// A balance given at genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GenesisBalance {
    pub account: [u8; 32],
    pub asset: AssetId,
    pub amount: u64,
}

/// Everything block 0 fixes.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Genesis {
    pub chain_id: ChainId,
    pub timestamp_ms: u64,
    pub assets: Vec<AssetConfig>,
    pub markets: Vec<MarketConfig>,
    /// Receives all trading fees.
    pub fee_account: [u8; 32],
    pub balances: Vec<GenesisBalance>,
    pub faucet: Option<FaucetConfig>,
}

/// Why a genesis was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("between 1 and {ASSETS_MAX} assets")]
    Assets,
    #[error("at most {MARKETS_MAX} markets")]
    Markets,
    #[error("market {0}: {1}")]
    Market(String, String),
    #[error("invalid account key {0}")]
    Key(String),
    #[error("balance for unknown asset {0}")]
    UnknownAsset(u32),
    #[error("total supply of asset {0} overflows a u64")]
    Supply(u32),
}

impl Genesis {
    /// sha256 of the encoded genesis: the parent hash of block 1.
    pub fn hash(&self) -> Hash {
        Hash(Sha256::digest(borsh::to_vec(self).expect("Vec")).into())
    }
}

/// An account's balance of one asset, in atoms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Balance {
    /// Free to use.
    pub available: u64,
    /// Backing open orders (see [`MarketConfig::hold`]).
    pub held: u64,
}

/// The nonces an account has used: every nonce below `floor`, and up to
/// [`NONCE_RANGES_MAX`] ranges of used nonces above it.
///
/// A nonce is accepted if it is at or above the floor and in no range; once used it
/// joins a range (merging with its neighbours). When a new range would make one too
/// many, the lowest range is forgotten and the floor rises past it: its nonces, and the
/// unused ones below it, become too old. So a transaction can never execute twice:
/// either its nonce is in a range, or it is below the floor.
///
/// Sized for market makers (ARCHITECTURE.md, "The nonce rule"): a bot that counts its
/// nonces up uses one range however many transactions it has in flight, and its lower
/// nonces stay usable while fewer than [`NONCE_RANGES_MAX`] gaps lie above them, so a
/// burst sent over many connections at once, arriving in any order across blocks, is
/// never too old. A bot whose nonces are sparse (a clock) gets the
/// [`NONCE_RANGES_MAX`] highest it used, as with a window of that many nonces.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NonceWindow {
    /// Every nonce below this counts as used.
    floor: u64,
    /// Ascending, disjoint and never adjacent (a range ends at least two below the next
    /// one's start), all at or above `floor`.
    used: Vec<NonceRange>,
}

/// Consecutive used nonces, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NonceRange {
    pub first: u64,
    pub last: u64,
}

impl NonceWindow {
    pub fn check(&self, nonce: u64) -> Result<(), ChainReject> {
        if nonce < self.floor {
            return Err(ChainReject::NonceTooOld);
        }
        let at = self.used.partition_point(|r| r.last < nonce);
        if self.used.get(at).is_some_and(|r| r.first <= nonce) {
            return Err(ChainReject::NonceAlreadyUsed);
        }
        Ok(())
    }

    /// Records a nonce that passed [`NonceWindow::check`].
    pub fn insert(&mut self, nonce: u64) {
        debug_assert!(self.check(nonce).is_ok(), "nonce checked before insert");
        // The first range above `nonce` (none contains it).
        let at = self.used.partition_point(|r| r.last < nonce);
        let joins_below = at > 0 && self.used[at - 1].last + 1 == nonce;
        let joins_above = self
            .used
            .get(at)
            .is_some_and(|r| nonce.checked_add(1) == Some(r.first));
        match (joins_below, joins_above) {
            (true, true) => {
                self.used[at - 1].last = self.used[at].last;
                self.used.remove(at);
            }
            (true, false) => self.used[at - 1].last = nonce,
            (false, true) => self.used[at].first = nonce,
            (false, false) => self.used.insert(
                at,
                NonceRange {
                    first: nonce,
                    last: nonce,
                },
            ),
        }
        if self.used.len() > NONCE_RANGES_MAX {
            let lowest = self.used.remove(0);
            self.floor = lowest.last.saturating_add(1);
        }
    }

    /// The highest nonce used, if any.
    pub fn highest(&self) -> Option<u64> {
        self.used.last().map(|r| r.last)
    }

    /// Every nonce below this is too old.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    pub fn ranges(&self) -> &[NonceRange] {
        &self.used
    }

    /// Whether the ranges are ascending, disjoint, non-adjacent, at or above the floor
    /// and within their limit: the one canonical form, which the state root hashes.
    pub fn canonical(&self) -> Result<(), &'static str> {
        if self.used.len() > NONCE_RANGES_MAX {
            return Err("more nonce ranges than the limit");
        }
        if self.used.first().is_some_and(|r| r.first < self.floor) {
            return Err("a nonce range below the floor");
        }
        if self.used.iter().any(|r| r.first > r.last) {
            return Err("a nonce range ends before it starts");
        }
        if self
            .used
            .windows(2)
            .any(|pair| pair[0].last.saturating_add(1) >= pair[1].first)
        {
            return Err("nonce ranges overlap, touch or are out of order");
        }
        Ok(())
    }

    /// Panics unless [`NonceWindow::canonical`].
    pub fn check_invariants(&self) {
        if let Err(broken) = self.canonical() {
            panic!("nonce window: {broken}");
        }
    }
}

/// One account.
#[derive(Clone, Debug)]
pub struct Account {
    pub key: AccountKey,
    /// Indexed by asset id.
    pub balances: Vec<Balance>,
    pub nonces: NonceWindow,
}

impl Account {
    fn new(key: AccountKey, assets: usize) -> Account {
        Account {
            key,
            balances: vec![Balance::default(); assets],
            nonces: NonceWindow::default(),
        }
    }

    /// The account's item in the state tree: `sha256(key ‖ borsh(balances) ‖
    /// borsh(nonces))` (the tree applies its leaf prefix to it).
    pub fn leaf(&self) -> Hash {
        let mut bytes = Vec::with_capacity(
            32 + 4 + 16 * self.balances.len() + 12 + 16 * self.nonces.used.len(),
        );
        bytes.extend_from_slice(self.key.as_bytes());
        self.balances.serialize(&mut bytes).expect("Vec");
        self.nonces.serialize(&mut bytes).expect("Vec");
        crate::sha256(&bytes)
    }
}

/// One market: its configuration and its book.
#[derive(Clone, Debug)]
pub struct Market {
    pub config: MarketConfig,
    pub book: Book,
}

fn market_item(market: usize, digest: matching::BookDigest) -> Hash {
    let mut bytes = Vec::with_capacity(36);
    bytes.extend_from_slice(
        &u32::try_from(market)
            .expect("markets are few")
            .to_le_bytes(),
    );
    bytes.extend_from_slice(&digest.0);
    crate::sha256(&bytes)
}

/// The whole state of the chain after some block.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) chain_id: ChainId,
    pub(crate) genesis_hash: Hash,
    /// Height of the last executed block (0: genesis).
    pub(crate) height: u64,
    /// Hash of the last executed block (the genesis hash at height 0).
    pub(crate) block_hash: Hash,
    pub(crate) timestamp_ms: u64,
    pub(crate) assets: Vec<AssetConfig>,
    /// Atoms of each asset in existence: genesis plus faucet mints.
    pub(crate) supply: Vec<u64>,
    pub(crate) markets: Vec<Market>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) account_ids: HashMap<[u8; 32], AccountId>,
    pub(crate) fee_account: AccountId,
    pub(crate) faucet: Option<FaucetConfig>,
    /// One leaf per account, in account-id order.
    pub(crate) account_tree: IncrementalTree,
    /// sha256 of everything fixed at genesis but balances: chain id, genesis hash,
    /// assets, market configurations, fee account and faucet. Part of the state root,
    /// so a snapshot cannot carry a changed fee or tick size unnoticed.
    pub(crate) config_hash: Hash,
    /// `sha256(market id ‖ book digest)` per market, refreshed for touched markets.
    pub(crate) market_leaves: Vec<Hash>,
}

impl State {
    /// The state at height 0.
    pub fn from_genesis(genesis: &Genesis) -> Result<State, GenesisError> {
        if genesis.assets.is_empty() || genesis.assets.len() > ASSETS_MAX {
            return Err(GenesisError::Assets);
        }
        if genesis.markets.len() > MARKETS_MAX {
            return Err(GenesisError::Markets);
        }
        for market in &genesis.markets {
            market.validate(genesis.assets.len())?;
        }
        let assets = genesis.assets.len();
        let mut state = State {
            chain_id: genesis.chain_id,
            genesis_hash: genesis.hash(),
            height: 0,
            block_hash: genesis.hash(),
            timestamp_ms: genesis.timestamp_ms,
            assets: genesis.assets.clone(),
            supply: vec![0; assets],
            markets: genesis
                .markets
                .iter()
                .map(|config| Market {
                    config: config.clone(),
                    book: Book::new(config.params),
                })
                .collect(),
            accounts: Vec::new(),
            account_ids: HashMap::new(),
            fee_account: AccountId(0),
            faucet: genesis.faucet,
            account_tree: IncrementalTree::default(),
            market_leaves: Vec::new(),
            config_hash: Hash([0; 32]),
        };
        let key = |bytes: &[u8; 32]| {
            AccountKey::from_bytes(bytes).map_err(|e| GenesisError::Key(e.to_string()))
        };
        state.fee_account = state.create_account(key(&genesis.fee_account)?);
        for balance in &genesis.balances {
            let account = match state.account_ids.get(&balance.account) {
                Some(&id) => id,
                None => state.create_account(key(&balance.account)?),
            };
            let asset = balance.asset.0 as usize;
            if asset >= assets {
                return Err(GenesisError::UnknownAsset(balance.asset.0));
            }
            state.supply[asset] = state.supply[asset]
                .checked_add(balance.amount)
                .ok_or(GenesisError::Supply(balance.asset.0))?;
            state.accounts[ix(account)].balances[asset].available += balance.amount;
        }
        for id in 0..state.accounts.len() {
            let leaf = state.accounts[id].leaf();
            state.account_tree.set(id, leaf);
        }
        state.config_hash = state.compute_config_hash();
        state.market_leaves = (0..state.markets.len())
            .map(|m| state.market_leaf(m))
            .collect();
        state.check_invariants();
        Ok(state)
    }

    /// Adds an account with zero balances; its leaf is set by the caller's next commit.
    pub(crate) fn create_account(&mut self, key: AccountKey) -> AccountId {
        let id = AccountId(self.accounts.len() as u64);
        assert!(id.0 < ACCOUNTS_MAX, "account limit reached");
        let previous = self.account_ids.insert(*key.as_bytes(), id);
        assert!(previous.is_none(), "account created twice");
        self.accounts.push(Account::new(key, self.assets.len()));
        let index = self.account_tree.push(self.accounts[ix(id)].leaf());
        assert_eq!(index, ix(id), "account tree out of step with accounts");
        id
    }

    /// A market's item in the markets tree, from its book's digest computed from
    /// scratch (see [`State::refresh_market_leaf`] for the cached path).
    pub(crate) fn market_leaf(&self, market: usize) -> Hash {
        market_item(market, self.markets[market].book.digest())
    }

    /// Sets a touched market's item from its book's (cached) digest.
    pub(crate) fn set_market_leaf(&mut self, market: usize, digest: matching::BookDigest) {
        self.market_leaves[market] = market_item(market, digest);
    }

    /// sha256 of the configuration (see the `config_hash` field).
    pub(crate) fn compute_config_hash(&self) -> Hash {
        let configs: Vec<&MarketConfig> = self.markets.iter().map(|m| &m.config).collect();
        let mut bytes = Vec::new();
        (
            self.chain_id,
            self.genesis_hash,
            &self.assets,
            configs,
            self.fee_account,
            self.faucet,
        )
            .serialize(&mut bytes)
            .expect("Vec");
        crate::sha256(&bytes)
    }

    /// Whether `other` has the same configuration (chain, genesis, assets, markets, fee
    /// account, faucet): a snapshot must match the genesis it claims.
    pub fn same_configuration(&self, other: &State) -> bool {
        self.config_hash == other.config_hash
    }

    /// The state root: `sha256("clobchain/state/v1" ‖ config hash ‖ accounts root ‖
    /// markets root ‖ supply)`, where the accounts root is the incremental tree over
    /// account leaves and the markets root the Merkle root over market leaves.
    pub fn state_root(&mut self) -> Hash {
        let accounts_root = self.account_tree.root();
        let markets_root = merkle_root(&self.market_leaves);
        let mut hasher = Sha256::new();
        hasher.update(b"clobchain/state/v1");
        hasher.update(self.config_hash.0);
        hasher.update(accounts_root.0);
        hasher.update(markets_root.0);
        for supply in &self.supply {
            hasher.update(supply.to_le_bytes());
        }
        Hash(hasher.finalize().into())
    }

    /// The state root computed from scratch, ignoring every cache. Tests compare it with
    /// [`State::state_root`].
    pub fn state_root_recomputed(&self) -> Hash {
        let leaves: Vec<Hash> = self.accounts.iter().map(Account::leaf).collect();
        let mut copy = self.clone();
        copy.account_tree = IncrementalTree::from_leaves(leaves);
        copy.config_hash = self.compute_config_hash();
        copy.market_leaves = (0..self.markets.len())
            .map(|m| self.market_leaf(m))
            .collect();
        copy.state_root()
    }

    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }
    pub fn height(&self) -> u64 {
        self.height
    }
    pub fn block_hash(&self) -> Hash {
        self.block_hash
    }
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }
    pub fn assets(&self) -> &[AssetConfig] {
        &self.assets
    }
    pub fn supply(&self, asset: AssetId) -> u64 {
        self.supply[asset.0 as usize]
    }
    pub fn markets(&self) -> &[Market] {
        &self.markets
    }
    pub fn market(&self, id: MarketId) -> Option<&Market> {
        self.markets.get(id.0 as usize)
    }
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }
    pub fn account_id(&self, key: &[u8; 32]) -> Option<AccountId> {
        self.account_ids.get(key).copied()
    }
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(ix(id))
    }
    pub fn account_by_key(&self, key: &[u8; 32]) -> Option<&Account> {
        self.account_id(key).and_then(|id| self.account(id))
    }
    pub fn fee_account(&self) -> AccountId {
        self.fee_account
    }
    pub fn faucet(&self) -> Option<FaucetConfig> {
        self.faucet
    }

    /// Panics if an invariant of the state is broken (see [`State::audit`]). Tests call
    /// it after every block; debug builds after every block too.
    pub fn check_invariants(&self) {
        for market in &self.markets {
            market.book.check_invariants();
        }
        for account in &self.accounts {
            account.nonces.check_invariants();
        }
        if let Err(broken) = self.audit() {
            panic!("state invariant broken at height {}: {broken}", self.height);
        }
    }

    /// Checks the invariants of the state and says which one is broken:
    /// - each asset is conserved: the sum of available and held balances over all
    ///   accounts (the fee account included) equals its supply;
    /// - every held balance is exactly backed by open orders: for each account and
    ///   asset, `held` equals the sum of [`MarketConfig::hold`] over its resting orders;
    /// - the caches agree with what they cache.
    ///
    /// Costs a walk over every account and order: tests, debug builds and snapshot
    /// loading only. Each book's own invariants are its `check_invariants`.
    pub fn audit(&self) -> Result<(), String> {
        let assets = self.assets.len();
        let mut total = vec![0u128; assets];
        for (id, account) in self.accounts.iter().enumerate() {
            if account.balances.len() != assets {
                return Err(format!(
                    "account {id} has {} balances for {assets} assets",
                    account.balances.len()
                ));
            }
            for (asset, balance) in account.balances.iter().enumerate() {
                total[asset] += u128::from(balance.available) + u128::from(balance.held);
            }
        }
        for (asset, (total, supply)) in total.iter().zip(&self.supply).enumerate() {
            if *total != u128::from(*supply) {
                return Err(format!(
                    "asset {asset} is not conserved: balances {total} supply {supply}"
                ));
            }
        }
        let mut backing: std::collections::BTreeMap<(u64, u32), u64> =
            std::collections::BTreeMap::new();
        for market in &self.markets {
            for side in [Side::Buy, Side::Sell] {
                for order in market.book.orders(side) {
                    if ix(order.account) >= self.accounts.len() {
                        return Err(format!(
                            "order {:?} of unknown account {:?}",
                            order.order_id, order.account
                        ));
                    }
                    let (asset, amount) = market.config.hold(side, order.price, order.qty);
                    *backing.entry((order.account.0, asset.0)).or_default() += amount;
                }
            }
        }
        for (id, account) in self.accounts.iter().enumerate() {
            for (asset, balance) in account.balances.iter().enumerate() {
                let backed = backing
                    .get(&(id as u64, u32::try_from(asset).expect("assets are few")))
                    .copied()
                    .unwrap_or(0);
                if balance.held != backed {
                    return Err(format!(
                        "account {id} asset {asset}: held {} but open orders back {backed}",
                        balance.held
                    ));
                }
            }
        }
        if self.account_tree.len() != self.accounts.len()
            || self.market_leaves.len() != self.markets.len()
        {
            return Err("commitment caches out of step with accounts or markets".into());
        }
        Ok(())
    }
}
