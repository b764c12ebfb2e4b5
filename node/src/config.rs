//! Node configuration: flags, then environment (`CLOBCHAIN_*`), then an optional TOML
//! file (`--config`), then the defaults. The first that sets a value wins.
//!
//! ```toml
//! # clobchain.toml: every key optional
//! data = "./data"
//! listen = "127.0.0.1:8080"
//! block_interval_ms = 100
//! empty_block_interval_ms = 1000
//! block_txs_max = 20000
//! mempool_max = 200000
//! mempool_per_account_max = 20000
//! snapshot_interval = 1000
//! dev_accounts = 10
//! genesis = "./genesis.json"  # run this chain instead of the embedded dev chain
//! web_dir = "./web/static"   # serve the trading page from disk, not the binary
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// `clobchain node` flags. Each also reads `CLOBCHAIN_<NAME>` from the environment.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct NodeArgs {
    /// A TOML file with any of the settings below.
    #[arg(long, env = "CLOBCHAIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (block log, outputs, snapshots, dev keys) [default: ./data].
    #[arg(long, env = "CLOBCHAIN_DATA")]
    pub data: Option<PathBuf>,
    /// Address the REST and websocket API listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "CLOBCHAIN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Longest a transaction waits for its block, in ms [default: 100].
    #[arg(long, env = "CLOBCHAIN_BLOCK_INTERVAL_MS")]
    pub block_interval_ms: Option<u64>,
    /// Interval of empty blocks when nothing waits, so heights (and expiries) move
    /// [default: 1000].
    #[arg(long, env = "CLOBCHAIN_EMPTY_BLOCK_INTERVAL_MS")]
    pub empty_block_interval_ms: Option<u64>,
    /// Transactions per block; a full block is cut at once [default: 20000].
    #[arg(long, env = "CLOBCHAIN_BLOCK_TXS_MAX")]
    pub block_txs_max: Option<usize>,
    /// Transactions the mempool holds; above it submissions get 503 [default: 200000].
    #[arg(long, env = "CLOBCHAIN_MEMPOOL_MAX")]
    pub mempool_max: Option<usize>,
    /// Pending transactions per account; above it 429 [default: 20000].
    #[arg(long, env = "CLOBCHAIN_MEMPOOL_PER_ACCOUNT_MAX")]
    pub mempool_per_account_max: Option<usize>,
    /// Blocks between state snapshots [default: 1000].
    #[arg(long, env = "CLOBCHAIN_SNAPSHOT_INTERVAL")]
    pub snapshot_interval: Option<u64>,
    /// Funded demo accounts on the dev chain [default: 10].
    #[arg(long, env = "CLOBCHAIN_DEV_ACCOUNTS")]
    pub dev_accounts: Option<u64>,
    /// Run the chain of this genesis file (`clobchain genesis` writes one to edit)
    /// instead of the embedded dev chain.
    #[arg(long, env = "CLOBCHAIN_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// Serve the trading page at `/` from this folder instead of the copy built into
    /// the binary (to work on the page without rebuilding).
    #[arg(long, env = "CLOBCHAIN_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Run as a validator with this key (a file of 64 hex digits); needs `--peers`.
    /// `clobchain testnet` writes both.
    #[arg(long, env = "CLOBCHAIN_VALIDATOR_KEY", requires = "peers")]
    pub validator_key: Option<PathBuf>,
    /// The validator set and its chain (`testnet.json`); needs `--validator-key`.
    #[arg(long, env = "CLOBCHAIN_PEERS", requires = "validator_key")]
    pub peers: Option<PathBuf>,
    /// Follow the chain of the node at this URL without voting: take each final block
    /// from its API, re-execute and store it, serve it here, and forward submissions
    /// to it. Run it on the same genesis (`--genesis`, as the source). Several URLs,
    /// separated by commas: one at a time, the next when one does not answer, has no
    /// new block for 10 s, or serves a block or certificate that is not this chain's.
    #[arg(long, env = "CLOBCHAIN_FOLLOW", conflicts_with = "validator_key")]
    pub follow: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "CLOBCHAIN_LOG_JSON")]
    pub log_json: bool,
}

/// The TOML file: the same names as the flags, with underscores.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    listen: Option<SocketAddr>,
    block_interval_ms: Option<u64>,
    empty_block_interval_ms: Option<u64>,
    block_txs_max: Option<usize>,
    mempool_max: Option<usize>,
    mempool_per_account_max: Option<usize>,
    snapshot_interval: Option<u64>,
    dev_accounts: Option<u64>,
    genesis: Option<PathBuf>,
    web_dir: Option<PathBuf>,
}

/// Everything the node runs with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub block_interval_ms: u64,
    pub empty_block_interval_ms: u64,
    pub block_txs_max: usize,
    pub mempool_max: usize,
    pub mempool_per_account_max: usize,
    pub snapshot_interval: u64,
    /// The node runs the dev faucet (`POST /v1/faucet`, signed by the dev faucet key,
    /// which the chain's genesis must fund).
    pub dev: bool,
    /// The faucet's nonce lane (nonce mod 256): every validator's faucet signs with the
    /// one dev key, so each takes its own lane (its index + 1; a single node or a
    /// follower takes 0) and two can never pick the same nonce.
    pub faucet_lane: u8,
    pub dev_accounts: u64,
    /// The genesis file of the chain; `None`: the embedded dev chain with
    /// `dev_accounts` demo accounts, whose keys go to `<data>/dev-keys.json`.
    pub genesis: Option<PathBuf>,
    pub feed: api::FeedLimits,
    pub api: api::ApiConfig,
    /// Where the trading page's files come from.
    pub web: api::web::WebSource,
    /// Test hooks into the commit pipeline; none in a real node.
    pub hooks: NodeHooks,
}

