//! [`MemChain`]: the chain without files, threads or clocks, for the deterministic
//! simulation. It runs the real executor, the real [`Forks`] and the node's real
//! [`Mempool`] (nonce order, pruning, drops with their codes); its "disk" is a list of
//! final blocks that outlives a simulated crash, the way a data directory outlives
//! `kill -9`.

use std::collections::HashSet;
use std::sync::Arc;

use api::Dropped;
use markets::{Encoded, Finality, Genesis, Hash, Reject, SignedTransaction, State, admit};
use node::fork::{Forks, Invalid};
use node::mempool::{DroppedIndex, Mempool, MempoolLimits, Refusal};
use parking_lot::Mutex;

use crate::block::ChainBlock;
use crate::{Chain, Durable};

/// Transactions a [`MemChain`] keeps waiting for a block.
pub const MEMPOOL_MAX: usize = 100_000;

/// Why [`MemChain::submit`] did not take a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The chain refuses it now.
    Reject(Reject),
    /// The mempool's limits (or another pending transaction with its nonce).
    Refusal(Refusal),
}

/// What a validator says of a transaction it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    /// In the final block at this height.
    Committed(u64),
    Dropped(Dropped),
    /// Never heard of: an acknowledged transaction in this state is a silent loss.
    Unknown,
}
/// Transactions a proposal takes.
pub const PROPOSAL_TRANSACTIONS_MAX: usize = 2_000;

/// The final blocks of one validator, in height order: what survives its crash.
#[derive(Clone, Debug, Default)]
pub struct Disk(Arc<Mutex<Vec<ChainBlock>>>);

impl Disk {
    pub fn blocks(&self) -> Vec<ChainBlock> {
        self.0.lock().clone()
    }

    pub fn height(&self) -> u64 {
        self.0.lock().len() as u64
    }
}

/// A validator's chain in memory. Clones share it.
#[derive(Clone, Debug)]
pub struct MemChain {
    genesis: ChainBlock,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    forks: Forks,
    disk: Disk,
    mempool: Mempool,
    dropped: DroppedIndex,
    /// Where each transaction of a block final since the open is.
    committed: std::collections::HashMap<Hash, u64>,
    /// Each final block's state root, by height (index 0: height 1).
    roots: Vec<Hash>,
    /// The certificate that finalized the last block finalized since the open.
    last_finality: Option<Finality>,
}

