//! `clobchain node --validator-key F --peers F`: one validator process, and
//! `clobchain testnet`: a local network of them.
//!
//! The chain and its validator set come from a genesis file (`node::genesis`, its
//! `validators` naming each validator's public key and the namespace signed into every
//! vote). The peers file (`testnet.json`) says where each of them listens and names the
//! genesis file (relative to the peers file's folder); it must list exactly the
//! genesis's validators. Each validator holds only its own key:
//!
//! ```json
//! { "genesis": "genesis.json",
//!   "validators": [ { "public_key": "<hex>", "p2p": "127.0.0.1:9000", "api": "127.0.0.1:8080" }, … ] }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use commonware_cryptography::Signer as _;
use commonware_cryptography::ed25519;
use commonware_runtime::{Runner as _, Supervisor as _};
use markets::SignedTransaction;
use node::NodeConfig;
use node::genesis::{GenesisFile, ValidatorSet};
use node::validator::ValidatorNode;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::engine::Finalizations;
use crate::node_chain::NodeChain;
use crate::validator::{self, Peer, ValidatorConfig};
use crate::{FaultKind, Faults};

/// Transactions in one gossip message.
pub const GOSSIP_BATCH_MAX: usize = 1_024;
/// How often a validator sends what its clients submitted to the others.
const GOSSIP_INTERVAL: Duration = Duration::from_millis(5);

/// The peers file: where each validator listens, and the genesis file of their chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Testnet {
    /// The genesis file, relative to the peers file's folder (or absolute).
    pub genesis: PathBuf,
    pub validators: Vec<TestnetValidator>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestnetValidator {
    /// Hex of the 32-byte ed25519 public key.
    pub public_key: String,
    /// Its peer-to-peer address.
    pub p2p: SocketAddr,
    /// Its REST and websocket API.
    pub api: SocketAddr,
}

impl Testnet {
    pub fn read(path: &Path) -> anyhow::Result<Testnet> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Where the genesis file is, read from the peers file at `peers_file`.
    pub fn genesis_path(&self, peers_file: &Path) -> PathBuf {
        peers_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.genesis)
    }

    /// The peers, checked against the genesis's validator set: the same keys, each once.
    fn peers(&self, set: &ValidatorSet) -> anyhow::Result<Vec<Peer>> {
        let mut genesis_keys: Vec<String> = set.public_keys()?.iter().map(hex::encode).collect();
        genesis_keys.sort_unstable();
        let mut listed: Vec<String> = self
            .validators
            .iter()
            .map(|v| v.public_key.to_ascii_lowercase())
            .collect();
        listed.sort_unstable();
        anyhow::ensure!(
            listed == genesis_keys,
            "the peers file must list exactly the genesis file's validators"
        );
        self.validators
            .iter()
            .map(|v| {
                let public_key = validator::public_key_from_hex(&v.public_key)
                    .with_context(|| format!("public key {}", v.public_key))?;
                Ok(Peer {
                    public_key,
                    p2p: v.p2p,
                })
            })
            .collect()
    }
}

/// The key of testnet validator `index`, made from its index: a local testnet only
/// (anyone can compute it).
pub fn testnet_key_seed(index: usize) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"clobchain/testnet-validator/v1")
        .chain_update((index as u64).to_le_bytes())
        .finalize()
        .into()
}

fn read_key(path: &Path) -> anyhow::Result<ed25519::PrivateKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = hex::decode(text.trim()).context("the key file holds 64 hex digits")?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the key file holds 64 hex digits"))?;
    Ok(validator::key_from_seed(seed))
}

