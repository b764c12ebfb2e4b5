//! Admission: signed transactions become [`Verified`] ones, here and nowhere else.
//!
//! ```text
//! node's door:   SignedTransaction ─► encode (framed once, hashed) ─► Encoded
//!                  ─► (the node drops duplicates by hash)
//!                  ─► admit: precheck on the state ─► signatures, batched over rayon
//!                  ─► Ok(Verified) for the mempool, or Err(reject) for the client
//! stored block:  SignedTransaction… ─► verify_block: the same signature check, every
//!   or a peer's    transaction kept, each with its verdict ─► Verified…
//! executor:      Verified… ─► execute_verified (never checks a signature again)
//! ```
//!
//! Each transaction is encoded exactly once, by [`Encoded::new`]: the bytes
//! `SIGNING_DOMAIN ‖ borsh(signed)` serve as the signing message (a prefix), the hashed
//! encoding (a suffix) and, later, the bytes the block log stores
//! ([`crate::ExecutedBlock::block_bytes`]).
//!
//! **The verdict.** A [`Verified`] carries what the executor's first checks say of it:
//! `Ok` when the chain id is this chain's, the signer has an account and the signature
//! holds, else the reject (`WRONG_CHAIN`, `UNKNOWN_ACCOUNT`, `BAD_SIGNATURE`, in that
//! order). Accounts are never removed and the chain id never changes, so a verdict
//! taken against any earlier state still holds when the block executes. The executor
//! records a refused verdict in the transaction's receipt; the node's door never lets
//! one into the mempool.

use rayon::prelude::*;

use crate::block::{Outcome, Receipt};
use crate::execute::{SIGNATURE_CHUNK, precheck};
use crate::merkle::Hash;
use crate::state::ix;
use crate::tx::{Framed, tx_hash};
use crate::verify::{AccountKey, SignedItem, verify_parallel};
use crate::{ChainReject, MarketId, Reject, SignedTransaction, State};
use matching::{OrderId, Side};

/// A signed transaction encoded and hashed once, its signature not yet checked.
#[derive(Clone, Debug)]
pub struct Encoded {
    signed: SignedTransaction,
    framed: Framed,
    hash: Hash,
}

impl Encoded {
    pub fn new(signed: SignedTransaction) -> Encoded {
        let framed = signed.framed();
        let hash = tx_hash(framed.encoded());
        Encoded {
            signed,
            framed,
            hash,
        }
    }

    /// Encodes many, in parallel.
    pub fn many(transactions: Vec<SignedTransaction>) -> Vec<Encoded> {
        transactions.into_par_iter().map(Encoded::new).collect()
    }

    pub fn hash(&self) -> Hash {
        self.hash
    }

    pub fn signed(&self) -> &SignedTransaction {
        &self.signed
    }
}

/// A transaction with its signature verdict, encoded once: what the executor takes.
#[derive(Clone, Debug)]
pub struct Verified {
    encoded: Encoded,
    verdict: Result<(), Reject>,
}

impl PartialEq for Verified {
    fn eq(&self, other: &Verified) -> bool {
        // The hash covers every byte of the signed transaction.
        self.encoded.hash == other.encoded.hash && self.verdict == other.verdict
    }
}

impl Eq for Verified {}

impl Verified {
    pub fn hash(&self) -> Hash {
        self.encoded.hash
    }

    pub fn signed(&self) -> &SignedTransaction {
        &self.encoded.signed
    }

    /// `borsh(signed)`: the bytes the hash covers and the block log stores.
    pub fn encoded(&self) -> &[u8] {
        self.encoded.framed.encoded()
    }

    /// See the module docs.
    pub fn verdict(&self) -> Result<(), Reject> {
        self.verdict
    }

    /// A transaction of a block that was already executed (read back from storage for
    /// clients): its verdict is the one its receipt records. Never executed again;
    /// replaying a chain goes through [`verify_block`].
    pub fn committed(signed: SignedTransaction, receipt: &Receipt) -> Verified {
        let verdict = match receipt.outcome {
            Outcome::Rejected(
                reject @ Reject::Chain(
                    ChainReject::WrongChain
                    | ChainReject::UnknownAccount
                    | ChainReject::BadSignature,
                ),
            ) => Err(reject),
            _ => Ok(()),
        };
        Verified {
            encoded: Encoded::new(signed),
            verdict,
        }
    }
}

