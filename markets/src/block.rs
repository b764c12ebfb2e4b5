//! Blocks, headers, receipts and the events a block records.

use borsh::{BorshDeserialize, BorshSerialize};
use matching::{Event, OrderId};
use sha2::{Digest as _, Sha256};

use crate::merkle::Hash;
use crate::{ChainId, Reject, SignedTransaction};

/// What a block commits to. `hash = sha256(borsh(header))`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockHeader {
    pub chain_id: ChainId,
    pub height: u64,
    /// Hash of the previous block's header (the genesis hash for block 1).
    pub parent_hash: Hash,
    /// Set by the block producer; execution never reads a clock.
    pub timestamp_ms: u64,
    pub transaction_count: u32,
    /// Merkle root over the transaction hashes, in block order.
    pub transactions_root: Hash,
    /// Merkle root over `[receipts root, market 0 events hash, market 1 …]`: one item
    /// per market (`execute::market_events_hash`, a flat hash of its events), so one
    /// market's fills can be proven with that market's events alone.
    pub events_root: Hash,
    /// See [`crate::State::state_root`].
    pub state_root: Hash,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        Hash(Sha256::digest(borsh::to_vec(self).expect("Vec")).into())
    }
}

/// A block as stored and sent: the header and the transactions. Receipts and events are
/// recomputed by executing it, never trusted from bytes.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub transactions: Vec<SignedTransaction>,
}

/// What happened to one transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    pub tx_hash: Hash,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Outcome {
    /// Refused as a whole; nothing changed (not even the nonce window).
    Rejected(Reject),
    /// Executed; the nonce is used. One outcome per action, in order. The book events
    /// of its order actions are in the block's market events, tagged with its index.
    Executed(Vec<ActionOutcome>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ActionOutcome {
    /// A place the book accepted, with the order's id.
    Placed(OrderId),
    /// Any other action that took effect.
    Done,
    /// This action was refused and changed nothing; the others in the batch stand.
    Rejected(Reject),
}

/// A book event, tagged with the transaction and action that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TaggedEvent {
    /// Index of the transaction in the block, or [`TaggedEvent::BLOCK`] for events of the
    /// block itself (expiry).
    pub tx: u32,
    /// Index of the action in the transaction.
    pub action: u16,
    pub event: Event,
}

impl TaggedEvent {
    pub const BLOCK: u32 = u32::MAX;
}

/// Everything executing a block produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutput {
    pub header: BlockHeader,
    pub hash: Hash,
    pub receipts: Vec<Receipt>,
    /// Per market, indexed by market id, in the order the book emitted them.
    pub market_events: Vec<Vec<TaggedEvent>>,
}