/// Runs one validator until SIGINT or SIGTERM: the node (API, storage, publisher) and
/// consensus, in one commonware tokio runtime.
pub fn run(mut config: NodeConfig, key_file: &Path, peers_file: &Path) -> anyhow::Result<()> {
    let testnet = Testnet::read(peers_file)?;
    let genesis_path = testnet.genesis_path(peers_file);
    let genesis_file = GenesisFile::read(&genesis_path)?;
    let set = genesis_file
        .validators
        .clone()
        .with_context(|| format!("{} names no validators", genesis_path.display()))?;
    let key = read_key(key_file)?;
    let me = validator::public_key_hex(&key.public_key());
    let index = testnet
        .validators
        .iter()
        .position(|v| v.public_key == me)
        .with_context(|| format!("this key ({me}) is not in {}", peers_file.display()))?;
    let peers = testnet.peers(&set)?;
    let genesis = genesis_file.genesis()?;
    config.genesis = Some(genesis_path);
    config.faucet_lane = u8::try_from((index + 1) % 256).expect("below 256");
    let listen = testnet.validators[index].p2p;
    let storage = config.data.join("consensus");
    std::fs::create_dir_all(&storage)?;
    let vcfg = ValidatorConfig {
        key,
        peers,
        listen,
        storage_dir: storage,
        namespace: vote_namespace(&set, &genesis),
        worker_threads: 4,
        partition_prefix: "clobchain".into(),
        local: listen.ip().is_loopback(),
        quota: validator::DEFAULT_QUOTA,
        block_delay: Duration::from_millis(config.block_interval_ms.min(1_000)),
        faults: Faults::default(),
        finalizations: Finalizations::default(),
        max_gossip_bytes: GOSSIP_BATCH_MAX * markets::limits::TRANSACTION_BYTES_MAX + 64,
    };
    let runner = validator::runner(&vcfg);
    runner.start(|ctx| async move {
        let data = config.data.clone();
        let routes = metrics_route(Arc::new(ctx.child("metrics")), vcfg.faults.clone())
            .merge(finalizations_route(vcfg.finalizations.clone()));
        let (running, node) = node::start_validator(config, routes).await?;
        let chain = NodeChain::new(Arc::clone(&node), &genesis);
        let peer = Arc::clone(&node);
        let started = validator::start(&ctx, vcfg, chain, move |from, bytes| {
            receive_gossip(&peer, &from, &bytes);
        })
        .map_err(|e| anyhow::anyhow!("starting consensus: {e:?}"))?;
        let gossip = tokio::spawn(send_gossip(Arc::clone(&node), started.txs.clone()));
        println!(
            "clobchain validator {index} of {}: API on http://{} , p2p on {listen}, data in {}. Ctrl-C stops it.",
            testnet.validators.len(),
            running.addr,
            data.display()
        );
        let code = validator::run_until(ctx, started, node::shutdown_signal(), Duration::from_secs(5)).await;
        gossip.abort();
        running.shutdown().await?;
        anyhow::ensure!(code == 0, "a consensus component stopped");
        Ok(())
    })
}

/// The namespace signed into every vote: the genesis file's, and the genesis hash, so
/// that a validator's votes for one chain are no votes on another with the same
/// namespace.
pub fn vote_namespace(set: &ValidatorSet, genesis: &markets::Genesis) -> Vec<u8> {
    format!("{}/{}", set.namespace, genesis.hash()).into_bytes()
}

/// `GET /v1/consensus/finalizations/{height}`: the finalization certificate marshal
/// stored for that block (commonware's encoding), which a follower checks against the
/// genesis's validator set; 404 for a block finalized only through a descendant's.
fn finalizations_route(finalizations: Finalizations) -> axum::Router {
    axum::Router::new().route(
        "/v1/consensus/finalizations/{height}",
        axum::routing::get(
            move |axum::extract::Path(height): axum::extract::Path<String>| {
                let finalizations = finalizations.clone();
                async move {
                    use axum::response::IntoResponse as _;
                    let Some(height) = api::rest::parse_decimal(&height) else {
                        return api::ApiError::malformed("a height is a u64").into_response();
                    };
                    match finalizations.encoded(height).await {
                        Some(bytes) => (
                            [(axum::http::header::CONTENT_TYPE, api::binary::OCTET_STREAM)],
                            bytes,
                        )
                            .into_response(),
                        None => api::ApiError::not_found(format!(
                            "no finalization certificate stored for block {height}"
                        ))
                        .into_response(),
                    }
                }
            },
        ),
    )
}

/// A response of Prometheus text (the format commonware's metrics encode to).
pub(crate) fn prometheus_text(text: String) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

