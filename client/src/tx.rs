//! Building and signing transactions, and the HTTP request that carries each one.
//!
//! Plain functions, no I/O: the command-line client, the load tester and the tests all
//! build requests here, so what `clobchain sign` prints is byte for byte what
//! `clobchain place` sends.
//!
//! ```text
//! PlaceOrder + key + TxParams ──place_transaction──► SignedTransaction
//! SignedTransaction ──request_for──► SignedRequest { method, path, JSON body }
//! ```

use api::wire::{CancelBody, SubmitRequest, TransactionJson};
use ed25519_dalek::SigningKey;
use markets::{
    Action, AmendOrder, CancelAll, CancelOrder, ChainId, MarketId, OrderAction, PlaceOrder,
    SignedTransaction, Transaction,
};
use matching::{OrderId, OrderRef};

/// The fields every transaction carries besides its action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxParams {
    /// The chain's id (`GET /v1/health`).
    pub chain_id: u64,
    /// Unused by this account; see [`next_nonce`].
    pub nonce: u64,
    /// The last block height at which the transaction may execute.
    pub expiry_height: Option<u64>,
}

/// The nonce to use next: the time in microseconds, or one above the account's last
/// nonce if that is later. Any unused nonce above the bottom of the account's replay
/// window is accepted, so clock time keeps nonces unique across clients sharing a key
/// while `last_nonce + 1` keeps them increasing when the clock is behind.
pub fn next_nonce(now_micros: u64, last_nonce: Option<u64>) -> u64 {
    now_micros.max(last_nonce.map_or(0, |n| n.saturating_add(1)))
}

/// Microseconds since the Unix epoch, for [`next_nonce`].
pub fn now_micros() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// Signs `action` for the key's account.
pub fn sign_action(key: &SigningKey, params: TxParams, action: Action) -> SignedTransaction {
    SignedTransaction::sign(
        Transaction {
            chain_id: ChainId(params.chain_id),
            signer: key.verifying_key().to_bytes(),
            nonce: params.nonce,
            expiry_height: params.expiry_height,
            action,
        },
        key,
    )
}

/// A signed new order. Its id is `signed.transaction.placed_order_ids()[0]`.
pub fn place_transaction(
    key: &SigningKey,
    params: TxParams,
    order: PlaceOrder,
) -> SignedTransaction {
    sign_action(key, params, Action::Order(OrderAction::Place(order)))
}

/// A signed cancel of one order (by id or by client order id).
pub fn cancel_transaction(
    key: &SigningKey,
    params: TxParams,
    market: u32,
    order: OrderRef,
) -> SignedTransaction {
    sign_action(
        key,
        params,
        Action::Order(OrderAction::Cancel(CancelOrder {
            market: MarketId(market),
            order,
        })),
    )
}

/// A signed cancel of all the account's orders in `market`.
pub fn cancel_all_transaction(
    key: &SigningKey,
    params: TxParams,
    market: u32,
) -> SignedTransaction {
    sign_action(
        key,
        params,
        Action::Order(OrderAction::CancelAll(CancelAll {
            market: MarketId(market),
        })),
    )
}

/// A signed amend: new price (quote atoms per lot) and new remaining quantity (base
/// atoms).
pub fn amend_transaction(
    key: &SigningKey,
    params: TxParams,
    market: u32,
    order_id: u64,
    price: u64,
    qty: u64,
) -> SignedTransaction {
    sign_action(
        key,
        params,
        Action::Order(OrderAction::Amend(AmendOrder {
            market: MarketId(market),
            order_id: OrderId(order_id),
            price,
            qty,
        })),
    )
}

/// A signed transaction as the HTTP request that submits it.
#[derive(Clone, Debug)]
pub enum SignedRequest {
    /// `POST /v1/orders`: a place (or a batch of order actions) as JSON fields.
    Place(TransactionJson),
    /// `DELETE /v1/orders/{order_id}`: a cancel by order id.
    Cancel {
        /// The order to cancel.
        order_id: u64,
        /// The cancel's signed fields but the id.
        body: CancelBody,
    },
    /// `POST /v1/transactions`: any transaction.
    Submit(SubmitRequest),
}

impl SignedRequest {
    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        match self {
            SignedRequest::Place(_) | SignedRequest::Submit(_) => "POST",
            SignedRequest::Cancel { .. } => "DELETE",
        }
    }

    /// The path and query: `wait` asks the node to answer once the transaction is in a
    /// block.
    pub fn path(&self, wait: bool) -> String {
        let path = match self {
            SignedRequest::Place(_) => "/v1/orders".to_string(),
            SignedRequest::Cancel { order_id, .. } => format!("/v1/orders/{order_id}"),
            SignedRequest::Submit(_) => "/v1/transactions".to_string(),
        };
        if wait {
            format!("{path}?wait=true")
        } else {
            path
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let value = match self {
            SignedRequest::Place(transaction) => serde_json::to_value(transaction),
            SignedRequest::Cancel { body, .. } => serde_json::to_value(body),
            SignedRequest::Submit(request) => serde_json::to_value(request),
        };
        value.expect("request bodies always serialize")
    }
}

/// The request for `signed` on the most specific route: places and batches go to
/// `POST /v1/orders`, a cancel by order id to `DELETE /v1/orders/{id}`, the rest to
/// `POST /v1/transactions`.
pub fn request_for(signed: &SignedTransaction) -> SignedRequest {
    let tx = &signed.transaction;
    match &tx.action {
        Action::Order(OrderAction::Place(_)) | Action::Batch(_) => {
            SignedRequest::Place(TransactionJson::from_chain(signed))
        }
        Action::Order(OrderAction::Cancel(CancelOrder {
            market,
            order: OrderRef::Id(order_id),
        })) => SignedRequest::Cancel {
            order_id: order_id.0,
            body: CancelBody {
                chain_id: tx.chain_id.0,
                signer: tx.signer,
                nonce: tx.nonce,
                expiry_height: tx.expiry_height,
                market: market.0,
                signature: signed.signature,
            },
        },
        _ => submit_request(signed),
    }
}

/// The request for `signed` on `POST /v1/transactions`, as JSON fields.
pub fn submit_request(signed: &SignedTransaction) -> SignedRequest {
    SignedRequest::Submit(SubmitRequest::Json {
        transaction: TransactionJson::from_chain(signed),
    })
}

/// `signed` as the body of `POST /v1/transactions` in its hex form: the borsh bytes,
/// hex-encoded (what `Client::submit` sends for it).
pub fn hex_request(signed: &SignedTransaction) -> SubmitRequest {
    SubmitRequest::Hex {
        tx: hex::encode(signed.to_bytes()),
    }
}
