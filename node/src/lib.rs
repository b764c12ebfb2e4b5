//! The node: admission, the mempool, the commit pipeline, the published read view, and
//! the API server over them. The way of one order is one-way:
//!
//! ```text
//! HTTP ─► api ─► ChainNode::submit ─► Encoded (framed + hashed once) ─► duplicate? (the
//!           mempool's pending set, the chain's TxIndex) ─► markets::precheck_all (state
//!           read lock, short) ─► Prechecked::verify (signatures, rayon, no lock)
//!           ─► Mempool of Verified (bounded by the measured commit rate; 503 beyond)
//!
//! executor thread   take ≤ one interval's worth ─► execute_verified (state write lock)
//!   (block N+1)       ─► view N+1 = view N .next(state, block) ─► snapshot bytes if due
//!                     ─► [bounded channel] ─►
//! writer thread     Store::write_block ─► sync_blocks (fdatasync, shared lock)
//!   (block N)         ─► write_record ─► sync_records ─► snapshot file if due ─► [bounded channel] ─►
//! publisher thread  publish view N (pointer swap) ─► TxIndex ← block, mempool forgets it
//!   (block N-1)       ─► reporters (the API's feed: JSON once, websocket bus) ─► metrics
//! ```
//!
//! Each stage owns its thread and hands an `Arc` of its output to the next through a
//! channel of one slot, so block N+1 executes while block N is made durable and block
//! N-1 is published; a slow stage pushes back through the channels to the executor, whose
//! mempool then fills and admission refuses at the door. Reads (`ChainNode::view`) never
//! take a lock a stage holds: they clone the `Arc` of the last published view.
//!
//! A transaction is reported committed (`?wait=true`, receipts, the websocket) only once
//! its block is durable, since only the publisher, after the `fdatasync`, makes it
//! visible. Signatures are checked once, at the door (`markets::admit`); blocks read back
//! from disk at start-up are re-verified by `Chain::open`.

pub mod candle_log;
pub mod chain;
pub mod config;
pub mod fork;
pub mod genesis;
pub mod mempool;
pub mod storage;
pub mod validator;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use api::{Admitted, ApiCode, ApiError, App, ExecutedBlock, Feed, Metrics, Node, ReadView};
use arc_swap::ArcSwap;
use ed25519_dalek::SigningKey;
use markets::verify::AccountKey;
use markets::{
    Action, AssetId, BlockContext, Encoded, Genesis, GenesisBalance, Hash, Reject,
    SignedTransaction, State, Transaction, Transfer, Verified, execute_verified,
};
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

use std::sync::mpsc::{Receiver, SyncSender};

use crate::chain::{Chain, Store, TxIndex};
pub use config::{NodeConfig, NodeHooks, SyncHook};
use mempool::{Admission, Mempool, MempoolLimits, Refusal};

/// Blocks kept decoded in memory for receipts and websocket replays.
const RECENT_BLOCKS: usize = 32;
/// Blocks indexed into the feed at start-up.
const FEED_BLOCKS_AT_START: u64 = 256;

/// The node's faucet account on the dev chain (a funded key the node holds; never use
/// it for anything of value).
pub fn dev_faucet_key() -> SigningKey {
    use sha2::{Digest as _, Sha256};
    let seed: [u8; 32] = Sha256::new()
        .chain_update(b"clobchain/dev-faucet-key/v1")
        .finalize()
        .into();
    SigningKey::from_bytes(&seed)
}

/// The dev chain: `markets::dev` with `accounts` funded demo accounts, plus the node's
/// faucet account, funded deep enough for any demo.
pub fn dev_genesis(accounts: u64) -> (Genesis, Vec<SigningKey>) {
    let (mut genesis, keys) = markets::dev::genesis(accounts);
    let faucet = dev_faucet_key().verifying_key().to_bytes();
    // $10^12, 10^8 BTC, 10^9 ETH, 10^9 SOL.
    for (asset, amount) in [
        (markets::dev::USD, 1_000_000_000_000_000_000),
        (markets::dev::BTC, 10_000_000_000_000_000),
        (markets::dev::ETH, 1_000_000_000_000_000_000),
        (markets::dev::SOL, 1_000_000_000_000_000_000),
    ] {
        genesis.balances.push(GenesisBalance {
            account: faucet,
            asset,
            amount,
        });
    }
    (genesis, keys)
}

