//! The node as consensus's [`Chain`]: each call goes to the node's
//! [`ValidatorNode`](node::validator::ValidatorNode), which executes on its `Forks` and
//! feeds final blocks through its writer and publisher.

use std::sync::Arc;

use markets::{Finality, Genesis, Hash};
use node::fork::Invalid;
use node::validator::ValidatorNode;

use crate::block::ChainBlock;
use crate::{Chain, Durable};

/// A running validator node. Clones share it.
#[derive(Clone, Debug)]
pub struct NodeChain {
    validator: Arc<ValidatorNode>,
    genesis: ChainBlock,
}

impl NodeChain {
    pub fn new(validator: Arc<ValidatorNode>, genesis: &Genesis) -> NodeChain {
        NodeChain {
            validator,
            genesis: ChainBlock::genesis(genesis),
        }
    }
}

impl Chain for NodeChain {
    fn genesis(&self) -> ChainBlock {
        self.genesis.clone()
    }

    fn knows(&self, block: &Hash) -> bool {
        self.validator.knows(block)
    }

    fn finalized(&self) -> (u64, Hash) {
        self.validator.finalized()
    }

    fn propose(&self, parent: &Hash, timestamp_ms: u64) -> Result<ChainBlock, Invalid> {
        let block = self.validator.propose(parent, timestamp_ms)?;
        Ok(ChainBlock::executed(&block))
    }

    fn verify(&self, block: &ChainBlock) -> Result<(), Invalid> {
        self.validator.verify(block.block()).map(|_| ())
    }

    fn finalize(&self, block: &ChainBlock, finality: Option<Finality>, durable: Durable) {
        self.validator
            .finalize(block.block().clone(), finality, durable);
    }
}
