//! `clobchain node --follow URL`: a full node that does not vote. It takes each final
//! block from a node's API (`GET /v1/blocks/{height}/raw`), re-executes it, checks every
//! root against the header, stores and publishes it: the same finalizer, writer and
//! publisher a validator runs, and the same API for its clients. Transactions its
//! clients submit pass its door and are forwarded to the source.
//!
//! ```text
//! source API ──GET /v1/blocks/{h}/raw──► fetch loop (height, parent)
//!            ──GET /v1/consensus/finalizations/{h}──► Certifier (a quorum signed it)
//!                                        ──► ValidatorNode::finalize
//!   (h = the next height; up to IN_FLIGHT blocks ahead of the durable one)
//!                                        finalizer (re-execute, every root) ─► writer
//!                                        (fsync) ─► publisher (API, websocket)
//! clients ─► door (admission) ─► mempool ─► forward loop ─POST /v1/transactions/batch─► source
//! ```
//!
//! What it trusts: nothing. Execution: a block whose roots differ from what it computes
//! stops it, as a quorum's bad block stops a validator. Finality, on a chain whose
//! genesis names validators: each block waits until the follower holds a finalization
//! certificate (`GET /v1/consensus/finalizations/{h}` on the source) that a quorum of
//! the genesis's validators signed for it or for a descendant that it links to by
//! parent hashes ([`Certifier`]). A chain without validators (one node) has no
//! certificates: the follower then takes its source's word, as any client of it does.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use borsh::BorshDeserialize as _;
use commonware_codec::Decode as _;
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::sha256::Digest;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use markets::{Block, Finality, Hash, limits};
use node::NodeConfig;
use node::genesis::GenesisFile;
use node::validator::ValidatorNode;

use crate::Scheme;
use crate::validator::public_key_from_hex;

/// Blocks handed to the finalizer and not yet durable.
const IN_FLIGHT: usize = 16;
/// How often the fetch loop asks again for a block the source does not have yet.
const POLL: Duration = Duration::from_millis(20);
/// How long it waits after the source did not answer.
const RETRY: Duration = Duration::from_secs(1);
/// Blocks held waiting for a certificate that covers them.
const UNPROVEN_MAX: usize = 1_024;
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
    let certifier = match &config.genesis {
        Some(path) => Certifier::for_genesis(&GenesisFile::read(path)?)?,
        None => None,
    };
    runtime.block_on(async move {
        let data = config.data.clone();
        let (running, node) = node::start_validator(config, axum::Router::new()).await?;
        println!(
            "clobchain node (following {}): API on http://{} , data in {}. Ctrl-C stops it.",
            client.base(),
            running.addr,
            data.display()
        );
        let fetch = tokio::spawn(fetch_loop(Arc::clone(&node), client.clone(), certifier));
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
/// last final block, each once a certificate covers it (with a [`Certifier`]). Returns
/// only on a block or certificate that cannot be this chain's.
pub async fn fetch_loop(
    node: Arc<ValidatorNode>,
    client: client::Client,
    certifier: Option<Certifier>,
) -> anyhow::Result<()> {
    check_genesis(&node, &client).await?;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let (height, mut parent) = node.finalized();
    let mut next = height + 1;
    // Blocks linked by parent hashes and waiting for a certificate of a descendant.
    let mut unproven: Vec<(Block, Option<Finality>)> = Vec::new();
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
        let finality = raw.finality.map(|f| Finality {
            view: f.view,
            height: f.height,
        });
        let proven = match (&certifier, finality) {
            (None, _) => true,
            (Some(certifier), Some(f)) if f.height == next => {
                certifier
                    .fetch_and_check(&client, next, parent, f.view)
                    .await?
            }
            (Some(_), _) => false,
        };
        unproven.push((block, finality));
        if proven {
            for (block, finality) in unproven.drain(..) {
                let permit = acquire(&node, &in_flight).await?;
                node.finalize(block, finality, Box::new(move || drop(permit)));
            }
        } else {
            anyhow::ensure!(
                unproven.len() <= UNPROVEN_MAX,
                "no finalization certificate from the source covers blocks {} to {next}",
                next + 1 - unproven.len() as u64
            );
        }
        next += 1;
    }
}

/// The source runs this node's chain: the same genesis hash.
async fn check_genesis(node: &ValidatorNode, client: &client::Client) -> anyhow::Result<()> {
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
    Ok(())
}

/// A place among the blocks in flight; errs if the node stopped meanwhile.
async fn acquire(
    node: &ValidatorNode,
    in_flight: &Arc<tokio::sync::Semaphore>,
) -> anyhow::Result<tokio::sync::OwnedSemaphorePermit> {
    loop {
        let wait = Arc::clone(in_flight).acquire_owned();
        if let Ok(permit) = tokio::time::timeout(RETRY, wait).await {
            return Ok(permit?);
        }
        anyhow::ensure!(!node.node().is_stopping(), "the node stopped");
    }
}

/// Checks finalization certificates against a genesis's validator set.
#[derive(Debug)]
pub struct Certifier {
    scheme: Scheme,
    participants: usize,
}

impl Certifier {
    /// The checker for a genesis file's validators; `None` if it names none.
    pub fn for_genesis(file: &GenesisFile) -> anyhow::Result<Option<Certifier>> {
        let Some(set) = &file.validators else {
            return Ok(None);
        };
        let genesis = file.genesis()?;
        let keys = set
            .public_keys
            .iter()
            .map(|k| public_key_from_hex(k).with_context(|| format!("validator key {k}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let participants = keys.len();
        let keys =
            Set::try_from(keys).map_err(|_| anyhow::anyhow!("a validator is listed twice"))?;
        let namespace = crate::process::vote_namespace(set, &genesis);
        Ok(Some(Certifier {
            scheme: Scheme::verifier(&namespace, keys),
            participants,
        }))
    }

    /// `Ok` when `bytes` is a finalization, signed by a quorum of the validators, of the
    /// block `hash` in consensus view `view`.
    pub fn check(&self, bytes: &[u8], hash: Hash, view: u64) -> anyhow::Result<()> {
        let finalization =
            Finalization::<Scheme, Digest>::decode_cfg(bytes.to_vec(), &self.participants)
                .map_err(|e| anyhow::anyhow!("the certificate does not decode: {e}"))?;
        let named = crate::block::hash(&finalization.proposal.payload);
        anyhow::ensure!(
            named == hash,
            "the certificate finalizes block {named}, not {hash}"
        );
        let round_view = finalization.proposal.round.view().get();
        anyhow::ensure!(
            round_view == view,
            "the certificate is of view {round_view}, not {view}"
        );
        anyhow::ensure!(
            finalization.verify(&mut rand::rng(), &self.scheme, &Sequential),
            "the certificate is not signed by a quorum of the genesis's validators"
        );
        Ok(())
    }

    /// Asks the source for the certificate of block `height` and checks it: `Ok(false)`
    /// if the source has none (the block waits for a descendant's).
    async fn fetch_and_check(
        &self,
        client: &client::Client,
        height: u64,
        hash: Hash,
        view: u64,
    ) -> anyhow::Result<bool> {
        let path = format!("/v1/consensus/finalizations/{height}");
        let response = loop {
            match client.raw(client::Method::GET, &path, &[], None).await {
                Ok(response) => break response,
                Err(e) => {
                    tracing::warn!(error = %e, "the source did not answer; trying again");
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
        if response.status == client::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !response.status.is_success() {
            return Err(response.error().into());
        }
        self.check(&response.body, hash, view)
            .with_context(|| format!("the source's certificate of block {height}"))?;
        Ok(true)
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
