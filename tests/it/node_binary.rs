//! The binary submission body (`application/octet-stream`, borsh) beside JSON: the same
//! answers, the same codes and the same exactly-once rules, through the one client.

use api::ApiCode;
use api::wire::{BatchItem, TxStatusKind};
use client::{Client, ClientError};
use matching::Side;

use crate::node_support::{BTC_USD, Trader, start_node};

fn client_for(node: &crate::node_support::TestNode) -> Client {
    Client::new(&format!("http://{}", node.running.addr)).expect("a client")
}

fn code_of(error: &ClientError) -> (u16, String) {
    match error {
        ClientError::Api { status, code, .. } => (*status, code.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_binary_single_submission_is_exactly_once_across_bodies() {
    let node = start_node(|_| {}).await;
    let client = client_for(&node);
    let lot = client.market("0").await.expect("market").lot_size;
    let trader = Trader::dev(6);

    let tx = trader.place(BTC_USD, Side::Sell, 6_000_000, lot);
    let hash = tx.hash().to_string();
    let first = client.submit_binary(&tx, false).await.expect("accepted");
    assert_eq!(
        (first.hash.as_str(), first.duplicate),
        (hash.as_str(), false)
    );
    assert_eq!(
        first.order_ids,
        vec![tx.transaction.placed_order_ids()[0].0.to_string()]
    );

    // The same transaction again, as binary and as JSON: a duplicate, never a second order.
    let again = client.submit_binary(&tx, false).await.expect("a duplicate");
    assert!(again.duplicate, "{again:?}");
    let as_json = client
        .submit(&client::tx::hex_request(&tx), true)
        .await
        .expect("a duplicate");
    assert!(as_json.duplicate, "{as_json:?}");
    assert_eq!(as_json.status, TxStatusKind::Committed);
    let waited = client.submit_binary(&tx, true).await.expect("committed");
    assert_eq!(waited.status, TxStatusKind::Committed);
    assert_eq!(waited.receipt, as_json.receipt);
    let orders = client.orders(&trader.public()).await.expect("open orders");
    assert_eq!(orders.len(), 1, "one order rests: {orders:?}");

    // The same codes as JSON: a bad signature, a replayed nonce, bytes that do not decode.
    let mut forged = trader.place(BTC_USD, Side::Sell, 6_000_100, lot);
    forged.signature[0] ^= 1;
    let error = client.submit_binary(&forged, false).await.unwrap_err();
    assert_eq!(
        code_of(&error),
        (401, ApiCode::BadSignature.as_str().to_string())
    );
    let mut reuse = tx.transaction.clone();
    reuse.expiry_height = Some(1_000_000);
    let error = client
        .submit_binary(&trader.sign(reuse), false)
        .await
        .unwrap_err();
    assert_eq!(
        code_of(&error),
        (409, ApiCode::NonceAlreadyUsed.as_str().to_string())
    );
    let garbage = client
        .post_bytes(
            "/v1/transactions",
            api::binary::OCTET_STREAM,
            vec![1u8, 2, 3],
        )
        .await
        .expect("an answer");
    assert_eq!(
        code_of(&garbage.error()),
        (422, ApiCode::Undecodable.as_str().to_string())
    );
    assert_eq!(
        client.orders(&trader.public()).await.unwrap().len(),
        1,
        "nothing changed"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_binary_batch_answers_per_transaction_like_json() {
    let node = start_node(|_| {}).await;
    let client = client_for(&node);
    let lot = client.market("0").await.expect("market").lot_size;
    let trader = Trader::dev(7);

    let a = trader.place(BTC_USD, Side::Sell, 6_000_000, lot);
    let mut forged = trader.place(BTC_USD, Side::Sell, 6_000_100, lot);
    forged.signature[0] ^= 1;
    let b = trader.place(BTC_USD, Side::Sell, 6_000_200, lot);
    let batch = client
        .submit_batch_binary(&[a.clone(), forged, b.clone()])
        .await
        .expect("a batch answer");
    match &batch.results[..] {
        [
            BatchItem::Accepted(ra),
            BatchItem::Error { error, .. },
            BatchItem::Accepted(rb),
        ] => {
            assert_eq!(ra.hash, a.hash().to_string());
            assert_eq!(rb.hash, b.hash().to_string());
            assert_eq!(error.code, ApiCode::BadSignature);
        }
        other => panic!("one result per transaction, in order: {other:?}"),
    }
    // Resent as a JSON batch: both are duplicates.
    let json = client
        .submit_batch(&api::wire::BatchRequest {
            transactions: vec![client::tx::hex_request(&a), client::tx::hex_request(&b)],
        })
        .await
        .expect("a batch answer");
    assert!(
        json.results
            .iter()
            .all(|item| matches!(item, BatchItem::Accepted(r) if r.duplicate)),
        "{json:?}"
    );
    // An empty binary batch is refused whole, with the JSON batch's code.
    let error = client.submit_batch_binary(&[]).await.unwrap_err();
    assert_eq!(code_of(&error).1, ApiCode::BadBatch.as_str());
    node.stop().await;
}
