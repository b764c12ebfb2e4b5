//! `clobchain node --follow URL`: a full node that does not vote. It takes each final
//! block from a node's API (`GET /v1/blocks/{height}/raw`), re-executes it, checks every
//! root against the header, stores and publishes it: the same finalizer, writer and
//! publisher a validator runs, and the same API for its clients. Transactions its
//! clients submit pass its door and are forwarded to the source.
//!
//! ```text
//! source API ──GET /v1/blocks/{h}/raw──► fetch loop ──► ValidatorNode::finalize
//!   (h = the next height; up to IN_FLIGHT blocks ahead of the durable one)
//!                                        finalizer (re-execute, every root) ─► writer
//!                                        (fsync) ─► publisher (API, websocket)
//! clients ─► door (admission) ─► mempool ─► forward loop ─POST /v1/transactions/batch─► source
//! ```
//!
//! What it trusts: nothing about execution (a block whose roots differ from what it
//! computes stops it, as a quorum's bad block stops a validator), but the source's word
//! that a block is final: it does not yet check the finalization certificate itself.
//! Follow a validator you run, or several followers of different validators.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use borsh::BorshDeserialize as _;
use markets::{Block, Finality, limits};
use node::NodeConfig;
use node::validator::ValidatorNode;

/// Blocks handed to the finalizer and not yet durable.
const IN_FLIGHT: usize = 16;
/// How often the fetch loop asks again for a block the source does not have yet.
const POLL: Duration = Duration::from_millis(20);
/// How long it waits after the source did not answer.
const RETRY: Duration = Duration::from_secs(1);
/// How often submissions are forwarded, and at most how many in one request.
const FORWARD_INTERVAL: Duration = Duration::from_millis(5);
const FORWARD_BATCH_MAX: usize = 1_000;

/// Runs a follower of `source` until SIGINT or SIGTERM.
pub fn run(config: NodeConfig, source: &str) -> anyhow::Result<()> {
    let client = client::Client::new(source).context("the --follow URL")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("api")
        .build()?;
    runtime.block_on(async move {
        let data = config.data.clone();
        let (running, node) = node::start_validator(config, axum::Router::new()).await?;
        println!(
            "clobchain node (following {}): API on http://{} , data in {}. Ctrl-C stops it.",
            client.base(),
            running.addr,
            data.display()
        );
        let fetch = tokio::spawn(fetch_loop(Arc::clone(&node), client.clone()));
        let forward = tokio::spawn(forward_loop(Arc::clone(&node), client));
        let failed = tokio::select! {
            () = node::shutdown_signal() => None,
            result = fetch => Some(result),
        };
        forward.abort();
        let shutdown = running.shutdown().await;
        match failed {
            Some(Ok(Err(e))) => Err(e.context("following the source")),
            Some(Err(e)) => Err(anyhow::anyhow!("the fetch loop panicked: {e}")),
            Some(Ok(Ok(()))) | None => shutdown,
        }
    })
}

/// Takes the source's final blocks in height order, from the one after this node's
/// last final block. Returns only on a block that cannot be this chain's.
pub async fn fetch_loop(node: Arc<ValidatorNode>, client: client::Client) -> anyhow::Result<()> {
    let ours = api::Node::view(node.node().as_ref())
        .genesis_hash
        .to_string();
    let theirs = loop {
        match client.health().await {
            Ok(health) => break health.genesis_hash,
            Err(e) => {
                tracing::warn!(error = %e, "the source did not answer; trying again");
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    anyhow::ensure!(
        theirs == ours,
        "the source runs another chain (genesis {theirs}; this node's is {ours}): give \
         --genesis the source's genesis file"
    );
    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let (height, mut parent) = node.finalized();
    let mut next = height + 1;
    loop {
        // A block this node refused stops its finalizer, and so the node.
        anyhow::ensure!(
            !node.node().is_stopping(),
            "the node stopped (a block the source sent did not execute to its header?)"
        );
        let raw = match client.block_raw(next).await {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the source did not answer; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let block = decode(&raw.bytes).with_context(|| format!("the source's block {next}"))?;
        anyhow::ensure!(
            block.header.height == next && block.header.parent_hash == parent,
            "the source's block {next} does not extend this node's chain (height {}, parent \
             {}, expected parent {parent}): is it another chain or genesis?",
            block.header.height,
            block.header.parent_hash,
        );
        parent = block.header.hash();
        let permit = loop {
            let wait = Arc::clone(&in_flight).acquire_owned();
            if let Ok(permit) = tokio::time::timeout(RETRY, wait).await {
                break permit?;
            }
            anyhow::ensure!(!node.node().is_stopping(), "the node stopped");
        };
        let finality = raw.finality.map(|f| Finality {
            view: f.view,
            height: f.height,
        });
        node.finalize(block, finality, Box::new(move || drop(permit)));
        next += 1;
    }
}

/// `borsh(Block)`, refused past the block size limit or with bytes left over.
fn decode(bytes: &[u8]) -> anyhow::Result<Block> {
    anyhow::ensure!(
        bytes.len() <= limits::BLOCK_BYTES_MAX,
        "a block of {} bytes is over the limit",
        bytes.len()
    );
    let mut reader = bytes;
    let block = Block::deserialize(&mut reader).context("does not decode")?;
    anyhow::ensure!(reader.is_empty(), "bytes after the block");
    Ok(block)
}

/// Sends what this node's clients submitted to the source, which puts it in a block.
async fn forward_loop(node: Arc<ValidatorNode>, client: client::Client) {
    loop {
        tokio::time::sleep(FORWARD_INTERVAL).await;
        let txs = node.take_gossip();
        for batch in txs.chunks(FORWARD_BATCH_MAX) {
            let body = api::binary::encode_batch(batch);
            let sent = client
                .post_bytes("/v1/transactions/batch", api::binary::OCTET_STREAM, body)
                .await;
            match sent {
                Ok(response) if response.status.is_success() => {}
                Ok(response) => {
                    tracing::warn!(error = %response.error(), "the source refused forwarded transactions");
                }
                Err(e) => tracing::warn!(error = %e, "forwarding transactions to the source"),
            }
        }
    }
}
