//! The mempool: verified transactions waiting for a block, first in first out, each
//! signer's handed out in nonce order.
//!
//! Bounded in total and per account. Full means the caller answers 503 (total) or 429
//! (that account) with Retry-After: memory never grows without bound, and one busy bot
//! cannot crowd out everyone else. A transaction stays known as pending from admission
//! until its block is published, so a resend during execution is a duplicate, not a
//! second copy.

use std::collections::{HashMap, HashSet, VecDeque};

use api::{DropRule, Dropped};
use markets::{ChainReject, Hash, MarketId, OrderAction, State, Verified};
use matching::{OrderId, Side};

/// Puts each signer's transactions in nonce order, in the places its transactions
/// already hold: the block keeps its arrival order between signers, and a signer's
/// lower nonce never runs after a higher one it sent at the same time over another
/// connection (a place, then its cancel, stay in that order).
pub fn nonce_ordered(txs: &mut [Verified]) {
    let mut places: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for (i, tx) in txs.iter().enumerate() {
        places
            .entry(tx.signed().transaction.signer)
            .or_default()
            .push(i);
    }
    let nonce = |tx: &Verified| tx.signed().transaction.nonce;
    for at in places.into_values().filter(|at| at.len() > 1) {
        // The usual case (one connection, or a block of one request) is in order
        // already: nothing is copied.
        if at
            .windows(2)
            .all(|w| nonce(&txs[w[0]]) <= nonce(&txs[w[1]]))
        {
            continue;
        }
        let mut own: Vec<Verified> = at.iter().map(|&i| txs[i].clone()).collect();
        own.sort_by_key(nonce);
        for (i, tx) in at.into_iter().zip(own) {
            txs[i] = tx;
        }
    }
}

/// Why `tx` can never run after the block at `state`'s height, if it cannot: its
/// nonce is used or below the window's floor, or its expiry has passed.
pub fn never_runs(state: &State, tx: &Verified) -> Option<(ChainReject, DropRule)> {
    let t = &tx.signed().transaction;
    if t.expiry_height.is_some_and(|h| h <= state.height()) {
        return Some((ChainReject::TransactionExpired, DropRule::Expired));
    }
    let account = state.account_by_key(&t.signer)?;
    match account.nonces.check(t.nonce) {
        Ok(()) => None,
        Err(ChainReject::NonceTooOld) => {
            Some((ChainReject::NonceTooOld, DropRule::BelowNonceFloor))
        }
        Err(code) => Some((code, DropRule::NonceUsedByAnother)),
    }
}

fn dropped(tx: &Verified, (code, rule): (ChainReject, DropRule), height: u64) -> Dropped {
    let t = &tx.signed().transaction;
    Dropped {
        hash: tx.hash(),
        signer: t.signer,
        nonce: t.nonce,
        code,
        rule,
        height,
    }
}

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

/// Dropped transactions a node answers for (`GET /v1/transactions/{hash}`), the newest:
/// a client asks within seconds of the drop, and the websocket told it at once.
pub const DROPPED_KEPT: usize = 100_000;

/// The statuses of dropped transactions, by hash, the oldest forgotten first.
#[derive(Debug, Default)]
pub struct DroppedIndex {
    by_hash: HashMap<Hash, Dropped>,
    order: VecDeque<Hash>,
}

impl DroppedIndex {
    pub fn add(&mut self, dropped: Dropped) {
        if self.by_hash.insert(dropped.hash, dropped).is_none() {
            self.order.push_back(dropped.hash);
        }
        while self.order.len() > DROPPED_KEPT {
            let old = self.order.pop_front().expect("non-empty");
            self.by_hash.remove(&old);
        }
    }

    pub fn get(&self, hash: &Hash) -> Option<Dropped> {
        self.by_hash.get(hash).copied()
    }

    pub fn check_invariants(&self) {
        assert_eq!(self.by_hash.len(), self.order.len());
        assert!(self.order.len() <= DROPPED_KEPT);
    }
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
    /// The transactions of final blocks not yet published ([`Mempool::take_final`]),
    /// whether this mempool held them or not: a resend or a peer's gossip of one
    /// meanwhile is a duplicate, never a second copy.
    unpublished: HashSet<Hash>,
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
            unpublished: HashSet::new(),
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