impl MemChain {
    /// Opens a validator on `disk`: replays its final blocks from genesis, as the node
    /// replays its block log.
    pub fn open(genesis: &Genesis, disk: Disk) -> MemChain {
        let state = State::from_genesis(genesis).expect("a valid genesis");
        let mut inner = Inner {
            forks: Forks::new(state),
            disk: disk.clone(),
            mempool: Mempool::new(MempoolLimits {
                total: MEMPOOL_MAX,
                per_account: MEMPOOL_MAX,
            }),
            dropped: DroppedIndex::default(),
            committed: std::collections::HashMap::new(),
            roots: Vec::new(),
            last_finality: None,
        };
        for block in disk.blocks() {
            let s = inner
                .forks
                .finalize(block.block())
                .expect("a stored final block replays");
            inner.roots.push(s.block.header.state_root);
        }
        MemChain {
            genesis: ChainBlock::genesis(genesis),
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Admits transactions as the node's door does (against the last final state),
    /// keeping those that pass; a known one is a duplicate, not an error.
    pub fn submit(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Hash, Refused>> {
        let mut inner = self.inner.lock();
        let state = inner.forks.finalized_state().clone();
        let encoded = Encoded::many(transactions);
        let hashes: Vec<Hash> = encoded.iter().map(Encoded::hash).collect();
        let verdicts = admit(&state, encoded);
        hashes
            .into_iter()
            .zip(verdicts)
            .map(|(hash, verdict)| {
                if inner.committed.contains_key(&hash)
                    || inner.mempool.contains(&hash)
                    || inner.dropped.get(&hash).is_some()
                {
                    return Ok(hash);
                }
                let tx = verdict.map_err(Refused::Reject)?;
                inner
                    .mempool
                    .admit(tx, MEMPOOL_MAX)
                    .map_err(Refused::Refusal)?;
                Ok(hash)
            })
            .collect()
    }

    /// What this validator says of a transaction.
    pub fn status(&self, hash: &Hash) -> Status {
        let inner = self.inner.lock();
        if let Some(height) = inner.committed.get(hash) {
            return Status::Committed(*height);
        }
        if inner.mempool.contains(hash) {
            return Status::Pending;
        }
        inner
            .dropped
            .get(hash)
            .map_or(Status::Unknown, Status::Dropped)
    }

    /// Height of the last final block.
    pub fn height(&self) -> u64 {
        self.inner.lock().forks.finalized().0
    }

    /// The state root after each final block, from height 1.
    pub fn roots(&self) -> Vec<Hash> {
        self.inner.lock().roots.clone()
    }

    pub fn mempool_len(&self) -> usize {
        self.inner.lock().mempool.len()
    }

    pub fn check_invariants(&self) {
        let inner = self.inner.lock();
        inner.forks.check_invariants();
        assert_eq!(inner.disk.height(), inner.forks.finalized().0);
        assert_eq!(inner.roots.len() as u64, inner.forks.finalized().0);
        inner.mempool.check_invariants();
        inner.dropped.check_invariants();
    }
}

impl Chain for MemChain {
    fn genesis(&self) -> ChainBlock {
        self.genesis.clone()
    }

    fn knows(&self, block: &Hash) -> bool {
        self.inner.lock().forks.knows(block)
    }

    fn finalized(&self) -> (u64, Hash) {
        self.inner.lock().forks.finalized()
    }

    fn propose(&self, parent: &Hash, timestamp_ms: u64) -> Result<ChainBlock, Invalid> {
        let mut inner = self.inner.lock();
        let base = inner.forks.proposal_base(parent)?;
        // As the node's validator: the oldest, each signer's in nonce order, leaving
        // out what the unfinalized ancestry holds.
        let candidates = inner.mempool.select(
            PROPOSAL_TRANSACTIONS_MAX,
            markets::limits::BLOCK_BYTES_MAX - (64 << 10),
            base.excluded(),
        );
        let (block, state) = base.propose(timestamp_ms, candidates)?;
        let block = inner.forks.keep(block, state)?;
        Ok(ChainBlock::executed(&block))
    }

    fn verify(&self, block: &ChainBlock) -> Result<(), Invalid> {
        self.inner.lock().forks.verify(block.block()).map(|_| ())
    }

    fn finalize(&self, block: &ChainBlock, finality: Option<Finality>, durable: Durable) {
        let mut inner = self.inner.lock();
        let height = block.header().height;
        let (final_height, _) = inner.forks.finalized();
        if height == 0 {
            // Marshal delivers the genesis block once; it is no block of ours.
            drop(inner);
            durable();
            return;
        }
        if height <= final_height {
            // Delivered again after a restart: it is on the disk already.
            let index = usize::try_from(height - 1).expect("a stored height fits memory");
            let stored = inner.disk.blocks()[index].hash();
            assert_eq!(stored, block.hash(), "a final block never changes");
            drop(inner);
            durable();
            return;
        }
        // Marshal reports a tip before its blocks: every new final block has its
        // certificate, at or above it, and a later block never names an older one.
        let finality = finality.expect("a final block comes after its certificate's tip");
        assert!(
            finality.height >= height,
            "{finality:?} is below block {height}"
        );
        if let Some(last) = inner.last_finality {
            assert!(finality.height >= last.height && finality.view >= last.view);
        }
        inner.last_finality = Some(finality);
        let s = inner
            .forks
            .finalize(block.block())
            .unwrap_or_else(|e| panic!("a quorum finalized a block this validator refuses: {e}"));
        inner.disk.0.lock().push(block.clone());
        inner.roots.push(s.block.header.state_root);
        // As the node's finalizer and publisher: the block's transactions leave the
        // queue, what it made impossible to run is dropped with its code, then both are
        // forgotten as pending.
        let transactions = &s.block.transactions;
        for tx in transactions {
            inner.committed.insert(tx.hash(), height);
        }
        inner.mempool.take_final(transactions);
        let signers: HashSet<[u8; 32]> = transactions
            .iter()
            .map(|tx| tx.signed().transaction.signer)
            .collect();
        let dropped = inner.mempool.prune(&s.state, &signers);
        inner.mempool.committed(transactions);
        for (tx, why) in dropped {
            inner.mempool.committed(std::slice::from_ref(&tx));
            inner.dropped.add(why);
        }
        drop(inner);
        durable();
    }
}
