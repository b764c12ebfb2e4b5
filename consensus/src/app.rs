//! The application simplex drives (through marshal's `Inline` wrapper), and the sink for
//! finalized blocks. Both only translate: every decision is the [`Chain`]'s.

use std::collections::VecDeque;
use std::time::{Duration, UNIX_EPOCH};

use commonware_actor::Feedback;
use commonware_consensus::marshal::Update;
use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::simplex::types::Context as SimplexContext;
use commonware_consensus::{Application, Reporter};
use commonware_cryptography::ed25519::PublicKey;
use commonware_cryptography::sha256::Digest;
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::Clock;
use commonware_utils::Acknowledgement as _;
use futures::StreamExt as _;

use markets::Finality;

use crate::block::{ChainBlock, hash};
use crate::{Chain, Scheme};

/// The application: a leader proposes from its mempool, every validator re-executes.
#[derive(Clone, Debug)]
pub struct App<C: Chain> {
    chain: C,
    /// How long a leader waits after being asked before it cuts its block: transactions
    /// gather meanwhile. Less than simplex's leader timeout.
    block_delay: Duration,
}

impl<C: Chain> App<C> {
    pub fn new(chain: C, block_delay: Duration) -> App<C> {
        App { chain, block_delay }
    }
}

/// Where walking back from a block to one the chain knows ended.
enum Walk {
    /// The newest block walked, now executed here.
    Known(Digested<ChainBlock>),
    /// An ancestor is invalid (or conflicts with what is final here): so is every block on it.
    Invalid,
    /// The stream ended first (it cannot when the chain knows its final block).
    Exhausted,
}

/// Pulls blocks off `ancestry` (newest first) until one the chain knows, then verifies
/// the unknown ones oldest first so each executes on its parent's state: a validator that
/// missed a proposal, or restarted, catches up on the notarized blocks it lacks.
async fn catch_up<C: Chain>(chain: &C, ancestry: &mut impl Ancestry<ChainBlock>) -> Walk {
    let (final_height, _) = chain.finalized();
    let mut unknown: Vec<Digested<ChainBlock>> = Vec::new();
    let mut base = loop {
        let Some(block) = ancestry.next().await else {
            return Walk::Exhausted;
        };
        if chain.knows(&hash(&block.digest())) {
            break block;
        }
        if block.inner().header().height <= final_height {
            // At or below the final height but not the final block: another branch.
            return Walk::Invalid;
        }
        unknown.push(block);
    };
    while let Some(child) = unknown.pop() {
        if let Err(error) = chain.verify(child.inner()) {
            tracing::warn!(height = child.inner().header().height, %error, "ancestor refused");
            return Walk::Invalid;
        }
        base = child;
    }
    Walk::Known(base)
}

fn millis_since_epoch(clock: &impl Clock) -> u64 {
    let since = clock
        .current()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl<E, C> Application<E> for App<C>
where
    E: Clock,
    C: Chain,
{
    type SigningScheme = Scheme;
    type Context = SimplexContext<Digest, PublicKey>;
    type Block = ChainBlock;
    type Input = ();

    /// The ancestry starts at the parent to build on.
    async fn propose(
        &mut self,
        (context, _round): (E, Self::Context),
        mut ancestry: impl Ancestry<ChainBlock>,
        _input: (),
    ) -> Option<Digested<ChainBlock>> {
        let Walk::Known(parent) = catch_up(&self.chain, &mut ancestry).await else {
            // No block this view; it is nullified by timeout.
            return None;
        };
        context.sleep(self.block_delay).await;
        let timestamp_ms = millis_since_epoch(&context);
        match self.chain.propose(&hash(&parent.digest()), timestamp_ms) {
            Ok(block) => {
                let digest = block.digest();
                Some(Digested::precomputed(block, digest))
            }
            Err(error) => {
                tracing::warn!(%error, "cannot propose");
                None
            }
        }
    }

    /// The ancestry starts at the candidate, then its parent (`Inline` has checked that
    /// the candidate names it and sits one above it).
    async fn verify(
        &mut self,
        (_context, _round): (E, Self::Context),
        mut ancestry: impl Ancestry<ChainBlock>,
    ) -> bool {
        let Some(candidate) = ancestry.next().await else {
            // Abstain: "not known yet" is never a `false`.
            return futures::future::pending().await;
        };
        match catch_up(&self.chain, &mut ancestry).await {
            Walk::Known(_) => match self.chain.verify(candidate.inner()) {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(
                        height = candidate.inner().header().height,
                        %error,
                        "proposal refused"
                    );
                    false
                }
            },
            Walk::Invalid => false,
            Walk::Exhausted => futures::future::pending().await,
        }
    }
}

/// Finalization tips kept waiting for their blocks; past this the oldest go (their
/// blocks then name a later certificate, which finalized them too).
const TIPS_MAX: usize = 4_096;

/// Marshal's application reporter: final blocks in height order, each acknowledged once
/// the chain has it durable (an unacknowledged block is delivered again after a restart).
///
/// Marshal reports each new finalized tip (the certificate's round, the height it names)
/// before the blocks up to it, so a block's [`Finality`] is the first tip at or above
/// its height: its own certificate, or the descendant's that finalized it.
#[derive(Clone, Debug)]
pub struct Finalized<C: Chain> {
    chain: C,
    /// `(height, view)` of the tips whose blocks have not all come, ascending.
    tips: VecDeque<(u64, u64)>,
}

impl<C: Chain> Finalized<C> {
    pub fn new(chain: C) -> Finalized<C> {
        Finalized {
            chain,
            tips: VecDeque::new(),
        }
    }

    /// The certificate that finalized the block at `height`.
    fn finality(&mut self, height: u64) -> Option<Finality> {
        while self.tips.front().is_some_and(|&(tip, _)| tip < height) {
            self.tips.pop_front();
        }
        self.tips
            .front()
            .map(|&(height, view)| Finality { view, height })
    }
}

impl<C: Chain> Reporter for Finalized<C> {
    type Activity = Update<ChainBlock>;

    fn report(&mut self, activity: Update<ChainBlock>) -> Feedback {
        match activity {
            Update::Tip(round, height, _) => {
                if self.tips.len() == TIPS_MAX {
                    self.tips.pop_front();
                }
                self.tips.push_back((height.get(), round.view().get()));
            }
            Update::Block(block, ack) => {
                let finality = self.finality(block.inner().header().height);
                self.chain
                    .finalize(block.inner(), finality, Box::new(move || ack.acknowledge()));
            }
        }
        Feedback::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_takes_the_first_tip_at_or_above_its_height() {
        let (genesis, _) = markets::dev::genesis(1);
        let chain = crate::MemChain::open(&genesis, crate::Disk::default());
        let mut tips = Finalized::new(chain);
        tips.tips.extend([(3, 4), (5, 7), (9, 12)]);
        let at = |tips: &mut Finalized<_>, h| tips.finality(h).map(|f| (f.height, f.view));
        assert_eq!(at(&mut tips, 1), Some((3, 4)));
        assert_eq!(at(&mut tips, 3), Some((3, 4)));
        assert_eq!(at(&mut tips, 4), Some((5, 7)));
        assert_eq!(at(&mut tips, 6), Some((9, 12)));
        assert_eq!(at(&mut tips, 9), Some((9, 12)));
        assert_eq!(at(&mut tips, 10), None);
        assert!(tips.tips.is_empty());
    }
}
