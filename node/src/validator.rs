//! The node as a validator: consensus decides which block comes next, this module
//! executes, keeps and finalizes blocks for it, and feeds final blocks into the same
//! writer and publisher stages the single node uses.
//!
//! ```text
//! consensus (commonware simplex, the `consensus` crate)
//!   propose(parent) ─► Forks::propose on the mempool's oldest transactions
//!   verify(block)   ─► Forks::verify (re-execute on the parent's state)
//!   finalize(block) ─► [channel] ─► finalizer thread: Forks::finalize, the admission
//!                        state, view N = view N-1 .next(state, block), snapshot if due
//!                        ─► writer (fsync) ─► publisher (view, TxIndex, mempool,
//!                        reporters) ─► durable(): consensus may forget the block
//! ```
//!
//! The single node's executor thread does not run: a block exists only once consensus
//! finalized it, so everything a client sees (receipts, `?wait=true`, the websocket) is
//! final. Transactions a client submits here are gossiped to the other validators
//! ([`ValidatorNode::take_gossip`]); those a peer gossips are admitted through the same
//! door and never gossiped again.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::time::Duration;

use markets::{Block, ExecutedBlock, Finality, Hash, SignedTransaction, State};
use parking_lot::Mutex;

use crate::fork::{self, Forks, Invalid, VerificationBase};
use api::Node as _;

use crate::{ChainNode, Refused, Staged};

/// How often the finalizer looks for a stop while no block comes.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Called once a final block is durable and published.
pub type Durable = Box<dyn FnOnce() + Send>;

/// Transactions waiting to be gossiped; past this, new admissions are not gossiped (they
/// still reach a block when this validator leads).
pub const GOSSIP_OUTBOX_MAX: usize = 100_000;

/// A block consensus finalized, by which certificate, and what to call once it is
/// durable and published.
type Final = (Block, Option<Finality>, Durable);

/// A [`ChainNode`] run by consensus.
#[derive(Debug)]
pub struct ValidatorNode {
    node: Arc<ChainNode>,
    forks: Mutex<Forks>,
    /// Final blocks for the finalizer thread, in height order.
    to_finalizer: Mutex<Sender<Final>>,
}

impl ValidatorNode {
    pub fn node(&self) -> &Arc<ChainNode> {
        &self.node
    }

    /// Whether a block is the last final one or one executed here since.
    pub fn knows(&self, hash: &Hash) -> bool {
        self.forks.lock().knows(hash)
    }

    /// The last final block executed here (it may not be durable yet).
    pub fn finalized(&self) -> (u64, Hash) {
        self.forks.lock().finalized()
    }

    /// A block on `parent` from the mempool's oldest transactions, executed and kept.
    /// Executes without the forks' lock, which the finalizer and consensus's other
    /// calls (`knows`, `finalized`) take: they never wait for an execution.
    pub fn propose(&self, parent: &Hash, timestamp_ms: u64) -> Result<Arc<ExecutedBlock>, Invalid> {
        let base = self.forks.lock().proposal_base(parent)?;
        let candidates = self
            .node
            .pool
            .lock()
            .mempool
            // The header and the length prefixes fit in the last 64 KiB.
            .select(
                self.node.block_take(),
                markets::limits::BLOCK_BYTES_MAX - (64 << 10),
                base.excluded(),
            );
        let (block, state) = base.propose(timestamp_ms, candidates)?;
        self.forks.lock().keep(block, state)
    }

    /// Re-executes a proposal on its parent's state; `Ok` when it is valid. The
    /// signatures of transactions this validator's door admitted (its mempool's: every
    /// one a peer gossiped, in the usual case) are not checked again.
    /// Executes without the forks' lock, as [`ValidatorNode::propose`].
    pub fn verify(&self, block: &Block) -> Result<Arc<ExecutedBlock>, Invalid> {
        let parent = match self.forks.lock().verification_base(block)? {
            VerificationBase::Known(executed) => return Ok(executed),
            VerificationBase::Parent(state) => state,
        };
        let hashes: Vec<Hash> = block
            .transactions
            .iter()
            .map(SignedTransaction::hash)
            .collect();
        let checked: HashSet<Hash> = {
            let pool = self.node.pool.lock();
            hashes
                .into_iter()
                .filter(|h| pool.mempool.contains(h))
                .collect()
        };
        let (executed, state) = fork::execute_on(&parent, block, |h| checked.contains(h))?;
        self.forks.lock().keep(executed, state)
    }

    /// Hands a final block to the finalizer thread (height order, at least once), with
    /// the certificate that finalized it: its receipts carry it.
    pub fn finalize(&self, block: Block, finality: Option<Finality>, durable: Durable) {
        if self
            .to_finalizer
            .lock()
            .send((block, finality, durable))
            .is_err()
        {
            tracing::warn!("the finalizer stopped; a final block waits for the restart");
        }
    }