/// The signature of each `(encoded, key)`, batched ([`SIGNATURE_CHUNK`] a batch) over
/// rayon; `None` keys are not checked (and say `false`). The one place signatures are
/// checked.
fn signatures(items: &[(&Encoded, Option<&AccountKey>)]) -> Vec<bool> {
    let mut positions = Vec::with_capacity(items.len());
    let mut signed = Vec::with_capacity(items.len());
    for (i, (encoded, key)) in items.iter().enumerate() {
        if let Some(key) = key {
            positions.push(i);
            signed.push(SignedItem {
                key,
                message: encoded.framed.signing_message(),
                signature: &encoded.signed.signature,
            });
        }
    }
    let mut ok = vec![false; items.len()];
    for (i, verdict) in positions
        .into_iter()
        .zip(verify_parallel(&signed, SIGNATURE_CHUNK))
    {
        ok[i] = verdict;
    }
    ok
}

/// The signer's key, or why the chain refuses the transaction before its signature:
/// `WRONG_CHAIN`, then `UNKNOWN_ACCOUNT`.
fn signer_key(state: &State, tx: &SignedTransaction) -> Result<AccountKey, Reject> {
    let tx = &tx.transaction;
    if tx.chain_id != state.chain_id {
        return Err(ChainReject::WrongChain.into());
    }
    let id = state
        .account_ids
        .get(&tx.signer)
        .ok_or(Reject::Chain(ChainReject::UnknownAccount))?;
    Ok(state.accounts[ix(*id)].key)
}

/// A block's transactions (stored, or from a peer) with their verdicts: every
/// transaction is kept, and the executor records a refused verdict in its receipt.
pub fn verify_block(state: &State, transactions: &[SignedTransaction]) -> Vec<Verified> {
    verify_block_except(state, transactions, |_| false)
}

/// [`verify_block`], except that the signature of a transaction `checked` names (by
/// hash) is not checked again: a validator verifying a peer's proposal skips those its
/// own door verified. A hash names the signed bytes, signature included, and an
/// account's key never changes, so the verdicts are those of [`verify_block`] (a test
/// compares them); the state's checks (chain, signer) are made for every transaction.
pub fn verify_block_except(
    state: &State,
    transactions: &[SignedTransaction],
    checked: impl Fn(&Hash) -> bool,
) -> Vec<Verified> {
    let encoded = Encoded::many(transactions.to_vec());
    let keys: Vec<Result<AccountKey, Reject>> = encoded
        .iter()
        .map(|e| signer_key(state, &e.signed))
        .collect();
    let trusted: Vec<bool> = encoded.iter().map(|e| checked(&e.hash)).collect();
    let items: Vec<(&Encoded, Option<&AccountKey>)> = encoded
        .iter()
        .zip(&keys)
        .zip(&trusted)
        .map(|((e, k), &trusted)| (e, k.as_ref().ok().filter(|_| !trusted)))
        .collect();
    let ok = signatures(&items);
    encoded
        .into_iter()
        .zip(keys)
        .zip(ok.into_iter().zip(trusted))
        .map(|((encoded, key), (ok, trusted))| {
            let verdict = match key {
                Err(reject) => Err(reject),
                Ok(_) if ok || trusted => Ok(()),
                Ok(_) => Err(ChainReject::BadSignature.into()),
            };
            Verified { encoded, verdict }
        })
        .collect()
}

/// Transactions past the door's state checks, each with its signer's key, waiting for
/// their signatures to be checked ([`Prechecked::verify`]), which needs no state: a
/// node can release its state between the two.
#[derive(Debug)]
pub struct Prechecked {
    items: Vec<(Encoded, Result<AccountKey, Reject>)>,
}

/// The node's door, first half: each transaction is refused with the code the chain
/// would give it as the next block's first transaction ([`precheck`]; a refused
/// transaction changes nothing, not even its nonce), or kept with its signer's key.
///
/// `pending_order` names the market and side of an order placed by a transaction that
/// waits in the mempool, so that an amend of it is not refused as `UNKNOWN_ORDER` while
/// its place is still on its way to a block (see [`precheck`]).
pub fn precheck_all(
    state: &State,
    encoded: Vec<Encoded>,
    pending_order: impl Fn(OrderId) -> Option<(MarketId, Side)>,
) -> Prechecked {
    Prechecked {
        items: encoded
            .into_iter()
            .map(|e| {
                let key = precheck(state, &e.signed, &pending_order)
                    .and_then(|()| signer_key(state, &e.signed));
                (e, key)
            })
            .collect(),
    }
}