/// The chain a node runs: its genesis file's, or the dev chain with the demo accounts'
/// keys (none for a genesis file). A genesis that names validators is run only by them.
pub fn chain_genesis(
    config: &NodeConfig,
    validating: bool,
) -> anyhow::Result<(Genesis, Vec<SigningKey>)> {
    let Some(path) = &config.genesis else {
        return Ok(dev_genesis(config.dev_accounts));
    };
    let file = genesis::GenesisFile::read(path)?;
    anyhow::ensure!(
        validating || file.validators.is_none(),
        "{} names a validator set: its blocks come from consensus, so run this node as a \
         validator (--validator-key, --peers)",
        path.display()
    );
    Ok((file.genesis()?, Vec::new()))
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn now_us() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// Nonce lanes of the faucet: see [`NodeConfig::faucet_lane`].
const FAUCET_LANES: u64 = 256;

/// The faucet's next nonce: above every nonce it used (`last`) and at least the wall
/// clock in microseconds, times [`FAUCET_LANES`], in its `lane`. On a testnet every
/// validator's faucet signs with the one dev key; these sparse nonces are a range each
/// in the account's window, which keeps the 128 highest, so nonces that follow each
/// validator's clock stay acceptable whichever validator served the others (a counter
/// per validator falls below the floor once another has served 128), and lanes never
/// collide.
fn faucet_nonce(last: &AtomicU64, now_us: u64, lane: u8) -> u64 {
    let lane = u64::from(lane);
    let mut current = last.load(Ordering::Acquire);
    loop {
        let floor = current
            .saturating_add(1)
            .max(now_us.saturating_mul(FAUCET_LANES));
        let next =
            floor.saturating_add((lane + FAUCET_LANES - floor % FAUCET_LANES) % FAUCET_LANES);
        match last.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return next,
            Err(seen) => current = seen,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What the node does with each durable block besides publishing its view and
/// forgetting its transactions: the API's feed is one reporter; consensus, an indexer or
/// anything else that follows the chain is another. Called on the publisher thread, in
/// height order, after the block is durable and its view published.
pub trait Reporter: Send + Sync + std::fmt::Debug {
    fn durable(&self, block: &Arc<ExecutedBlock>, view: &Arc<ReadView>);
}

impl Reporter for Feed {
    fn durable(&self, block: &Arc<ExecutedBlock>, view: &Arc<ReadView>) {
        self.publish(block, view);
    }
}

/// What the node tells a client it could not admit: the API maps it to HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The chain would refuse it (its code); nothing changed.
    Reject(Reject),
    /// Load: the mempool is full (or past what the chain commits in two intervals), this
    /// account has its share, or another pending transaction has its nonce.
    Refusal(Refusal),
    ShuttingDown,
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            Refused::Reject(reject) => ApiError::from(reject),
            Refused::Refusal(refusal) => refusal_error(refusal),
            Refused::ShuttingDown => {
                ApiError::new(ApiCode::ShuttingDown, "the node is shutting down").retry_after(5)
            }
        }
    }
}

/// Transactions waiting for a block and those already committed, under one lock so
/// that a transaction moves from one to the other with no moment in neither.
#[derive(Debug)]
struct Pool {
    mempool: Mempool,
    committed: TxIndex,
    /// Places in the queue taken by admissions whose signatures are being checked:
    /// each takes its places before it verifies, so concurrent requests never check
    /// more signatures than the queue has room for (under overload the excess is
    /// refused before any work, not after its signatures were checked).
    reserved: usize,
    /// Transactions admitted and dropped since without a block, with why.
    dropped: mempool::DroppedIndex,
}

impl Pool {
    /// Pending, in a final block not yet published, committed, or dropped: a resend is
    /// a duplicate, answered with its status.
    fn knows(&self, hash: &Hash) -> bool {
        self.mempool.contains(hash)
            || self.mempool.in_unpublished_block(hash)
            || self.committed.get(hash).is_some()
            || self.dropped.get(hash).is_some()
    }

    /// Places left in the queue for new admissions.
    fn room(&self, queued_max: usize) -> usize {
        queued_max.saturating_sub(self.mempool.queued() + self.reserved)
    }
}

/// The measured rate of the commit pipeline, which bounds what admission takes.
#[derive(Debug)]
struct Capacity {
    /// Transactions per second the slowest stage sustained, smoothed over blocks; 0
    /// until measured.
    tx_per_s: AtomicU64,
}

/// Transactions admitted before the pipeline's rate is known, and the least admission
/// ever allows: a cold node takes this much at once.
const QUEUED_FLOOR: usize = 1_024;

/// One block between two stages.
#[derive(Debug)]
struct Staged {
    block: Arc<ExecutedBlock>,
    view: Arc<ReadView>,
    /// The state's snapshot after this block, when one is due.
    snapshot: Option<Vec<u8>>,
    /// Time each stage spent on it, for the capacity measure.
    execute: Duration,
    write: Duration,
    /// A validator's final block: what tells consensus it is durable and published.
    durable: Option<OnDurable>,
    /// Transactions the mempool dropped after this block (still pending until it is
    /// published, when their status becomes `dropped`).
    dropped: Vec<(Verified, api::Dropped)>,
}

/// Called once a block is durable and published.
struct OnDurable(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for OnDurable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnDurable")
    }
}

