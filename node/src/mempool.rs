//! The mempool: verified transactions waiting for a block, first in first out.
//!
//! Bounded in total and per account. Full means the caller answers 503 (total) or 429
//! (that account) with Retry-After: memory never grows without bound, and one busy bot
//! cannot crowd out everyone else. A transaction stays known as pending from admission
//! until its block is published, so a resend during execution is a duplicate, not a
//! second copy.

use std::collections::{HashMap, HashSet, VecDeque};

use markets::{Hash, MarketId, OrderAction, Verified};
use matching::{OrderId, Side};

/// The orders a transaction places, with their markets and sides.
fn places(tx: &Verified) -> impl Iterator<Item = (OrderId, MarketId, Side)> + '_ {
    let transaction = &tx.signed().transaction;
    transaction
        .order_actions()
        .iter()
        .enumerate()
        .filter_map(move |(i, action)| match action {
            OrderAction::Place(place) => Some((
                transaction.order_id(u32::try_from(i).expect("batches are small")),
                place.market,
                place.side,
            )),
            _ => None,
        })
}

/// Mempool bounds.
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    pub total: usize,
    pub per_account: usize,
}

/// Why a transaction was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The mempool is full.
    Full,
    /// This account has its limit of pending transactions.
    AccountFull,
    /// Another pending transaction of this account has the same nonce.
    NonceTaken,
}

#[derive(Debug)]
pub struct Mempool {
    limits: MempoolLimits,
    queue: VecDeque<Verified>,
    /// Everything admitted and not yet published in a block: queued or executing.
    pending: HashSet<Hash>,
    nonces: HashSet<([u8; 32], u64)>,
    per_account: HashMap<[u8; 32], usize>,
    /// The orders pending transactions place: `(market, side)` by order id, so that the
    /// door can pass an amend of one before its place reaches a block.
    places: HashMap<OrderId, (MarketId, Side)>,
}

