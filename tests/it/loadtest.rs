//! The load tester, small: a few seconds against a node it starts (in this process), a
//! few blocks in process, and the LOBSTER days through the block executor. The big runs
//! are benchmarks (`clobchain loadtest`); these check that every figure the report
//! promises is measured, and that the chain replays real order flow as a bare book does.

use ::loadtest::{
    BodyKind, LoadtestArgs, LobsterPacing, Report, Transport, WorkloadKind, run, run_in_process,
};

fn small_rest_args(dir: &std::path::Path) -> LoadtestArgs {
    LoadtestArgs {
        spawn_node: true,
        node_block_interval_ms: Some(50),
        workload: WorkloadKind::Mix,
        traders: 16,
        markets: 2,
        hot_skew: 0.3,
        rate: 1_500,
        duration: 3.0,
        warmup: 1.0,
        batch: 25,
        connections: 2,
        watch_traders: 4,
        seed: 42,
        json: Some(dir.join("report.json")),
        html: Some(dir.join("report.html")),
        quiet: true,
        drain: 5.0,
        ..LoadtestArgs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_against_a_spawned_node_measures_what_a_trader_sees() {
    let dir = tempfile::tempdir().unwrap();
    let args = small_rest_args(dir.path());
    let report: Report = run(args).await.expect("the load test runs");
    let n = report.network.as_ref().expect("a network report");
    let table = report.table();
    eprintln!("{table}");
    assert_eq!(n.node_kind, "in-process", "{table}");
    assert_eq!(n.transport_errors, 0, "{table}");
    assert!(
        n.submitted.orders > 2_000,
        "about 1,500 orders/s for 3 s: {table}"
    );
    assert!(
        n.acknowledged.txs > 0 && n.acknowledged.txs <= n.submitted.txs,
        "{table}"
    );
    // Open loop at a low rate: the tester keeps its schedule (a shared machine may delay
    // a few sends; they are counted, not hidden).
    assert!(n.late_requests * 10 <= n.requests, "{table}");
    assert!(n.committed_txs > 0 && n.blocks > 0, "{table}");
    assert_eq!(
        n.run_committed_txs, n.run_acknowledged_txs,
        "every acknowledged transaction lands in a block: {table}"
    );
    assert!(n.fills > 0 && n.takers_sent > 0, "{table}");
    assert!(
        n.ack_latency_ms.samples > 0 && n.ack_latency_ms.p50 > 0.0,
        "{table}"
    );
    assert!(n.fill_latency_ms.samples > 0, "{table}");
    assert!(
        n.fill_latency_ms.p50 >= n.ack_latency_ms.p50,
        "a fill is seen after its acknowledgement: {table}"
    );
    assert!(
        n.fill_latency_ms.p99 < 5_000.0,
        "50 ms blocks fill takers well within a second: {table}"
    );
    assert!(
        n.block_interval_ms.samples > 0 && n.txs_per_block.max >= 1.0,
        "{table}"
    );
    // The mix sends a few orders the chain refuses: the watched traders see some.
    assert!(
        !n.rejected_by_reason.is_empty() || !n.refused_at_submit.is_empty(),
        "{table}"
    );
    assert!(n.watched_txs > 0, "{table}");
    let node = n.node_process.as_ref().expect("the node's metrics");
    assert!(node.cpu_percent > 0.0 && node.rss_end_mb > 0.0, "{table}");
    assert!(node.includes_tester, "the node runs in this process");
    assert!(n.timeline.len() >= 3, "{table}");
    assert!(n.submitted_orders_per_sec > 1_000.0, "{table}");

    // The files.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["mode"], "rest");
    assert_eq!(json["seed"], 42);
    assert_eq!(
        json["network"]["committed_txs"].as_u64(),
        Some(n.committed_txs)
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("<polyline"),
        "charts drawn"
    );
    assert!(html.contains("Latency distribution"));
    assert!(
        !html.contains("<script") && !html.contains("https://"),
        "self-contained: no script, nothing fetched"
    );
}

/// The binary body, batched and single: the same transactions, committed the same way,
/// with the same refusals counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_binary_bodies_commits_what_it_sends() {
    for batch in [25, 1] {
        let dir = tempfile::tempdir().unwrap();
        let args = LoadtestArgs {
            body: BodyKind::Binary,
            batch,
            rate: if batch == 1 { 300 } else { 1_500 },
            duration: 2.0,
            ..small_rest_args(dir.path())
        };
        let report: Report = run(args).await.expect("the load test runs");
        let n = report.network.as_ref().expect("a network report");
        let table = report.table();
        assert_eq!(report.settings["body"], "binary", "{table}");
        assert_eq!(n.transport_errors, 0, "{table}");
        assert!(n.acknowledged.txs > 0 && n.committed_txs > 0, "{table}");
        assert_eq!(
            n.run_committed_txs, n.run_acknowledged_txs,
            "every acknowledged transaction lands in a block: {table}"
        );
        assert!(
            !n.rejected_by_reason.is_empty() || !n.refused_at_submit.is_empty(),
            "the mix's bad orders are refused or rejected as over JSON: {table}"
        );
    }
}

#[test]
fn the_in_process_run_reports_the_engine_against_its_ceiling() {
    let args = LoadtestArgs {
        in_process: true,
        traders: 64,
        markets: 4,
        blocks: 3,
        warmup_blocks: 2,
        block_orders: 1_024,
        threads: Some(2),
        quiet: true,
        ..LoadtestArgs::default()
    };
    let report = run_in_process(&args).expect("the in-process run");
    let table = report.table();
    eprintln!("{table}");
    assert_eq!(report.mode, "in-process");
    // Single orders and batches of 8, unless --actions-per-tx says otherwise.
    let configs: Vec<u64> = report.engine.iter().map(|e| e.actions_per_tx).collect();
    assert_eq!(configs, vec![1, 8], "{table}");
    for e in &report.engine {
        assert_eq!(e.blocks, 3, "{table}");
        assert_eq!(e.orders, 3 * 1_024, "{table}");
        assert_eq!(e.txs * e.actions_per_tx, e.orders, "{table}");
        assert!(e.fills > 0, "takers sweep the warmed-up books: {table}");
        assert!(e.orders_per_sec > 0.0 && e.execute_secs > 0.0, "{table}");
        assert!(
            e.ceiling_orders_per_sec > 0.0 && e.ceiling_secs > 0.0,
            "{table}"
        );
        assert!(
            e.ratio > 0.0 && (e.ratio - e.orders_per_sec / e.ceiling_orders_per_sec).abs() < 1e-9,
            "{table}"
        );
        assert!(
            e.rejected_by_reason.contains_key("UNKNOWN_MARKET"),
            "the mix's deliberate rejects are counted by reason: {table}"
        );
        assert_eq!(e.per_block.len(), 3);
    }
    // A batch of 8 carries 8 orders under one signature: its ceiling, in orders, is higher.
    assert!(
        report.engine[1].ceiling_orders_per_sec > report.engine[0].ceiling_orders_per_sec,
        "{table}"
    );
    let html = report.html();
    assert!(html.contains("verification ceiling"));
}

/// The LOBSTER days through the block executor, one sequential run per block: the chain
/// must fill exactly what the bare book fills (the same resting orders, the same sizes),
/// and refuse nothing. Reads the shared LOBSTER data, as `lobster.rs` does.
#[test]
fn the_lobster_replay_through_the_chain_matches_the_bare_book() {
    let args = LoadtestArgs {
        in_process: true,
        workload: WorkloadKind::Lobster,
        lobster_pacing: LobsterPacing::Sequential,
        traders: 64,
        threads: Some(2),
        quiet: true,
        ..LoadtestArgs::default()
    };
    let report = run_in_process(&args).expect("the LOBSTER replay");
    let table = report.table();
    eprintln!("{table}");
    let l = report.lobster.as_ref().expect("a LOBSTER report");
    let e = &report.engine[0];
    assert_eq!(l.commands_sent, l.commands, "{table}");
    assert_eq!(e.orders, l.commands, "one order per transaction: {table}");
    assert!(e.rejected_by_reason.is_empty(), "{table}");
    assert_eq!(l.reproduced_by_chain, l.reproduced_by_bare_book, "{table}");
    assert_eq!(l.reproduced_by_bare_book_on_sent, l.reproduced_by_bare_book);
    // tests/it/lobster.rs pins the bare book's group-level numbers; at the level of rows
    // it reproduces about 92% of the executions naming an order it placed.
    assert!(l.share_of_known_by_chain > 0.9, "{table}");
    assert!(e.ratio > 0.0 && e.ceiling_orders_per_sec > 0.0, "{table}");
}

/// Order entry over the websocket, text and binary frames: every transaction is
/// answered on its socket and every acknowledged one lands in a block, as over REST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_the_websocket_is_answered_and_committed_like_rest() {
    for body in [BodyKind::Json, BodyKind::Binary] {
        let dir = tempfile::tempdir().unwrap();
        let args = LoadtestArgs {
            transport: Transport::Ws,
            body,
            batch: 1,
            rate: 800,
            duration: 2.0,
            json: None,
            html: None,
            ..small_rest_args(dir.path())
        };
        let report: Report = run(args).await.expect("the load test runs");
        let n = report.network.as_ref().expect("a network report");
        let table = report.table();
        assert_eq!(report.mode, "ws", "{table}");
        assert_eq!(n.transport_errors, 0, "{body:?}: {table}");
        assert!(n.acknowledged.txs > 500, "{body:?}: {table}");
        assert_eq!(
            n.run_committed_txs, n.run_acknowledged_txs,
            "{body:?}: every acknowledged transaction lands in a block: {table}"
        );
        assert!(
            n.ack_latency_ms.samples > 500,
            "{body:?}: ack latency measured: {table}"
        );
    }
    let refused = run(LoadtestArgs {
        transport: Transport::Ws,
        batch: 25,
        ..LoadtestArgs::default()
    })
    .await;
    assert!(refused.is_err(), "a batch has no websocket form");
}

/// The load tester against a 4-validator testnet it starts itself (each validator its
/// own `clobchain` process): what it acknowledges is committed, final on validator 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_against_a_spawned_testnet_commits_what_it_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let args = LoadtestArgs {
        spawn_node: false,
        spawn_testnet: Some(4),
        node_bin: Some(env!("CARGO_BIN_EXE_clobchain").into()),
        rate: 500,
        ..small_rest_args(dir.path())
    };
    let report: Report = run(args).await.expect("the load test runs");
    let n = report.network.as_ref().expect("a network report");
    let table = report.table();
    eprintln!("{table}");
    assert_eq!(n.node_kind, "testnet (child processes)", "{table}");
    assert_eq!(n.transport_errors, 0, "{table}");
    assert!(n.committed_txs > 0 && n.blocks > 0, "{table}");
    assert_eq!(
        n.run_committed_txs, n.run_acknowledged_txs,
        "every acknowledged transaction lands in a final block: {table}"
    );
}