/// The node as the API sees it.
#[derive(Debug)]
pub struct ChainNode {
    /// The executor's state. The executor thread writes it for one block's execution
    /// (and the view it builds); admission reads it for prechecks. Nothing else does.
    state: RwLock<State>,
    /// The logs: the writer stage writes under the write lock and syncs under a read
    /// lock; readers of stored blocks share the read lock.
    store: RwLock<Store>,
    pool: Mutex<Pool>,
    /// Wakes the executor early when a block's worth waits, and at shutdown.
    wake: Condvar,
    /// The last published view.
    view: ArcSwap<ReadView>,
    feed: Arc<Feed>,
    reporters: Vec<Arc<dyn Reporter>>,
    metrics: Arc<Metrics>,
    /// The last blocks published, for receipts and websocket replays without the disk.
    recent: Mutex<VecDeque<Arc<ExecutedBlock>>>,
    capacity: Capacity,
    config: NodeConfig,
    faucet: Option<(SigningKey, AtomicU64)>,
    stopping: AtomicBool,
    /// Run by consensus (`validator`): no executor thread, final blocks come from
    /// outside, and the mempool keeps what it proposed until a block is final.
    validating: AtomicBool,
    /// A validator's admissions from clients, to gossip to its peers (bounded by
    /// `validator::GOSSIP_OUTBOX_MAX`).
    gossip: Mutex<Vec<SignedTransaction>>,
}

impl ChainNode {
    /// Opens the chain in `config.data` and indexes its recent blocks.
    pub fn open(config: NodeConfig, genesis: &Genesis) -> anyhow::Result<Arc<ChainNode>> {
        let (mut chain, report) = Chain::open(&config.data, genesis)
            .with_context(|| format!("opening the chain in {}", config.data.display()))?;
        chain.set_snapshot_interval(config.snapshot_interval);
        tracing::info!(
            height = chain.height(),
            snapshot = report.snapshot_height,
            replayed = report.blocks_replayed,
            "chain opened"
        );
        let (state, store) = chain.into_parts();
        let view = Arc::new(ReadView::new(&state));
        let feed = Arc::new(Feed::new(
            config.feed,
            state.markets().len(),
            state.height(),
        ));
        let metrics = Arc::new(Metrics::new());
        metrics
            .height
            .set(i64::try_from(state.height()).unwrap_or(i64::MAX));
        // The faucet runs where the genesis allows faucet transfers.
        let faucet = (config.dev && genesis.faucet.is_some()).then(|| {
            let key = dev_faucet_key();
            let last = state
                .account_by_key(&key.verifying_key().to_bytes())
                .and_then(|a| a.nonces.highest())
                .unwrap_or(0);
            (key, AtomicU64::new(last))
        });
        let candle_log = Arc::new(candle_log::CandleLog::open(
            &config.data,
            Arc::clone(feed.candles()),
            state.height(),
        )?);
        let feed_reporter: Arc<dyn Reporter> = Arc::clone(&feed) as Arc<dyn Reporter>;
        let node = Arc::new(ChainNode {
            state: RwLock::new(state),
            store: RwLock::new(store),
            pool: Mutex::new(Pool {
                mempool: Mempool::new(MempoolLimits {
                    total: config.mempool_max,
                    per_account: config.mempool_per_account_max,
                }),
                committed: TxIndex::default(),
                reserved: 0,
                dropped: mempool::DroppedIndex::default(),
            }),
            wake: Condvar::new(),
            view: ArcSwap::new(view),
            feed,
            // The candles first: the feed's `candles` channel reads them.
            reporters: vec![Arc::clone(&candle_log) as Arc<dyn Reporter>, feed_reporter],
            metrics,
            recent: Mutex::new(VecDeque::new()),
            capacity: Capacity {
                tx_per_s: AtomicU64::new(0),
            },
            config,
            faucet,
            stopping: AtomicBool::new(false),
            validating: AtomicBool::new(false),
            gossip: Mutex::new(Vec::new()),
        });
        node.load_recent()?;
        let view = node.view.load_full();
        let rebuilt = candle_log.catch_up(view.height, &view, |h| {
            node.stored(h)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?
                .with_context(|| format!("block {h} is missing"))
        })?;
        if rebuilt > 0 {
            tracing::info!(blocks = rebuilt, "candles rebuilt from stored blocks");
        }
        Ok(node)
    }