/// `GET /metrics/consensus`: commonware's own metrics (simplex's views and latencies,
/// marshal's heights, p2p) in the Prometheus text format, then the proven faults by kind.
fn metrics_route<M: commonware_runtime::Metrics + Send + Sync + 'static>(
    metrics: Arc<M>,
    faults: Faults,
) -> axum::Router {
    axum::Router::new().route(
        "/metrics/consensus",
        axum::routing::get(move || {
            let (metrics, faults) = (Arc::clone(&metrics), faults.clone());
            async move {
                let mut text = metrics.encode();
                text.push_str("# HELP clobchain_faults_proven Faults simplex proved against a validator, by kind.\n");
                text.push_str("# TYPE clobchain_faults_proven counter\n");
                for kind in [
                    FaultKind::ConflictingNotarize,
                    FaultKind::ConflictingFinalize,
                    FaultKind::NullifyFinalize,
                ] {
                    let n = faults.counts().get(&kind).copied().unwrap_or(0);
                    text.push_str(&format!("clobchain_faults_proven_total{{kind=\"{kind:?}\"}} {n}\n"));
                }
                prometheus_text(text)
            }
        }),
    )
}

/// A peer's batch: decoded and admitted off the network task (signatures are CPU work).
fn receive_gossip(node: &Arc<ValidatorNode>, from: &ed25519::PublicKey, bytes: &[u8]) {
    match borsh::from_slice::<Vec<SignedTransaction>>(bytes) {
        Ok(txs) if txs.len() <= GOSSIP_BATCH_MAX => {
            let node = Arc::clone(node);
            tokio::task::spawn_blocking(move || node.admit_gossiped(txs));
        }
        _ => tracing::warn!(peer = %from, "undecodable transaction gossip ignored"),
    }
}

/// Sends what clients submitted here to every other validator, in batches.
async fn send_gossip<E: commonware_runtime::Clock>(
    node: Arc<ValidatorNode>,
    mut sender: validator::TxGossip<E>,
) {
    loop {
        tokio::time::sleep(GOSSIP_INTERVAL).await;
        let txs = node.take_gossip();
        for batch in txs.chunks(GOSSIP_BATCH_MAX) {
            sender.broadcast(borsh::to_vec(batch).expect("Vec"));
        }
    }
}

/// `clobchain testnet` flags.
#[derive(Clone, Debug, clap::Args)]
pub struct TestnetArgs {
    /// Validators to run, each its own process.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Where each validator keeps its data (`<dir>/v0`, …) and the peers file.
    #[arg(long, default_value = "./data/testnet")]
    pub dir: PathBuf,
    /// Validator i's API listens on 127.0.0.1:(api_port + i).
    #[arg(long, default_value_t = 8080)]
    pub api_port: u16,
    /// Validator i's p2p listens on 127.0.0.1:(p2p_port + i).
    #[arg(long, default_value_t = 9000)]
    pub p2p_port: u16,
    /// The dev chain's funded demo accounts (their keys go to `<dir>/dev-keys.json`).
    #[arg(long, default_value_t = 10)]
    pub dev_accounts: u64,
    /// Run this genesis file's chain instead of the dev chain; its validator set is
    /// replaced by the testnet's.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// How long a leader waits for transactions before it cuts its block, in ms
    /// [default: the node's block interval, 100].
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
}

/// The namespace a local testnet's validators sign into their votes.
pub const TESTNET_NAMESPACE: &str = "clobchain-testnet";

