//! Speculative execution for consensus: the blocks a validator has proposed or verified
//! but that are not final yet, each executed once on a copy of its parent's post-state.
//!
//! ```text
//!            finalized (height F, its state)
//!               │
//!       ┌───────┴───────┐
//!     A (F+1)         A' (F+1)        blocks: hash ─► (executed block, post-state)
//!       │               │
//!     B (F+2)         B' (F+2)        propose(parent) / verify(block) add one;
//!                                     finalize(block) takes its entry, moves the
//!                                     finalized point, drops what is off its branch
//! ```
//!
//! Pure like the executor (no threads of its own, no clock, no I/O): the consensus
//! application drives it, and the deterministic simulation drives the same code.
//!
//! **The inclusion rule.** Besides equal roots, a valid block holds no transaction its
//! parent's state says can never run: a bad or foreign signature, an unknown signer, a
//! used or too-old nonce, a passed expiry, or a shape the door refuses
//! ([`never_includable`]). Those are refused as a whole and use no nonce, so without the
//! rule a faulty leader could fill blocks with them, or put one transaction (same hash)
//! into block after block. With it, each `(signer, nonce)`, and so each hash, executes
//! at most once on the chain, because the nonce window is part of the state root. A
//! transaction refused for what the block did before it (funds an earlier transaction
//! spent) is a legitimate outcome and may stand.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use markets::{
    Block, BlockContext, BlockError, BlockHeader, ChainReject, ExecutedBlock, Hash, Outcome,
    Reject, State, Verified, execute_block_except, execute_verified,
};

/// Unfinalized blocks kept at once. Simplex keeps a few views in flight; a leader that
/// floods forks is refused beyond this rather than growing memory.
pub const SPECULATIVE_BLOCKS_MAX: usize = 256;

/// A block and the state after it.
#[derive(Clone, Debug)]
pub struct Speculative {
    pub block: Arc<ExecutedBlock>,
    pub state: Arc<State>,
}