    pub fn feed(&self) -> Arc<Feed> {
        Arc::clone(&self.feed)
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The height of the last published (durable) block.
    pub fn height(&self) -> u64 {
        self.view.load().height
    }

    /// Indexes the last blocks at start-up: the chain's transaction index (for
    /// exactly-once) and the feed's (for reads).
    fn load_recent(&self) -> anyhow::Result<()> {
        let view = self.view.load_full();
        let height = view.height;
        let from = height.saturating_sub(FEED_BLOCKS_AT_START - 1).max(1);
        for h in from..=height {
            let block = self
                .stored(h)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?
                .with_context(|| format!("block {h} is missing"))?;
            self.pool.lock().committed.add(&block);
            self.feed.load(&block, &view);
        }
        Ok(())
    }

    /// Panics if the node's parts disagree: the mempool, the transaction index, the
    /// published view (against the state, when no block is in flight), the feed.
    pub fn check_invariants(&self) {
        {
            let pool = self.pool.lock();
            pool.mempool.check_invariants();
            pool.committed.check_invariants();
            assert!(
                pool.reserved <= self.config.mempool_max,
                "admissions never reserve more places than the mempool has"
            );
        }
        self.feed.check_invariants();
        let state = self.state.read();
        let view = self.view.load_full();
        assert!(
            view.height <= state.height(),
            "the view never runs ahead of execution"
        );
        if view.height == state.height() {
            view.check_invariants(&state);
        }
    }

    /// Transactions the pipeline commits in `intervals` block intervals at its
    /// measured rate.
    fn at_rate(&self, intervals: u64) -> usize {
        let rate = self.capacity.tx_per_s.load(Ordering::Relaxed);
        let per = rate
            .saturating_mul(intervals.saturating_mul(self.config.block_interval_ms.max(1)))
            / 1_000;
        usize::try_from(per).unwrap_or(usize::MAX)
    }

    /// How many transactions may wait for a block: what the pipeline commits in two
    /// block intervals at its measured rate, within the configured limits.
    fn queued_max(&self) -> usize {
        self.at_rate(2)
            .max(QUEUED_FLOOR)
            .min(self.config.mempool_max)
    }

    /// How many transactions the next block takes: one interval's worth at the
    /// measured rate, so that executing it takes about one interval.
    fn block_take(&self) -> usize {
        self.at_rate(1)
            .max(QUEUED_FLOOR / 2)
            .min(self.config.block_txs_max)
    }

    /// Folds one block's slowest stage time into the capacity measure.
    fn measure(&self, transactions: usize, slowest: Duration) {
        if transactions < 64 || slowest.is_zero() {
            return; // too small a block says more about fixed costs than about rate
        }
        let sample = u64::try_from(transactions as u128 * 1_000_000_000 / slowest.as_nanos())
            .unwrap_or(u64::MAX);
        let old = self.capacity.tx_per_s.load(Ordering::Relaxed);
        // Up quickly (half the gap a block), down slowly (an eighth): one block
        // stretched by a busy core must not shrink admission, or the node admits less,
        // cuts smaller blocks and measures less again.
        let new = if old == 0 {
            sample
        } else if sample >= old {
            old + (sample - old) / 2
        } else {
            old - (old - sample) / 8
        };
        self.capacity.tx_per_s.store(new, Ordering::Relaxed);
    }

    /// The executor stage: runs until [`ChainNode::stop`], then commits what waits and
    /// closes its channel.
    fn execute_loop(&self, to_writer: SyncSender<Staged>) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.config.block_interval_ms.max(1));
        let idle = Duration::from_millis(self.config.empty_block_interval_ms.max(1));
        let mut last_block = Instant::now();
        let mut view = self.view.load_full();
        loop {
            let (taken, stopping) = {
                let mut pool = self.pool.lock();
                loop {
                    if self.stopping.load(Ordering::Acquire) {
                        break;
                    }
                    let waited = last_block.elapsed();
                    let queued = pool.mempool.queued();
                    let full = queued >= self.block_take();
                    let due = (queued > 0 && waited >= interval) || waited >= idle;
                    if full || due {
                        break;
                    }
                    let until = if queued > 0 {
                        interval - waited
                    } else {
                        idle - waited
                    };
                    self.wake.wait_for(&mut pool, until);
                }
                // Read under the lock, after the wait: a stop that woke us is seen here.
                (
                    pool.mempool.take(self.block_take()),
                    self.stopping.load(Ordering::Acquire),
                )
            };
            if stopping && taken.is_empty() {
                return Ok(());
            }
            last_block = Instant::now();
            let staged = self.execute(taken, &view)?;
            view = Arc::clone(&staged.view);
            if to_writer.send(staged).is_err() {
                anyhow::bail!("the writer stage stopped");
            }
        }
    }

    /// Executes one block on the state and builds its view (and its snapshot when due).
    fn execute(&self, transactions: Vec<Verified>, view: &ReadView) -> anyhow::Result<Staged> {
        let mut state = self.state.write();
        // The stage's own time: waiting for the door's prechecks to let go of the state
        // says nothing about the rate the pipeline sustains.
        let started = Instant::now();
        let height = state.height() + 1;
        let context = BlockContext {
            height,
            timestamp_ms: now_ms().max(state.timestamp_ms()),
        };
        let block = execute_verified(&mut state, context, transactions)
            .context("executing a block; the node must stop")?;
        let dropped = self.prune(&state, &block);
        let next = view.next(&state, &block);
        // Debug and test builds check the view against one built from scratch after
        // every block (the state is at the view's height only here).
        #[cfg(debug_assertions)]
        next.check_invariants(&state);
        let snapshot = height
            .is_multiple_of(self.config.snapshot_interval.max(1))
            .then(|| state.snapshot_bytes());
        drop(state);
        Ok(Staged {
            block: Arc::new(block),
            view: Arc::new(next),
            snapshot,
            execute: started.elapsed(),
            write: Duration::ZERO,
            durable: None,
            dropped,
        })
    }

    /// Takes out of the mempool's queue what `block`, now executed into `state`, made
    /// impossible to run ([`Mempool::prune`]); the publisher reports them dropped.
    fn prune(&self, state: &State, block: &ExecutedBlock) -> Vec<(Verified, api::Dropped)> {
        let signers: std::collections::HashSet<[u8; 32]> = block
            .transactions
            .iter()
            .map(|tx| tx.signed().transaction.signer)
            .collect();
        self.pool.lock().mempool.prune(state, &signers)
    }

    /// The writer stage: makes each block durable, in order.
    fn write_loop(
        &self,
        from_executor: Receiver<Staged>,
        to_publisher: SyncSender<Staged>,
    ) -> anyhow::Result<()> {
        for mut staged in from_executor {
            let started = Instant::now();
            let height = staged.block.header.height;
            let must_stop = || format!("storing block {height}; the node must stop");
            // Block, sync, record, sync: a record never reaches the disk before its block.
            // Each sync holds only the shared lock, so readers never wait for the disk.
            let record = self
                .store
                .write()
                .write_block(&staged.block)
                .with_context(must_stop)?;
            {
                let store = self.store.read();
                if let Some(hook) = &self.config.hooks.before_sync {
                    hook(height);
                }
                store.sync_blocks().with_context(must_stop)?;
            }
            self.store
                .write()
                .write_record(height, &record)
                .with_context(must_stop)?;
            self.store.read().sync_records().with_context(must_stop)?;
            if let Some(bytes) = staged.snapshot.take() {
                self.store
                    .write()
                    .write_snapshot(height, &bytes)
                    .with_context(|| format!("writing the snapshot at {height}"))?;
            }
            staged.write = started.elapsed();
            if to_publisher.send(staged).is_err() {
                anyhow::bail!("the publisher stage stopped");
            }
        }
        Ok(())
    }

    /// The publisher stage: makes each durable block visible, in order.
    fn publish_loop(&self, from_writer: Receiver<Staged>) -> anyhow::Result<()> {
        for mut staged in from_writer {
            let started = Instant::now();
            let block = &staged.block;
            // The view first: a websocket client that has received block N's messages
            // reads a view at N or later.
            self.view.store(Arc::clone(&staged.view));
            {
                let mut recent = self.recent.lock();
                recent.push_back(Arc::clone(block));
                while recent.len() > RECENT_BLOCKS {
                    recent.pop_front();
                }
            }
            {
                let mut pool = self.pool.lock();
                pool.committed.add(block);
                pool.mempool.committed(&block.transactions);
                let dropped: Vec<Verified> =
                    staged.dropped.iter().map(|(tx, _)| tx.clone()).collect();
                pool.mempool.committed(&dropped);
                for (_, why) in &staged.dropped {
                    pool.dropped.add(*why);
                }
            }
            if !staged.dropped.is_empty() {
                let why: Vec<api::Dropped> = staged.dropped.iter().map(|(_, d)| *d).collect();
                self.metrics.transactions_dropped.inc_by(why.len() as u64);
                tracing::debug!(
                    height = block.header.height,
                    dropped = why.len(),
                    "transactions dropped"
                );
                self.feed.dropped(&why);
            }
            for reporter in &self.reporters {
                reporter.durable(block, &staged.view);
            }
            if let Some(OnDurable(durable)) = staged.durable.take() {
                durable();
            }
            #[cfg(debug_assertions)]
            {
                let pool = self.pool.lock();
                pool.mempool.check_invariants();
                pool.committed.check_invariants();
                drop(pool);
                self.feed.check_invariants();
            }
            let publish = started.elapsed();
            self.measure(
                block.transactions.len(),
                staged.execute.max(staged.write).max(publish),
            );
            self.record_metrics(&staged, publish);
        }
        Ok(())
    }

    fn record_metrics(&self, staged: &Staged, publish: Duration) {
        let block = &staged.block;
        let m = &self.metrics;
        m.blocks.inc();
        m.height
            .set(i64::try_from(block.header.height).unwrap_or(i64::MAX));
        m.transactions.inc_by(block.receipts.len() as u64);
        let rejected = block
            .receipts
            .iter()
            .filter(|r| matches!(r.outcome, markets::Outcome::Rejected(_)))
            .count();
        m.transactions_rejected.inc_by(rejected as u64);
        let fills: usize = block
            .market_events
            .iter()
            .map(|e| {
                e.iter()
                    .filter(|t| matches!(t.event, matching::Event::Fill(_)))
                    .count()
            })
            .sum();
        m.fills.inc_by(fills as u64);
        m.block_execution_seconds
            .observe(staged.execute.as_secs_f64());
        m.block_transactions.observe(block.receipts.len() as f64);
        tracing::debug!(
            height = block.header.height,
            transactions = block.receipts.len(),
            fills,
            execute_us = micros(staged.execute),
            write_us = micros(staged.write),
            publish_us = micros(publish),
            "block committed"
        );
    }

    /// Asks the executor to commit what waits and return; the writer and publisher
    /// finish the blocks in flight and return after it.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _pool = self.pool.lock();
        self.wake.notify_all();
    }

    /// Whether the node is stopping: asked to, or a stage failed.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The door: hash, duplicates, the state's checks, signatures, the mempool. Each
    /// transaction on its own; the answers are in order.
    pub fn admit(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Admitted, Refused>> {
        self.admit_from(transactions, true)
    }

    /// [`ChainNode::admit`]; `from_client` says whether a validator gossips what it
    /// admits (a peer's transactions are never gossiped again).
    fn admit_from(
        &self,
        transactions: Vec<SignedTransaction>,
        from_client: bool,
    ) -> Vec<Result<Admitted, Refused>> {
        let gossip = from_client && self.validating.load(Ordering::Relaxed);
        if self.stopping.load(Ordering::Acquire) {
            return transactions
                .iter()
                .map(|_| Err(Refused::ShuttingDown))
                .collect();
        }
        let queued_max = self.queued_max();
        // Past what the chain commits in two intervals, refuse before any work.
        if self.pool.lock().room(queued_max) == 0 {
            return transactions
                .iter()
                .map(|_| Err(Refused::Refusal(Refusal::Full)))
                .collect();
        }
        let encoded = Encoded::many(transactions);
        let mut results: Vec<Option<Result<Admitted, Refused>>> = vec![None; encoded.len()];
        let mut fresh = Vec::with_capacity(encoded.len());
        let mut positions = Vec::with_capacity(encoded.len());
        // The chain's own index covers each signer's last 1,024 transactions (past them the
        // nonce window refuses a resend); the feed's remembers more, so a resend it still
        // knows is answered as the duplicate it is. Asked before the pool is locked: the
        // publisher holds the feed's lock while it indexes a block.
        let feed_knows: Vec<bool> = encoded
            .iter()
            .map(|e| self.feed.tx_location(&e.hash()).is_some())
            .collect();
        let reservation = {
            let mut pool = self.pool.lock();
            let mut room = pool.room(queued_max);
            for ((i, e), in_feed) in encoded.into_iter().enumerate().zip(feed_knows) {
                if in_feed || pool.knows(&e.hash()) {
                    results[i] = Some(Ok(Admitted {
                        hash: e.hash(),
                        duplicate: true,
                    }));
                } else if room == 0 {
                    // No place left for it: refused before its signature is checked.
                    results[i] = Some(Err(Refused::Refusal(Refusal::Full)));
                } else {
                    room -= 1;
                    positions.push(i);
                    fresh.push(e);
                }
            }
            pool.reserved += fresh.len();
            Reservation {
                pool: &self.pool,
                places: fresh.len(),
            }
        };
        let (prechecked, checked_at) = {
            let state = self.state.read();
            let prechecked = markets::precheck_all(&state, fresh, |order| {
                self.pool.lock().mempool.pending_order(order)
            });
            (prechecked, state.height())
        };
        let verified = prechecked.verify();
        // A block may have become final (or executed) while the signatures were
        // checked, after the mempool's prune for it: what it made impossible to run is
        // refused here, not queued where no prune would see it again. State, then pool.
        let state = self.state.read();
        let moved = state.height() != checked_at;
        let mut pool = reservation.release();
        let was_idle = pool.mempool.queued() == 0;
        for (i, verified) in positions.into_iter().zip(verified) {
            results[i] = Some(match verified {
                Err(reject) => Err(Refused::Reject(reject)),
                Ok(tx) => {
                    let stale = moved.then(|| mempool::never_runs(&state, &tx)).flatten();
                    self.queue_checked(&mut pool, tx, stale, gossip, queued_max)
                }
            });
        }
        // The executor sleeps until the idle interval when nothing waits: wake it for
        // the first transaction (it then cuts a block once the block interval since the
        // last block has passed) and for a full block.
        let queued = pool.mempool.queued();
        if (was_idle && queued > 0) || queued >= self.block_take() {
            self.wake.notify_all();
        }
        drop(pool);
        drop(state);
        results
            .into_iter()
            .map(|r| r.expect("every transaction answered"))
            .collect()
    }
}

