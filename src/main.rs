//! `clobchain`: the one binary. Its subcommands are thin: each hands its arguments to its
//! crate (`node`, `cli`, `loadtest`).
//!
//! `node` runs a node (a dev chain by default, or a genesis file's chain); `testnet` a
//! local network of validators; `genesis` writes a genesis file; `verify` re-executes a
//! stored chain.
//! `loadtest` measures a node over REST or the executor in process; the rest are the
//! command-line client's commands.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// jemalloc, with its background threads returning freed memory to the system after
/// its decay time (10 s): with the system allocator, memory freed when many websocket
/// clients leave stayed with the process (ARCHITECTURE.md, "Crates and why").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "clobchain",
    version,
    about = "An on-chain central limit order book"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: with no flags, a dev chain (demo markets, funded demo accounts whose
    /// keys go to <data>/dev-keys.json) under ./data, API on 127.0.0.1:8080.
    Node(node::config::NodeArgs),
    /// Run a local network of validators, each its own `clobchain node` process on
    /// loopback (data under ./data/testnet/vN); Ctrl-C stops them all.
    Testnet(consensus::process::TestnetArgs),
    /// Load-test a node over its API, or the block executor in process: throughput,
    /// latency, commits and rejects, the node's CPU and memory.
    Loadtest(loadtest::LoadtestArgs),
    /// Write the dev chain's genesis as a genesis file (JSON), to edit (markets,
    /// balances, validators) and run with `clobchain node --genesis FILE`.
    Genesis {
        /// Funded demo accounts in it (their keys are the dev chain's, which anyone can
        /// derive: replace them before the chain holds anything of value).
        #[arg(long, default_value_t = 10)]
        dev_accounts: u64,
        /// Where to write it.
        #[arg(long, default_value = "genesis.json")]
        out: PathBuf,
    },
    /// Re-execute the whole stored chain from genesis and check every block header and
    /// the latest snapshot.
    Verify {
        /// The node's data directory.
        #[arg(long, env = "CLOBCHAIN_DATA", default_value = "./data")]
        data: PathBuf,
    },
    /// The command-line client: keys, balances, orders, the book, live fills.
    #[command(flatten)]
    Client(cli::Command),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Node(args) => run_node(&args),
        Command::Testnet(args) => consensus::process::run_testnet(&args),
        Command::Loadtest(args) => loadtest::command(args),
        Command::Genesis { dev_accounts, out } => write_genesis(dev_accounts, &out),
        Command::Verify { data } => verify(&data),
        Command::Client(command) => std::process::exit(cli::run(command)),
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn run_node(args: &node::config::NodeArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    let config = node::NodeConfig::resolve(args)?;
    if let (Some(key), Some(peers)) = (&args.validator_key, &args.peers) {
        return consensus::process::run(config, key, peers);
    }
    if let Some(source) = &args.follow {
        return consensus::follow::run(config, source);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("api")
        .build()?;
    runtime.block_on(async move {
        let data = config.data.clone();
        let running = node::start(config).await?;
        println!(
            "clobchain node: API on http://{} , data in {} (dev keys in {}/dev-keys.json). Ctrl-C stops it.",
            running.addr,
            data.display(),
            data.display()
        );
        node::shutdown_signal().await;
        tracing::info!("signal received: committing what waits and stopping");
        running.shutdown().await
    })
}

fn write_genesis(dev_accounts: u64, out: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=10_000).contains(&dev_accounts),
        "dev_accounts must be 1 to 10000"
    );
    let (genesis, _) = node::dev_genesis(dev_accounts);
    node::genesis::GenesisFile::from_genesis(&genesis).write(out)?;
    println!(
        "wrote {} (genesis hash {}): edit it, then `clobchain node --genesis {}`",
        out.display(),
        genesis.hash(),
        out.display()
    );
    Ok(())
}

fn verify(data: &std::path::Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let report = node::chain::verify(data, |height| {
        if height % 1_000 == 0 {
            eprintln!("verified up to block {height}");
        }
    })
    .with_context(|| format!("verifying the chain in {}", data.display()))?;
    let hash = report
        .last_hash
        .map_or_else(|| "(genesis)".to_string(), |h| h.to_string());
    let root = report
        .state_root
        .map_or_else(String::new, |h| h.to_string());
    println!(
        "ok: {} blocks, {} transactions re-executed in {:.1?}; every header matches; \
         {} snapshot(s) match; last block {hash}; state root {root}",
        report.blocks,
        report.transactions,
        started.elapsed(),
        report.snapshots_checked,
    );
    Ok(())
}
