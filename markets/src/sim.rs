//! A seeded, reproducible block generator for tests and benches
//! (feature `test-utils`).
//!
//! One seed drives everything (STYLE.md #8): the same seed and [`SimConfig`] give the
//! same blocks, byte for byte, on every machine. Randomness comes only from [`Rng`](crate::dev::Rng), a
//! SplitMix64 with integer arithmetic only; there is no clock and no float, as in the rest
//! of the state machine.
//!
//! ```text
//!  seed ─► Rng ─► account (hot pool or anyone) ─► kind (Mix, bad share) ─► sign ─► block
//!                      ▲                                                         │
//!                      └── live orders ◄── Sim::observe(block, output) ◄── execute_block
//! ```
//!
//! The mix is meant to look like a busy exchange: orders near a moving mid price per
//! market (so orders collide and trade), cancels and amends of the account's own live
//! orders, cancel-alls, batches, transfers (some to brand-new keys, which then trade too),
//! faucet requests, and a small share of transactions the chain must refuse
//! ([`TxKind::BAD`]). Each account numbers its transactions with a counter; a few
//! neighbouring transactions are swapped, so nonces sometimes arrive out of order within
//! a block, as the replay window allows.
//!
//! The simulator does not execute anything. It tracks the orders it placed
//! optimistically (their ids are known before sending, [`Transaction::order_id`]), and
//! [`Sim::observe`] corrects that from what a block really did (fills, expiries,
//! rejections). Observing is optional but keeps cancels and amends aimed at live orders.
//!
//! ```ignore
//! use markets::sim::{Sim, SimConfig};
//! use markets::execute_block;
//!
//! let mut sim = Sim::new(7, SimConfig { accounts: 20, transactions_per_block: 50, ..SimConfig::default() });
//! let mut state = sim.state();
//! for _ in 0..3 {
//!     let block = sim.next_block();
//!     let output = execute_block(&mut state, sim.context(), &block).unwrap();
//!     sim.observe(&block, &output);
//! }
//! state.check_invariants();
//! ```
//!
//! (The example is `ignore` because this module only exists with `test-utils`; it runs as
//! the unit test `sim::tests::module_example`.)

use std::collections::{BTreeMap, VecDeque};

pub use ed25519_dalek::SigningKey;
use matching::{
    ClientOrderId, Event, Height, MarketParams, OrderId, OrderRef, Price, Qty, SelfTradePrevention,
    Side, TimeInForce,
};
use sha2::{Digest as _, Sha256};

use crate::dev::Rng;
use crate::limits::NONCE_RANGES_MAX;
use crate::state::Genesis;
use crate::{
    Action, ActionOutcome, AmendOrder, AssetId, BlockContext, CancelAll, CancelOrder, ChainId,
    ChainReject, ExecutedBlock, Faucet, MarketId, OrderAction, Outcome, PlaceOrder, Reject,
    SignedTransaction, State, Transaction, Transfer, dev,
};

/// Orders are priced within this many ticks of their market's mid, so they collide.
const SPREAD_TICKS: u64 = 20;
/// How far a market's mid may move per block, in ticks.
const MID_STEP_TICKS: u64 = 5;
/// Live orders remembered per account; older ones are forgotten (not cancelled).
const LIVE_PER_ACCOUNT_MAX: usize = 256;
/// Earlier transactions kept for replays.
const REPLAY_POOL_MAX: usize = 1024;

/// Relative weights of the well-formed transactions, and shares within them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub place: u32,
    pub cancel: u32,
    pub amend: u32,
    pub cancel_all: u32,
    pub batch: u32,
    pub transfer: u32,
    pub faucet: u32,
    /// Per mille of good-till-cancel places priced through the mid (they take).
    pub taker_per_mille: u32,
    /// Per mille of places that are immediate-or-cancel, fill-or-kill, post-only (good
    /// till cancel) and good-till-block; the rest are good-till-cancel.
    pub ioc_per_mille: u32,
    pub fok_per_mille: u32,
    pub post_only_per_mille: u32,
    pub good_till_block_per_mille: u32,
    /// Per mille of transfers to a brand-new key (which then joins the traders).
    pub new_key_per_mille: u32,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            place: 550,
            cancel: 150,
            amend: 80,
            cancel_all: 20,
            batch: 80,
            transfer: 80,
            faucet: 40,
            taker_per_mille: 250,
            ioc_per_mille: 120,
            fok_per_mille: 50,
            post_only_per_mille: 80,
            good_till_block_per_mille: 60,
            new_key_per_mille: 250,
        }
    }
}