impl ChainNode {
    /// The last step of the door, under the pool's lock: a transaction whose signature
    /// is checked is a duplicate if it became known meanwhile (committed, final, or
    /// dropped), refused if a block since its precheck made it impossible (`stale`),
    /// else queued, and gossiped if `gossip` and new.
    fn queue_checked(
        &self,
        pool: &mut Pool,
        tx: Verified,
        stale: Option<(markets::ChainReject, api::DropRule)>,
        gossip: bool,
        queued_max: usize,
    ) -> Result<Admitted, Refused> {
        let hash = tx.hash();
        if pool.knows(&hash) {
            return Ok(Admitted {
                hash,
                duplicate: true,
            });
        }
        if let Some((code, _)) = stale {
            return Err(Refused::Reject(code.into()));
        }
        let signed = gossip.then(|| tx.signed().clone());
        let admission = pool
            .mempool
            .admit(tx, queued_max)
            .map_err(Refused::Refusal)?;
        if let Some(signed) = signed
            && admission == Admission::New
        {
            let mut outbox = self.gossip.lock();
            if outbox.len() < validator::GOSSIP_OUTBOX_MAX {
                outbox.push(signed);
            }
        }
        Ok(Admitted {
            hash,
            duplicate: admission == Admission::Duplicate,
        })
    }
}

