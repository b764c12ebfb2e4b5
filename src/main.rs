//! `clobchain`: the node, command-line client and load tester.
//!
//! Built so far: `verify`, which re-executes a stored chain. The node, client and load
//! tester arrive with their issues (see README.md).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

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
    /// Re-execute the whole stored chain from genesis and check every block header and
    /// the latest snapshot.
    Verify {
        /// The node's data directory.
        #[arg(long, env = "CLOBCHAIN_DATA", default_value = "./data")]
        data: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Verify { data } => verify(&data),
    }
}

fn verify(data: &std::path::Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let report = clobchain::chain::verify(data, |height| {
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
