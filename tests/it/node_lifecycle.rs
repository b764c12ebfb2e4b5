//! A transaction's life on a single node: every acknowledged transaction ends committed
//! or dropped with its code, and a market maker's burst of consecutive nonces over many
//! connections at once never fails on its nonce.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use api::wire::{SubmitResponse, TxStatus, TxStatusKind};
use markets::{Action, Faucet, SignedTransaction};
use serde_json::{Value, json};

use crate::node_support::{Api, DEADLINE, Trader, Ws, hex_body, start_node};

/// A faucet transfer of one USD atom: the cheapest transaction that uses a nonce.
fn drip(trader: &Trader, nonce: u64, expiry_height: Option<u64>) -> SignedTransaction {
    let mut tx = trader.unsigned(Action::Faucet(Faucet {
        asset: markets::dev::USD,
        amount: 1,
    }));
    tx.nonce = nonce;
    tx.expiry_height = expiry_height;
    trader.sign(tx)
}

/// Polls until every hash has a final status (not pending); panics past the deadline
/// with what is still open, or if the node knows nothing of one (a silent loss).
pub async fn final_statuses(api: &Api, hashes: &[String]) -> HashMap<String, TxStatus> {
    let started = Instant::now();
    let mut done = HashMap::new();
    while done.len() < hashes.len() {
        for hash in hashes {
            if done.contains_key(hash) {
                continue;
            }
            let status = api
                .tx_status(hash)
                .await
                .unwrap_or_else(|| panic!("acknowledged {hash} is unknown: a silent loss"));
            if status.status != TxStatusKind::Pending {
                done.insert(hash.clone(), status);
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} of {} acknowledged transactions still pending",
            hashes.len() - done.len(),
            hashes.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done
}

/// One account sends 2,000 consecutive nonces over 8 connections at once, each
/// connection a slice of 250 in order (as a bot's connection pool does): higher nonces
/// from one connection overtake lower ones from another by far more than a block.
/// Every one is acknowledged and commits; none fails on its nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_consecutive_nonces_over_eight_connections_all_commit() {
    const BURST: u64 = 2_000;
    const CONNECTIONS: usize = 8;
    let node = start_node(|c| c.block_interval_ms = 5).await;
    let trader = Trader::dev(0);
    let txs: Vec<SignedTransaction> = (1..=BURST).map(|n| drip(&trader, n, None)).collect();
    let per = txs.len() / CONNECTIONS;
    let sends: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            // A connection (and connection pool) of its own.
            let api = Api::new(node.api.base());
            let mine: Vec<SignedTransaction> = txs[c * per..(c + 1) * per].to_vec();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for tx in mine {
                    let reply = api.submit(&tx, false).await;
                    assert!(reply.status.is_success(), "{:?}", reply.body);
                    acked.push(tx.hash().to_string());
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for send in sends {
        acked.extend(send.await.expect("a sender"));
    }
    assert_eq!(acked.len() as u64, BURST, "every one acknowledged");
    let statuses = final_statuses(&node.api, &acked).await;
    let failed: Vec<&TxStatus> = statuses
        .values()
        .filter(|s| s.status != TxStatusKind::Committed)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {BURST} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let account = node.api.account(&trader.hex()).await;
    assert_eq!(account.last_nonce, Some(BURST));
    node.stop().await;
}

/// Transactions that can never run once a block is in are dropped, not kept pending
/// forever nor forgotten: the block takes the first 130 of a batch (sparse nonces, one
/// range each, so the account's window forgets its lowest two and its floor rises),
/// and the two left waiting are dropped after it: the one below the new floor
/// (`NONCE_TOO_OLD`, rule `below_nonce_floor`) and one whose expiry was that block
/// (`TRANSACTION_EXPIRED`, rule `expired`). Each says so on `GET
/// /v1/transactions/{hash}` and on the signer's `orders` channel, and a resend is
/// answered as a duplicate with that status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_reports_its_code_and_rule() {
    let ranges = markets::limits::NONCE_RANGES_MAX as u64;
    let first_block = usize::try_from(ranges + 2).expect("small");
    let node = start_node(|c| {
        c.block_txs_max = first_block;
        c.empty_block_interval_ms = 60_000;
    })
    .await;
    let trader = Trader::dev(1);
    let mut ws = Ws::connect(&node.api).await;
    ws.subscribe(json!({"op": "subscribe", "channel": "orders", "account": trader.hex()}))
        .await;
    let height = node.api.health().await.height;
    let mut batch: Vec<SignedTransaction> = (0..ranges + 2)
        .map(|i| drip(&trader, 1_000 + 10 * i, None))
        .collect();
    let too_old = drip(&trader, 500, None);
    let expiring = drip(&trader, 5_000, Some(height + 1));
    batch.push(too_old.clone());
    batch.push(expiring.clone());
    let body: Vec<Value> = batch.iter().map(hex_body).collect();
    let reply = node
        .api
        .post("/v1/transactions/batch", &json!({ "transactions": body }))
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let hashes: Vec<String> = batch.iter().map(|t| t.hash().to_string()).collect();
    let statuses = final_statuses(&node.api, &hashes).await;
    for tx in &batch[..first_block] {
        let status = &statuses[&tx.hash().to_string()];
        assert_eq!(status.status, TxStatusKind::Committed, "{status:?}");
        assert_eq!(status.height, Some(height + 1));
    }
    let update = ws
        .next_where("the drops on the orders channel", |m| {
            m["type"] == json!("orders")
        })
        .await;
    assert_eq!(update["height"], json!(height + 1), "{update}");
    let told: HashMap<String, Value> = update["data"]
        .as_array()
        .expect("updates")
        .iter()
        .map(|u| (u["tx"].as_str().unwrap_or_default().to_string(), u.clone()))
        .collect();
    for (tx, code, rule) in [
        (&too_old, "NONCE_TOO_OLD", "below_nonce_floor"),
        (&expiring, "TRANSACTION_EXPIRED", "expired"),
    ] {
        let hash = tx.hash().to_string();
        let status = &statuses[&hash];
        assert_eq!(status.status, TxStatusKind::Dropped, "{status:?}");
        assert_eq!(status.code.as_deref(), Some(code));
        assert_eq!(status.rule.as_deref(), Some(rule));
        assert_eq!(status.height, Some(height + 1), "dropped after the block");
        assert!(status.reason.as_deref().is_some_and(|r| !r.is_empty()));
        // Both drops come in the block's one `orders` message.
        let told = told.get(&hash).expect("the drop on the orders channel");
        assert_eq!(
            told["event"],
            json!({"dropped": code, "rule": rule}),
            "{told}"
        );
        assert!(told.get("action").is_none(), "{told}");
        // Sent again (a client that lost the answer), it is the duplicate it is, with
        // its status.
        let again: SubmitResponse = node.api.submit(tx, false).await.json();
        assert!(again.duplicate, "{again:?}");
        assert_eq!(again.status, TxStatusKind::Dropped, "{again:?}");
        let receipt = again.receipt.expect("its status");
        assert_eq!(receipt.code.as_deref(), Some(code));
    }
    let metrics = node.api.get("/metrics").await;
    let text = metrics.body.as_str().expect("Prometheus text").to_string();
    assert!(
        text.lines()
            .any(|l| l == "clobchain_transactions_dropped_total 2"),
        "{text}"
    );
    node.stop().await;
}