fn refusal_error(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Full => ApiError::mempool_full(
            "the node holds as many transactions as it can commit in two block intervals; retry shortly",
            1,
        ),
        Refusal::AccountFull => ApiError::new(
            ApiCode::RateLimited,
            "this account has as many pending transactions as the mempool holds for one account",
        )
        .retry_after(1),
        Refusal::NonceTaken => ApiError::new(
            ApiCode::NoncePending,
            "another pending transaction of this account has this nonce",
        ),
    }
}

/// Places an admission took in the queue while it checks signatures; given back when
/// it locks the pool to admit what it checked, or if it unwinds.
struct Reservation<'a> {
    pool: &'a Mutex<Pool>,
    places: usize,
}

impl<'a> Reservation<'a> {
    /// Gives the places back and returns the locked pool, so that what was checked is
    /// admitted under the same lock.
    fn release(mut self) -> MutexGuard<'a, Pool> {
        let mut pool = self.pool.lock();
        pool.reserved -= std::mem::take(&mut self.places);
        pool
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.places > 0 {
            self.pool.lock().reserved -= self.places;
        }
    }
}

impl Node for ChainNode {
    fn submit(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Admitted, ApiError>> {
        self.admit(transactions)
            .into_iter()
            .map(|r| r.map_err(ApiError::from))
            .collect()
    }

    fn view(&self) -> Arc<ReadView> {
        self.view.load_full()
    }

    fn stored(&self, height: u64) -> Result<Option<Arc<ExecutedBlock>>, ApiError> {
        if let Some(found) = self
            .recent
            .lock()
            .iter()
            .find(|b| b.header.height == height)
        {
            return Ok(Some(Arc::clone(found)));
        }
        // Only what is published: a block written but not yet synced is not committed.
        if height == 0 || height > self.height() {
            return Ok(None);
        }
        let block = self
            .store
            .read()
            .executed(height)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Some(Arc::new(block)))
    }

