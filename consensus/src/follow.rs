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
//! **Several sources** (`--follow URL1,URL2,…`, [`Sources`]): one is used at a time. One
//! that does not answer, or has no new block for 10 s, is left for the next (round the
//! list); one that serves a block
//! that does not extend this node's chain, a certificate that does not hold, or no
//! certificate for 1,024 blocks is faulty and never used again, and the
//! blocks it sent that no certificate covered are asked of the next. When every source
//! is faulty the follower stops, as it does when its only source is.
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
/// How long a source may go without a new block before the follower, if it has
/// several, asks the next (a live chain makes a block at least every second or so).
const STALLED: Duration = Duration::from_secs(10);
/// Blocks held waiting for a certificate that covers them.
const UNPROVEN_MAX: usize = 1_024;
/// How often submissions are forwarded, and at most how many in one request.
const FORWARD_INTERVAL: Duration = Duration::from_millis(5);
const FORWARD_BATCH_MAX: usize = 1_000;

/// Runs a follower of `sources` (one URL, or several separated by commas) until SIGINT
/// or SIGTERM.
pub fn run(config: NodeConfig, sources: &str) -> anyhow::Result<()> {
    let sources = Arc::new(Sources::parse(sources)?);
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
        let (running, node) = node::start_validator(config, metrics_route(&sources)).await?;
        println!(
            "clobchain node (following {sources}): API on http://{} , data in {}. Ctrl-C stops it.",
            running.addr,
            data.display()
        );
        let fetch = tokio::spawn(fetch_loop(
            Arc::clone(&node),
            Arc::clone(&sources),
            certifier,
        ));
        let forward = tokio::spawn(forward_loop(Arc::clone(&node), sources));
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

/// Takes the sources' final blocks in height order, from the one after this node's
/// last final block, each once a certificate covers it (with a [`Certifier`]). Returns
/// only when every source has served a block or certificate that cannot be this
/// chain's, or when the node stopped.
pub async fn fetch_loop(
    node: Arc<ValidatorNode>,
    sources: Arc<Sources>,
    certifier: Option<Certifier>,
) -> anyhow::Result<()> {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let (height, mut parent) = node.finalized();
    let mut next = height + 1;
    // Blocks linked by parent hashes and waiting for a certificate of a descendant.
    let mut unproven: Vec<(Block, Option<Finality>)> = Vec::new();
    let mut same_genesis = vec![false; sources.len()];
    let mut progress = std::time::Instant::now();
    loop {
        // A block this node refused stops its finalizer, and so the node.
        anyhow::ensure!(
            !node.node().is_stopping(),
            "the node stopped (a block the source sent did not execute to its header?)"
        );
        let (index, client) = sources.current();
        let fetched = if same_genesis[index] {
            fetch(client, certifier.as_ref(), next, parent).await
        } else {
            match check_genesis(&node, client).await {
                Ok(()) => {
                    same_genesis[index] = true;
                    continue;
                }
                Err(e) => Err(e),
            }
        };
        match fetched {
            Ok(None) if progress.elapsed() > STALLED && sources.len() > 1 => {
                tracing::warn!(source = %client.base(), height = next, "no new block from the source");
                sources.fail_over(index);
                progress = std::time::Instant::now();
            }
            Ok(None) => tokio::time::sleep(POLL).await,
            Ok(Some((block, finality, proven))) => {
                progress = std::time::Instant::now();
                parent = block.header.hash();
                unproven.push((block, finality));
                if proven {
                    for (block, finality) in unproven.drain(..) {
                        let permit = acquire(&node, &in_flight).await?;
                        node.finalize(block, finality, Box::new(move || drop(permit)));
                    }
                } else if unproven.len() > UNPROVEN_MAX {
                    let e = anyhow::anyhow!(
                        "no finalization certificate covers blocks {} to {next}",
                        next + 1 - unproven.len() as u64
                    );
                    (next, parent) = forget(&mut unproven, next, parent);
                    sources.distrust(index, e)?;
                    continue;
                }
                next += 1;
            }
            Err(Fault::Unreachable(e)) => {
                tracing::warn!(source = %client.base(), error = %e, "the source did not answer");
                sources.fail_over(index);
                tokio::time::sleep(RETRY / u32::try_from(sources.len()).unwrap_or(1)).await;
            }
            Err(Fault::Faulty(e)) => {
                let e = e.context(format!("{} at block {next}", client.base()));
                (next, parent) = forget(&mut unproven, next, parent);
                sources.distrust(index, e)?;
            }
        }
    }
}

/// Drops the blocks no certificate covered yet (a faulty source sent them); returns
/// the height and parent to ask the next source from.
fn forget(unproven: &mut Vec<(Block, Option<Finality>)>, next: u64, parent: Hash) -> (u64, Hash) {
    let from = unproven.first().map_or((next, parent), |(b, _)| {
        (b.header.height, b.header.parent_hash)
    });
    unproven.clear();
    from
}

/// Why a source gave no block.
#[derive(Debug)]
enum Fault {
    /// It did not answer, or answered an error: ask again, or another.
    Unreachable(anyhow::Error),
    /// What it served cannot be this chain's.
    Faulty(anyhow::Error),
}

/// Block `next` from `client`, if it has it: the block, its finality, and whether a
/// certificate that holds covers it (always, without a [`Certifier`]).
async fn fetch(
    client: &client::Client,
    certifier: Option<&Certifier>,
    next: u64,
    parent: Hash,
) -> Result<Option<(Block, Option<Finality>, bool)>, Fault> {
    let raw = match client.block_raw(next).await {
        Ok(Some(raw)) => raw,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Fault::Unreachable(e.into())),
    };
    let block = decode(&raw.bytes).map_err(Fault::Faulty)?;
    if block.header.height != next || block.header.parent_hash != parent {
        return Err(Fault::Faulty(anyhow::anyhow!(
            "it does not extend this node's chain (height {}, parent {}, expected parent \
             {parent}): is it another chain or genesis?",
            block.header.height,
            block.header.parent_hash,
        )));
    }
    let finality = raw.finality.map(|f| Finality {
        view: f.view,
        height: f.height,
    });
    let proven = match (certifier, finality) {
        (None, _) => true,
        (Some(certifier), Some(f)) if f.height == next => {
            certifier
                .fetch_and_check(client, next, block.header.hash(), f.view)
                .await?
        }
        (Some(_), _) => false,
    };
    Ok(Some((block, finality, proven)))
}

