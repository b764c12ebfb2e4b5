//! Signed transactions: the wire format, the bytes that are signed, transaction hashes
//! and order ids.
//!
//! Everything is [borsh](https://borsh.io): little-endian fixed-size integers, `u8`
//! enum tags in declaration order, `Option` as a `0`/`1` byte then the value, `Vec` as
//! a `u32` length then the items, fixed arrays as their bytes. The layout byte by byte
//! is in ARCHITECTURE.md ("Transaction format").
//!
//! ```text
//! SignedTransaction = Transaction ‖ signature[64]
//! signed message    = "clobchain/tx/v1" ‖ borsh(Transaction)
//! tx hash           = sha256(borsh(SignedTransaction))
//! order id          = first 8 bytes (LE u64) of
//!                     sha256("clobchain/order-id/v1" ‖ signer[32] ‖ nonce u64 LE ‖ index u32 LE)
//! ```

use borsh::{BorshDeserialize, BorshSerialize};
use matching::{ClientOrderId, OrderId, OrderRef, SelfTradePrevention, Side, TimeInForce};
use sha2::{Digest as _, Sha256};

use crate::limits::{BATCH_ACTIONS_MAX, TRANSACTION_BYTES_MAX};
use crate::merkle::Hash;
use crate::{AssetId, ChainId, ChainReject, MarketId};

/// Prefix of every signed message, so a clobchain signature can never be mistaken for a
/// signature over anything else.
pub const SIGNING_DOMAIN: &[u8] = b"clobchain/tx/v1";
const ORDER_ID_DOMAIN: &[u8] = b"clobchain/order-id/v1";

/// What a trader signs.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    /// The chain this transaction is for; any other chain refuses it (`WRONG_CHAIN`).
    pub chain_id: ChainId,
    /// The signer's ed25519 public key: the account.
    pub signer: [u8; 32],
    /// Any number not used before by this account (see the replay window, ARCHITECTURE.md).
    pub nonce: u64,
    /// The last block height at which this transaction may execute.
    pub expiry_height: Option<u64>,
    pub action: Action,
}

/// What the transaction does.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Action {
    /// One order action (tag 0).
    Order(OrderAction),
    /// Up to [`BATCH_ACTIONS_MAX`] order actions under one signature (tag 1). Each
    /// succeeds or is rejected on its own. Its actions are checked and hold funds in
    /// order; in each market they then run with the block's other actions: cancels of
    /// resting orders and cancel-alls first, then everything else, each pass in block
    /// order (see [`crate::execute`], "Order within a market"). So `[cancel old quotes,
    /// place new quotes]` works as expected, and so do `[place X, amend X]` and
    /// `[place X, cancel X]`.
    Batch(Vec<OrderAction>),
    /// Move funds to another account (tag 2). The recipient can use them from the next
    /// block.
    Transfer(Transfer),
    /// Dev chains only: mint funds to the signer (tag 3).
    Faucet(Faucet),
}

/// An action on one market's book.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum OrderAction {
    Place(PlaceOrder),
    Cancel(CancelOrder),
    CancelAll(CancelAll),
    Amend(AmendOrder),
}