impl Prechecked {
    /// The door, second half: the signatures of everything that passed, batched and in
    /// parallel. One answer per transaction, in order.
    pub fn verify(self) -> Vec<Result<Verified, Reject>> {
        let items: Vec<(&Encoded, Option<&AccountKey>)> = self
            .items
            .iter()
            .map(|(e, k)| (e, k.as_ref().ok()))
            .collect();
        let ok = signatures(&items);
        self.items
            .into_iter()
            .zip(ok)
            .map(|((encoded, key), ok)| {
                key?;
                if !ok {
                    return Err(ChainReject::BadSignature.into());
                }
                Ok(Verified {
                    encoded,
                    verdict: Ok(()),
                })
            })
            .collect()
    }
}

/// The node's door in one call, with nothing pending: [`precheck_all`] then
/// [`Prechecked::verify`].
pub fn admit(state: &State, encoded: Vec<Encoded>) -> Vec<Result<Verified, Reject>> {
    precheck_all(state, encoded, |_| None).verify()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Faucet, Transaction};

    #[test]
    fn verdicts_name_the_first_failed_check_and_batching_agrees_with_one_by_one() {
        let (genesis, keys) = crate::dev::genesis(3);
        let state = State::from_genesis(&genesis).expect("genesis");
        let faucet = |key: &ed25519_dalek::SigningKey, chain: u64, nonce: u64| {
            SignedTransaction::sign(
                Transaction {
                    chain_id: crate::ChainId(chain),
                    signer: key.verifying_key().to_bytes(),
                    nonce,
                    expiry_height: None,
                    action: Action::Faucet(Faucet {
                        asset: crate::AssetId(0),
                        amount: 1,
                    }),
                },
                key,
            )
        };
        let chain = state.chain_id().0;
        let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let mut forged = faucet(&keys[1], chain, 2);
        forged.signature[0] ^= 1;
        let block = vec![
            faucet(&keys[0], chain, 1),
            faucet(&keys[0], chain + 1, 1),
            faucet(&stranger, chain, 1),
            forged,
            faucet(&keys[2], chain, 1),
        ];
        let expected = [
            Ok(()),
            Err(ChainReject::WrongChain.into()),
            Err(ChainReject::UnknownAccount.into()),
            Err(ChainReject::BadSignature.into()),
            Ok(()),
        ];
        let verified = verify_block(&state, &block);
        let got: Vec<_> = verified.iter().map(Verified::verdict).collect();
        assert_eq!(got, expected);
        for (v, tx) in verified.iter().zip(&block) {
            assert_eq!(v.hash(), tx.hash(), "hashed from the one encoding");
            assert_eq!(v.encoded(), tx.to_bytes().as_slice());
        }
        // The door says the same of each, alone or together.
        let together = admit(&state, Encoded::many(block.clone()));
        for (i, tx) in block.iter().enumerate() {
            let alone = admit(&state, vec![Encoded::new(tx.clone())]).remove(0);
            assert_eq!(
                alone.as_ref().map(Verified::hash),
                together[i].as_ref().map(Verified::hash)
            );
            assert_eq!(alone.map(|_| ()), expected[i]);
        }
        // Skipping the signatures the door already checked changes no verdict; the
        // state's checks still apply to a skipped one (the wrong chain stays refused).
        let door_checked: std::collections::BTreeSet<Hash> =
            [0, 1, 4].into_iter().map(|i| block[i].hash()).collect();
        let skipping = verify_block_except(&state, &block, |h| door_checked.contains(h));
        let got: Vec<_> = skipping.iter().map(Verified::verdict).collect();
        assert_eq!(got, expected);
        // The skip is real: a forged signature the caller vouches for passes, which is
        // why only the door's own checks may be named.
        let vouched = verify_block_except(&state, &block, |h| *h == block[3].hash());
        assert_eq!(vouched[3].verdict(), Ok(()));
    }
}
