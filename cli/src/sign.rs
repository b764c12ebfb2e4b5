//! What a person types, as a transaction: decimals converted to chain units exactly.
//! Signing and the HTTP request that carries a transaction are `client::tx`'s.
//!
//! ```text
//! MarketJson + "0.01" + "65000.5" ──human_order──► PlaceOrder (chain units)
//! ```

use api::wire::MarketJson;
use markets::{MarketId, PlaceOrder};
use matching::{ClientOrderId, SelfTradePrevention, Side, TimeInForce};

use super::units::{MarketUnits, UnitError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use api::wire::{CancelBody, SubmitRequest, TransactionJson};
    use client::tx::{
        TxParams, amend_transaction, cancel_all_transaction, cancel_transaction, next_nonce,
        now_micros, place_transaction, request_for,
    };
    use markets::SignedTransaction;
    use markets::verify::{AccountKey, verify_one};
    use matching::{OrderId, OrderRef};

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
