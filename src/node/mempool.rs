//! The mempool: verified transactions waiting for a block, first in first out.
//!
//! Bounded in total and per account. Full means the caller answers 503 (total) or 429
//! (that account) with Retry-After: memory never grows without bound, and one busy bot
//! cannot crowd out everyone else. A transaction stays known as pending from admission
//! until its block is published, so a resend during execution is a duplicate, not a
//! second copy.

use std::collections::{HashMap, HashSet, VecDeque};

use markets::{Hash, SignedTransaction};

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
    queue: VecDeque<(Hash, SignedTransaction)>,
    /// Everything admitted and not yet published in a block: queued or executing.
    pending: HashSet<Hash>,
    nonces: HashSet<([u8; 32], u64)>,
    per_account: HashMap<[u8; 32], usize>,
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

    /// Admits a verified transaction. All or nothing.
    pub fn admit(&mut self, hash: Hash, tx: SignedTransaction) -> Result<Admission, Refusal> {
        if self.pending.contains(&hash) {
            return Ok(Admission::Duplicate);
        }
        let signer = tx.transaction.signer;
        if self.nonces.contains(&(signer, tx.transaction.nonce)) {
            return Err(Refusal::NonceTaken);
        }
        if self.pending.len() >= self.limits.total {
            return Err(Refusal::Full);
        }
        let count = self.per_account.get(&signer).copied().unwrap_or(0);
        if count >= self.limits.per_account {
            return Err(Refusal::AccountFull);
        }
        self.per_account.insert(signer, count + 1);
        self.nonces.insert((signer, tx.transaction.nonce));
        self.pending.insert(hash);
        self.queue.push_back((hash, tx));
        Ok(Admission::New)
    }

    /// Takes up to `max` transactions for the next block, oldest first. They stay
    /// pending until [`Mempool::committed`].
    pub fn take(&mut self, max: usize) -> Vec<(Hash, SignedTransaction)> {
        let n = max.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    /// The block holding these transactions is published: forget them.
    pub fn committed(&mut self, taken: &[(Hash, SignedTransaction)]) {
        for (hash, tx) in taken {
            let signer = tx.transaction.signer;
            self.pending.remove(hash);
            self.nonces.remove(&(signer, tx.transaction.nonce));
            if let Some(count) = self.per_account.get_mut(&signer) {
                *count -= 1;
                if *count == 0 {
                    self.per_account.remove(&signer);
                }
            }
        }
    }

    /// Panics if the indexes disagree with the queue.
    pub fn check_invariants(&self) {
        assert!(self.queue.len() <= self.pending.len());
        assert!(self.pending.len() <= self.limits.total);
        assert_eq!(self.nonces.len(), self.pending.len());
        assert_eq!(self.per_account.values().sum::<usize>(), self.pending.len());
        for (hash, _) in &self.queue {
            assert!(self.pending.contains(hash));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use markets::{Action, AssetId, ChainId, Faucet, Transaction};

    fn tx(signer: u8, nonce: u64) -> (Hash, SignedTransaction) {
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
        (tx.hash(), tx)
    }

    #[test]
    fn bounded_in_total_and_per_account_and_by_nonce() {
        let mut pool = Mempool::new(MempoolLimits {
            total: 3,
            per_account: 2,
        });
        let (h, t) = tx(1, 1);
        assert_eq!(pool.admit(h, t.clone()), Ok(Admission::New));
        assert_eq!(pool.admit(h, t), Ok(Admission::Duplicate));
        let (h2, mut t2) = tx(1, 1);
        t2.signature[0] = 1; // same nonce, different transaction
        assert_eq!(
            pool.admit(Hash(h2.0.map(|b| b ^ 1)), t2),
            Err(Refusal::NonceTaken)
        );
        let (h, t) = tx(1, 2);
        assert_eq!(pool.admit(h, t), Ok(Admission::New));
        let (h, t) = tx(1, 3);
        assert_eq!(pool.admit(h, t), Err(Refusal::AccountFull));
        let (h, t) = tx(2, 1);
        assert_eq!(pool.admit(h, t), Ok(Admission::New));
        let (h, t) = tx(3, 1);
        assert_eq!(pool.admit(h, t), Err(Refusal::Full));
        pool.check_invariants();

        let taken = pool.take(2);
        assert_eq!(taken.len(), 2);
        assert_eq!(
            pool.len(),
            3,
            "taken transactions stay pending until published"
        );
        assert!(pool.contains(&taken[0].0));
        pool.committed(&taken);
        assert_eq!(pool.len(), 1);
        pool.check_invariants();
        let (h, t) = tx(1, 3);
        assert_eq!(pool.admit(h, t), Ok(Admission::New));
    }
}
