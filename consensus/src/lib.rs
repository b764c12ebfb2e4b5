//! clobchain's validators: the chain replicated with simplex BFT consensus from
//! commonware.
//!
//! ```text
//! simplex (votes, certificates) ─► marshal::Inline ─► App::propose | App::verify
//!                                                         │ (ancestry caught up first)
//!                                                         ▼
//!                                          Chain::propose | Chain::verify (re-execute,
//!                                            compare every root, inclusion rule)
//! marshal (finalized blocks, in height order, with backfill) ─► Finalized (a Reporter)
//!                                          ─► Chain::finalize ─► durable() ─► ack
//! ```
//!
//! [`Chain`] is the whole boundary between the engine and the state machine: the engine
//! can be swapped without touching `markets/` or `api/`. The state machine's side is
//! `node::fork::Forks`, which both implementations of [`Chain`] use: [`MemChain`] (the
//! deterministic simulation) and, later, the node.

pub mod app;
pub mod block;
pub mod engine;
pub mod faults;
pub mod follow;
pub mod memory;
pub mod node_chain;
pub mod process;
pub mod validator;

pub use app::{App, Finalized};
pub use block::{BLOCK_BYTES_MAX, ChainBlock};
pub use faults::{Fault, FaultKind, Faults};
pub use memory::{Disk, MemChain};

use markets::{Finality, Hash};
use node::fork::Invalid;

/// The validators' signing scheme: attributable ed25519 signatures (no key generation
/// ceremony), so a fault names the validator that signed it.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// Called once a final block is stored and published: consensus may then forget it
/// (marshal's acknowledgement). Never called if the validator stops first.
pub type Durable = Box<dyn FnOnce() + Send>;

/// All that consensus knows of the chain. Synchronous: execution is CPU work, and the
/// deterministic simulation calls it inline.
pub trait Chain: Clone + Send + Sync + 'static {
    /// The height-0 block consensus starts from (digest: the genesis hash).
    fn genesis(&self) -> ChainBlock;
    /// Whether `block` is the last final block or one executed here since.
    fn knows(&self, block: &Hash) -> bool;
    /// The last final block's height and hash.
    fn finalized(&self) -> (u64, Hash);
    /// As the leader: a block on `parent` (known) from the mempool, executed and kept.
    fn propose(&self, parent: &Hash, timestamp_ms: u64) -> Result<ChainBlock, Invalid>;
    /// Re-executes a proposal on its (known) parent; `Ok` when every root matches and
    /// the inclusion rule holds. The block is kept for its finalization.
    fn verify(&self, block: &ChainBlock) -> Result<(), Invalid>;
    /// `block` is final (height order, at least once: again after a restart), by the
    /// certificate `finality` names (`None` only if marshal reported no tip for it).
    /// Store and publish it, then call `durable`.
    fn finalize(&self, block: &ChainBlock, finality: Option<Finality>, durable: Durable);
}