/// A new order. Price and quantity are in the market's units: the price in quote atoms
/// per lot (a multiple of the tick size), the quantity in base atoms (a multiple of the
/// lot size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PlaceOrder {
    pub market: MarketId,
    pub client_order_id: Option<ClientOrderId>,
    pub side: Side,
    pub price: u64,
    pub qty: u64,
    pub time_in_force: TimeInForce,
    pub post_only: bool,
    pub self_trade: SelfTradePrevention,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CancelOrder {
    pub market: MarketId,
    pub order: OrderRef,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CancelAll {
    pub market: MarketId,
}

/// New price (quote atoms per lot) and new remaining quantity (base atoms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AmendOrder {
    pub market: MarketId,
    pub order_id: OrderId,
    pub price: u64,
    pub qty: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transfer {
    pub to: [u8; 32],
    pub asset: AssetId,
    pub amount: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Faucet {
    pub asset: AssetId,
    pub amount: u64,
}

/// A transaction and its signature, as sent to the node and stored in blocks.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction {
    pub transaction: Transaction,
    pub signature: [u8; 64],
}

impl Transaction {
    /// The bytes the signer signs.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(SIGNING_DOMAIN.len() + 128);
        message.extend_from_slice(SIGNING_DOMAIN);
        self.serialize(&mut message)
            .expect("writing to a Vec cannot fail");
        message
    }

    /// The order actions in this transaction, with their index (the `index` of the
    /// order id derivation).
    pub fn order_actions(&self) -> &[OrderAction] {
        match &self.action {
            Action::Order(action) => std::slice::from_ref(action),
            Action::Batch(actions) => actions,
            Action::Transfer(_) | Action::Faucet(_) => &[],
        }
    }

    /// The id the order placed by action `index` gets, known before sending.
    pub fn order_id(&self, index: u32) -> OrderId {
        order_id(&self.signer, self.nonce, index)
    }

    /// The ids of the orders this transaction places, in action order.
    pub fn placed_order_ids(&self) -> Vec<OrderId> {
        self.order_actions()
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a, OrderAction::Place(_)))
            .map(|(i, _)| self.order_id(u32::try_from(i).expect("batches are small")))
            .collect()
    }

    /// Checks that need nothing but the transaction: batch size.
    pub fn check_structure(&self) -> Result<(), ChainReject> {
        if let Action::Batch(actions) = &self.action {
            if actions.is_empty() {
                return Err(ChainReject::EmptyBatch);
            }
            if actions.len() > BATCH_ACTIONS_MAX {
                return Err(ChainReject::BatchTooLarge);
            }
        }
        Ok(())
    }
}