    fn tx_location(&self, hash: &Hash) -> Option<(u64, u32)> {
        let committed = self.pool.lock().committed.get(hash);
        committed.or_else(|| self.feed.tx_location(hash))
    }

    fn is_pending(&self, hash: &Hash) -> bool {
        let pool = self.pool.lock();
        pool.mempool.contains(hash) || pool.mempool.in_unpublished_block(hash)
    }

    fn dropped(&self, hash: &Hash) -> Option<api::Dropped> {
        self.pool.lock().dropped.get(hash)
    }

    fn mempool_len(&self) -> usize {
        self.pool.lock().mempool.len()
    }

    fn accepting(&self) -> Result<(), ApiError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(Refused::ShuttingDown.into());
        }
        if self.pool.lock().room(self.queued_max()) == 0 {
            return Err(refusal_error(Refusal::Full));
        }
        Ok(())
    }

    fn faucet(&self, to: [u8; 32], asset: AssetId, amount: u64) -> Result<Admitted, ApiError> {
        let Some((key, nonce)) = &self.faucet else {
            return Err(markets::ChainReject::FaucetDisabled.into());
        };
        let limit = self
            .state
            .read()
            .faucet()
            .map(|f| f.amount_max)
            .unwrap_or(0);
        if amount > limit {
            return Err(markets::ChainReject::FaucetLimit.into());
        }
        if AccountKey::from_bytes(&to).is_err() {
            return Err(markets::ChainReject::InvalidAccountKey.into());
        }
        let chain_id = markets::ChainId(self.view.load().chain_id);
        let tx = SignedTransaction::sign(
            Transaction {
                chain_id,
                signer: key.verifying_key().to_bytes(),
                nonce: faucet_nonce(nonce, now_us(), self.config.faucet_lane),
                expiry_height: None,
                action: Action::Transfer(Transfer { to, asset, amount }),
            },
            key,
        );
        self.submit(vec![tx]).pop().expect("one answer")
    }
}

/// Writes the dev accounts' keys where a new user finds them: `<data>/dev-keys.json`.
pub fn write_dev_keys(dir: &Path, keys: &[SigningKey]) -> anyhow::Result<()> {
    let entries: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            serde_json::json!({
                "name": format!("dev{i}"),
                "public_key": hex::encode(key.verifying_key().to_bytes()),
                "secret_key": hex::encode(key.to_bytes()),
            })
        })
        .collect();
    std::fs::create_dir_all(dir)?;
    let path = dir.join("dev-keys.json");
    std::fs::write(&path, serde_json::to_string_pretty(&entries)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A running node: its API address and what stops it.
#[derive(Debug)]
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub node: Arc<ChainNode>,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stages: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Stops accepting requests, commits what waits, and returns once the last block
    /// is on disk and published.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.node.feed.close();
        let served = self.server.await;
        // Websockets were handed off by the server: let each send `closing` and close
        // before the process may exit (bounded by the send timeout).
        let send_timeout = Duration::from_millis(self.node.config.api.ws_send_timeout_ms);
        api::ws::wait_closed(&self.node.metrics, send_timeout + Duration::from_secs(1)).await;
        self.node.stop();
        for stage in self.stages {
            let name = stage.thread().name().unwrap_or("stage").to_string();
            tokio::task::spawn_blocking(move || stage.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the {name} thread panicked"))??;
        }
        served??;
        tracing::info!(height = self.node.height(), "node stopped");
        Ok(())
    }
}

