//! The node: admission (signatures verified once, here), the mempool, the block
//! producer, storage, and the API server over them.
//!
//! ```text
//! HTTP ─► api ─► ChainNode::submit ─ decode ─ door checks (markets::precheck) ─ verify
//!                    signatures (batched, rayon) ─► Mempool (bounded; 429/503 when full)
//! producer thread: every block interval (or at once when a block's worth waits)
//!     take ≤ block_txs_max ─► write-lock chain ─► Chain::commit(Signatures::Verified)
//!     ─► fdatasync'd block + outputs ─► Feed::publish (indexes, websocket bus) ─► unlock
//!     ─► mempool forgets them
//! SIGINT/SIGTERM: stop accepting, commit what waits, flush, exit.
//! ```
//!
//! Signatures are checked once per node: at the door, batched over the request and
//! spread over the cores. The producer executes its own blocks with
//! `Signatures::Verified`; blocks read back from disk at start-up are re-verified by
//! `Chain::open` as ever.

pub mod config;
pub mod mempool;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use api::{Admitted, ApiError, App, Feed, Metrics, Node, StoredBlock};
use axum::http::StatusCode;
use ed25519_dalek::SigningKey;
use markets::verify::{AccountKey, SignedItem, verify_parallel};
use markets::{
    Action, AssetId, Genesis, GenesisBalance, Hash, Reject, Signatures, SignedTransaction, State,
    Transaction, Transfer, precheck,
};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::chain::Chain;
pub use config::NodeConfig;
use mempool::{Admission, Mempool, MempoolLimits, Refusal};

