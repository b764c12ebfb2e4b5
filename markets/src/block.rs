//! Blocks, headers, receipts and the events a block records.

use borsh::{BorshDeserialize, BorshSerialize};
use matching::{Event, OrderId};
use sha2::{Digest as _, Sha256};

use crate::admit::Verified;
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

/// Which consensus certificate made a block final, on a chain run by validators.
///
/// Simplex finalizes a block by a quorum's finalization certificate in one view; that
/// certificate finalizes every ancestor too. So `height` is the height of the block the
/// certificate names: this block's own, or a descendant's when this block became final
/// through it (a validator catching up, or views that timed out before their
/// finalization). Not covered by any hash: it describes the block, it is not part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Finality {
    /// The consensus view of the finalization certificate.
    pub view: u64,
    /// The height of the block the certificate names (at least this block's).
    pub height: u64,
}

/// A block after execution: the one type the node stores, publishes and hands to
/// every subscriber (as an `Arc`), from the executor to the websocket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutedBlock {
    pub header: BlockHeader,
    /// `header.hash()`, computed once.
    pub hash: Hash,
    /// In block order, each encoded once (at admission).
    pub transactions: Vec<Verified>,
    /// One per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Per market, indexed by market id, in the order the book emitted them.
    pub market_events: Vec<Vec<TaggedEvent>>,
    /// The certificate that made it final, on a chain of validators; `None` on a
    /// single-producer chain (its blocks are final once stored) and from the executor.
    pub finality: Option<Finality>,
}

impl ExecutedBlock {
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// `borsh(Block { header, transactions })`, written from each transaction's one
    /// encoding rather than by encoding the transactions again. Borsh encodes a `Vec` as
    /// a `u32` count and its items, so the bytes are exactly those of [`Block`] (a test
    /// checks it).
    pub fn block_bytes(&self) -> Vec<u8> {
        let body: usize = self.transactions.iter().map(|t| t.encoded().len()).sum();
        let mut bytes = Vec::with_capacity(256 + body);
        self.header
            .serialize(&mut bytes)
            .expect("writing to a Vec cannot fail");
        let count = u32::try_from(self.transactions.len()).expect("bounded by the block limit");
        bytes.extend_from_slice(&count.to_le_bytes());
        for tx in &self.transactions {
            bytes.extend_from_slice(tx.encoded());
        }
        bytes
    }

    /// The block as stored and sent (copies the transactions).
    pub fn block(&self) -> Block {
        Block {
            header: self.header.clone(),
            transactions: self
                .transactions
                .iter()
                .map(|t| t.signed().clone())
                .collect(),
        }
    }

    /// A block read back from storage with its stored receipts and events, for clients
    /// (nothing is executed again; see [`Verified::committed`]).
    pub fn from_stored(
        block: Block,
        receipts: Vec<Receipt>,
        market_events: Vec<Vec<TaggedEvent>>,
        finality: Option<Finality>,
    ) -> ExecutedBlock {
        assert_eq!(
            block.transactions.len(),
            receipts.len(),
            "a stored record has one receipt per transaction"
        );
        let hash = block.header.hash();
        let transactions = block
            .transactions
            .into_iter()
            .zip(&receipts)
            .map(|(tx, receipt)| Verified::committed(tx, receipt))
            .collect();
        ExecutedBlock {
            header: block.header,
            hash,
            transactions,
            receipts,
            market_events,
            finality,
        }
    }
}