/// What the simulator generates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Funded accounts at genesis (demo keys `dev::key(0..accounts)`).
    pub accounts: u64,
    /// `None`: the dev genesis ([`dev::genesis`], 3 markets); `Some(m)`: [`dev::genesis_markets`]
    /// with `m` markets.
    pub genesis_markets: Option<u32>,
    /// Orders go to the first this many markets (0: all of them).
    pub markets_used: u32,
    /// The hot pool: the first this many accounts, which send `hot_per_mille` of the
    /// transactions between them.
    pub hot_accounts: u64,
    pub hot_per_mille: u32,
    pub transactions_per_block: usize,
    pub mix: Mix,
    /// Per mille of transactions that are bad: one of [`TxKind::BAD`], uniformly.
    pub bad_per_mille: u32,
    /// Per mille of neighbouring transactions swapped once the block is built.
    pub swap_per_mille: u32,
    /// Block `h` has timestamp `genesis + h × block_interval_ms`.
    pub block_interval_ms: u64,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            accounts: 100,
            genesis_markets: None,
            markets_used: 0,
            hot_accounts: 4,
            hot_per_mille: 300,
            transactions_per_block: 300,
            mix: Mix::default(),
            bad_per_mille: 40,
            swap_per_mille: 50,
            block_interval_ms: 100,
        }
    }
}

/// What a generated transaction is meant to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxKind {
    Place,
    Cancel,
    Amend,
    CancelAll,
    Batch,
    Transfer,
    /// A transfer to a key that has no account yet.
    TransferToNewKey,
    Faucet,
    /// A valid transaction with one bit of its signature flipped.
    BadSignature,
    /// Signed for another chain.
    WrongChain,
    /// An earlier block's transaction, resent byte for byte.
    Replay,
    /// Nonce 0 from an account that has sent well over a window of transactions.
    NonceTooOld,
    /// Last valid height before this block.
    Expired,
    UnknownMarket,
    PriceOffTick,
    QtyOffLot,
    /// A fill-or-kill buy of the largest quantity at the highest price.
    InsufficientFunds,
    /// Signed by a key that was never funded.
    UnknownAccount,
}

/// What the chain must do with a transaction of some kind, when that is certain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Depends on the state (good transactions, and [`TxKind::NonceTooOld`], whose
    /// account's window may not be full).
    Any,
    /// Refused as a whole with one of these.
    Refused(&'static [ChainReject]),
    /// Executed, and its single action rejected with this.
    ActionRejected(Reject),
}

impl TxKind {
    /// The kinds the chain must refuse (or may, for [`TxKind::NonceTooOld`]).
    pub const BAD: [TxKind; 10] = [
        TxKind::BadSignature,
        TxKind::WrongChain,
        TxKind::Replay,
        TxKind::NonceTooOld,
        TxKind::Expired,
        TxKind::UnknownMarket,
        TxKind::PriceOffTick,
        TxKind::QtyOffLot,
        TxKind::InsufficientFunds,
        TxKind::UnknownAccount,
    ];

    pub fn is_bad(self) -> bool {
        TxKind::BAD.contains(&self)
    }

    /// See [`Expected`]. Replays are refused because the original was executed in an
    /// earlier block (the simulator only replays transactions of funded accounts without
    /// an expiry, whose nonce it knows was fresh).
    pub fn expected(self) -> Expected {
        match self {
            TxKind::BadSignature => Expected::Refused(&[ChainReject::BadSignature]),
            TxKind::WrongChain => Expected::Refused(&[ChainReject::WrongChain]),
            TxKind::Replay => {
                Expected::Refused(&[ChainReject::NonceAlreadyUsed, ChainReject::NonceTooOld])
            }
            TxKind::Expired => Expected::Refused(&[ChainReject::TransactionExpired]),
            TxKind::UnknownAccount => Expected::Refused(&[ChainReject::UnknownAccount]),
            TxKind::UnknownMarket => Expected::ActionRejected(ChainReject::UnknownMarket.into()),
            TxKind::PriceOffTick => {
                Expected::ActionRejected(matching::RejectCode::PriceOffTick.into())
            }
            TxKind::QtyOffLot => Expected::ActionRejected(matching::RejectCode::QtyOffLot.into()),
            TxKind::InsufficientFunds => {
                Expected::ActionRejected(ChainReject::InsufficientFunds.into())
            }
            TxKind::NonceTooOld
            | TxKind::Place
            | TxKind::Cancel
            | TxKind::Amend
            | TxKind::CancelAll
            | TxKind::Batch
            | TxKind::Transfer
            | TxKind::TransferToNewKey
            | TxKind::Faucet => Expected::Any,
        }
    }
}

/// An order the simulator believes is live.
#[derive(Clone, Copy, Debug)]
struct LiveOrder {
    market: usize,
    order_id: OrderId,
    client_order_id: Option<ClientOrderId>,
    price: Price,
    qty: Qty,
    /// The block it was sent in: cancels and amends prefer orders of earlier blocks,
    /// which the book holds when the block begins.
    sent_height: u64,
}

#[derive(Debug)]
struct SimAccount {
    key: SigningKey,
    signer: [u8; 32],
    nonce_next: u64,
    client_id_next: u64,
    live: Vec<LiveOrder>,
}