/// Spawns a pipeline stage on its own thread; a stage that fails stops the node.
fn spawn_stage(
    name: &str,
    node: &Arc<ChainNode>,
    run: impl FnOnce(&ChainNode) -> anyhow::Result<()> + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let node = Arc::clone(node);
    let label = name.to_string();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let result = run(&node);
        if let Err(e) = &result {
            tracing::error!(error = %format!("{e:#}"), stage = label, "pipeline stage failed; the node stops");
            node.stop();
        }
        result
    })
}

/// Starts the commit pipeline's three stages (executor → writer → publisher), each on
/// its own thread, linked by channels of one block.
pub fn start_pipeline(
    node: &Arc<ChainNode>,
) -> std::io::Result<Vec<std::thread::JoinHandle<anyhow::Result<()>>>> {
    let (to_writer, from_executor) = std::sync::mpsc::sync_channel::<Staged>(1);
    let (to_publisher, from_writer) = std::sync::mpsc::sync_channel::<Staged>(1);
    Ok(vec![
        spawn_stage("block-executor", node, move |n| n.execute_loop(to_writer))?,
        spawn_stage("block-writer", node, move |n| {
            n.write_loop(from_executor, to_publisher)
        })?,
        spawn_stage("block-publisher", node, move |n| {
            n.publish_loop(from_writer)
        })?,
    ])
}

/// Opens the chain, starts the pipeline and serves the API. Returns once listening.
pub async fn start(config: NodeConfig) -> anyhow::Result<Running> {
    Ok(serve(config, None).await?.0)
}

/// [`start`] for a validator: consensus, not the executor thread, makes the blocks; it
/// drives the returned [`validator::ValidatorNode`].
/// `routes` are served beside the API (consensus's metrics).
pub async fn start_validator(
    config: NodeConfig,
    routes: axum::Router,
) -> anyhow::Result<(Running, Arc<validator::ValidatorNode>)> {
    let (running, validator) = serve(config, Some(routes)).await?;
    Ok((running, validator.expect("started as a validator")))
}

async fn serve(
    config: NodeConfig,
    validating: Option<axum::Router>,
) -> anyhow::Result<(Running, Option<Arc<validator::ValidatorNode>>)> {
    let (genesis, keys) = chain_genesis(&config, validating.is_some())?;
    if !keys.is_empty() {
        write_dev_keys(&config.data, &keys)?;
    }
    let listen = config.listen;
    let api_config = config.api;
    let web = config.web.clone();
    let node = tokio::task::spawn_blocking(move || ChainNode::open(config, &genesis)).await??;
    let (stages, validator) = if validating.is_some() {
        let (validator, stages) = validator::start(&node)?;
        (stages, Some(validator))
    } else {
        (start_pipeline(&node)?, None)
    };
    let app = Arc::new(App {
        node: Arc::clone(&node),
        feed: node.feed(),
        metrics: node.metrics(),
        config: api_config,
    });
    let router = api::router(app)
        .merge(api::web::router(web))
        .merge(validating.clone().unwrap_or_default())
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let (shutdown, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        api::serve(listener, router, api::ServeLimits::from(&api_config), stop).await
    });
    tracing::info!(%addr, height = node.height(), validator = validator.is_some(), "node serving");
    Ok((
        Running {
            addr,
            node,
            shutdown,
            server,
            stages,
        },
        validator,
    ))
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use markets::state::NonceWindow;

    /// Two validators' faucets, one key, clocks 5 ms apart: B serves 100 requests, then
    /// A serves 10, then they alternate, at times that coincide. Every nonce is one the
    /// account's window takes, and none repeats.
    #[test]
    fn faucet_nonces_of_two_validators_stay_in_the_window() {
        let t = 1_800_000_000_000_000; // µs since the epoch
        let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
        let (faucet_nonce_a, faucet_nonce_b) = (
            |now| faucet_nonce(&a, now, 1),
            |now| faucet_nonce(&b, now, 2),
        );
        let mut window = NonceWindow::default();
        let mut take = |nonce: u64| {
            window
                .check(nonce)
                .unwrap_or_else(|e| panic!("nonce {nonce}: {e:?}"));
            window.insert(nonce);
        };
        for i in 0..100 {
            take(faucet_nonce_b(t + 5_000 + i * 100));
        }
        for i in 0..10 {
            take(faucet_nonce_a(t + 10_000 + i * 100));
        }
        for i in 0..100 {
            let now = t + 20_000 + i * 1_000;
            take(faucet_nonce_a(now));
            take(faucet_nonce_b(now + 5_000));
        }
        // Within one microsecond, still distinct, increasing and in the lane.
        let (x, y) = (faucet_nonce_a(t), faucet_nonce_a(t));
        assert!(y > x && x % FAUCET_LANES == 1 && y % FAUCET_LANES == 1);
    }
}