/// Blocks kept decoded in memory for receipts and websocket replays.
const RECENT_BLOCKS: usize = 32;
/// Blocks indexed into the feed at start-up.
const FEED_BLOCKS_AT_START: u64 = 256;
/// Signatures per batch equation at the door.
const VERIFY_CHUNK: usize = 64;

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

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The node as the API sees it.
#[derive(Debug)]
pub struct ChainNode {
    chain: RwLock<Chain>,
    mempool: Mutex<Mempool>,
    /// Wakes the producer early when a block's worth waits, and at shutdown.
    wake: Condvar,
    feed: Arc<Feed>,
    metrics: Arc<Metrics>,
    recent: Mutex<VecDeque<Arc<StoredBlock>>>,
    config: NodeConfig,
    faucet: Option<(SigningKey, AtomicU64)>,
    stopping: AtomicBool,
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
        let markets = chain.state().markets().len();
        let feed = Arc::new(Feed::new(config.feed, markets, chain.height()));
        let metrics = Arc::new(Metrics::new());
        metrics
            .height
            .set(i64::try_from(chain.height()).unwrap_or(i64::MAX));
        let faucet = config.dev.then(|| {
            let key = dev_faucet_key();
            let last = chain
                .state()
                .account_by_key(&key.verifying_key().to_bytes())
                .and_then(|a| a.nonces.used().last().copied())
                .unwrap_or(0);
            let next = last.max(now_ms() * 1_000) + 1;
            (key, AtomicU64::new(next))
        });
        let node = Arc::new(ChainNode {
            chain: RwLock::new(chain),
            mempool: Mutex::new(Mempool::new(MempoolLimits {
                total: config.mempool_max,
                per_account: config.mempool_per_account_max,
            })),
            wake: Condvar::new(),
            feed,
            metrics,
            recent: Mutex::new(VecDeque::new()),
            config,
            faucet,
            stopping: AtomicBool::new(false),
        });
        node.load_feed()?;
        Ok(node)
    }

    pub fn feed(&self) -> Arc<Feed> {
        Arc::clone(&self.feed)
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    pub fn height(&self) -> u64 {
        self.chain.read().height()
    }

    fn load_feed(&self) -> anyhow::Result<()> {
        let height = self.height();
        let from = height.saturating_sub(FEED_BLOCKS_AT_START - 1).max(1);
        for h in from..=height {
            let stored = self
                .stored(h)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?
                .with_context(|| format!("block {h} is missing"))?;
            let chain = self.chain.read();
            self.feed.load(&stored, chain.state());
        }
        Ok(())
    }

    fn read_stored(chain: &Chain, height: u64) -> Result<StoredBlock, ApiError> {
        let block = chain
            .block(height)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let record = chain
            .record(height)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(StoredBlock {
            block,
            receipts: record.receipts,
            market_events: record.market_events,
        })
    }

    /// Runs the block producer until [`ChainNode::stop`]; then commits what waits.
    pub fn produce(&self) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.config.block_interval_ms.max(1));
        let idle = Duration::from_millis(self.config.empty_block_interval_ms.max(1));
        let mut last_block = Instant::now();
        loop {
            let (taken, stopping) = {
                let mut pool = self.mempool.lock();
                loop {
                    if self.stopping.load(Ordering::Acquire) {
                        break;
                    }
                    let waited = last_block.elapsed();
                    let full = pool.queued() >= self.config.block_txs_max;
                    let due = (pool.queued() > 0 && waited >= interval) || waited >= idle;
                    if full || due {
                        break;
                    }
                    let until = if pool.queued() > 0 {
                        interval - waited
                    } else {
                        idle - waited
                    };
                    self.wake.wait_for(&mut pool, until);
                }
                // Read under the lock, after the wait: a stop that woke us is seen here.
                (
                    pool.take(self.config.block_txs_max),
                    self.stopping.load(Ordering::Acquire),
                )
            };
            if stopping && taken.is_empty() {
                return Ok(());
            }
            last_block = Instant::now();
            self.commit(taken)?;
        }
    }

    /// Executes, stores and publishes one block.
    fn commit(&self, taken: Vec<(Hash, SignedTransaction)>) -> anyhow::Result<()> {
        let started = Instant::now();
        let transactions: Vec<SignedTransaction> = taken.iter().map(|(_, tx)| tx.clone()).collect();
        let verdicts = vec![true; transactions.len()];
        let mut chain = self.chain.write();
        let timestamp_ms = now_ms().max(chain.state().timestamp_ms());
        let output = chain
            .commit(
                timestamp_ms,
                transactions.clone(),
                Signatures::Verified(&verdicts),
            )
            .context("committing a block; the node must stop")?;
        let stored = Arc::new(StoredBlock {
            block: markets::Block {
                header: output.header.clone(),
                transactions,
            },
            receipts: output.receipts,
            market_events: output.market_events,
        });
        self.feed.publish(&stored, chain.state());
        drop(chain);
        self.mempool.lock().committed(&taken);
        {
            let mut recent = self.recent.lock();
            recent.push_back(Arc::clone(&stored));
            while recent.len() > RECENT_BLOCKS {
                recent.pop_front();
            }
        }
        let m = &self.metrics;
        m.blocks.inc();
        m.height
            .set(i64::try_from(stored.block.header.height).unwrap_or(i64::MAX));
        m.transactions.inc_by(stored.receipts.len() as u64);
        let rejected = stored
            .receipts
            .iter()
            .filter(|r| matches!(r.outcome, markets::Outcome::Rejected(_)))
            .count();
        m.transactions_rejected.inc_by(rejected as u64);
        let fills: usize = stored
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
            .observe(started.elapsed().as_secs_f64());
        m.block_transactions.observe(stored.receipts.len() as f64);
        tracing::debug!(
            height = stored.block.header.height,
            transactions = stored.receipts.len(),
            fills,
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "block committed"
        );
        Ok(())
    }

    /// Asks the producer to commit what waits and return.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _pool = self.mempool.lock();
        self.wake.notify_all();
    }

    /// The door: decode-level checks, the state's checks, then signatures, then the
    /// mempool. Each transaction on its own; the answer is in order.
    fn admit(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Admitted, ApiError>> {
        let hashes: Vec<Hash> = transactions.iter().map(SignedTransaction::hash).collect();
        // Already known: answer as a duplicate, whatever else is true of it now.
        let known: Vec<bool> = {
            let pool = self.mempool.lock();
            hashes
                .iter()
                .map(|h| pool.contains(h) || self.feed.tx_location(h).is_some())
                .collect()
        };
        let mut results: Vec<Option<Result<Admitted, ApiError>>> = hashes
            .iter()
            .zip(&known)
            .map(|(&hash, &known)| {
                known.then_some(Ok(Admitted {
                    hash,
                    duplicate: true,
                }))
            })
            .collect();
        {
            let chain = self.chain.read();
            let state = chain.state();
            for (i, tx) in transactions.iter().enumerate() {
                if results[i].is_none()
                    && let Err(reject) = precheck(state, tx)
                {
                    results[i] = Some(Err(door_error(reject)));
                }
            }
        }
        // Signatures, batched over the request and spread over the cores.
        let candidates: Vec<usize> = (0..transactions.len())
            .filter(|&i| results[i].is_none())
            .collect();
        let keys: Vec<Option<AccountKey>> = candidates
            .iter()
            .map(|&i| AccountKey::from_bytes(&transactions[i].transaction.signer).ok())
            .collect();
        let messages: Vec<Vec<u8>> = candidates
            .iter()
            .map(|&i| transactions[i].transaction.signing_message())
            .collect();
        let items: Vec<(usize, SignedItem<'_>)> = candidates
            .iter()
            .zip(&keys)
            .zip(&messages)
            .filter_map(|((&i, key), message)| {
                key.as_ref().map(|key| {
                    (
                        i,
                        SignedItem {
                            key,
                            message,
                            signature: &transactions[i].signature,
                        },
                    )
                })
            })
            .collect();
        let only: Vec<SignedItem<'_>> = items.iter().map(|(_, item)| *item).collect();
        let verdicts = verify_parallel(&only, VERIFY_CHUNK);
        let mut verified = vec![false; transactions.len()];
        for ((i, _), ok) in items.iter().zip(verdicts) {
            verified[*i] = ok;
        }
        let mut pool = self.mempool.lock();
        let was_idle = pool.queued() == 0;
        for (i, tx) in transactions.into_iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            let hash = hashes[i];
            results[i] = Some(if !verified[i] {
                Err(door_error(markets::ChainReject::BadSignature.into()))
            } else {
                match pool.admit(hash, tx) {
                    Ok(admission) => Ok(Admitted {
                        hash,
                        duplicate: admission == Admission::Duplicate,
                    }),
                    Err(refusal) => Err(refusal_error(refusal)),
                }
            });
        }
        // The producer sleeps until the idle interval when nothing waits: wake it for
        // the first transaction (it then cuts a block once the block interval since the
        // last block has passed) and for a full block.
        if (was_idle && pool.queued() > 0) || pool.queued() >= self.config.block_txs_max {
            self.wake.notify_all();
        }
        drop(pool);
        results
            .into_iter()
            .map(|r| r.expect("every transaction answered"))
            .collect()
    }
}