/// Writes the genesis file, the peers file and each validator's key under `args.dir`.
pub fn prepare(args: &TestnetArgs) -> anyhow::Result<(PathBuf, Testnet)> {
    anyhow::ensure!(
        (1..=64).contains(&args.validators),
        "between 1 and 64 validators"
    );
    std::fs::create_dir_all(&args.dir)?;
    let mut validators = Vec::new();
    for i in 0..args.validators {
        let dir = args.dir.join(format!("v{i}"));
        std::fs::create_dir_all(&dir)?;
        let seed = testnet_key_seed(i);
        std::fs::write(dir.join("validator.key"), hex::encode(seed))?;
        let offset = u16::try_from(i).expect("at most 64");
        validators.push(TestnetValidator {
            public_key: validator::public_key_hex(&validator::key_from_seed(seed).public_key()),
            p2p: SocketAddr::from(([127, 0, 0, 1], args.p2p_port + offset)),
            api: SocketAddr::from(([127, 0, 0, 1], args.api_port + offset)),
        });
    }
    let mut genesis = match &args.genesis {
        Some(path) => GenesisFile::read(path)?,
        None => {
            let (genesis, keys) = node::dev_genesis(args.dev_accounts);
            node::write_dev_keys(&args.dir, &keys)?;
            GenesisFile::from_genesis(&genesis)
        }
    };
    genesis.validators = Some(ValidatorSet {
        namespace: TESTNET_NAMESPACE.into(),
        public_keys: validators.iter().map(|v| v.public_key.clone()).collect(),
    });
    genesis.write(&args.dir.join("genesis.json"))?;
    let testnet = Testnet {
        genesis: PathBuf::from("genesis.json"),
        validators,
    };
    let path = args.dir.join("testnet.json");
    std::fs::write(&path, serde_json::to_string_pretty(&testnet)?)?;
    Ok((path, testnet))
}

/// Starts every validator of a local testnet as its own process, prints their APIs and
/// waits; SIGINT or SIGTERM stops them all.
pub fn run_testnet(args: &TestnetArgs) -> anyhow::Result<()> {
    let (peers, testnet) = prepare(args)?;
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for (i, v) in testnet.validators.iter().enumerate() {
        let dir = args.dir.join(format!("v{i}"));
        let log = std::fs::File::create(dir.join("validator.log"))?;
        let child = std::process::Command::new(&exe)
            .arg("node")
            .arg("--data")
            .arg(&dir)
            .arg("--listen")
            .arg(v.api.to_string())
            .arg("--validator-key")
            .arg(dir.join("validator.key"))
            .arg("--peers")
            .arg(&peers)
            .args(
                args.block_interval_ms
                    .map(|ms| ["--block-interval-ms".to_string(), ms.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting validator {i}"))?;
        // For tools that stop one validator on purpose (`loadtest --kill-validator`).
        std::fs::write(dir.join("validator.pid"), format!("{}\n", child.id()))?;
        children.push(child);
    }
    println!(
        "clobchain testnet: {} validators (data and logs under {}):",
        testnet.validators.len(),
        args.dir.display()
    );
    for (i, v) in testnet.validators.iter().enumerate() {
        println!("  validator {i}: API http://{}  p2p {}", v.api, v.p2p);
    }
    println!("Ctrl-C stops them all.");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(node::shutdown_signal());
    for child in &children {
        // SIGTERM: each validator stops gracefully (a terminal's Ctrl-C reaches them too).
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
    }
    for mut child in children {
        let _ = child.wait();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_testnet_runs_from_one_genesis_file_naming_its_validators() {
        let dir = tempfile::tempdir().unwrap();
        let args = TestnetArgs {
            validators: 3,
            dir: dir.path().to_path_buf(),
            api_port: 8080,
            p2p_port: 9000,
            dev_accounts: 2,
            genesis: None,
            block_interval_ms: None,
        };
        let (peers_file, testnet) = prepare(&args).unwrap();
        let read = Testnet::read(&peers_file).unwrap();
        let genesis = GenesisFile::read(&read.genesis_path(&peers_file)).unwrap();
        assert_eq!(genesis.genesis().unwrap(), node::dev_genesis(2).0);
        let set = genesis.validators.expect("the testnet's set");
        assert_eq!(set.namespace, TESTNET_NAMESPACE);
        assert_eq!(read.peers(&set).unwrap().len(), 3);
        assert!(dir.path().join("dev-keys.json").exists());

        // The peers file must name exactly the genesis's validators.
        let mut fewer = testnet.clone();
        fewer.validators.pop();
        assert!(fewer.peers(&set).is_err());
        let mut other = testnet;
        other.validators[0].public_key = hex::encode([9; 32]);
        assert!(other.peers(&set).is_err());
    }
}