    /// Admits transactions a peer gossiped: the same door, never gossiped again.
    pub fn admit_gossiped(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<(), Refused>> {
        self.node
            .admit_from(transactions, false)
            .into_iter()
            .map(|r| r.map(|_| ()))
            .collect()
    }

    /// Transactions clients submitted here since the last call, to send to the peers.
    pub fn take_gossip(&self) -> Vec<SignedTransaction> {
        std::mem::take(&mut *self.node.gossip.lock())
    }

    /// The finalizer stage: each final block's state, view and snapshot, then the writer.
    fn finalize_loop(
        &self,
        from_consensus: Receiver<Final>,
        to_writer: SyncSender<Staged>,
    ) -> anyhow::Result<()> {
        let mut view = self.node.view.load_full();
        loop {
            let (block, finality, durable) = match from_consensus.recv_timeout(STOP_POLL) {
                Ok(next) => next,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.node.stopping.load(Ordering::Acquire) {
                        // What consensus has not been told is durable, it redelivers
                        // after the restart.
                        return Ok(());
                    }
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            };
            let height = block.header.height;
            let (final_height, _) = self.forks.lock().finalized();
            if height == 0 {
                durable();
                continue;
            }
            if height <= final_height {
                // Delivered again after a restart: stored before, compare and acknowledge.
                let stored = self
                    .node
                    .stored(height)
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?
                    .ok_or_else(|| anyhow::anyhow!("final block {height} is not stored"))?;
                anyhow::ensure!(
                    stored.hash == block.header.hash(),
                    "consensus finalized block {height} again with another hash"
                );
                durable();
                continue;
            }
            let started = std::time::Instant::now();
            let speculative = self.forks.lock().finalize(&block).map_err(|e| {
                anyhow::anyhow!(
                    "a quorum finalized block {height}, which this validator refuses: {e}"
                )
            })?;
            let state: &State = &speculative.state;
            // Forks let go of the block when it finalized it: no copy in the usual case.
            let mut block = Arc::try_unwrap(speculative.block)
                .unwrap_or_else(|shared| ExecutedBlock::clone(&shared));
            block.finality = finality;
            let block = Arc::new(block);
            let next = view.next(state, &block);
            let snapshot = height
                .is_multiple_of(self.node.config.snapshot_interval.max(1))
                .then(|| State::clone(state).snapshot_bytes());
            // The door's prechecks read the final state.
            *self.node.state.write() = State::clone(state);
            // Its transactions leave the queue (pending until published), then what it
            // made impossible to run: the publisher reports those dropped.
            self.node
                .pool
                .lock()
                .mempool
                .take_final(&block.transactions);
            let dropped = self.node.prune(state, &block);
            view = Arc::new(next);
            let staged = Staged {
                block,
                view: Arc::clone(&view),
                snapshot,
                execute: started.elapsed(),
                write: Duration::ZERO,
                durable: Some(crate::OnDurable(durable)),
                dropped,
            };
            if to_writer.send(staged).is_err() {
                anyhow::bail!("the writer stage stopped");
            }
        }
    }
}

/// A pipeline stage's thread.
pub type Stage = std::thread::JoinHandle<anyhow::Result<()>>;

/// Starts the validator's stages (finalizer → writer → publisher) on `node`.
pub fn start(node: &Arc<ChainNode>) -> std::io::Result<(Arc<ValidatorNode>, Vec<Stage>)> {
    let state = State::clone(&node.state.read());
    node.validating.store(true, Ordering::Release);
    let (to_finalizer, from_consensus) = std::sync::mpsc::channel();
    let validator = Arc::new(ValidatorNode {
        node: Arc::clone(node),
        forks: Mutex::new(Forks::new(state)),
        to_finalizer: Mutex::new(to_finalizer),
    });
    let (to_writer, from_finalizer) = std::sync::mpsc::sync_channel::<Staged>(1);
    let (to_publisher, from_writer) = std::sync::mpsc::sync_channel::<Staged>(1);
    let v = Arc::clone(&validator);
    let finalizer = std::thread::Builder::new()
        .name("block-finalizer".into())
        .spawn(move || {
            let result = v.finalize_loop(from_consensus, to_writer);
            if let Err(e) = &result {
                tracing::error!(error = %format!("{e:#}"), "finalizer failed; the node stops");
                v.node.stop();
            }
            result
        })?;
    Ok((
        validator,
        vec![
            finalizer,
            crate::spawn_stage("block-writer", node, move |n| {
                n.write_loop(from_finalizer, to_publisher)
            })?,
            crate::spawn_stage("block-publisher", node, move |n| {
                n.publish_loop(from_writer)
            })?,
        ],
    ))
}