/// Why a block is not valid here. A value, not a panic: a faulty leader sends these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the parent block {0:?} is not known here")]
    UnknownParent(Hash),
    #[error("the block cannot be executed: {0}")]
    Execution(#[from] BlockError),
    #[error("the header differs from the one execution gives (first field: {field})")]
    Header { field: &'static str },
    #[error("transaction {index} can never run on its parent state: {reject}")]
    Inclusion { index: usize, reject: Reject },
    #[error("{SPECULATIVE_BLOCKS_MAX} unfinalized blocks are already kept")]
    TooManyForks,
}

/// Every block a validator executed and did not finalize yet, over the last final state.
#[derive(Debug)]
pub struct Forks {
    finalized: Arc<State>,
    blocks: HashMap<Hash, Speculative>,
}

impl Forks {
    /// `state` is the last final state (at genesis, or after the last stored block).
    pub fn new(state: State) -> Forks {
        Forks {
            finalized: Arc::new(state),
            blocks: HashMap::new(),
        }
    }

    /// The last final block's height and hash (the genesis hash at height 0).
    pub fn finalized(&self) -> (u64, Hash) {
        (self.finalized.height(), self.finalized.block_hash())
    }

    pub fn finalized_state(&self) -> &Arc<State> {
        &self.finalized
    }

    /// Whether a block can be built on or verified against: the last final block, or
    /// one executed here since.
    pub fn knows(&self, hash: &Hash) -> bool {
        *hash == self.finalized.block_hash() || self.blocks.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&Speculative> {
        self.blocks.get(hash)
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The state after `hash`, if known.
    pub fn state_of(&self, hash: &Hash) -> Option<&Arc<State>> {
        if *hash == self.finalized.block_hash() {
            return Some(&self.finalized);
        }
        self.blocks.get(hash).map(|s| &s.state)
    }

    /// The hashes of the transactions in the blocks from `parent` back to (not
    /// including) the last final block: a proposal on `parent` must not repeat them.
    pub fn unfinalized_transactions(&self, parent: &Hash) -> HashSet<Hash> {
        let mut hashes = HashSet::new();
        let mut at = *parent;
        while let Some(s) = self.blocks.get(&at) {
            hashes.extend(s.block.transactions.iter().map(Verified::hash));
            at = s.block.header.parent_hash;
        }
        hashes
    }

    /// Builds and executes a block on `parent` from `candidates` (in the order given),
    /// leaving out what the ancestry already holds and what can never run, and keeps it.
    /// `timestamp_ms` is raised to the parent's if the clock is behind it.
    pub fn propose(
        &mut self,
        parent: &Hash,
        timestamp_ms: u64,
        candidates: Vec<Verified>,
    ) -> Result<Arc<ExecutedBlock>, Invalid> {
        let base = self.proposal_base(parent)?;
        let (block, state) = base.propose(timestamp_ms, candidates)?;
        self.keep(block, state)
    }

    /// What a proposal on `parent` needs from the forks: the parent's state and what
    /// its ancestry already holds. Taken under the caller's lock; the execution
    /// ([`ProposalBase::propose`]) needs none, and [`Forks::keep`] keeps its result.
    pub fn proposal_base(&self, parent: &Hash) -> Result<ProposalBase, Invalid> {
        self.check_room()?;
        Ok(ProposalBase {
            state: self
                .state_of(parent)
                .ok_or(Invalid::UnknownParent(*parent))?
                .clone(),
            exclude: self.unfinalized_transactions(parent),
        })
    }

    /// Re-executes a block received from the leader or a peer on its parent's state, and
    /// keeps it if every root and the inclusion rule hold. Verifying a block already
    /// known gives the same answer without executing it again.
    pub fn verify(&mut self, block: &Block) -> Result<Arc<ExecutedBlock>, Invalid> {
        match self.verification_base(block)? {
            VerificationBase::Known(executed) => Ok(executed),
            VerificationBase::Parent(base) => {
                let (executed, state) = execute_on(&base, block, |_| false)?;
                self.keep(executed, state)
            }
        }
    }

    /// What verifying `block` needs from the forks: the block itself if it is already
    /// kept, or its parent's state to execute it on ([`execute_on`], without the
    /// caller's lock; then [`Forks::keep`]).
    pub fn verification_base(&self, block: &Block) -> Result<VerificationBase, Invalid> {
        if let Some(s) = self.blocks.get(&block.header.hash()) {
            return Ok(VerificationBase::Known(s.block.clone()));
        }
        self.check_room()?;
        let parent = &block.header.parent_hash;
        Ok(VerificationBase::Parent(
            self.state_of(parent)
                .ok_or(Invalid::UnknownParent(*parent))?
                .clone(),
        ))
    }

    /// Keeps a block executed on a base taken from these forks. Blocks may have been
    /// finalized meanwhile: one whose parent is no longer kept is off the final branch
    /// (it can never be final) and is refused; one kept meanwhile (verified twice at
    /// once) gives the kept one; one that became final itself meanwhile is valid and
    /// not kept again.
    pub fn keep(
        &mut self,
        block: ExecutedBlock,
        state: State,
    ) -> Result<Arc<ExecutedBlock>, Invalid> {
        if let Some(s) = self.blocks.get(&block.hash) {
            return Ok(s.block.clone());
        }
        if block.hash == self.finalized.block_hash() {
            return Ok(Arc::new(block));
        }
        self.check_room()?;
        let parent = block.header.parent_hash;
        match self.state_of(&parent) {
            Some(p) if p.height() + 1 == block.header.height => Ok(self.insert(block, state)),
            _ => Err(Invalid::UnknownParent(parent)),
        }
    }

    /// Makes `block` final: it must be a child of the last final block. Takes its entry
    /// (executing it on a miss: a block finalized by the others while this validator was
    /// away), moves the final point to it and drops every block not descending from it.
    /// `Err` means the network finalized a block this validator finds invalid, which
    /// the caller must treat as fatal (this state machine disagrees with a quorum).
    pub fn finalize(&mut self, block: &Block) -> Result<Speculative, Invalid> {
        let hash = block.header.hash();
        let finalized = match self.blocks.remove(&hash) {
            Some(s) if s.block.header.parent_hash == self.finalized.block_hash() => s,
            Some(s) => {
                let parent = s.block.header.parent_hash;
                self.blocks.insert(hash, s);
                return Err(Invalid::UnknownParent(parent));
            }
            None => {
                if block.header.parent_hash != self.finalized.block_hash() {
                    return Err(Invalid::UnknownParent(block.header.parent_hash));
                }
                let (executed, state) = execute_on(&self.finalized, block, |_| false)?;
                Speculative {
                    block: Arc::new(executed),
                    state: Arc::new(state),
                }
            }
        };
        self.finalized = finalized.state.clone();
        self.prune();
        Ok(finalized)
    }

    /// Checks the structure: every kept block descends from the final one and sits
    /// above it, and each entry's state is the state after its block.
    pub fn check_invariants(&self) {
        let final_height = self.finalized.height();
        assert!(self.blocks.len() <= SPECULATIVE_BLOCKS_MAX);
        for (hash, s) in &self.blocks {
            assert_eq!(s.block.hash, *hash);
            assert_eq!(s.state.block_hash(), *hash);
            assert_eq!(s.state.height(), s.block.header.height);
            assert!(s.block.header.height > final_height);
            let parent = &s.block.header.parent_hash;
            let parent_height = self
                .state_of(parent)
                .unwrap_or_else(|| panic!("block {hash:?} has no known parent"))
                .height();
            assert_eq!(parent_height + 1, s.block.header.height);
        }
    }

    fn check_room(&self) -> Result<(), Invalid> {
        if self.blocks.len() >= SPECULATIVE_BLOCKS_MAX {
            return Err(Invalid::TooManyForks);
        }
        Ok(())
    }

    fn insert(&mut self, block: ExecutedBlock, state: State) -> Arc<ExecutedBlock> {
        let block = Arc::new(block);
        self.blocks.insert(
            block.hash,
            Speculative {
                block: block.clone(),
                state: Arc::new(state),
            },
        );
        block
    }

    /// Keeps only the blocks above the final one that descend from it.
    fn prune(&mut self) {
        let mut by_height: Vec<(u64, Hash, Hash)> = self
            .blocks
            .values()
            .map(|s| {
                (
                    s.block.header.height,
                    s.block.hash,
                    s.block.header.parent_hash,
                )
            })
            .collect();
        by_height.sort_unstable();
        let mut keep = HashSet::from([self.finalized.block_hash()]);
        for (height, hash, parent) in by_height {
            if height > self.finalized.height() && keep.contains(&parent) {
                keep.insert(hash);
            } else {
                self.blocks.remove(&hash);
            }
        }
    }
}

/// The parent's state and the transactions its unfinalized ancestry holds, taken from
/// [`Forks::proposal_base`].
#[derive(Debug)]
pub struct ProposalBase {
    state: Arc<State>,
    exclude: HashSet<Hash>,
}

/// What [`Forks::verification_base`] found.
#[derive(Debug)]
pub enum VerificationBase {
    /// Already executed and kept here.
    Known(Arc<ExecutedBlock>),
    /// The state of the block's parent, to execute it on.
    Parent(Arc<State>),
}

impl ProposalBase {
    /// The transactions the parent's unfinalized ancestry holds.
    pub fn excluded(&self) -> &HashSet<Hash> {
        &self.exclude
    }

    /// Builds and executes a block on this base from `candidates` (see
    /// [`Forks::propose`]); touches no shared state.
    pub fn propose(
        self,
        timestamp_ms: u64,
        candidates: Vec<Verified>,
    ) -> Result<(ExecutedBlock, State), Invalid> {
        let ProposalBase {
            state: base,
            exclude,
        } = self;
        let context = BlockContext {
            height: base.height() + 1,
            timestamp_ms: timestamp_ms.max(base.timestamp_ms()),
        };
        let mut txs: Vec<Verified> = candidates
            .into_iter()
            .filter(|tx| !exclude.contains(&tx.hash()))
            .collect();
        txs.truncate(markets::limits::TRANSACTIONS_PER_BLOCK_MAX);
        let mut state = State::clone(&base);
        let mut block = execute_verified(&mut state, context, txs.clone())?;
        let refused: HashSet<usize> = inclusion_breaks(&block).map(|(i, _)| i).collect();
        if !refused.is_empty() {
            // Rare: a transaction went stale in the mempool (its nonce used by another
            // one with the same nonce). Dropping it changes no other transaction's
            // verdict of that kind (nonces are per signer, expiry per height), so one
            // more execution gives a block that keeps the rule.
            let kept = txs
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !refused.contains(i))
                .map(|(_, tx)| tx)
                .collect();
            state = State::clone(&base);
            block = execute_verified(&mut state, context, kept)?;
            assert!(
                inclusion_breaks(&block).next().is_none(),
                "dropping never-includable transactions leaves none"
            );
        }
        Ok((block, state))
    }
}

/// Re-executes `block` on `base`, its parent's state, and checks every root and the
/// inclusion rule; `checked` names the signatures not to check again. Pure: callers
/// run it outside any lock and keep the result with [`Forks::keep`].
pub fn execute_on(
    base: &State,
    block: &Block,
    checked: impl Fn(&Hash) -> bool,
) -> Result<(ExecutedBlock, State), Invalid> {
    if block.transactions.len() != block.header.transaction_count as usize {
        return Err(Invalid::Header {
            field: "transaction_count",
        });
    }
    let mut state = State::clone(base);
    let context = BlockContext {
        height: block.header.height,
        timestamp_ms: block.header.timestamp_ms,
    };
    let executed = execute_block_except(&mut state, context, &block.transactions, checked)?;
    if let Some(field) = header_difference(&executed.header, &block.header) {
        return Err(Invalid::Header { field });
    }
    if let Some((index, reject)) = inclusion_breaks(&executed).next() {
        return Err(Invalid::Inclusion { index, reject });
    }
    Ok((executed, state))
}

/// Whether a transaction refused as a whole with `reject` could never have run on its
/// parent's state, whatever else the block held (see the module docs).
pub fn never_includable(reject: &Reject) -> bool {
    match reject {
        Reject::Book(_) => false,
        Reject::Chain(c) => !matches!(
            c,
            ChainReject::InsufficientFunds | ChainReject::SupplyOverflow
        ),
    }
}

/// The transactions of `block` that break the inclusion rule, with their reject.
fn inclusion_breaks(block: &ExecutedBlock) -> impl Iterator<Item = (usize, Reject)> + '_ {
    block
        .receipts
        .iter()
        .enumerate()
        .filter_map(|(i, receipt)| match &receipt.outcome {
            Outcome::Rejected(reject) if never_includable(reject) => Some((i, *reject)),
            _ => None,
        })
}

/// The first field in which two headers differ.
fn header_difference(a: &BlockHeader, b: &BlockHeader) -> Option<&'static str> {
    let fields = [
        ("chain_id", a.chain_id == b.chain_id),
        ("height", a.height == b.height),
        ("parent_hash", a.parent_hash == b.parent_hash),
        ("timestamp_ms", a.timestamp_ms == b.timestamp_ms),
        (
            "transaction_count",
            a.transaction_count == b.transaction_count,
        ),
        (
            "transactions_root",
            a.transactions_root == b.transactions_root,
        ),
        ("events_root", a.events_root == b.events_root),
        ("state_root", a.state_root == b.state_root),
    ];
    fields.iter().find(|(_, same)| !same).map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use markets::sim::{Sim, SimConfig};
    use markets::{SignedTransaction, execute_block, verify_block};

    fn sim(seed: u64) -> Sim {
        Sim::new(
            seed,
            SimConfig {
                accounts: 20,
                transactions_per_block: 40,
                bad_per_mille: 0,
                ..SimConfig::default()
            },
        )
    }

    fn verified(state: &State, txs: &[SignedTransaction]) -> Vec<Verified> {
        verify_block(state, txs)
    }

    /// A block built by `propose` on a leader's forks.
    fn proposed(forks: &mut Forks, parent: &Hash, ts: u64, txs: &[SignedTransaction]) -> Block {
        let state = forks.state_of(parent).unwrap().clone();
        let block = forks.propose(parent, ts, verified(&state, txs)).unwrap();
        block.block()
    }

    #[test]
    fn a_proposed_block_verifies_elsewhere_and_both_finalize_the_same_state() {
        let mut sim = sim(1);
        let (mut leader, mut follower) = (Forks::new(sim.state()), Forks::new(sim.state()));
        let mut parent = leader.finalized().1;
        for i in 0..4 {
            let txs = sim.next_block();
            let block = proposed(&mut leader, &parent, 1_000 * (i + 1), &txs);
            assert!(!block.transactions.is_empty());
            let verified = follower.verify(&block).unwrap();
            assert_eq!(verified.header, block.header);
            parent = block.header.hash();
            // The leader may leave a transaction out (the inclusion rule).
            sim.observe(&block.transactions, &verified);
        }
        // Finalize the first two on both; the tails stay speculative.
        let chain: Vec<Block> = {
            let mut at = parent;
            let mut blocks = Vec::new();
            while let Some(s) = leader.get(&at) {
                blocks.push(s.block.block());
                at = s.block.header.parent_hash;
            }
            blocks.reverse();
            blocks
        };
        for block in &chain[..2] {
            let a = leader.finalize(block).unwrap();
            let b = follower.finalize(block).unwrap();
            assert_eq!(a.block.header, b.block.header);
        }
        assert_eq!(leader.finalized(), follower.finalized());
        assert_eq!(leader.finalized().0, 2);
        assert_eq!(leader.len(), 2);
        leader.check_invariants();
        follower.check_invariants();
    }

    #[test]
    fn finalizing_one_fork_drops_the_other_and_a_miss_executes_the_block() {
        let mut sim = sim(2);
        let mut leader = Forks::new(sim.state());
        let genesis = leader.finalized().1;
        let txs = sim.next_block();
        let a = proposed(&mut leader, &genesis, 10, &txs);
        let a2 = proposed(&mut leader, &genesis, 11, &txs[..txs.len() / 2]);
        assert_ne!(a.header.hash(), a2.header.hash());
        let b = proposed(&mut leader, &a.header.hash(), 20, &sim.next_block());
        let b2 = proposed(&mut leader, &a2.header.hash(), 21, &[]);
        assert_eq!(leader.len(), 4);
        leader.check_invariants();

        leader.finalize(&a).unwrap();
        assert!(leader.knows(&b.header.hash()));
        assert!(!leader.knows(&a2.header.hash()));
        assert!(!leader.knows(&b2.header.hash()));
        leader.check_invariants();

        // A validator that saw none of it executes each final block on arrival.
        let mut late = Forks::new(sim.state());
        late.finalize(&a).unwrap();
        let s = late.finalize(&b).unwrap();
        assert_eq!(s.block.header, b.header);
        assert!(late.is_empty());
        // A final block that does not follow the final point is refused.
        assert_eq!(
            late.finalize(&a2).unwrap_err(),
            Invalid::UnknownParent(genesis)
        );
    }

    /// Execution happens between taking a base and keeping the result, without the
    /// forks: meanwhile the forks may finalize. A block executed on a base that stayed
    /// on the final branch is kept; one whose parent was dropped is refused; the same
    /// block kept twice is one entry.
    #[test]
    fn a_block_executed_on_a_base_is_kept_only_if_its_parent_is_still_on_the_final_branch() {
        let mut sim = sim(5);
        let mut leader = Forks::new(sim.state());
        let mut follower = Forks::new(sim.state());
        let genesis = leader.finalized().1;
        let txs = sim.next_block();
        let a = proposed(&mut leader, &genesis, 10, &txs);
        let a2 = proposed(&mut leader, &genesis, 11, &txs[..txs.len() / 2]);
        let b = proposed(&mut leader, &a.header.hash(), 20, &sim.next_block());
        let b2 = proposed(&mut leader, &a2.header.hash(), 21, &[]);
        for block in [&a, &a2] {
            follower.verify(block).unwrap();
        }

        // Bases for b and b2 taken, then a finalized while they execute.
        let base = |forks: &Forks, block: &Block| match forks.verification_base(block).unwrap() {
            VerificationBase::Parent(state) => state,
            VerificationBase::Known(_) => panic!("not kept yet"),
        };
        let (on_a, on_a2) = (base(&follower, &b), base(&follower, &b2));
        follower.finalize(&a).unwrap();
        let (executed, state) = execute_on(&on_a, &b, |_| false).unwrap();
        let (again, again_state) = (executed.clone(), state.clone());
        let kept = follower.keep(executed, state).unwrap();
        assert_eq!(kept.header, b.header);
        let (executed, state) = execute_on(&on_a2, &b2, |_| false).unwrap();
        assert_eq!(
            follower.keep(executed, state).unwrap_err(),
            Invalid::UnknownParent(a2.header.hash()),
            "a2 was dropped when a became final"
        );
        assert!(matches!(
            follower.verification_base(&b).unwrap(),
            VerificationBase::Known(_)
        ));
        follower.keep(again, again_state).unwrap();
        assert_eq!(follower.len(), 1, "b, once");
        follower.check_invariants();
        // b executed on a base, then made final before it is kept: valid, not kept.
        let (late, late_state) = execute_on(&on_a, &b, |_| false).unwrap();
        let mut fresh = Forks::new(sim.state());
        fresh.finalize(&a).unwrap();
        fresh.finalize(&b).unwrap();
        assert_eq!(fresh.keep(late, late_state).unwrap().header, b.header);
        assert!(fresh.is_empty());
        fresh.check_invariants();

        // A proposal's base: its ancestry's transactions are excluded.
        let proposal = follower.proposal_base(&b.header.hash()).unwrap();
        assert!(proposal.excluded().contains(&b.transactions[0].hash()));
        let (c, state) = proposal.propose(30, Vec::new()).unwrap();
        assert_eq!(c.header.parent_hash, b.header.hash());
        follower.keep(c, state).unwrap();
        follower.check_invariants();
    }

    #[test]
    fn a_block_whose_roots_differ_is_invalid_and_not_kept() {
        let mut sim = sim(3);
        let mut leader = Forks::new(sim.state());
        let genesis = leader.finalized().1;
        let block = proposed(&mut leader, &genesis, 10, &sim.next_block());
        for (field, tamper) in [
            (
                "state_root",
                (|h: &mut BlockHeader| h.state_root.0[0] ^= 1) as fn(&mut _),
            ),
            ("events_root", |h| h.events_root.0[5] ^= 1),
            ("transactions_root", |h| h.transactions_root.0[31] ^= 1),
        ] {
            let mut bad = block.clone();
            tamper(&mut bad.header);
            let mut follower = Forks::new(sim.state());
            assert_eq!(
                follower.verify(&bad).unwrap_err(),
                Invalid::Header { field }
            );
            assert!(follower.is_empty());
        }
        // Transactions that differ from the header's.
        let mut bad = block.clone();
        bad.transactions.pop();
        let mut follower = Forks::new(sim.state());
        assert_eq!(
            follower.verify(&bad).unwrap_err(),
            Invalid::Header {
                field: "transaction_count"
            }
        );
        let mut unknown = block.clone();
        unknown.header.parent_hash = Hash([7; 32]);
        assert_eq!(
            follower.verify(&unknown).unwrap_err(),
            Invalid::UnknownParent(Hash([7; 32]))
        );
    }

    #[test]
    fn a_transaction_is_never_included_twice() {
        let mut sim = sim(4);
        let mut leader = Forks::new(sim.state());
        let genesis = leader.finalized().1;
        let txs = sim.next_block();
        let a = proposed(&mut leader, &genesis, 10, &txs);
        // Proposing on `a` with the same transactions again leaves them all out.
        let b = proposed(&mut leader, &a.header.hash(), 20, &txs);
        assert!(b.transactions.is_empty());

        // A block that repeats one of its parent's transactions breaks the rule, even
        // though its roots are what executing it gives.
        let mut follower = Forks::new(sim.state());
        follower.verify(&a).unwrap();
        let mut other = Forks::new(sim.state());
        other.verify(&a).unwrap();
        let state = other.state_of(&a.header.hash()).unwrap().clone();
        let mut s = State::clone(&state);
        let executed = &other.get(&a.header.hash()).unwrap().block;
        let used = executed
            .receipts
            .iter()
            .position(|r| matches!(r.outcome, Outcome::Executed(_)))
            .expect("some transaction of the block ran");
        let repeat = vec![a.transactions[used].clone()];
        let context = BlockContext {
            height: 2,
            timestamp_ms: state.timestamp_ms(),
        };
        let replayed = execute_block(&mut s, context, &repeat).unwrap().block();
        assert_eq!(
            follower.verify(&replayed).unwrap_err(),
            Invalid::Inclusion {
                index: 0,
                reject: ChainReject::NonceAlreadyUsed.into()
            }
        );
    }
}
