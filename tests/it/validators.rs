//! Four validator processes on loopback (`clobchain node --validator-key --peers`, as
//! `clobchain testnet` starts them): orders sent to different validators reach blocks
//! once; one validator killed with `kill -9` under load and restarted catches up; a
//! follower (`clobchain node --follow`) of that validator and another moves to the other
//! when it dies, keeps up with them, serves the same receipts and forwards what it is
//! sent; every transaction acknowledged without waiting by a validator that stays up
//! ends with a final status there (none lost silently); after a SIGTERM every
//! validator's directory, and the follower's, passes `clobchain verify` with the same
//! blocks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::wire::{SubmitResponse, TxStatusKind};
use consensus::process::{TestnetArgs, prepare};
use matching::Side;

use crate::node_lifecycle::final_statuses;
use crate::node_support::{Api, BTC_USD, NodeProcess, Trader, hex_body, spawn_node_with};

const VALIDATORS: usize = 4;
const LOT: u64 = 10_000;

/// A port nobody listens on now, below Linux's ephemeral range (32768 and up): a
/// validator restarted after `kill -9` binds its p2p port again, and a port from the
/// ephemeral range may meanwhile be the local end of some outgoing connection.
fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    // Each test process starts at its own place in 20000..32000.
    let start = (std::process::id() % 1_000) as u16 * 10;
    loop {
        let offset = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 12_000;
        let port = 20_000 + (start + offset) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn spawn_validator(dir: &Path, peers: &Path, i: usize) -> NodeProcess {
    let data = dir.join(format!("v{i}"));
    let key = data.join("validator.key");
    spawn_node_with(
        &data,
        &[
            "--block-interval-ms".as_ref(),
            "20".as_ref(),
            "--validator-key".as_ref(),
            key.as_os_str(),
            "--peers".as_ref(),
            peers.as_os_str(),
        ],
    )
}

/// A follower of the nodes at `sources` (the first, then the next if it fails), in
/// `<dir>/follower`, on the testnet's genesis.
async fn spawn_follower(dir: &Path, sources: &[&Api]) -> NodeProcess {
    let data = dir.join("follower");
    let genesis = dir.join("genesis.json");
    let source = sources
        .iter()
        .map(|api| api.base().to_string())
        .collect::<Vec<_>>()
        .join(",");
    tokio::task::spawn_blocking(move || {
        spawn_node_with(
            &data,
            &[
                "--genesis".as_ref(),
                genesis.as_os_str(),
                "--follow".as_ref(),
                source.as_ref(),
            ],
        )
    })
    .await
    .expect("spawn")
}

async fn spawn(dir: &Path, peers: &Path, i: usize) -> NodeProcess {
    let (dir, peers) = (dir.to_path_buf(), peers.to_path_buf());
    tokio::task::spawn_blocking(move || spawn_validator(&dir, &peers, i))
        .await
        .expect("spawn")
}

/// Waited single orders through one validator until it stops answering; records
/// `(hash, height)` of each acknowledged as committed.
async fn load(api: Api, trader: Arc<Trader>, side: Side, acks: Arc<Mutex<Vec<(String, u64)>>>) {
    for i in 0u64.. {
        let tx = trader.place(BTC_USD, side, 5_000_000 + (i % 5) * 10, LOT);
        let Ok(reply) = api
            .send_json(
                client::Method::POST,
                "/v1/transactions?wait=true",
                &hex_body(&tx),
            )
            .await
        else {
            return;
        };
        if !reply.status.is_success() {
            return;
        }
        let response: SubmitResponse = reply.json();
        let receipt = response
            .receipt
            .expect("a waited submission has its receipt");
        assert_eq!(receipt.status, TxStatusKind::Committed, "{receipt:?}");
        let height = receipt.height.expect("committed");
        // The certificate that made its block final: its own or a descendant's.
        let finality = receipt.finality.expect("a validator's receipt names it");
        assert!(
            finality.height >= height && finality.view >= 1,
            "{receipt:?}"
        );
        acks.lock()
            .expect("acks")
            .push((receipt.hash.clone(), height));
    }
}

/// Orders sent without waiting, one at a time to each of `apis` in turn (its counting
/// nonces reach the leaders out of order): the hash and the validator that
/// acknowledged each.
async fn load_unwaited(
    apis: Vec<Api>,
    trader: Arc<Trader>,
    acks: Arc<Mutex<Vec<(String, usize)>>>,
) {
    for i in 0usize.. {
        let tx = trader.place(BTC_USD, Side::Buy, 4_000_000 + (i as u64 % 5) * 10, LOT);
        let to = i % apis.len();
        let Ok(reply) = apis[to]
            .send_json(client::Method::POST, "/v1/transactions", &hex_body(&tx))
            .await
        else {
            return;
        };
        if reply.status.is_success() {
            acks.lock().expect("acks").push((tx.hash().to_string(), to));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every validator's faucet signs with the one dev key: 65 transfers served by `last`
/// (the validator started last, whose clock-based nonces were the highest under the
/// old counter scheme), then one by `first`, which must commit: its nonce is not below
/// the account's window of 64.
async fn faucets_share_one_key(last: &Api, first: &Api) {
    let body = |i: u8| {
        let to = Trader::with_key(ed25519_dalek::SigningKey::from_bytes(&[100 + i; 32]));
        serde_json::json!({"account": to.hex(), "asset": 0, "amount": 1_000 + u64::from(i)})
    };
    let committed = |api: &Api, i: u8| {
        let (api, body) = (api.clone(), body(i));
        async move {
            let reply = api.post("/v1/faucet?wait=true", &body).await;
            let funded: SubmitResponse = reply.json();
            assert_eq!(funded.status, TxStatusKind::Committed, "{}", reply.body);
        }
    };
    for i in 0..64 {
        let reply = last.post("/v1/faucet", &body(i)).await;
        assert_eq!(reply.status, client::StatusCode::ACCEPTED, "{}", reply.body);
    }
    // The 65th waits for its block: the first 64 are committed by then (oldest first).
    committed(last, 64).await;
    committed(first, 65).await;
}

async fn wait_height(api: &Api, height: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.health().await.height < height {
        assert!(Instant::now() < deadline, "stuck below height {height}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validator_processes_agree_through_a_kill_9() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let args = TestnetArgs {
        validators: VALIDATORS,
        dir: dir.path().to_path_buf(),
        api_port: 0,
        p2p_port: 0,
        dev_accounts: 10,
        genesis: None,
        block_interval_ms: None,
    };
    let (peers, mut testnet) = prepare(&args).expect("testnet files");
    // Free ports for the p2p listeners (prepare numbers them from p2p_port).
    for v in &mut testnet.validators {
        v.p2p.set_port(free_port());
    }
    std::fs::write(&peers, serde_json::to_string(&testnet).expect("json")).expect("write");
    let mut nodes = Vec::new();
    for i in 0..VALIDATORS {
        nodes.push(Some(spawn(dir.path(), &peers, i).await));
    }
    let apis: Vec<Api> = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().api.clone())
        .collect();
    wait_height(&apis[0], 2).await;
    // The follower takes its blocks from validator 2, which is killed below: it goes on
    // from validator 0.
    let follower = spawn_follower(dir.path(), &[&apis[2], &apis[0]]).await;

    // Buyers through validators 0 and 1, sellers through 2 and 3: orders cross between
    // accounts that entered through different validators.
    let acks: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let loads: Vec<_> = (0..VALIDATORS)
        .map(|i| {
            let side = if i < 2 { Side::Buy } else { Side::Sell };
            tokio::spawn(load(
                apis[i].clone(),
                Trader::dev(i as u64 + 1),
                side,
                Arc::clone(&acks),
            ))
        })
        .collect();
    // One more trader through validators 0, 1 and 3 (the ones that stay up), without
    // waiting: every one of these must end with a status where it was acknowledged.
    let unwaited: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let staying = vec![apis[0].clone(), apis[1].clone(), apis[3].clone()];
    let unwaited_load = tokio::spawn(load_unwaited(
        staying.clone(),
        Trader::dev(5),
        Arc::clone(&unwaited),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    nodes[2].take().expect("running").crash();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Three of four are a quorum: they go on (the dead one's views time out).
    let before = acks.lock().expect("acks").len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acks.lock().expect("acks").len() < before + 5 {
        assert!(
            Instant::now() < deadline,
            "three of four validators go on committing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The follower's source is dead: it goes on from validator 0, and says so.
    wait_height(&follower.api, apis[0].health().await.height).await;
    let metrics = follower.api.get("/metrics/follower").await;
    let text = metrics.body.as_str().expect("Prometheus text");
    let using = text
        .lines()
        .find(|l| l.starts_with("clobchain_follower_source{"))
        .expect("the source gauge");
    assert!(
        using.contains(apis[0].base().trim_end_matches('/')) && using.ends_with("} 1"),
        "{text}"
    );
    assert!(
        !text.contains("clobchain_follower_failovers_total 0"),
        "{text}"
    );
    let restarted = spawn(dir.path(), &peers, 2).await;
    let target = apis[0].health().await.height;
    wait_height(&restarted.api, target).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for l in loads {
        l.abort();
    }
    unwaited_load.abort();
    // None lost silently: each is final (committed, or dropped with its code) at the
    // validator that acknowledged it.
    let unwaited = unwaited.lock().expect("acks").clone();
    assert!(unwaited.len() > 50, "{}", unwaited.len());
    for (v, api) in staying.iter().enumerate() {
        let mine: Vec<String> = unwaited
            .iter()
            .filter(|(_, to)| *to == v)
            .map(|(h, _)| h.clone())
            .collect();
        let statuses = final_statuses(api, &mine).await;
        for status in statuses.values() {
            assert!(
                status.status == TxStatusKind::Committed || status.status == TxStatusKind::Dropped,
                "{status:?}"
            );
        }
    }

    // Every acknowledged transaction is committed at its height on every validator.
    let acks = acks.lock().expect("acks").clone();
    assert!(
        acks.len() > 20,
        "the load reached the chain ({})",
        acks.len()
    );
    let all: Vec<Api> = vec![
        apis[0].clone(),
        apis[1].clone(),
        restarted.api.clone(),
        apis[3].clone(),
        follower.api.clone(),
    ];
    let top = acks.iter().map(|a| a.1).max().unwrap();
    for (v, api) in all.iter().enumerate() {
        wait_height(api, top).await;
        for (hash, height) in &acks {
            let status = api.tx_status(hash).await.expect("known everywhere");
            assert_eq!(status.status, TxStatusKind::Committed);
            assert_eq!(status.height, Some(*height), "{hash}");
            // The killed validator may have rebuilt a record, which has no certificate.
            if v != 2 || status.finality.is_some() {
                let finality = status.finality.expect("validators name the certificate");
                assert!(finality.height >= *height, "{status:?}");
            }
        }
    }
    // The follower forwards what it is sent; its receipt comes from a block it executed.
    let forwarded = Trader::dev(9).place(BTC_USD, Side::Buy, 4_000_000, LOT);
    let receipt = follower.api.submit_committed(&forwarded).await.receipt;
    let height = receipt.expect("waited").height.expect("committed");
    wait_height(&apis[0], height).await;
    let there = apis[0].tx_status(&forwarded.hash().to_string()).await;
    assert_eq!(there.and_then(|s| s.height), Some(height));
    check_certificate(dir.path(), &apis[0], height).await;
    faucets_share_one_key(&apis[3], &apis[0]).await;

    // Consensus's metrics: the view, the final height, latencies, faults proven.
    let metrics = all[1].get("/metrics/consensus").await;
    assert!(metrics.status.is_success());
    let text = metrics.body.as_str().expect("Prometheus text");
    for name in [
        "engine_simplex_voter_state_current_view",
        "engine_marshal_finalized_height",
        "engine_simplex_voter_finalization_latency",
        "clobchain_faults_proven_total{kind=\"ConflictingNotarize\"} 0",
    ] {
        assert!(text.contains(name), "{name} in /metrics/consensus");
    }

    // Stop all; each directory re-executes to the same chain.
    follower.terminate();
    restarted.terminate();
    for node in nodes.into_iter().flatten() {
        node.terminate();
    }
    assert_same_chain(dir.path(), top);
}

/// The certificate that made block `height` final, as a validator serves it: it checks
/// against the genesis's validators, and not for another block or with a byte changed.
async fn check_certificate(dir: &Path, validator: &Api, height: u64) {
    let genesis = node::genesis::GenesisFile::read(&dir.join("genesis.json")).expect("genesis");
    let certifier = consensus::follow::Certifier::for_genesis(&genesis)
        .expect("checks")
        .expect("the testnet names its validators");
    let block: api::wire::BlockJson = validator.get_json(&format!("/v1/blocks/{height}")).await;
    let finality = block
        .finality
        .expect("a validator's block names its certificate");
    let certified: api::wire::BlockJson = validator
        .get_json(&format!("/v1/blocks/{}", finality.height))
        .await;
    let hash = markets::Hash(api::wire::parse_hex32(&certified.hash).expect("hex"));
    let client = client::Client::new(validator.base()).expect("client");
    let path = format!("/v1/consensus/finalizations/{}", finality.height);
    let response = client
        .raw(client::Method::GET, &path, &[], None)
        .await
        .expect("answers");
    assert!(response.status.is_success(), "{}", response.text());
    let bytes = response.body.to_vec();
    let signed = format!("/v1/consensus/finalizations/+{}", finality.height);
    let refused = client.raw(client::Method::GET, &signed, &[], None).await;
    assert_eq!(
        refused.expect("answers").status,
        client::StatusCode::BAD_REQUEST
    );
    certifier
        .check(&bytes, hash, finality.view)
        .expect("a quorum's certificate");
    let other = markets::Hash(api::wire::parse_hex32(&block.parent_hash).expect("hex"));
    assert!(certifier.check(&bytes, other, finality.view).is_err());
    assert!(certifier.check(&bytes, hash, finality.view + 1).is_err());
    let mut flipped = bytes.clone();
    *flipped.last_mut().expect("bytes") ^= 1;
    assert!(certifier.check(&flipped, hash, finality.view).is_err());
}

/// Every validator's stopped directory, and the follower's, passes `clobchain verify`,
/// reaches `top`, and holds the same block at the lowest height they all reached.
fn assert_same_chain(dir: &Path, top: u64) {
    let dirs: Vec<PathBuf> = (0..VALIDATORS)
        .map(|i| dir.join(format!("v{i}")))
        .chain([dir.join("follower")])
        .collect();
    let results: Vec<_> = dirs
        .iter()
        .map(|data| node::chain::verify(data, |_| {}).expect("clobchain verify passes"))
        .collect();
    let least = results.iter().map(|r| r.blocks).min().unwrap();
    assert!(least >= top);
    // Heights may differ by the blocks finalized while the others were stopping: compare
    // at the lowest one through the stored blocks.
    let hashes: Vec<_> = dirs
        .iter()
        .map(|data| {
            let (chain, _) =
                node::chain::Chain::open(data, &node::dev_genesis(10).0).expect("opens");
            chain.block(least).expect("stored").header.hash()
        })
        .collect();
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
}