/// The source runs this node's chain: the same genesis hash.
async fn check_genesis(node: &ValidatorNode, client: &client::Client) -> Result<(), Fault> {
    let ours = api::Node::view(node.node().as_ref())
        .genesis_hash
        .to_string();
    let theirs = client
        .health()
        .await
        .map_err(|e| Fault::Unreachable(e.into()))?
        .genesis_hash;
    if theirs != ours {
        return Err(Fault::Faulty(anyhow::anyhow!(
            "the source runs another chain (genesis {theirs}; this node's is {ours}): give \
             --genesis the source's genesis file"
        )));
    }
    Ok(())
}

/// The nodes a follower takes its blocks from and forwards submissions to, in the
/// order given; one at a time (see the module docs).
#[derive(Debug)]
pub struct Sources {
    clients: Vec<client::Client>,
    /// The one in use; the fetch and forward loops share it.
    current: std::sync::atomic::AtomicUsize,
    /// Those that served what cannot be this chain's: never used again.
    faulty: std::sync::Mutex<Vec<bool>>,
    /// Moves from one source to another.
    failovers: std::sync::atomic::AtomicU64,
}

impl Sources {
    /// At most this many sources.
    pub const MAX: usize = 16;

    /// One URL, or several separated by commas.
    pub fn parse(list: &str) -> anyhow::Result<Sources> {
        let clients = list
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| client::Client::new(url).with_context(|| format!("the --follow URL {url}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!clients.is_empty(), "--follow names no URL");
        anyhow::ensure!(
            clients.len() <= Self::MAX,
            "--follow names more than {} URLs",
            Self::MAX
        );
        Ok(Sources {
            faulty: std::sync::Mutex::new(vec![false; clients.len()]),
            clients,
            current: std::sync::atomic::AtomicUsize::new(0),
            failovers: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The source in use, and its place in the list.
    pub fn current(&self) -> (usize, &client::Client) {
        let index = self.current.load(std::sync::atomic::Ordering::Acquire);
        (index, &self.clients[index])
    }

    /// Moves on from `from`, if it is still the one in use, to the next source not
    /// known faulty (round the list; `from` itself when it is the only one left).
    pub fn fail_over(&self, from: usize) {
        let faulty = self.faulty.lock().expect("not poisoned");
        let n = self.clients.len();
        let Some(to) = (1..=n).map(|step| (from + step) % n).find(|&i| !faulty[i]) else {
            return;
        };
        let moved = self.current.compare_exchange(
            from,
            to,
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
        );
        if moved.is_ok() && to != from {
            self.failovers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(from = %self.clients[from].base(), to = %self.clients[to].base(), "following another source");
        }
    }

    /// Marks `index` faulty for `why` and moves on; `Err(why)` when no source is left.
    pub fn distrust(&self, index: usize, why: anyhow::Error) -> anyhow::Result<()> {
        let left = {
            let mut faulty = self.faulty.lock().expect("not poisoned");
            faulty[index] = true;
            faulty.iter().filter(|f| !**f).count()
        };
        if left == 0 {
            return Err(why);
        }
        tracing::error!(source = %self.clients[index].base(), error = %why, "the source is faulty; it is not used again");
        self.fail_over(index);
        Ok(())
    }
}

/// `GET /metrics/follower`: which source is in use, how often it changed, how many
/// are faulty (Prometheus text).
fn metrics_route(sources: &Arc<Sources>) -> axum::Router {
    let sources = Arc::clone(sources);
    axum::Router::new().route(
        "/metrics/follower",
        axum::routing::get(move || {
            let sources = Arc::clone(&sources);
            async move {
                let (index, client) = sources.current();
                let faulty = sources
                    .faulty
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .filter(|f| **f)
                    .count();
                let failovers = sources.failovers.load(std::sync::atomic::Ordering::Relaxed);
                let text = format!(
                    "# HELP clobchain_follower_source The source in use (its place in --follow, from 0).\n\
                     # TYPE clobchain_follower_source gauge\n\
                     clobchain_follower_source{{url=\"{}\"}} {index}\n\
                     # HELP clobchain_follower_failovers_total Moves from one source to another.\n\
                     # TYPE clobchain_follower_failovers_total counter\n\
                     clobchain_follower_failovers_total {failovers}\n\
                     # HELP clobchain_follower_sources_faulty Sources found faulty, never used again.\n\
                     # TYPE clobchain_follower_sources_faulty gauge\n\
                     clobchain_follower_sources_faulty {faulty}\n",
                    client.base()
                );
                crate::process::prometheus_text(text)
            }
        }),
    )
}

impl std::fmt::Display for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, client) in self.clients.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", client.base())?;
        }
        Ok(())
    }
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
    ) -> Result<bool, Fault> {
        let path = format!("/v1/consensus/finalizations/{height}");
        let response = client
            .raw(client::Method::GET, &path, &[], None)
            .await
            .map_err(|e| Fault::Unreachable(e.into()))?;
        if response.status == client::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !response.status.is_success() {
            return Err(Fault::Unreachable(response.error().into()));
        }
        self.check(&response.body, hash, view)
            .with_context(|| format!("the source's certificate of block {height}"))
            .map_err(Fault::Faulty)?;
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

/// Sends what this node's clients submitted to the source in use, which puts it in a
/// block; one that does not answer is left for the next.
async fn forward_loop(node: Arc<ValidatorNode>, sources: Arc<Sources>) {
    loop {
        tokio::time::sleep(FORWARD_INTERVAL).await;
        let txs = node.take_gossip();
        for batch in txs.chunks(FORWARD_BATCH_MAX) {
            let (index, client) = sources.current();
            let body = api::binary::encode_batch(batch);
            let sent = client
                .post_bytes("/v1/transactions/batch", api::binary::OCTET_STREAM, body)
                .await;
            match sent {
                Ok(response) if response.status.is_success() => {}
                Ok(response) => {
                    tracing::warn!(error = %response.error(), "the source refused forwarded transactions");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "forwarding transactions to the source");
                    sources.fail_over(index);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(sources: &Sources) -> String {
        sources.current().1.base().to_string()
    }

    #[test]
    fn sources_fail_over_round_the_list_and_never_back_to_a_faulty_one() {
        let sources = Sources::parse("http://a:1, http://b:2,http://c:3").unwrap();
        assert_eq!((sources.len(), base(&sources).as_str()), (3, "http://a:1/"));
        sources.fail_over(0);
        assert_eq!(base(&sources), "http://b:2/");
        // A second loop reporting the same source down does not skip one more.
        sources.fail_over(0);
        assert_eq!(base(&sources), "http://b:2/");
        assert_eq!(
            sources.failovers.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        sources.distrust(1, anyhow::anyhow!("bad block")).unwrap();
        assert_eq!(base(&sources), "http://c:3/");
        sources.fail_over(2);
        assert_eq!(base(&sources), "http://a:1/", "b is faulty: skipped");
        sources
            .distrust(0, anyhow::anyhow!("bad certificate"))
            .unwrap();
        assert_eq!(base(&sources), "http://c:3/");
        // The only one left stays in use when it does not answer...
        sources.fail_over(2);
        assert_eq!(base(&sources), "http://c:3/");
        // ... and when it too is faulty, the follower has no source.
        let error = sources
            .distrust(2, anyhow::anyhow!("bad block"))
            .unwrap_err();
        assert_eq!(error.to_string(), "bad block");
        assert_eq!(sources.to_string(), "http://a:1/, http://b:2/, http://c:3/");
    }

    #[test]
    fn sources_parse_refuses_no_url_and_too_many() {
        assert!(Sources::parse("").is_err());
        assert!(Sources::parse(" , ").is_err());
        assert!(Sources::parse("not a url").is_err());
        let many = vec!["http://a:1"; Sources::MAX + 1].join(",");
        assert!(Sources::parse(&many).is_err());
        assert_eq!(Sources::parse("http://a:1").unwrap().len(), 1);
    }
}
