//! The `clobchain` binary killed under load and restarted: every transaction it said was
//! committed is still committed, at the same height, with the same orders; the stored
//! chain verifies; a graceful stop and restart keeps height, block hash and balances.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::wire::{
    ActionResult, BatchItem, BatchResponse, OrderJson, OrderStatusJson, SubmitResponse, TxStatus,
    TxStatusKind,
};
use client::Method;
use matching::Side;
use serde_json::json;

use crate::node_support::{
    Api, BTC_USD, DEADLINE, NodeProcess, Reply, Trader, hex_body, spawn_node,
};

/// A transaction the node said was in a block.
#[derive(Clone, Debug)]
struct Acked {
    hash: String,
    height: u64,
    order_ids: Vec<u64>,
}

fn acked(status: &TxStatus) -> Acked {
    assert_eq!(status.status, TxStatusKind::Committed, "{status:?}");
    Acked {
        hash: status.hash.clone(),
        height: status.height.expect("a committed transaction has a height"),
        order_ids: status
            .actions
            .iter()
            .map(|a| match a {
                ActionResult::Placed { order_id } => *order_id,
                other => panic!("every order of the load places: {other:?}"),
            })
            .collect(),
    }
}

const LOT: u64 = 10_000;

/// One-lot orders around $500 per lot. Each account trades one side only, so that
/// orders cross other accounts' orders but never their own (self-trade prevention would
/// cancel them): every order placed is then either open or filled.
fn order(trader: &Trader, side: Side, i: u64) -> markets::SignedTransaction {
    trader.place(BTC_USD, side, 5_000_000 + (i % 7) * 10, LOT)
}

/// Single orders, each waiting for its block, until the node stops answering.
async fn single_load(api: Api, trader: Arc<Trader>, side: Side, acks: Arc<Mutex<Vec<Acked>>>) {
    for i in 0.. {
        let tx = order(&trader, side, i);
        let Ok(reply) = api
            .send_json(Method::POST, "/v1/transactions?wait=true", &hex_body(&tx))
            .await
        else {
            return;
        };
        assert!(reply.status.is_success(), "{}", reply.body);
        let response: SubmitResponse = reply.json();
        let status = response
            .receipt
            .expect("a waited submission carries its receipt");
        acks.lock().expect("acks").push(acked(&status));
    }
}