    /// Whether `hash` is in a final block that is not published yet.
    pub fn in_unpublished_block(&self, hash: &Hash) -> bool {
        self.unpublished.contains(hash)
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

    /// Takes up to `max` transactions for the next block, oldest first, each signer's
    /// in nonce order ([`nonce_ordered`]). They stay pending until
    /// [`Mempool::committed`].
    pub fn take(&mut self, max: usize) -> Vec<Verified> {
        let n = max.min(self.queue.len());
        let mut taken: Vec<Verified> = self.queue.drain(..n).collect();
        nonce_ordered(&mut taken);
        taken
    }

    /// The block holding these transactions is published: forget them.
    pub fn committed(&mut self, taken: &[Verified]) {
        for tx in taken {
            self.unpublished.remove(&tx.hash());
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

    /// Up to `max` queued transactions and `max_bytes` of them, oldest first, each
    /// signer's in nonce order ([`nonce_ordered`]), leaving out `exclude`; they stay
    /// queued (a validator's proposal may not become final).
    pub fn select(&self, max: usize, max_bytes: usize, exclude: &HashSet<Hash>) -> Vec<Verified> {
        let mut bytes = 0;
        let mut selected: Vec<Verified> = self
            .queue
            .iter()
            .filter(|tx| !exclude.contains(&tx.hash()))
            .take(max)
            .take_while(|tx| {
                bytes += tx.encoded().len();
                bytes <= max_bytes
            })
            .cloned()
            .collect();
        nonce_ordered(&mut selected);
        selected
    }

    /// After a block: takes out of the queue every transaction that `state` (the state
    /// after the block) says can never run (its nonce used or below the floor, its
    /// expiry passed), and returns each with the rule that dropped it. They stay
    /// pending, as a taken block's do, until the block is published and
    /// [`Mempool::committed`] forgets them: their status moves from pending to dropped
    /// with no moment in neither. Only `signers`' nonces can have changed: the block's.
    pub fn prune(
        &mut self,
        state: &State,
        signers: &HashSet<[u8; 32]>,
    ) -> Vec<(Verified, Dropped)> {
        let height = state.height();
        let mut drops = Vec::new();
        self.queue.retain(|tx| {
            let t = &tx.signed().transaction;
            let stale = t.expiry_height.is_some_and(|h| h <= height) || signers.contains(&t.signer);
            match stale.then(|| never_runs(state, tx)).flatten() {
                Some(why) => {
                    drops.push((tx.clone(), dropped(tx, why, height)));
                    false
                }
                None => true,
            }
        });
        drops
    }

    /// A final block that consensus chose (a validator's mempool keeps what it proposes
    /// queued until then): takes its transactions out of the queue. They stay pending
    /// until it is published ([`Mempool::committed`]).
    pub fn take_final(&mut self, block: &[Verified]) {
        let hashes: HashSet<Hash> = block.iter().map(Verified::hash).collect();
        if !self.queue.is_empty() {
            self.queue.retain(|tx| !hashes.contains(&tx.hash()));
        }
        self.unpublished.extend(hashes);
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
    /// not finalized loses nothing; a final block takes its transactions out of the
    /// queue, and publishing it forgets them.
    #[test]
    fn select_keeps_what_it_proposes_and_a_final_block_leaves_the_queue() {
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
        // The final block's own transactions leave the queue at once and stay pending
        // until published; the rival's nonce use is what `prune` sees (below).
        pool.take_final(&[tx(1, 1), rival.clone(), tx(9, 1)]);
        assert!(pool.contains(&tx(1, 1).hash()), "pending until published");
        assert_eq!(
            pool.select(10, ANY, &HashSet::new()),
            vec![tx(1, 2), tx(2, 1), tx(3, 1)]
        );
        pool.committed(&[tx(1, 1), rival, tx(9, 1)]);
        assert!(!pool.contains(&tx(1, 1).hash()));
        assert_eq!(pool.len(), 3);
        pool.check_invariants();
        // The final block's freed its account's share and nonce.
        assert_eq!(pool.admit(tx(1, 1), ANY), Ok(Admission::New));
        pool.check_invariants();
    }

    /// Real keys and a real state: the dev chain's account 0.
    fn signed(
        state: &State,
        key: &ed25519_dalek::SigningKey,
        nonce: u64,
        expiry: Option<u64>,
    ) -> Verified {
        let tx = SignedTransaction::sign(
            Transaction {
                chain_id: state.chain_id(),
                signer: key.verifying_key().to_bytes(),
                nonce,
                expiry_height: expiry,
                action: Action::Faucet(Faucet {
                    asset: AssetId(0),
                    amount: 1,
                }),
            },
            key,
        );
        markets::verify_block(state, &[tx]).pop().expect("one")
    }

    /// After a block, the queue keeps only what can still run: a transaction whose
    /// nonce the block used under another hash, one below the window's floor and one
    /// whose expiry passed are dropped, each with its code and rule, and stay pending
    /// until the caller forgets them; the rest stay queued, in nonce order.
    #[test]
    fn prune_drops_what_the_state_says_can_never_run_with_its_code() {
        let (genesis, keys) = markets::dev::genesis(2);
        let mut state = State::from_genesis(&genesis).unwrap();
        let mut pool = Mempool::new(MempoolLimits {
            total: 100,
            per_account: 100,
        });
        // Block 1 uses nonces 10, 20, …: one range each, one more than the window
        // keeps, so its floor rises past 10.
        let ranges = markets::limits::NONCE_RANGES_MAX as u64;
        let block: Vec<Verified> = (1..=ranges + 1)
            .map(|i| signed(&state, &keys[0], 10 * i, None))
            .collect();
        // Queued before block 1: nonce 5 (below the coming floor), a rival of nonce 20,
        // one expiring at height 1, and two that stay (a gap, and another signer's).
        let rival = signed(&state, &keys[0], 20, Some(9));
        assert_ne!(rival.hash(), block[1].hash());
        let waiting = [
            signed(&state, &keys[0], 5, None),
            rival,
            signed(&state, &keys[1], 7, Some(1)),
            signed(&state, &keys[0], 21, None),
            signed(&state, &keys[1], 3, None),
        ];
        for tx in waiting.iter().cloned() {
            assert_eq!(pool.admit(tx, ANY), Ok(Admission::New));
        }
        let context = markets::BlockContext {
            height: 1,
            timestamp_ms: state.timestamp_ms(),
        };
        let executed = markets::execute_verified(&mut state, context, block.clone()).unwrap();
        assert!(
            executed
                .receipts
                .iter()
                .all(|r| matches!(r.outcome, markets::Outcome::Executed(_)))
        );
        let signers: HashSet<[u8; 32]> = block
            .iter()
            .map(|t| t.signed().transaction.signer)
            .collect();
        // Height 1: the expiry at 1 still runs in block 1, not after it.
        let drops = pool.prune(&state, &signers);
        let why: Vec<(Hash, ChainReject, DropRule, u64)> = drops
            .iter()
            .map(|(tx, d)| {
                assert_eq!(tx.hash(), d.hash);
                (d.hash, d.code, d.rule, d.height)
            })
            .collect();
        assert_eq!(
            why,
            vec![
                (
                    waiting[0].hash(),
                    ChainReject::NonceTooOld,
                    DropRule::BelowNonceFloor,
                    1
                ),
                (
                    waiting[1].hash(),
                    ChainReject::NonceAlreadyUsed,
                    DropRule::NonceUsedByAnother,
                    1
                ),
                (
                    waiting[2].hash(),
                    ChainReject::TransactionExpired,
                    DropRule::Expired,
                    1
                ),
            ]
        );
        assert!(
            drops.iter().all(|(tx, _)| pool.contains(&tx.hash())),
            "pending until forgotten"
        );
        assert_eq!(
            pool.select(10, ANY, &HashSet::new()),
            vec![waiting[3].clone(), waiting[4].clone()]
        );
        let gone: Vec<Verified> = drops.into_iter().map(|(tx, _)| tx).collect();
        pool.committed(&gone);
        assert_eq!(pool.len(), 2);
        pool.check_invariants();
    }

    /// Each signer's transactions come out in nonce order, in the places its own
    /// held; other signers' stay where they arrived.
    #[test]
    fn take_and_select_hand_out_each_signers_transactions_in_nonce_order() {
        let mut pool = Mempool::new(MempoolLimits {
            total: 100,
            per_account: 100,
        });
        for t in [tx(1, 3), tx(2, 9), tx(1, 1), tx(3, 1), tx(1, 2), tx(2, 4)] {
            assert_eq!(pool.admit(t, ANY), Ok(Admission::New));
        }
        let expected = vec![tx(1, 1), tx(2, 4), tx(1, 2), tx(3, 1), tx(1, 3), tx(2, 9)];
        assert_eq!(pool.select(10, ANY, &HashSet::new()), expected);
        assert_eq!(pool.take(10), expected);
    }
}