/// Called by the writer stage with the height of each block it is about to `fdatasync`,
/// holding the store's shared lock exactly as the real `fdatasync` does. A test injects
/// a slow disk with it.
pub type SyncHook = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// Places where a test can hook into the node; see [`SyncHook`].
#[derive(Clone, Default)]
pub struct NodeHooks {
    pub before_sync: Option<SyncHook>,
}

impl std::fmt::Debug for NodeHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHooks")
            .field("before_sync", &self.before_sync.is_some())
            .finish()
    }
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            data: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            block_interval_ms: 100,
            empty_block_interval_ms: 1_000,
            block_txs_max: 20_000,
            mempool_max: 200_000,
            mempool_per_account_max: 20_000,
            snapshot_interval: crate::chain::SNAPSHOT_INTERVAL_DEFAULT,
            dev: true,
            faucet_lane: 0,
            dev_accounts: 10,
            genesis: None,
            feed: api::FeedLimits::default(),
            api: api::ApiConfig::default(),
            web: api::web::WebSource::Embedded,
            hooks: NodeHooks::default(),
        }
    }
}

impl NodeConfig {
    /// Flags and environment over the file over the defaults.
    pub fn resolve(args: &NodeArgs) -> anyhow::Result<NodeConfig> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let d = NodeConfig::default();
        let mempool_max = args
            .mempool_max
            .or(file.mempool_max)
            .unwrap_or(d.mempool_max);
        let config = NodeConfig {
            data: args.data.clone().or(file.data).unwrap_or(d.data),
            listen: args.listen.or(file.listen).unwrap_or(d.listen),
            block_interval_ms: args
                .block_interval_ms
                .or(file.block_interval_ms)
                .unwrap_or(d.block_interval_ms),
            empty_block_interval_ms: args
                .empty_block_interval_ms
                .or(file.empty_block_interval_ms)
                .unwrap_or(d.empty_block_interval_ms),
            block_txs_max: args
                .block_txs_max
                .or(file.block_txs_max)
                .unwrap_or(d.block_txs_max),
            mempool_max,
            // Unset, the per-account limit follows a smaller total limit down.
            mempool_per_account_max: args
                .mempool_per_account_max
                .or(file.mempool_per_account_max)
                .unwrap_or(d.mempool_per_account_max.min(mempool_max)),
            snapshot_interval: args
                .snapshot_interval
                .or(file.snapshot_interval)
                .unwrap_or(d.snapshot_interval),
            dev: true,
            dev_accounts: args
                .dev_accounts
                .or(file.dev_accounts)
                .unwrap_or(d.dev_accounts),
            genesis: args.genesis.clone().or(file.genesis),
            feed: d.feed,
            api: d.api,
            web: match args.web_dir.clone().or(file.web_dir) {
                Some(dir) => api::web::WebSource::Dir(dir),
                None => d.web,
            },
            hooks: d.hooks,
            faucet_lane: d.faucet_lane,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let limit = markets::limits::TRANSACTIONS_PER_BLOCK_MAX;
        anyhow::ensure!(
            (1..=limit).contains(&self.block_txs_max),
            "block_txs_max must be 1 to {limit}"
        );
        anyhow::ensure!(
            self.block_interval_ms >= 1,
            "block_interval_ms must be at least 1"
        );
        anyhow::ensure!(
            self.empty_block_interval_ms >= self.block_interval_ms,
            "empty_block_interval_ms must be at least block_interval_ms"
        );
        anyhow::ensure!(self.mempool_max >= 1, "mempool_max must be at least 1");
        anyhow::ensure!(
            (1..=self.mempool_max).contains(&self.mempool_per_account_max),
            "mempool_per_account_max must be 1 to mempool_max"
        );
        anyhow::ensure!(
            self.snapshot_interval >= 1,
            "snapshot_interval must be at least 1"
        );
        anyhow::ensure!(
            (1..=10_000).contains(&self.dev_accounts),
            "dev_accounts must be 1 to 10000"
        );
        Ok(())
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "block_interval_ms = 50\nmempool_max = 1000\n").unwrap();
        let args = NodeArgs {
            config: Some(path.clone()),
            mempool_max: Some(500),
            ..NodeArgs::default()
        };
        let config = NodeConfig::resolve(&args).unwrap();
        assert_eq!(config.block_interval_ms, 50);
        assert_eq!(config.mempool_max, 500);
        assert_eq!(config.block_txs_max, NodeConfig::default().block_txs_max);

        std::fs::write(&path, "block_intervl_ms = 50\n").unwrap();
        assert!(
            NodeConfig::resolve(&args).is_err(),
            "unknown keys are refused"
        );
        let bad = NodeArgs {
            block_txs_max: Some(0),
            ..NodeArgs::default()
        };
        assert!(NodeConfig::resolve(&bad).is_err());
    }
}
