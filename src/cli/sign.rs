//! Building and signing transactions, and the HTTP request that carries each one.
//!
//! Plain functions, no I/O: the command-line client, the load tester and the tests all
//! build requests here, so what `clobchain sign` prints is byte for byte what
//! `clobchain place` sends.
//!
//! ```text
//! MarketJson + "0.01" + "65000.5" ──human_order──► PlaceOrder (chain units)
//! PlaceOrder + key + TxParams ──place_transaction──► SignedTransaction
//! SignedTransaction ──request_for──► SignedRequest { method, path, JSON body }
//! ```

use api::wire::CancelBody;
use api::wire::{MarketJson, SubmitRequest, TransactionJson};
use ed25519_dalek::SigningKey;
use markets::{
    Action, AmendOrder, CancelAll, CancelOrder, ChainId, MarketId, OrderAction, PlaceOrder,
    SignedTransaction, Transaction,
};
use matching::{ClientOrderId, OrderId, OrderRef, SelfTradePrevention, Side, TimeInForce};

use super::units::{MarketUnits, UnitError};

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

/// The options of a new order besides side, price and quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderOptions {
    /// How long the order lives.
    pub time_in_force: TimeInForce,
    /// Refuse the order rather than let it take liquidity.
    pub post_only: bool,
    /// The account's own id for the order.
    pub client_order_id: Option<u64>,
    /// What happens when it would trade with the account's own order.
    pub self_trade: SelfTradePrevention,
}

impl Default for OrderOptions {
    fn default() -> OrderOptions {
        OrderOptions {
            time_in_force: TimeInForce::GoodTillCancel,
            post_only: false,
            client_order_id: None,
            self_trade: SelfTradePrevention::CancelResting,
        }
    }
}

/// A new order from the decimals a person types (quantity in base units, price in
/// quote units per base unit), converted exactly; off-grid values are refused.
pub fn human_order(
    market: &MarketJson,
    side: Side,
    qty: &str,
    price: &str,
    options: OrderOptions,
) -> Result<PlaceOrder, UnitError> {
    let units = MarketUnits::new(market);
    Ok(PlaceOrder {
        market: MarketId(market.id),
        client_order_id: options.client_order_id.map(ClientOrderId),
        side,
        price: units.price_atoms(price)?,
        qty: units.qty_atoms(qty)?,
        time_in_force: options.time_in_force,
        post_only: options.post_only,
        self_trade: options.self_trade,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use markets::verify::{AccountKey, verify_one};

    fn btc_usd() -> MarketJson {
        let (genesis, _) = markets::dev::genesis(1);
        MarketJson::new(0, &genesis.markets[0], &genesis.assets)
    }

    fn params() -> TxParams {
        TxParams {
            chain_id: 1337,
            nonce: 1_700_000_000_000_000,
            expiry_height: None,
        }
    }

    fn verifies(signed: &SignedTransaction) -> bool {
        let key = AccountKey::from_bytes(&signed.transaction.signer).unwrap();
        verify_one(
            &key,
            &signed.transaction.signing_message(),
            &signed.signature,
        )
    }

    #[test]
    fn nonces_follow_the_clock_and_never_repeat() {
        assert_eq!(next_nonce(100, None), 100);
        assert_eq!(next_nonce(100, Some(50)), 100);
        assert_eq!(next_nonce(100, Some(100)), 101);
        assert_eq!(next_nonce(100, Some(u64::MAX)), u64::MAX);
        assert!(now_micros() > 1_700_000_000_000_000);
    }

    #[test]
    fn a_place_body_deserializes_to_a_transaction_that_verifies() {
        let key = markets::dev::key(0);
        let options = OrderOptions {
            time_in_force: TimeInForce::GoodTillBlock(matching::Height(99)),
            client_order_id: Some(7),
            ..OrderOptions::default()
        };
        let order = human_order(&btc_usd(), Side::Buy, "0.01", "65000.5", options).unwrap();
        assert_eq!((order.price, order.qty), (6_500_050, 1_000_000));
        let signed = place_transaction(&key, params(), order);
        let request = request_for(&signed);
        assert_eq!(request.method(), "POST");
        assert_eq!(request.path(true), "/v1/orders?wait=true");

        let text = serde_json::to_string(&request.body()).unwrap();
        let back: TransactionJson = serde_json::from_str(&text).unwrap();
        let chain = back.to_chain().unwrap();
        assert_eq!(chain, signed);
        assert!(verifies(&chain));
        assert_eq!(chain.hash(), signed.hash());
        let ids = chain.transaction.placed_order_ids();
        assert_eq!(
            ids,
            vec![markets::tx::order_id(
                &chain.transaction.signer,
                params().nonce,
                0
            )]
        );
    }

    #[test]
    fn a_cancel_body_rebuilds_the_signed_cancel() {
        let key = markets::dev::key(1);
        let signed = cancel_transaction(&key, params(), 0, OrderRef::Id(OrderId(u64::MAX)));
        let request = request_for(&signed);
        assert_eq!(request.method(), "DELETE");
        assert_eq!(request.path(false), format!("/v1/orders/{}", u64::MAX));
        let body: CancelBody = serde_json::from_value(request.body()).unwrap();
        // What the server does with the body and the path.
        let rebuilt =
            cancel_transaction(&key, params(), body.market, OrderRef::Id(OrderId(u64::MAX)));
        assert_eq!(rebuilt.signature, body.signature);
        assert_eq!(body.signer, key.verifying_key().to_bytes());
        assert!(verifies(&signed));

        // By client order id there is no DELETE route: it goes to /v1/transactions.
        let by_client = cancel_transaction(&key, params(), 0, OrderRef::Client(ClientOrderId(5)));
        assert_eq!(request_for(&by_client).path(false), "/v1/transactions");
    }

    #[test]
    fn amend_and_cancel_all_go_to_transactions_and_verify() {
        let key = markets::dev::key(2);
        for signed in [
            amend_transaction(&key, params(), 0, 42, 6_500_000, 20_000),
            cancel_all_transaction(&key, params(), 1),
        ] {
            let request = request_for(&signed);
            assert_eq!(
                (request.method(), request.path(true).as_str()),
                ("POST", "/v1/transactions?wait=true")
            );
            let submit: SubmitRequest = serde_json::from_value(request.body()).unwrap();
            let SubmitRequest::Json { transaction } = submit else {
                panic!("JSON fields")
            };
            let chain = transaction.to_chain().unwrap();
            assert_eq!(chain, signed);
            assert!(verifies(&chain));
        }
    }

    #[test]
    fn off_grid_orders_are_refused_before_signing() {
        let market = btc_usd();
        let refused = human_order(
            &market,
            Side::Sell,
            "0.01",
            "65000.005",
            OrderOptions::default(),
        );
        assert!(matches!(
            refused,
            Err(UnitError::OffGrid { what: "price", .. })
        ));
        let refused = human_order(
            &market,
            Side::Sell,
            "0.00001",
            "65000",
            OrderOptions::default(),
        );
        assert!(matches!(
            refused,
            Err(UnitError::OffGrid { what: "qty", .. })
        ));
    }
}