/// Batches of five, each polled until committed, until the node stops answering.
async fn batch_load(api: Api, traders: [Arc<Trader>; 2], acks: Arc<Mutex<Vec<Acked>>>) {
    for round in 0.. {
        let txs: Vec<_> = (0..5u64)
            .map(|i| {
                let (trader, side) = if i % 2 == 0 {
                    (&traders[0], Side::Sell)
                } else {
                    (&traders[1], Side::Buy)
                };
                order(trader, side, round * 5 + i)
            })
            .collect();
        let body = json!({"transactions": txs.iter().map(hex_body).collect::<Vec<_>>()});
        let Ok(reply) = api
            .send_json(Method::POST, "/v1/transactions/batch", &body)
            .await
        else {
            return;
        };
        let batch: BatchResponse = reply.json();
        for item in &batch.results {
            assert!(matches!(item, BatchItem::Accepted(_)), "{item:?}");
        }
        for tx in &txs {
            let hash = tx.hash().to_string();
            loop {
                let Ok(answer) = api
                    .client
                    .raw(Method::GET, &format!("/v1/transactions/{hash}"), &[], None)
                    .await
                else {
                    return;
                };
                let status: TxStatus = Reply::from(answer).json();
                if status.status != TxStatusKind::Pending {
                    acks.lock().expect("acks").push(acked(&status));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

async fn spawn(data: &std::path::Path) -> NodeProcess {
    let data = data.to_path_buf();
    tokio::task::spawn_blocking(move || spawn_node(&data))
        .await
        .expect("spawn_node")
}

/// `kill -9` under load (waited singles and polled batches from four accounts), then a
/// restart: every transaction acknowledged as committed is found at the height it was
/// acknowledged at, placing the same orders, each open or filled; the node goes on
/// taking orders, and after a SIGTERM `clobchain verify` accepts the directory. (The
/// load stays well under the 256 blocks a restarted node indexes for lookups by hash.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_crash_keeps_every_committed_transaction() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let node = spawn(dir.path()).await;
    let api = node.api.clone();
    let traders = [1, 2, 3, 4].map(Trader::dev);
    let acks: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let loads = [
        tokio::spawn(single_load(
            api.clone(),
            traders[0].clone(),
            Side::Sell,
            acks.clone(),
        )),
        tokio::spawn(single_load(
            api.clone(),
            traders[1].clone(),
            Side::Buy,
            acks.clone(),
        )),
        tokio::spawn(batch_load(
            api.clone(),
            [traders[2].clone(), traders[3].clone()],
            acks.clone(),
        )),
    ];

    // Kill -9 once a good number of transactions are acknowledged, mid-load.
    let started = Instant::now();
    while acks.lock().expect("acks").len() < 60 {
        assert!(
            started.elapsed() < DEADLINE,
            "the load does not get committed"
        );
        for load in &loads {
            assert!(!load.is_finished(), "a load task stopped early");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::spawn_blocking(move || node.crash())
        .await
        .expect("crash");
    for load in loads {
        load.await.expect("a load task ends without failing");
    }
    let acks = acks.lock().expect("acks").clone();
    let highest = acks.iter().map(|a| a.height).max().expect("acks");

    // Restart: every acknowledged transaction is where the node said it was.
    let node = spawn(dir.path()).await;
    let api = node.api.clone();
    let health = api.health().await;
    assert!(
        health.height >= highest,
        "height {} < acknowledged {highest}",
        health.height
    );
    for ack in &acks {
        let status = api.tx_status(&ack.hash).await.unwrap_or_else(|| {
            panic!(
                "committed transaction {} (height {}) lost",
                ack.hash, ack.height
            )
        });
        let again = acked(&status);
        assert_eq!(
            (again.height, &again.order_ids),
            (ack.height, &ack.order_ids),
            "{}",
            ack.hash
        );
        for id in &ack.order_ids {
            let order: OrderJson = api.get_json(&format!("/v1/orders/{id}")).await;
            assert!(
                matches!(
                    order.status,
                    OrderStatusJson::Open | OrderStatusJson::Filled
                ),
                "order {id} after the restart: {order:?}"
            );
        }
    }

    // The restarted node goes on: a new order commits after the last acknowledged one.
    let next = traders[0].place(BTC_USD, Side::Sell, 5_000_500, LOT);
    let committed = api.submit_committed(&next).await;
    assert!(committed.receipt.and_then(|r| r.height) > Some(highest));

    // Stopped with SIGTERM, the stored chain verifies from genesis.
    terminate(node).await;
    verify(dir.path()).await;
}

async fn terminate(node: NodeProcess) {
    tokio::task::spawn_blocking(move || node.terminate())
        .await
        .expect("terminate");
}

/// `clobchain verify --data DIR` succeeds.
async fn verify(data: &std::path::Path) {
    let data = data.to_path_buf();
    let verify = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_clobchain"))
            .arg("verify")
            .arg("--data")
            .arg(&data)
            .output()
            .expect("clobchain verify runs")
    })
    .await
    .expect("verify");
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && stdout.starts_with("ok:"),
        "clobchain verify: {stdout}\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// What a graceful restart must keep: balances (the view's height aside) and open orders.
async fn holdings(api: &Api) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for i in 1..=4 {
        let key = Trader::dev(i).hex();
        let mut account = serde_json::to_value(api.account(&key).await).expect("JSON");
        account["height"] = serde_json::Value::Null;
        let orders: Vec<OrderJson> = api.get_json(&format!("/v1/accounts/{key}/orders")).await;
        let orders: Vec<_> = orders
            .iter()
            .map(|o| (o.order_id, o.price, o.qty_remaining))
            .collect();
        out.push(json!({"account": account, "orders": orders}));
    }
    out
}

/// SIGTERM, then a restart on the same directory: the same chain (height and last block
/// hash), balances and open orders; the stored chain verifies in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_graceful_restart_keeps_height_and_balances() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let node = spawn(dir.path()).await;
    let api = node.api.clone();
    let (seller, buyer) = (Trader::dev(1), Trader::dev(2));
    // Three sells, one bought, and two buys below them: trades and resting orders.
    for price in [5_000_000, 5_000_010, 5_000_020] {
        api.submit_committed(&seller.place(BTC_USD, Side::Sell, price, LOT))
            .await;
    }
    for price in [5_000_000, 4_900_000, 4_900_010] {
        api.submit_committed(&buyer.place(BTC_USD, Side::Buy, price, LOT))
            .await;
    }
    let health = api.health().await;
    let before = holdings(&api).await;
    assert!(
        before.iter().any(|h| h["orders"] != json!([])),
        "some orders rest: {before:?}"
    );
    terminate(node).await;
    verify(dir.path()).await;

    let node = spawn(dir.path()).await;
    let api = node.api.clone();
    assert_eq!(
        holdings(&api).await,
        before,
        "a graceful restart keeps balances and orders"
    );
    let again = api.health().await;
    let mut extra = Vec::new();
    for height in health.height + 1..=again.height {
        let block: api::wire::BlockJson = api.get_json(&format!("/v1/blocks/{height}")).await;
        extra.push((height, block.transaction_count));
    }
    assert_eq!(
        (again.height, &again.last_block_hash),
        (health.height, &health.last_block_hash),
        "a graceful stop and restart keeps the chain as it was; blocks added \
         (height, transactions): {extra:?}"
    );
    terminate(node).await;
}