impl SimAccount {
    fn new(key: SigningKey) -> SimAccount {
        let signer = key.verifying_key().to_bytes();
        SimAccount {
            key,
            signer,
            nonce_next: 1,
            client_id_next: 1,
            live: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct SimMarket {
    id: MarketId,
    params: MarketParams,
    /// Mid price in ticks; a random walk.
    mid: u64,
}

/// The block generator. See the module docs.
#[derive(Debug)]
pub struct Sim {
    seed: u64,
    rng: Rng,
    config: SimConfig,
    genesis: Genesis,
    /// Funded accounts first (`0..funded`), then the recipients of transfers to new keys.
    accounts: Vec<SimAccount>,
    funded: usize,
    /// All markets of the genesis; orders go to the first `used` of them.
    markets: Vec<SimMarket>,
    used: usize,
    /// Which account a live order belongs to.
    owners: BTreeMap<OrderId, usize>,
    height: u64,
    /// Transactions of earlier blocks that may be replayed.
    replayable: VecDeque<SignedTransaction>,
    /// This block's replayable transactions; they join `replayable` at the next block.
    replayable_next: Vec<SignedTransaction>,
    kinds: Vec<TxKind>,
    strangers: u64,
    newcomers: u64,
}

impl Sim {
    /// A simulator over the genesis `config` asks for, driven by `seed`.
    pub fn new(seed: u64, config: SimConfig) -> Sim {
        let (genesis, keys) = match config.genesis_markets {
            None => dev::genesis(config.accounts),
            Some(markets) => dev::genesis_markets(config.accounts, markets),
        };
        Sim::with_genesis(seed, config, genesis, keys)
    }

    /// A simulator over any genesis; `keys` are the funded accounts it trades with.
    pub fn with_genesis(
        seed: u64,
        config: SimConfig,
        genesis: Genesis,
        keys: Vec<SigningKey>,
    ) -> Sim {
        assert!(
            !keys.is_empty(),
            "the simulator needs at least one funded account"
        );
        assert!(
            !genesis.markets.is_empty(),
            "the simulator needs at least one market"
        );
        let markets: Vec<SimMarket> = genesis
            .markets
            .iter()
            .enumerate()
            .map(|(m, config)| SimMarket {
                id: MarketId(u32::try_from(m).expect("at most MARKETS_MAX markets")),
                params: config.params,
                mid: initial_mid(m, &config.params),
            })
            .collect();
        let used = match config.markets_used as usize {
            0 => markets.len(),
            n => n.min(markets.len()),
        };
        let funded = keys.len();
        Sim {
            seed,
            rng: Rng::new(seed),
            config,
            genesis,
            accounts: keys.into_iter().map(SimAccount::new).collect(),
            funded,
            markets,
            used,
            owners: BTreeMap::new(),
            height: 0,
            replayable: VecDeque::new(),
            replayable_next: Vec::new(),
            kinds: Vec::new(),
            strangers: 0,
            newcomers: 0,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The state at genesis.
    pub fn state(&self) -> State {
        State::from_genesis(&self.genesis).expect("the simulator's genesis is valid")
    }

    /// The signing key of the simulator's account `index` (funded accounts first).
    pub fn key(&self, index: usize) -> &SigningKey {
        &self.accounts[index].key
    }

    /// Height of the last block generated (0 before the first).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The context to execute the last generated block with.
    pub fn context(&self) -> BlockContext {
        BlockContext {
            height: self.height,
            timestamp_ms: self.genesis.timestamp_ms + self.height * self.config.block_interval_ms,
        }
    }

    /// What each transaction of the last block is, in block order.
    pub fn kinds(&self) -> &[TxKind] {
        &self.kinds
    }

    /// The transactions of the next block (height [`Sim::height`] + 1).
    pub fn next_block(&mut self) -> Vec<SignedTransaction> {
        self.height += 1;
        self.replayable.extend(self.replayable_next.drain(..));
        while self.replayable.len() > REPLAY_POOL_MAX {
            self.replayable.pop_front();
        }
        for market in &mut self.markets {
            let step = self.rng.below(2 * MID_STEP_TICKS + 1);
            let (low, high) = mid_range(&market.params);
            market.mid = (market.mid + step)
                .saturating_sub(MID_STEP_TICKS)
                .clamp(low, high);
        }
        let count = self.config.transactions_per_block;
        let mut block: Vec<(TxKind, SignedTransaction)> = Vec::with_capacity(count);
        for _ in 0..count {
            let kind = self.pick_kind();
            block.push(self.build(kind));
        }
        // Swap disjoint neighbours only, so no transaction moves more than one place and
        // an account's nonces stay well inside its replay window.
        let mut i = 1;
        while i < block.len() {
            if self.rng.chance(self.config.swap_per_mille) {
                block.swap(i - 1, i);
                i += 2;
            } else {
                i += 1;
            }
        }
        let (kinds, transactions) = block.into_iter().unzip();
        self.kinds = kinds;
        transactions
    }

    /// Corrects the live orders from what `transactions` (the last block) really did.
    pub fn observe(&mut self, transactions: &[SignedTransaction], output: &ExecutedBlock) {
        assert_eq!(
            transactions.len(),
            output.receipts.len(),
            "one receipt per transaction"
        );
        for (signed, receipt) in transactions.iter().zip(&output.receipts) {
            let tx = &signed.transaction;
            for (index, action) in tx.order_actions().iter().enumerate() {
                let OrderAction::Place(_) = action else {
                    continue;
                };
                let refused = match &receipt.outcome {
                    Outcome::Rejected(_) => true,
                    Outcome::Executed(outcomes) => {
                        matches!(outcomes[index], ActionOutcome::Rejected(_))
                    }
                };
                if refused {
                    self.forget(tx.order_id(u32::try_from(index).expect("batches are small")));
                }
            }
        }
        for events in &output.market_events {
            for tagged in events {
                match tagged.event {
                    Event::Fill(fill) => {
                        self.update(fill.maker_order_id, None, fill.maker_qty_remaining);
                        self.update(fill.taker_order_id, None, fill.taker_qty_remaining);
                    }
                    Event::Rested {
                        order_id,
                        price,
                        qty,
                        ..
                    }
                    | Event::Amended {
                        order_id,
                        price,
                        qty,
                        ..
                    } => self.update(order_id, Some(price), qty),
                    Event::Cancelled { order_id, .. } | Event::Expired { order_id, .. } => {
                        self.forget(order_id)
                    }
                    Event::Accepted { .. } | Event::Rejected { .. } => {}
                }
            }
        }
    }

    fn forget(&mut self, order_id: OrderId) {
        if let Some(account) = self.owners.remove(&order_id) {
            self.accounts[account]
                .live
                .retain(|o| o.order_id != order_id);
        }
    }

    fn update(&mut self, order_id: OrderId, price: Option<Price>, qty: Qty) {
        if qty == Qty::ZERO {
            return self.forget(order_id);
        }
        let Some(&account) = self.owners.get(&order_id) else {
            return;
        };
        if let Some(order) = self.accounts[account]
            .live
            .iter_mut()
            .find(|o| o.order_id == order_id)
        {
            order.qty = qty;
            if let Some(price) = price {
                order.price = price;
            }
        }
    }

    fn pick_kind(&mut self) -> TxKind {
        if self.rng.chance(self.config.bad_per_mille) {
            return TxKind::BAD[self.rng.index(TxKind::BAD.len())];
        }
        let mix = self.config.mix;
        let weights = [
            mix.place,
            mix.cancel,
            mix.amend,
            mix.cancel_all,
            mix.batch,
            mix.transfer,
            mix.faucet,
        ];
        match self.rng.weighted(&weights) {
            0 => TxKind::Place,
            1 => TxKind::Cancel,
            2 => TxKind::Amend,
            3 => TxKind::CancelAll,
            4 => TxKind::Batch,
            5 if self.rng.chance(mix.new_key_per_mille) => TxKind::TransferToNewKey,
            5 => TxKind::Transfer,
            _ => TxKind::Faucet,
        }
    }

    /// An account: from the hot pool with the configured share, else anyone (newcomers
    /// included, or funded accounts only).
    fn pick_account(&mut self, funded_only: bool) -> usize {
        let hot = usize::try_from(self.config.hot_accounts)
            .unwrap_or(usize::MAX)
            .min(self.funded);
        if hot > 0 && self.rng.chance(self.config.hot_per_mille) {
            return self.rng.index(hot);
        }
        let pool = if funded_only {
            self.funded
        } else {
            self.accounts.len()
        };
        self.rng.index(pool)
    }

    fn pick_market(&mut self) -> usize {
        self.rng.index(self.used)
    }

    /// A live order of `account` sent in an earlier block, if any; else any live order.
    fn pick_live(&mut self, account: usize, exclude: &[OrderId]) -> Option<LiveOrder> {
        let height = self.height;
        let live = &self.accounts[account].live;
        let free = |o: &&LiveOrder| !exclude.contains(&o.order_id);
        let older = |o: &&LiveOrder| o.sent_height < height && free(o);
        // Counted, then the k-th taken: no allocation on this hot path.
        let older_count = live.iter().filter(older).count();
        let count = if older_count > 0 {
            older_count
        } else {
            live.iter().filter(free).count()
        };
        if count == 0 {
            return None;
        }
        let k = self.rng.index(count);
        let live = &self.accounts[account].live;
        if older_count > 0 {
            live.iter().filter(older).nth(k).copied()
        } else {
            live.iter().filter(free).nth(k).copied()
        }
    }

    fn take_nonce(&mut self, account: usize) -> u64 {
        let account = &mut self.accounts[account];
        let nonce = account.nonce_next;
        // Every other number, as a clock-based bot's: each nonce is a range of its own
        // in the account's window, so windows fill and their floors rise.
        account.nonce_next += 2;
        nonce
    }

    fn transaction(
        &self,
        account: usize,
        nonce: u64,
        expiry_height: Option<u64>,
        action: Action,
    ) -> Transaction {
        Transaction {
            chain_id: self.genesis.chain_id,
            signer: self.accounts[account].signer,
            nonce,
            expiry_height,
            action,
        }
    }

    fn sign(&self, account: usize, transaction: Transaction) -> SignedTransaction {
        SignedTransaction::sign(transaction, &self.accounts[account].key)
    }

    /// Builds one transaction of `kind`, or of a close kind when `kind` is impossible
    /// right now (a cancel without live orders becomes a place, and so on).
    fn build(&mut self, kind: TxKind) -> (TxKind, SignedTransaction) {
        match kind {
            TxKind::Place
            | TxKind::Cancel
            | TxKind::Amend
            | TxKind::CancelAll
            | TxKind::Batch
            | TxKind::Transfer
            | TxKind::TransferToNewKey
            | TxKind::Faucet => self.build_valid(kind),
            TxKind::BadSignature => {
                let account = self.pick_account(true);
                let mut signed = self.signed_place(account, None);
                let byte = self.rng.index(64);
                signed.signature[byte] ^= 1 << self.rng.below(8);
                (kind, signed)
            }
            TxKind::WrongChain => {
                let account = self.pick_account(true);
                let place = self.random_place(account);
                let nonce = self.take_nonce(account);
                let mut tx = self.transaction(
                    account,
                    nonce,
                    None,
                    Action::Order(OrderAction::Place(place)),
                );
                tx.chain_id = ChainId(tx.chain_id.0.wrapping_add(1 + self.rng.below(1000)));
                (kind, self.sign(account, tx))
            }
            TxKind::Replay => match self.replayable.len() {
                0 => self.build(TxKind::BadSignature),
                n => {
                    let i = self.rng.index(n);
                    (kind, self.replayable[i].clone())
                }
            },
            TxKind::NonceTooOld => self.build_nonce_too_old(),
            TxKind::Expired => {
                let account = self.pick_account(true);
                (kind, self.signed_place(account, Some(self.height - 1)))
            }
            TxKind::UnknownMarket => {
                let account = self.pick_account(true);
                let mut place = self.random_place(account);
                let markets =
                    u32::try_from(self.markets.len()).expect("at most MARKETS_MAX markets");
                place.market =
                    MarketId(markets + u32::try_from(self.rng.below(10)).expect("below 10"));
                (kind, self.signed_action(account, place))
            }
            TxKind::PriceOffTick => {
                let coarse: Vec<usize> = (0..self.used)
                    .filter(|&m| self.markets[m].params.tick_size > 1)
                    .collect();
                if coarse.is_empty() {
                    return self.build(TxKind::QtyOffLot);
                }
                let market = coarse[self.rng.index(coarse.len())];
                let account = self.pick_account(true);
                let mut place = self.place_in(account, market);
                place.price += 1;
                (kind, self.signed_action(account, place))
            }
            TxKind::QtyOffLot => {
                let coarse: Vec<usize> = (0..self.used)
                    .filter(|&m| self.markets[m].params.lot_size > 1)
                    .collect();
                if coarse.is_empty() {
                    return self.build(TxKind::UnknownMarket);
                }
                let market = coarse[self.rng.index(coarse.len())];
                let account = self.pick_account(true);
                let mut place = self.place_in(account, market);
                place.qty += 1;
                (kind, self.signed_action(account, place))
            }
            TxKind::InsufficientFunds => self.build_insufficient_funds(),
            TxKind::UnknownAccount => self.build_unknown_account(),
        }
    }

    /// A transaction the chain executes (its actions may still be refused one by one).
    fn build_valid(&mut self, kind: TxKind) -> (TxKind, SignedTransaction) {
        let account = self.pick_account(false);
        let Some((kind, action)) = self.good_action(kind, account) else {
            return self.build(TxKind::Place);
        };
        let nonce = self.take_nonce(account);
        let expiry = self
            .rng
            .chance(100)
            .then(|| self.height + self.rng.below(3));
        let tx = self.transaction(account, nonce, expiry, action);
        self.track(account, &tx);
        let signed = self.sign(account, tx);
        if account < self.funded && expiry.is_none() {
            self.replayable_next.push(signed.clone());
        }
        (kind, signed)
    }

    /// A place with nonce 0, from an account whose window has moved well past it.
    fn build_nonce_too_old(&mut self) -> (TxKind, SignedTransaction) {
        // Well over a window's ranges of (sparse) nonces taken: the window has very
        // likely forgotten its lowest, so nonce 0 (never used: counters start at 1) is
        // below its floor.
        let old: Vec<usize> = (0..self.funded)
            .filter(|&a| self.accounts[a].nonce_next > 2 * (NONCE_RANGES_MAX as u64 + 8))
            .collect();
        if old.is_empty() {
            return self.build(TxKind::Expired);
        }
        let account = old[self.rng.index(old.len())];
        let place = self.random_place(account);
        let tx = self.transaction(account, 0, None, Action::Order(OrderAction::Place(place)));
        (TxKind::NonceTooOld, self.sign(account, tx))
    }

    /// A buy of the largest order at the highest price: more than any account holds.
    fn build_insufficient_funds(&mut self) -> (TxKind, SignedTransaction) {
        let account = self.pick_account(true);
        let market = self.pick_market();
        let params = self.markets[market].params;
        let place = PlaceOrder {
            market: self.markets[market].id,
            client_order_id: None,
            side: Side::Buy,
            price: params.price_ticks_max.0 * params.tick_size,
            qty: params.qty_lots_max.0 * params.lot_size,
            // Fill-or-kill: if the account were somehow rich enough, it still
            // would not sweep the book.
            time_in_force: TimeInForce::FillOrKill,
            post_only: false,
            self_trade: SelfTradePrevention::default(),
        };
        (
            TxKind::InsufficientFunds,
            self.signed_action(account, place),
        )
    }

    /// A place signed by a key the chain has never seen.
    fn build_unknown_account(&mut self) -> (TxKind, SignedTransaction) {
        self.strangers += 1;
        let stranger = derived_key(b"clobchain/sim/stranger/v1", self.seed, self.strangers);
        let market = self.pick_market();
        // Priced like any other order (a funded account's client ids are used);
        // the signer is what is wrong.
        let account = self.pick_account(true);
        let place = self.place_in(account, market);
        let tx = Transaction {
            chain_id: self.genesis.chain_id,
            signer: stranger.verifying_key().to_bytes(),
            nonce: 1,
            expiry_height: None,
            action: Action::Order(OrderAction::Place(place)),
        };
        (
            TxKind::UnknownAccount,
            SignedTransaction::sign(tx, &stranger),
        )
    }

    /// A place signed by `account` with a fresh nonce. Not tracked: the transactions
    /// this is for are refused as a whole.
    fn signed_place(&mut self, account: usize, expiry: Option<u64>) -> SignedTransaction {
        let place = self.random_place(account);
        let nonce = self.take_nonce(account);
        let tx = self.transaction(
            account,
            nonce,
            expiry,
            Action::Order(OrderAction::Place(place)),
        );
        self.sign(account, tx)
    }

    /// A single-action transaction the chain executes and whose action it rejects.
    fn signed_action(&mut self, account: usize, place: PlaceOrder) -> SignedTransaction {
        let nonce = self.take_nonce(account);
        let tx = self.transaction(
            account,
            nonce,
            None,
            Action::Order(OrderAction::Place(place)),
        );
        let signed = self.sign(account, tx);
        self.replayable_next.push(signed.clone());
        signed
    }

    fn good_action(&mut self, kind: TxKind, account: usize) -> Option<(TxKind, Action)> {
        let action = match kind {
            TxKind::Place => Action::Order(OrderAction::Place(self.random_place(account))),
            TxKind::Cancel => Action::Order(self.random_cancel(account, &[])?),
            TxKind::Amend => Action::Order(self.random_amend(account, &[])?),
            TxKind::CancelAll => {
                let market = match self.pick_live(account, &[]) {
                    Some(order) if self.rng.chance(800) => order.market,
                    _ => self.pick_market(),
                };
                Action::Order(OrderAction::CancelAll(CancelAll {
                    market: self.markets[market].id,
                }))
            }
            TxKind::Batch => {
                let len = self.rng.between(2, 6);
                let mut actions = Vec::new();
                let mut named: Vec<OrderId> = Vec::new();
                for _ in 0..len {
                    let roll = self.rng.below(4);
                    let action = match roll {
                        0 => self.random_cancel(account, &named),
                        1 => self.random_amend(account, &named),
                        _ => None,
                    };
                    let action =
                        action.unwrap_or_else(|| OrderAction::Place(self.random_place(account)));
                    match action {
                        OrderAction::Cancel(CancelOrder {
                            order: OrderRef::Id(id),
                            ..
                        }) => named.push(id),
                        OrderAction::Amend(amend) => named.push(amend.order_id),
                        _ => {}
                    }
                    actions.push(action);
                }
                Action::Batch(actions)
            }
            TxKind::Transfer | TxKind::TransferToNewKey => {
                let asset = AssetId(
                    u32::try_from(self.rng.index(self.genesis.assets.len())).expect("asset count"),
                );
                let (to, amount) = if kind == TxKind::TransferToNewKey {
                    self.newcomers += 1;
                    let key = derived_key(b"clobchain/sim/newcomer/v1", self.seed, self.newcomers);
                    let newcomer = SimAccount::new(key);
                    let to = newcomer.signer;
                    self.accounts.push(newcomer);
                    // Enough for the newcomer to trade a little.
                    (to, self.rng.between(100_000_000, 10_000_000_000))
                } else {
                    let mut to = self.rng.index(self.accounts.len());
                    if to == account {
                        to = (to + 1) % self.accounts.len();
                    }
                    if to == account {
                        return None;
                    }
                    (self.accounts[to].signer, self.rng.between(1, 1_000_000))
                };
                Action::Transfer(Transfer { to, asset, amount })
            }
            TxKind::Faucet => {
                let faucet = self.genesis.faucet?;
                let asset = AssetId(
                    u32::try_from(self.rng.index(self.genesis.assets.len())).expect("asset count"),
                );
                Action::Faucet(Faucet {
                    asset,
                    amount: self.rng.between(1, faucet.amount_max),
                })
            }
            _ => unreachable!("{kind:?} is not a good kind"),
        };
        Some((kind, action))
    }

    fn random_place(&mut self, account: usize) -> PlaceOrder {
        let market = self.pick_market();
        self.place_in(account, market)
    }

    /// A place in `market` priced around its mid, with the configured order types.
    fn place_in(&mut self, account: usize, market: usize) -> PlaceOrder {
        let mix = self.config.mix;
        let side = self.rng.side();
        let roll = u32::try_from(self.rng.below(1000)).expect("below 1000");
        let mut threshold = 0;
        let mut next = |share: u32| {
            threshold += share;
            roll < threshold
        };
        let (time_in_force, post_only, taker) = if next(mix.ioc_per_mille) {
            (TimeInForce::ImmediateOrCancel, false, true)
        } else if next(mix.fok_per_mille) {
            (TimeInForce::FillOrKill, false, true)
        } else if next(mix.post_only_per_mille) {
            (TimeInForce::GoodTillCancel, true, false)
        } else if next(mix.good_till_block_per_mille) {
            let last = self.height + self.rng.below(4);
            (
                TimeInForce::GoodTillBlock(Height(last)),
                false,
                self.rng.chance(mix.taker_per_mille),
            )
        } else {
            (
                TimeInForce::GoodTillCancel,
                false,
                self.rng.chance(mix.taker_per_mille),
            )
        };
        let SimMarket { id, params, mid } = self.markets[market];
        let offset = self.rng.below(SPREAD_TICKS);
        let price_ticks = match (side, taker) {
            (Side::Buy, true) => mid + offset,
            (Side::Sell, true) => mid - offset,
            (Side::Buy, false) => mid - 1 - offset,
            (Side::Sell, false) => mid + 1 + offset,
        };
        let lots = if self.rng.chance(100) {
            self.rng.between(10, 100)
        } else {
            self.rng.between(1, 10)
        };
        let lots = lots.clamp(params.qty_lots_min.0, params.qty_lots_max.0);
        let client_order_id = self.rng.chance(200).then(|| {
            let account = &mut self.accounts[account];
            account.client_id_next += 1;
            ClientOrderId(account.client_id_next)
        });
        let self_trade = match self.rng.below(10) {
            0 => SelfTradePrevention::CancelIncoming,
            1 => SelfTradePrevention::CancelBoth,
            _ => SelfTradePrevention::CancelResting,
        };
        PlaceOrder {
            market: id,
            client_order_id,
            side,
            price: price_ticks * params.tick_size,
            qty: lots * params.lot_size,
            time_in_force,
            post_only,
            self_trade,
        }
    }

    fn random_cancel(&mut self, account: usize, exclude: &[OrderId]) -> Option<OrderAction> {
        if self.rng.chance(30) {
            // An order that is not there (filled already, or a client's mistake).
            let market = self.pick_market();
            let order = OrderRef::Id(OrderId(self.rng.next_u64()));
            return Some(OrderAction::Cancel(CancelOrder {
                market: self.markets[market].id,
                order,
            }));
        }
        let order = self.pick_live(account, exclude)?;
        let by = match order.client_order_id {
            Some(client) if self.rng.chance(300) => OrderRef::Client(client),
            _ => OrderRef::Id(order.order_id),
        };
        Some(OrderAction::Cancel(CancelOrder {
            market: self.markets[order.market].id,
            order: by,
        }))
    }

    fn random_amend(&mut self, account: usize, exclude: &[OrderId]) -> Option<OrderAction> {
        let order = self.pick_live(account, exclude)?;
        let params = self.markets[order.market].params;
        let (price, qty) = if order.qty.0 > 1 && self.rng.chance(500) {
            // Same price, smaller: keeps its place in the queue.
            (order.price, Qty(self.rng.between(1, order.qty.0 - 1)))
        } else {
            let moved = (order.price.0 + self.rng.below(7))
                .saturating_sub(3)
                .clamp(1, params.price_ticks_max.0);
            (
                Price(moved),
                Qty(self.rng.between(1, 10).min(params.qty_lots_max.0)),
            )
        };
        Some(OrderAction::Amend(AmendOrder {
            market: self.markets[order.market].id,
            order_id: order.order_id,
            price: price.0 * params.tick_size,
            qty: qty.0 * params.lot_size,
        }))
    }

    /// Updates the live orders for what `tx` asks, assuming it all succeeds;
    /// [`Sim::observe`] corrects what did not.
    fn track(&mut self, account: usize, tx: &Transaction) {
        for (index, action) in tx.order_actions().iter().enumerate() {
            match action {
                OrderAction::Place(place) if place.time_in_force.rests() => {
                    let market = place.market.0 as usize;
                    let params = self.markets[market].params;
                    let order = LiveOrder {
                        market,
                        order_id: tx.order_id(u32::try_from(index).expect("batches are small")),
                        client_order_id: place.client_order_id,
                        price: Price(place.price / params.tick_size),
                        qty: Qty(place.qty / params.lot_size),
                        sent_height: self.height,
                    };
                    let live = &mut self.accounts[account].live;
                    if live.len() == LIVE_PER_ACCOUNT_MAX {
                        let oldest = live.remove(0);
                        self.owners.remove(&oldest.order_id);
                    }
                    self.accounts[account].live.push(order);
                    self.owners.insert(order.order_id, account);
                }
                OrderAction::Place(_) => {}
                OrderAction::Cancel(cancel) => {
                    let live = &self.accounts[account].live;
                    let found = live.iter().find(|o| match cancel.order {
                        OrderRef::Id(id) => o.order_id == id,
                        OrderRef::Client(client) => o.client_order_id == Some(client),
                    });
                    if let Some(order) = found.copied() {
                        self.forget(order.order_id);
                    }
                }
                OrderAction::CancelAll(cancel) => {
                    let market = cancel.market.0 as usize;
                    let gone: Vec<OrderId> = self.accounts[account]
                        .live
                        .iter()
                        .filter(|o| o.market == market)
                        .map(|o| o.order_id)
                        .collect();
                    for id in gone {
                        self.forget(id);
                    }
                }
                OrderAction::Amend(amend) => {
                    let params = self.markets[amend.market.0 as usize].params;
                    let price = Price(amend.price / params.tick_size);
                    self.update(
                        amend.order_id,
                        Some(price),
                        Qty(amend.qty / params.lot_size),
                    );
                }
            }
        }
    }
}

/// Runs `f` on a rayon pool of `threads` threads, so tests can check that any number of
/// threads gives the same blocks (STYLE.md #5) without depending on rayon themselves.
pub fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon thread pool")
        .install(f)
}

/// A key derived from a domain, the seed and a counter: never a demo key.
fn derived_key(domain: &[u8], seed: u64, counter: u64) -> SigningKey {
    let bytes: [u8; 32] = Sha256::new()
        .chain_update(domain)
        .chain_update(seed.to_le_bytes())
        .chain_update(counter.to_le_bytes())
        .finalize()
        .into();
    SigningKey::from_bytes(&bytes)
}

/// Where a market's mid may wander, in ticks: far from both ends of the price range, so
/// orders priced around it stay valid.
fn mid_range(params: &MarketParams) -> (u64, u64) {
    let max = params.price_ticks_max.0;
    let low = (2 * SPREAD_TICKS + MID_STEP_TICKS + 1).min(max / 2).max(1);
    let high = max
        .saturating_sub(2 * SPREAD_TICKS + MID_STEP_TICKS + 1)
        .max(low);
    (low, high)
}

/// A lot costs a few million quote atoms at the starting mid (a few dollars in USD),
/// different per market.
fn initial_mid(market: usize, params: &MarketParams) -> u64 {
    let target_atoms_per_lot = 2_000_000 + 1_000_000 * (market as u64 % 5);
    let (low, high) = mid_range(params);
    (target_atoms_per_lot / params.tick_size).clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute_block;

    #[test]
    fn module_example() {
        let mut sim = Sim::new(
            7,
            SimConfig {
                accounts: 20,
                transactions_per_block: 50,
                ..SimConfig::default()
            },
        );
        let mut state = sim.state();
        for _ in 0..3 {
            let block = sim.next_block();
            let output = execute_block(&mut state, sim.context(), &block).unwrap();
            sim.observe(&block, &output);
        }
        state.check_invariants();
    }

    #[test]
    fn same_seed_same_blocks_other_seed_other_blocks() {
        let config = SimConfig {
            accounts: 30,
            transactions_per_block: 80,
            ..SimConfig::default()
        };
        let blocks = |seed| {
            let mut sim = Sim::new(seed, config.clone());
            (0..4)
                .map(|_| {
                    sim.next_block()
                        .iter()
                        .map(SignedTransaction::to_bytes)
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(blocks(1), blocks(1));
        assert_ne!(blocks(1), blocks(2));
    }

    #[test]
    fn bad_kinds_get_their_expected_outcome() {
        let config = SimConfig {
            accounts: 6,
            genesis_markets: Some(4),
            hot_accounts: 2,
            hot_per_mille: 500,
            transactions_per_block: 200,
            bad_per_mille: 300,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(11, config);
        let mut state = sim.state();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let block = sim.next_block();
            let output = execute_block(&mut state, sim.context(), &block).unwrap();
            for (kind, receipt) in sim.kinds().iter().zip(&output.receipts) {
                seen.insert(*kind);
                match (kind.expected(), &receipt.outcome) {
                    (Expected::Any, _) => {}
                    (Expected::Refused(codes), Outcome::Rejected(Reject::Chain(code)))
                        if codes.contains(code) => {}
                    (Expected::ActionRejected(expected), Outcome::Executed(actions))
                        if actions == &[ActionOutcome::Rejected(expected)] => {}
                    (expected, outcome) => {
                        panic!("{kind:?}: expected {expected:?}, got {outcome:?}")
                    }
                }
            }
            sim.observe(&block, &output);
        }
        for kind in TxKind::BAD {
            assert!(seen.contains(&kind), "{kind:?} never generated");
        }
    }
}