fn door_error(reject: Reject) -> ApiError {
    ApiError::from(reject)
}

fn refusal_error(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Full => ApiError::mempool_full("the mempool is full; retry shortly", 1),
        Refusal::AccountFull => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "this account has as many pending transactions as the mempool holds for one account",
            )
        },
        Refusal::NonceTaken => ApiError::new(
            StatusCode::CONFLICT,
            "NONCE_ALREADY_USED",
            "another pending transaction of this account has this nonce",
        ),
    }
}

impl Node for ChainNode {
    fn submit(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Admitted, ApiError>> {
        if self.stopping.load(Ordering::Acquire) {
            return transactions
                .iter()
                .map(|_| {
                    Err(ApiError {
                        retry_after: Some(5),
                        ..ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "SHUTTING_DOWN",
                            "the node is shutting down",
                        )
                    })
                })
                .collect();
        }
        self.admit(transactions)
    }

    fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(self.chain.read().state())
    }

    fn stored(&self, height: u64) -> Result<Option<Arc<StoredBlock>>, ApiError> {
        if let Some(found) = self
            .recent
            .lock()
            .iter()
            .find(|b| b.block.header.height == height)
        {
            return Ok(Some(Arc::clone(found)));
        }
        let chain = self.chain.read();
        if height == 0 || height > chain.height() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Self::read_stored(&chain, height)?)))
    }

    fn is_pending(&self, hash: &Hash) -> bool {
        self.mempool.lock().contains(hash)
    }

    fn mempool_len(&self) -> usize {
        self.mempool.lock().len()
    }

    fn faucet(&self, to: [u8; 32], asset: AssetId, amount: u64) -> Result<Admitted, ApiError> {
        let Some((key, nonce)) = &self.faucet else {
            return Err(markets::ChainReject::FaucetDisabled.into());
        };
        let limit = self
            .with_state(|s| s.faucet().map(|f| f.amount_max))
            .unwrap_or(0);
        if amount > limit {
            return Err(markets::ChainReject::FaucetLimit.into());
        }
        if AccountKey::from_bytes(&to).is_err() {
            return Err(markets::ChainReject::InvalidAccountKey.into());
        }
        let chain_id = self.with_state(State::chain_id);
        let tx = SignedTransaction::sign(
            Transaction {
                chain_id,
                signer: key.verifying_key().to_bytes(),
                nonce: nonce.fetch_add(1, Ordering::AcqRel),
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
    producer: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting requests, commits what waits, and returns once the last block
    /// is on disk.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.node.feed.close();
        let served = self.server.await;
        self.node.stop();
        let producer = self.producer;
        tokio::task::spawn_blocking(move || producer.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the block producer panicked"))??;
        served??;
        tracing::info!(height = self.node.height(), "node stopped");
        Ok(())
    }
}

/// Opens the chain, starts the producer and serves the API. Returns once listening.
pub async fn start(config: NodeConfig) -> anyhow::Result<Running> {
    let (genesis, keys) = dev_genesis(config.dev_accounts);
    if config.dev {
        write_dev_keys(&config.data, &keys)?;
    }
    let listen = config.listen;
    let api_config = config.api;
    let node = tokio::task::spawn_blocking(move || ChainNode::open(config, &genesis)).await??;
    let producer_node = Arc::clone(&node);
    let producer = std::thread::Builder::new()
        .name("block-producer".into())
        .spawn(move || {
            let result = producer_node.produce();
            if let Err(e) = &result {
                tracing::error!(error = %e, "block producer stopped");
            }
            result
        })?;
    let app = Arc::new(App {
        node: Arc::clone(&node),
        feed: node.feed(),
        metrics: node.metrics(),
        config: api_config,
    });
    let router = api::router(app).layer(tower_http::trace::TraceLayer::new_for_http());
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
    tracing::info!(%addr, height = node.height(), "node serving");
    Ok(Running {
        addr,
        node,
        shutdown,
        server,
        producer,
    })
}
