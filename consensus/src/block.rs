//! The block as consensus carries it: our [`Block`] (header and transactions), named by
//! its header hash.
//!
//! Simplex votes on a digest, and the digest is `sha256(borsh(header))`, the same hash the
//! chain has always used: the header holds the parent, the height, the transactions root,
//! the events root and the post-state root, so a vote for a block is a vote for the state
//! it leaves. Two bodies cannot share a digest: decoding refuses a body whose
//! transactions do not give the header's count and root.
//!
//! On the wire: `u32 length (little-endian) ‖ borsh(Block)`, at most
//! [`BLOCK_BYTES_MAX`] bytes. Borsh is canonical (one encoding per value), and decoding
//! refuses trailing bytes.

use std::sync::Arc;

use bytes::{Buf as _, BufMut};
use commonware_codec::{EncodeSize, Error, Read, Write};
use commonware_consensus::types::Height;
use commonware_consensus::{Block as ConsensusBlock, BoundedBlock, Heightable};
use commonware_cryptography::Digestible;
use commonware_cryptography::sha256::Digest;
use markets::merkle::merkle_root;
use markets::{Block, BlockHeader, ExecutedBlock, Genesis, Hash, SignedTransaction};

pub use markets::limits::BLOCK_BYTES_MAX;

/// A block and its digest (the header hash), encoded once.
#[derive(Clone, Debug)]
pub struct ChainBlock {
    block: Arc<Block>,
    digest: Digest,
    /// `borsh(block)`, what [`Write`] sends after the length.
    bytes: Arc<[u8]>,
}

impl PartialEq for ChainBlock {
    fn eq(&self, other: &ChainBlock) -> bool {
        self.digest == other.digest && self.bytes == other.bytes
    }
}

impl Eq for ChainBlock {}

/// Our hash as commonware's digest, and back.
pub fn digest(hash: Hash) -> Digest {
    Digest(hash.0)
}

pub fn hash(digest: &Digest) -> Hash {
    Hash(digest.0)
}

impl ChainBlock {
    /// The block at height 0 that consensus starts from. It is never sent: every
    /// validator makes it from the genesis it was configured with, and its digest is the
    /// genesis hash, which block 1 names as its parent.
    pub fn genesis(genesis: &Genesis) -> ChainBlock {
        let hash = genesis.hash();
        let block = Block {
            header: BlockHeader {
                chain_id: genesis.chain_id,
                height: 0,
                parent_hash: hash,
                timestamp_ms: 0,
                transaction_count: 0,
                transactions_root: merkle_root(&[]),
                events_root: merkle_root(&[]),
                state_root: Hash([0; 32]),
            },
            transactions: Vec::new(),
        };
        let bytes = borsh::to_vec(&block).expect("Vec").into();
        ChainBlock {
            block: Arc::new(block),
            digest: digest(hash),
            bytes,
        }
    }

    /// A block this validator executed (proposed by it, or verified).
    pub fn executed(executed: &ExecutedBlock) -> ChainBlock {
        let bytes: Arc<[u8]> = executed.block_bytes().into();
        assert!(
            bytes.len() <= BLOCK_BYTES_MAX,
            "the proposer keeps blocks within {BLOCK_BYTES_MAX} bytes"
        );
        ChainBlock {
            block: Arc::new(executed.block()),
            digest: digest(executed.hash),
            bytes,
        }
    }

    /// Checks a block's bytes: it decodes, and its transactions are the ones its header
    /// counts and commits to (or it is a genesis block, see [`ChainBlock::genesis`]).
    pub fn decode(bytes: &[u8]) -> Result<ChainBlock, Error> {
        if bytes.len() > BLOCK_BYTES_MAX {
            return Err(Error::InvalidLength(bytes.len()));
        }
        let block: Block =
            borsh::from_slice(bytes).map_err(|_| Error::Invalid("ChainBlock", "not a block"))?;
        if block.header.height == 0 {
            // Marshal keeps the genesis block with the final ones and reads it back.
            return genesis_from(block, bytes);
        }
        if block.transactions.len() != block.header.transaction_count as usize {
            return Err(Error::Invalid("ChainBlock", "transaction count"));
        }
        if transactions_root(&block.transactions) != block.header.transactions_root {
            return Err(Error::Invalid("ChainBlock", "transactions root"));
        }
        Ok(ChainBlock {
            digest: digest(block.header.hash()),
            block: Arc::new(block),
            bytes: bytes.into(),
        })
    }

    pub fn block(&self) -> &Block {
        &self.block
    }

    pub fn header(&self) -> &BlockHeader {
        &self.block.header
    }

    /// The header hash.
    pub fn hash(&self) -> Hash {
        hash(&self.digest)
    }