/// What [`Mempool::admit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    New,
    Duplicate,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool {
            limits,
            queue: VecDeque::new(),
            pending: HashSet::new(),
            nonces: HashSet::new(),
            per_account: HashMap::new(),
            places: HashMap::new(),
        }
    }

    /// Transactions admitted and not yet in a published block.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Waiting for a block (not yet taken by the producer).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.pending.contains(hash)
    }

    /// Admits a verified transaction if fewer than `queued_max` wait for a block (the
    /// node's measured commit rate sets it) and the fixed limits allow. All or nothing.
    pub fn admit(&mut self, tx: Verified, queued_max: usize) -> Result<Admission, Refusal> {
        let hash = tx.hash();
        if self.pending.contains(&hash) {
            return Ok(Admission::Duplicate);
        }
        let signer = tx.signed().transaction.signer;
        let nonce = tx.signed().transaction.nonce;
        if self.nonces.contains(&(signer, nonce)) {
            return Err(Refusal::NonceTaken);
        }
        if self.pending.len() >= self.limits.total || self.queue.len() >= queued_max {
            return Err(Refusal::Full);
        }
        let count = self.per_account.get(&signer).copied().unwrap_or(0);
        if count >= self.limits.per_account {
            return Err(Refusal::AccountFull);
        }
        self.per_account.insert(signer, count + 1);
        self.nonces.insert((signer, nonce));
        for (order_id, market, side) in places(&tx) {
            self.places.insert(order_id, (market, side));
        }
        self.pending.insert(hash);
        self.queue.push_back(tx);
        Ok(Admission::New)
    }

    /// Takes up to `max` transactions for the next block, oldest first. They stay
    /// pending until [`Mempool::committed`].
    pub fn take(&mut self, max: usize) -> Vec<Verified> {
        let n = max.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    /// The block holding these transactions is published: forget them.
    pub fn committed(&mut self, taken: &[Verified]) {
        for tx in taken {
            let signer = tx.signed().transaction.signer;
            // Only what this mempool held counts down (a block may one day hold
            // transactions another node admitted).
            if !self.pending.remove(&tx.hash()) {
                continue;
            }
            for (order_id, _, _) in places(tx) {
                self.places.remove(&order_id);
            }
            self.nonces.remove(&(signer, tx.signed().transaction.nonce));
            if let Some(count) = self.per_account.get_mut(&signer) {
                *count -= 1;
                if *count == 0 {
                    self.per_account.remove(&signer);
                }
            }
        }
    }

    /// Up to `max` queued transactions and `max_bytes` of them, oldest first, leaving
    /// out `exclude`; they stay queued (a validator's proposal may not become final).
    pub fn select(&self, max: usize, max_bytes: usize, exclude: &HashSet<Hash>) -> Vec<Verified> {
        let mut bytes = 0;
        self.queue
            .iter()
            .filter(|tx| !exclude.contains(&tx.hash()))
            .take(max)
            .take_while(|tx| {
                bytes += tx.encoded().len();
                bytes <= max_bytes
            })
            .cloned()
            .collect()
    }

    /// A final block that consensus chose (a validator's mempool keeps what it proposes
    /// queued until then): forgets its transactions, and those this mempool holds whose
    /// `(signer, nonce)` the block used under another hash, which can never run now.
    pub fn finalized(&mut self, block: &[Verified]) {
        let hashes: HashSet<Hash> = block.iter().map(Verified::hash).collect();
        let used: HashSet<([u8; 32], u64)> = block
            .iter()
            .map(|tx| {
                (
                    tx.signed().transaction.signer,
                    tx.signed().transaction.nonce,
                )
            })
            .collect();
        let mut gone = Vec::new();
        self.queue.retain(|tx| {
            let t = &tx.signed().transaction;
            let keep = !hashes.contains(&tx.hash()) && !used.contains(&(t.signer, t.nonce));
            if !keep && !hashes.contains(&tx.hash()) {
                gone.push(tx.clone());
            }
            keep
        });
        self.committed(block);
        self.committed(&gone);
    }

    /// The market and side of an order a pending transaction places.
    pub fn pending_order(&self, order_id: OrderId) -> Option<(MarketId, Side)> {
        self.places.get(&order_id).copied()
    }

    /// Panics if the indexes disagree with the queue.
    pub fn check_invariants(&self) {
        assert!(self.queue.len() <= self.pending.len());
        assert!(self.pending.len() <= self.limits.total);
        assert_eq!(self.nonces.len(), self.pending.len());
        assert_eq!(self.per_account.values().sum::<usize>(), self.pending.len());
        for tx in &self.queue {
            assert!(self.pending.contains(&tx.hash()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use markets::{Action, AssetId, ChainId, Faucet, SignedTransaction, Transaction};

    const ANY: usize = usize::MAX;

    fn tx(signer: u8, nonce: u64) -> Verified {
        let tx = SignedTransaction {
            transaction: Transaction {
                chain_id: ChainId(1),
                signer: [signer; 32],
                nonce,
                expiry_height: None,
                action: Action::Faucet(Faucet {
                    asset: AssetId(0),
                    amount: 1,
                }),
            },
            signature: [0; 64],
        };
        // The mempool never looks at the verdict; a real one comes from `markets::admit`.
        Verified::committed(
            tx.clone(),
            &markets::Receipt {
                tx_hash: tx.hash(),
                outcome: markets::Outcome::Executed(Vec::new()),
            },
        )
    }

    #[test]
    fn bounded_in_total_and_per_account_and_by_nonce() {
        let mut pool = Mempool::new(MempoolLimits {
            total: 3,
            per_account: 2,
        });
        let t = tx(1, 1);
        assert_eq!(pool.admit(t.clone(), ANY), Ok(Admission::New));
        assert_eq!(pool.admit(t, ANY), Ok(Admission::Duplicate));
        let mut twin = tx(1, 1).signed().clone();
        twin.signature[0] = 1; // same nonce, different transaction
        let twin = Verified::committed(
            twin.clone(),
            &markets::Receipt {
                tx_hash: twin.hash(),
                outcome: markets::Outcome::Executed(Vec::new()),
            },
        );
        assert_eq!(pool.admit(twin, ANY), Err(Refusal::NonceTaken));
        assert_eq!(pool.admit(tx(1, 2), ANY), Ok(Admission::New));
        assert_eq!(pool.admit(tx(1, 3), ANY), Err(Refusal::AccountFull));
        assert_eq!(
            pool.admit(tx(2, 1), 2),
            Err(Refusal::Full),
            "the queue bound"
        );
        assert_eq!(pool.admit(tx(2, 1), ANY), Ok(Admission::New));
        assert_eq!(pool.admit(tx(3, 1), ANY), Err(Refusal::Full));
        pool.check_invariants();

        let taken = pool.take(2);
        assert_eq!(taken.len(), 2);
        assert_eq!(
            pool.len(),
            3,
            "taken transactions stay pending until published"
        );
        assert!(pool.contains(&taken[0].hash()));
        pool.committed(&taken);
        assert_eq!(pool.len(), 1);
        pool.check_invariants();
        assert_eq!(pool.admit(tx(1, 3), ANY), Ok(Admission::New));
    }

    /// A block's transaction the mempool never held leaves its counts alone.
    #[test]
    fn committed_forgets_only_what_it_held() {
        let mut pool = Mempool::new(MempoolLimits {
            total: 10,
            per_account: 1,
        });
        assert_eq!(pool.admit(tx(1, 1), ANY), Ok(Admission::New));
        pool.committed(&[tx(1, 7)]);
        pool.check_invariants();
        assert_eq!(pool.len(), 1);
        assert_eq!(
            pool.admit(tx(1, 2), ANY),
            Err(Refusal::AccountFull),
            "the account's pending transaction still counts"
        );
    }

    /// A validator's mempool: proposals select without taking, so a proposal that is
    /// not finalized loses nothing; a final block removes its transactions and the
    /// ones whose (signer, nonce) it used under another hash, wherever they came from.
    #[test]
    fn select_keeps_what_it_proposes_and_finalized_forgets_what_a_block_used() {
        let mut pool = Mempool::new(MempoolLimits {
            total: 100,
            per_account: 100,
        });
        for t in [tx(1, 1), tx(1, 2), tx(2, 1), tx(3, 1)] {
            assert_eq!(pool.admit(t, ANY), Ok(Admission::New));
        }
        let first = pool.select(2, ANY, &HashSet::new());
        assert_eq!(first, vec![tx(1, 1), tx(1, 2)], "oldest first");
        assert_eq!(pool.queued(), 4, "selecting takes nothing out");
        // Excluded (in an unfinalized ancestor) and bounded by bytes.
        let exclude = HashSet::from([tx(1, 1).hash()]);
        assert_eq!(pool.select(2, ANY, &exclude), vec![tx(1, 2), tx(2, 1)]);
        let one = tx(1, 1).encoded().len();
        assert_eq!(pool.select(10, one, &HashSet::new()).len(), 1);
        assert!(pool.select(10, one - 1, &HashSet::new()).is_empty());

        // A block (proposed elsewhere) holds tx(1, 1), a rival of tx(2, 1) with the same
        // nonce under another hash, and a transaction this mempool never saw.
        let mut rival = tx(2, 1).signed().clone();
        rival.signature[0] = 7;
        let rival = Verified::committed(
            rival.clone(),
            &markets::Receipt {
                tx_hash: rival.hash(),
                outcome: markets::Outcome::Executed(Vec::new()),
            },
        );
        pool.finalized(&[tx(1, 1), rival, tx(9, 1)]);
        assert_eq!(
            pool.select(10, ANY, &HashSet::new()),
            vec![tx(1, 2), tx(3, 1)]
        );
        assert!(!pool.contains(&tx(2, 1).hash()), "its nonce is used: gone");
        assert_eq!(pool.len(), 2);
        pool.check_invariants();
        // Both freed their account's share and nonce.
        assert_eq!(pool.admit(tx(2, 2), ANY), Ok(Admission::New));
        pool.check_invariants();
    }
}