/// `OrderId` derivation: see the module docs.
pub fn order_id(signer: &[u8; 32], nonce: u64, index: u32) -> OrderId {
    let mut hasher = Sha256::new();
    hasher.update(ORDER_ID_DOMAIN);
    hasher.update(signer);
    hasher.update(nonce.to_le_bytes());
    hasher.update(index.to_le_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    OrderId(u64::from_le_bytes(first))
}

impl SignedTransaction {
    /// Signs `transaction` with `key`.
    pub fn sign(transaction: Transaction, key: &ed25519_dalek::SigningKey) -> SignedTransaction {
        use ed25519_dalek::Signer as _;
        let signature = key.sign(&transaction.signing_message()).to_bytes();
        SignedTransaction {
            transaction,
            signature,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("writing to a Vec cannot fail")
    }

    /// Decodes a transaction, refusing oversized input before reading it and trailing
    /// bytes after it.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTransaction, ChainReject> {
        if bytes.len() > TRANSACTION_BYTES_MAX {
            return Err(ChainReject::TooLarge);
        }
        borsh::from_slice(bytes).map_err(|_| ChainReject::Malformed)
    }

    /// sha256 of the encoded transaction.
    pub fn hash(&self) -> Hash {
        tx_hash(&self.to_bytes())
    }

    /// `SIGNING_DOMAIN ‖ borsh(self)`, which holds both byte strings the executor needs
    /// from one encoding: [`Framed::signing_message`] (`SIGNING_DOMAIN ‖
    /// borsh(transaction)`, because the signature is encoded last) and
    /// [`Framed::encoded`] (what [`tx_hash`] hashes).
    pub fn framed(&self) -> Framed {
        let mut bytes = Vec::with_capacity(SIGNING_DOMAIN.len() + 256);
        bytes.extend_from_slice(SIGNING_DOMAIN);
        self.serialize(&mut bytes)
            .expect("writing to a Vec cannot fail");
        Framed(bytes)
    }
}

/// A signed transaction encoded once, after the signing domain: see
/// [`SignedTransaction::framed`].
#[derive(Clone, Debug)]
pub struct Framed(Vec<u8>);

impl Framed {
    /// The bytes the signature covers.
    pub fn signing_message(&self) -> &[u8] {
        &self.0[..self.0.len() - 64]
    }

    /// The signed transaction's borsh encoding.
    pub fn encoded(&self) -> &[u8] {
        &self.0[SIGNING_DOMAIN.len()..]
    }
}

/// sha256 of an encoded signed transaction.
pub fn tx_hash(encoded: &[u8]) -> Hash {
    Hash(Sha256::digest(encoded).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use matching::Price;

    fn sample() -> Transaction {
        Transaction {
            chain_id: ChainId(7),
            signer: [3; 32],
            nonce: 42,
            expiry_height: Some(100),
            action: Action::Order(OrderAction::Place(PlaceOrder {
                market: MarketId(1),
                client_order_id: Some(ClientOrderId(9)),
                side: Side::Buy,
                price: 1_000,
                qty: 5,
                time_in_force: TimeInForce::GoodTillBlock(matching::Height(120)),
                post_only: true,
                self_trade: SelfTradePrevention::CancelBoth,
            })),
        }
    }

    #[test]
    fn encoding_is_pinned_byte_by_byte() {
        // The documented layout (ARCHITECTURE.md, "Transaction format"); a change here is
        // a change of the wire format and must be deliberate.
        let bytes = borsh::to_vec(&sample()).unwrap();
        let mut expected = Vec::new();
        expected.extend(7u64.to_le_bytes()); // chain_id
        expected.extend([3u8; 32]); // signer
        expected.extend(42u64.to_le_bytes()); // nonce
        expected.extend([1]); // expiry_height: Some
        expected.extend(100u64.to_le_bytes());
        expected.extend([0]); // Action::Order
        expected.extend([0]); // OrderAction::Place
        expected.extend(1u32.to_le_bytes()); // market
        expected.extend([1]); // client_order_id: Some
        expected.extend(9u64.to_le_bytes());
        expected.extend([0]); // side: Buy
        expected.extend(1_000u64.to_le_bytes()); // price
        expected.extend(5u64.to_le_bytes()); // qty
        expected.extend([1]); // GoodTillBlock
        expected.extend(120u64.to_le_bytes());
        expected.extend([1]); // post_only
        expected.extend([2]); // CancelBoth
        assert_eq!(bytes, expected);
        assert_eq!(borsh::from_slice::<Transaction>(&bytes).unwrap(), sample());
    }

    #[test]
    fn order_ids_depend_on_signer_nonce_and_index() {
        let tx = sample();
        let id = tx.order_id(0);
        assert_eq!(id, order_id(&[3; 32], 42, 0));
        assert_ne!(id, tx.order_id(1));
        assert_ne!(id, order_id(&[3; 32], 43, 0));
        assert_ne!(id, order_id(&[4; 32], 42, 0));
        assert_eq!(tx.placed_order_ids(), vec![id]);
        let _ = Price(0);
    }

    #[test]
    fn one_framed_encoding_holds_the_signing_message_and_the_encoding() {
        for action in [
            sample().action,
            Action::Batch(vec![sample().order_actions()[0].clone(); 3]),
        ] {
            let signed = SignedTransaction {
                transaction: Transaction { action, ..sample() },
                signature: [5; 64],
            };
            let framed = signed.framed();
            assert_eq!(
                framed.signing_message(),
                signed.transaction.signing_message()
            );
            assert_eq!(framed.encoded(), signed.to_bytes());
        }
    }

    #[test]
    fn decoding_refuses_oversized_trailing_and_garbage_input() {
        let signed = SignedTransaction {
            transaction: sample(),
            signature: [0; 64],
        };
        let mut bytes = signed.to_bytes();
        assert_eq!(SignedTransaction::from_bytes(&bytes).unwrap(), signed);
        bytes.push(0);
        assert_eq!(
            SignedTransaction::from_bytes(&bytes),
            Err(ChainReject::Malformed)
        );
        assert_eq!(
            SignedTransaction::from_bytes(&[1, 2, 3]),
            Err(ChainReject::Malformed)
        );
        let huge = vec![0u8; TRANSACTION_BYTES_MAX + 1];
        assert_eq!(
            SignedTransaction::from_bytes(&huge),
            Err(ChainReject::TooLarge)
        );
    }

    #[test]
    fn batches_are_bounded() {
        let mut tx = sample();
        let OrderAction::Place(place) = tx.order_actions()[0].clone() else {
            unreachable!()
        };
        tx.action = Action::Batch(vec![]);
        assert_eq!(tx.check_structure(), Err(ChainReject::EmptyBatch));
        tx.action = Action::Batch(vec![OrderAction::Place(place); BATCH_ACTIONS_MAX + 1]);
        assert_eq!(tx.check_structure(), Err(ChainReject::BatchTooLarge));
        tx.action = Action::Batch(vec![OrderAction::Place(place); BATCH_ACTIONS_MAX]);
        assert_eq!(tx.check_structure(), Ok(()));
        assert_eq!(tx.placed_order_ids().len(), BATCH_ACTIONS_MAX);
    }
}