    /// `borsh(block)`.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The genesis block read back: only the shape [`ChainBlock::genesis`] makes is
/// accepted, and its digest is the genesis hash it names as its parent.
fn genesis_from(block: Block, bytes: &[u8]) -> Result<ChainBlock, Error> {
    let h = &block.header;
    let empty = merkle_root(&[]);
    if !block.transactions.is_empty()
        || h.transaction_count != 0
        || h.timestamp_ms != 0
        || h.transactions_root != empty
        || h.events_root != empty
        || h.state_root != Hash([0; 32])
    {
        return Err(Error::Invalid("ChainBlock", "not a genesis block"));
    }
    Ok(ChainBlock {
        digest: digest(h.parent_hash),
        block: Arc::new(block),
        bytes: bytes.into(),
    })
}

/// The transactions root a header must hold for these transactions.
pub fn transactions_root(transactions: &[SignedTransaction]) -> Hash {
    let hashes: Vec<Hash> = transactions.iter().map(SignedTransaction::hash).collect();
    merkle_root(&hashes)
}

impl Write for ChainBlock {
    fn write(&self, buf: &mut impl BufMut) {
        let len = u32::try_from(self.bytes.len()).expect("bounded by BLOCK_BYTES_MAX");
        buf.put_u32_le(len);
        buf.put_slice(&self.bytes);
    }
}

impl EncodeSize for ChainBlock {
    fn encode_size(&self) -> usize {
        4 + self.bytes.len()
    }
}

impl Read for ChainBlock {
    /// The largest body accepted, in bytes (normally [`BLOCK_BYTES_MAX`]).
    type Cfg = usize;

    fn read_cfg(buf: &mut impl commonware_codec::Buf, max: &usize) -> Result<Self, Error> {
        if buf.remaining() < 4 {
            return Err(Error::EndOfBuffer);
        }
        let len = buf.get_u32_le() as usize;
        if len > (*max).min(BLOCK_BYTES_MAX) {
            return Err(Error::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(Error::EndOfBuffer);
        }
        let mut bytes = vec![0; len];
        buf.copy_to_slice(&mut bytes);
        ChainBlock::decode(&bytes)
    }
}

impl Digestible for ChainBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for ChainBlock {
    fn height(&self) -> Height {
        Height::new(self.block.header.height)
    }
}

impl ConsensusBlock for ChainBlock {
    fn parent(&self) -> Digest {
        digest(self.block.header.parent_hash)
    }
}

impl BoundedBlock for ChainBlock {
    fn max_encode_size(max: &usize) -> usize {
        4 + (*max).min(BLOCK_BYTES_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode as _, Encode as _};
    use markets::sim::{Sim, SimConfig};
    use markets::{State, execute_block};

    fn executed() -> (Genesis, ExecutedBlock) {
        let mut sim = Sim::new(9, SimConfig::default());
        let mut state: State = sim.state();
        let txs = sim.next_block();
        let block = execute_block(&mut state, sim.context(), &txs).unwrap();
        (sim.genesis().clone(), block)
    }

    #[test]
    fn a_block_round_trips_with_its_header_hash_as_digest() {
        let (_, executed) = executed();
        let block = ChainBlock::executed(&executed);
        assert_eq!(block.digest(), digest(executed.hash));
        assert_eq!(block.bytes(), &executed.block_bytes()[..]);
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encode_size());
        let back = ChainBlock::decode_cfg(bytes.clone(), &BLOCK_BYTES_MAX).unwrap();
        assert_eq!(back, block);
        assert_eq!(back.encode(), bytes, "one encoding per block");
        // Trailing bytes and a short buffer are refused.
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(ChainBlock::decode_cfg(bytes::Bytes::from(longer), &BLOCK_BYTES_MAX).is_err());
        assert!(ChainBlock::decode_cfg(bytes.slice(..bytes.len() - 1), &BLOCK_BYTES_MAX).is_err());
        // Over the configured limit.
        assert!(ChainBlock::decode_cfg(bytes.clone(), &(block.bytes().len() - 1)).is_err());
    }

    #[test]
    fn a_body_that_is_not_the_headers_is_refused() {
        let (_, executed) = executed();
        let mut block = executed.block();
        block.transactions.swap(0, 1);
        let bytes = borsh::to_vec(&block).unwrap();
        assert!(matches!(
            ChainBlock::decode(&bytes),
            Err(Error::Invalid(_, "transactions root"))
        ));
        block.transactions.pop();
        let bytes = borsh::to_vec(&block).unwrap();
        assert!(matches!(
            ChainBlock::decode(&bytes),
            Err(Error::Invalid(_, "transaction count"))
        ));
    }

    #[test]
    fn the_genesis_block_is_named_by_the_genesis_hash_and_reads_back() {
        let (genesis, executed) = executed();
        let block = ChainBlock::genesis(&genesis);
        assert_eq!(hash(&block.digest()), genesis.hash());
        assert_eq!(
            executed.header.parent_hash,
            genesis.hash(),
            "block 1's parent"
        );
        let back = ChainBlock::decode_cfg(block.encode(), &BLOCK_BYTES_MAX).unwrap();
        assert_eq!(back.digest(), block.digest());
        // Any other height-0 shape is refused.
        let mut odd = block.block().clone();
        odd.header.timestamp_ms = 1;
        assert!(ChainBlock::decode(&borsh::to_vec(&odd).unwrap()).is_err());
    }
}
