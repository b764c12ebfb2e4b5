//! The durable chain: restart, snapshots, torn tails, corruption, `kill -9`, and the
//! stored block outputs (records) with their recovery.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ::node::chain::{self, BlockRecord, Chain, ChainError, OUTPUTS_DIR};
use ::node::storage::BlockLog;
use ed25519_dalek::SigningKey;
use markets::{Action, Genesis, MarketId, OrderAction, PlaceOrder, SignedTransaction, Transaction};
use matching::{Event, Height, SelfTradePrevention, Side, TimeInForce};

const ACCOUNTS: u64 = 8;

fn genesis() -> (Genesis, Vec<SigningKey>) {
    markets::dev::genesis(ACCOUNTS)
}

/// A small block of crossing orders on the BTC-USD demo market: every account places
/// one order around a price that moves with the height, so blocks trade and rest.
fn block_transactions(
    genesis: &Genesis,
    keys: &[SigningKey],
    height: u64,
) -> Vec<SignedTransaction> {
    let params = genesis.markets[0].params;
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let i = i as u64;
            let side = if (i + height).is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            };
            let price_ticks = 6_000_000 + (height % 7) * 10 + i % 3;
            let tx = Transaction {
                chain_id: genesis.chain_id,
                signer: key.verifying_key().to_bytes(),
                nonce: height * 1_000 + i,
                expiry_height: None,
                action: Action::Order(OrderAction::Place(PlaceOrder {
                    market: MarketId(0),
                    client_order_id: None,
                    side,
                    price: price_ticks * params.tick_size,
                    qty: (1 + (i + height) % 4) * params.lot_size,
                    time_in_force: TimeInForce::GoodTillCancel,
                    post_only: false,
                    self_trade: SelfTradePrevention::CancelResting,
                })),
            };
            SignedTransaction::sign(tx, key)
        })
        .collect()
}

fn commit_blocks(chain: &mut Chain, genesis: &Genesis, keys: &[SigningKey], count: u64) {
    for _ in 0..count {
        let height = chain.height() + 1;
        let txs = block_transactions(genesis, keys, height);
        chain
            .commit(genesis.timestamp_ms + height * 100, txs)
            .unwrap();
    }
}

fn log_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn restart_recovers_the_same_chain_from_log_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (mut chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert_eq!((report.snapshot_height, report.blocks_replayed), (0, 0));
    chain.set_snapshot_interval(5);
    commit_blocks(&mut chain, &genesis, &keys, 12);
    let hash = chain.state().block_hash();
    let root = chain.state().clone().state_root();
    drop(chain);

    let (chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert_eq!(report.snapshot_height, 10, "the latest snapshot is loaded");
    assert_eq!(
        report.blocks_replayed, 2,
        "only the blocks after it are replayed"
    );
    assert_eq!(chain.height(), 12);
    assert_eq!(chain.state().block_hash(), hash);
    assert_eq!(chain.state().clone().state_root(), root);
    assert_eq!(chain.last_header().unwrap().hash(), hash);
    chain.state().check_invariants();
    drop(chain);

    let verified = chain::verify(dir.path(), |_| {}).unwrap();
    assert_eq!(verified.blocks, 12);
    assert_eq!(verified.last_hash, Some(hash));
    assert_eq!(verified.snapshots_checked, 1);
    assert_eq!(verified.records_checked, 12);
    assert_eq!(verified.state_root, Some(root));
}

#[test]
fn a_torn_tail_is_cut_off_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (mut chain, _) = Chain::open(dir.path(), &genesis).unwrap();
    commit_blocks(&mut chain, &genesis, &keys, 3);
    let hash = chain.state().block_hash();
    let file = log_files(dir.path()).pop().unwrap();
    let good_len = std::fs::metadata(&file).unwrap().len();
    let outputs_len = std::fs::metadata(outputs_segment(dir.path()))
        .unwrap()
        .len();
    commit_blocks(&mut chain, &genesis, &keys, 1);
    drop(chain);

    // A crash in the middle of appending block 4: only part of its record reached the
    // disk (as if block 4 was never reported committed). Its outputs record comes after
    // the block's append, so it was never written.
    let full_len = std::fs::metadata(&file).unwrap().len();
    let torn = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    torn.set_len(good_len + (full_len - good_len) / 2).unwrap();
    drop(torn);
    cut_file(&outputs_segment(dir.path()), outputs_len);

    let (mut chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert!(
        report.log.truncated.is_some(),
        "the torn tail is reported: {report:?}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), good_len);
    assert_eq!((chain.height(), chain.state().block_hash()), (3, hash));
    assert_eq!(report.records_rebuilt, 0, "{report:?}");
    commit_blocks(&mut chain, &genesis, &keys, 2);
    drop(chain);
    let verified = chain::verify(dir.path(), |_| {}).unwrap();
    assert_eq!((verified.blocks, verified.records_checked), (5, 5));
}

#[test]
fn a_corrupt_block_in_the_middle_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (mut chain, _) = Chain::open(dir.path(), &genesis).unwrap();
    commit_blocks(&mut chain, &genesis, &keys, 4);
    drop(chain);
    let file = log_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let error = Chain::open(dir.path(), &genesis).unwrap_err();
    assert!(matches!(error, ChainError::Storage(_)), "{error}");
    assert!(chain::verify(dir.path(), |_| {}).is_err());
}

#[test]
fn another_genesis_or_a_second_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, _) = genesis();
    let (chain, _) = Chain::open(dir.path(), &genesis).unwrap();
    let second = Chain::open(dir.path(), &genesis).unwrap_err();
    assert!(matches!(second, ChainError::Locked { .. }), "{second}");
    drop(chain);
    let (other, _) = markets::dev::genesis(ACCOUNTS + 1);
    let mismatch = Chain::open(dir.path(), &other).unwrap_err();
    assert!(
        matches!(mismatch, ChainError::GenesisMismatch { .. }),
        "{mismatch}"
    );
}

/// The writer half of the crash test: run as a child process (this same test binary,
/// selected by the environment), it commits blocks forever and prints each height and
/// hash only after `commit` has returned, i.e. once the block is durable.
#[test]
fn crash_writer() {
    let Ok(dir) = std::env::var("CLOBCHAIN_CRASH_WRITER_DIR") else {
        return;
    };
    let (genesis, keys) = genesis();
    let (mut chain, _) = Chain::open(Path::new(&dir), &genesis).unwrap();
    chain.set_snapshot_interval(7);
    loop {
        let height = chain.height() + 1;
        let txs = block_transactions(&genesis, &keys, height);
        let output = chain
            .commit(genesis.timestamp_ms + height * 100, txs)
            .unwrap();
        println!("committed {height} {}", output.hash);
    }
}

#[test]
fn every_block_reported_committed_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, _) = genesis();
    // Three crashes at different moments, each restart continuing the same chain.
    let mut reported: Vec<(u64, String)> = Vec::new();
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "chain_storage::crash_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CLOBCHAIN_CRASH_WRITER_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        // Let it commit a varying number of blocks, then kill it mid-flight.
        let wanted = 8 + round * 5;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = 0;
        while seen < wanted && Instant::now() < deadline {
            if let Ok(line) = receiver.recv_timeout(Duration::from_millis(100))
                && let Some(rest) = line.strip_prefix("committed ")
            {
                let (height, hash) = rest.split_once(' ').unwrap();
                reported.push((height.parse().unwrap(), hash.to_string()));
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines already printed before the kill count as reported too.
        while let Ok(line) = receiver.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = line.strip_prefix("committed ") {
                let (height, hash) = rest.split_once(' ').unwrap();
                reported.push((height.parse().unwrap(), hash.to_string()));
            }
        }
        assert!(
            seen >= wanted,
            "round {round}: the writer reported only {seen} blocks in 60 s"
        );

        let (chain, _) = Chain::open(dir.path(), &genesis).unwrap();
        for (height, hash) in &reported {
            assert!(
                *height <= chain.height(),
                "block {height} was reported committed but is gone"
            );
            assert_eq!(
                &chain.block(*height).unwrap().header.hash().to_string(),
                hash,
                "block {height}"
            );
            assert_eq!(
                &chain.record(*height).unwrap().hash.to_string(),
                hash,
                "the record of block {height}"
            );
        }
        chain.state().check_invariants();
        assert_eq!(
            chain.state().clone().state_root(),
            chain.last_header().unwrap().state_root
        );
    }
    let verified = chain::verify(dir.path(), |_| {}).unwrap();
    assert!(verified.blocks >= reported.last().unwrap().0);
    assert_eq!(verified.records_checked, verified.blocks);
}

// ---- stored block outputs (records) ----

/// Commits `count` blocks to a new chain in `dir`, snapshotting every `interval` blocks.
/// Returns each block's record as `commit` returned it, and the length of the outputs
/// log's segment after each block (index 0: before the first).
fn chain_with_records(
    dir: &Path,
    genesis: &Genesis,
    keys: &[SigningKey],
    count: u64,
    interval: u64,
) -> (Vec<BlockRecord>, Vec<u64>) {
    let (mut chain, _) = Chain::open(dir, genesis).unwrap();
    chain.set_snapshot_interval(interval);
    let mut records = Vec::new();
    let mut lengths = vec![0];
    for _ in 0..count {
        let height = chain.height() + 1;
        let txs = block_transactions(genesis, keys, height);
        let output = chain
            .commit(genesis.timestamp_ms + height * 100, txs)
            .unwrap();
        records.push(BlockRecord::from(&output));
        let segment = outputs_segment(dir);
        lengths.push(std::fs::metadata(segment).unwrap().len());
    }
    assert!(
        records.iter().any(|r| r
            .market_events
            .iter()
            .flatten()
            .any(|e| matches!(e.event, Event::Fill(_)))),
        "the blocks trade, so records hold fills worth comparing"
    );
    (records, lengths)
}

/// The outputs log's only segment (the default segment size holds these tests' logs).
fn outputs_segment(dir: &Path) -> std::path::PathBuf {
    let mut files = log_files(&dir.join(OUTPUTS_DIR));
    assert_eq!(files.len(), 1, "one outputs segment");
    files.pop().unwrap()
}

fn stored_records(chain: &Chain) -> Vec<BlockRecord> {
    chain
        .records_from(1)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn cut_file(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
}

/// Replaces the outputs log with one holding exactly `records`.
fn write_outputs(dir: &Path, records: &[BlockRecord]) {
    let outputs = dir.join(OUTPUTS_DIR);
    std::fs::remove_dir_all(&outputs).unwrap();
    let (mut log, _) = BlockLog::open(&outputs).unwrap();
    for record in records {
        log.append(Height(record.height), &borsh::to_vec(record).unwrap())
            .unwrap();
    }
}

#[test]
fn records_equal_what_commit_returned_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (expected, _) = chain_with_records(dir.path(), &genesis, &keys, 7, 1_000);

    let (chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert_eq!(report.records_rebuilt, 0, "nothing was missing: {report:?}");
    assert_eq!(stored_records(&chain), expected);
    for record in &expected {
        assert_eq!(&chain.record(record.height).unwrap(), record);
        assert_eq!(
            record.hash,
            chain.block(record.height).unwrap().header.hash(),
            "a record names its block"
        );
    }
    let from_five: Vec<_> = chain
        .records_from(5)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(from_five, expected[4..]);
    assert_eq!(
        chain.records_from(8).unwrap().count(),
        0,
        "one past the end"
    );
    assert!(chain.records_from(9).is_err());
    assert!(chain.records_from(0).is_err());
    assert!(chain.record(8).is_err());
    drop(chain);

    let verified = chain::verify(dir.path(), |_| {}).unwrap();
    assert_eq!((verified.blocks, verified.records_checked), (7, 7));
}

#[test]
fn records_behind_the_snapshot_are_regenerated_from_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (expected, lengths) = chain_with_records(dir.path(), &genesis, &keys, 12, 5);

    // The outputs log lost records 4 to 12, below and above the snapshot at 10.
    cut_file(&outputs_segment(dir.path()), lengths[3]);
    let (chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert_eq!(report.snapshot_height, 10, "{report:?}");
    assert_eq!(report.blocks_reexecuted_for_records, 10, "{report:?}");
    assert_eq!(report.blocks_replayed, 2, "{report:?}");
    assert_eq!(report.records_rebuilt, 9, "{report:?}");
    assert_eq!(stored_records(&chain), expected);
    drop(chain);

    // A directory from before records were stored: no outputs log at all.
    std::fs::remove_dir_all(dir.path().join(OUTPUTS_DIR)).unwrap();
    let (chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert_eq!(report.records_rebuilt, 12, "{report:?}");
    assert_eq!(stored_records(&chain), expected);
    drop(chain);

    let (_, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert_eq!(
        report.records_rebuilt, 0,
        "the rebuild was durable: {report:?}"
    );
    assert_eq!(
        chain::verify(dir.path(), |_| {}).unwrap().records_checked,
        12
    );
}

#[test]
fn records_after_the_snapshot_are_regenerated_by_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (expected, lengths) = chain_with_records(dir.path(), &genesis, &keys, 12, 5);

    // A crash in the middle of appending record 11 (block 11 committed, record torn),
    // and record 12 never written.
    cut_file(
        &outputs_segment(dir.path()),
        lengths[10] + (lengths[11] - lengths[10]) / 2,
    );
    let (chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert!(report.outputs.truncated.is_some(), "{report:?}");
    assert_eq!(report.snapshot_height, 10, "{report:?}");
    assert_eq!(report.blocks_reexecuted_for_records, 0, "{report:?}");
    assert_eq!(report.blocks_replayed, 2, "{report:?}");
    assert_eq!(report.records_rebuilt, 2, "{report:?}");
    assert_eq!(stored_records(&chain), expected);
}

#[test]
fn records_ahead_of_the_block_log_refuse_to_open_until_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (mut chain, _) = Chain::open(dir.path(), &genesis).unwrap();
    commit_blocks(&mut chain, &genesis, &keys, 3);
    let blocks = log_files(dir.path()).pop().unwrap();
    let three_blocks = std::fs::metadata(&blocks).unwrap().len();
    let expected = stored_records(&chain);
    commit_blocks(&mut chain, &genesis, &keys, 2);
    drop(chain);

    // Blocks 4 and 5 lost from the block log (outside the crash model), records kept.
    cut_file(&blocks, three_blocks);
    let error = Chain::open(dir.path(), &genesis).unwrap_err();
    assert!(
        matches!(
            error,
            ChainError::RecordsAhead {
                records_last: 5,
                blocks_last: 3,
                ..
            }
        ),
        "{error}"
    );
    let error = chain::verify(dir.path(), |_| {}).unwrap_err();
    assert!(matches!(error, ChainError::RecordsAhead { .. }), "{error}");

    std::fs::rename(
        dir.path().join(OUTPUTS_DIR),
        dir.path().join("outputs.aside"),
    )
    .unwrap();
    let (chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert_eq!(report.records_rebuilt, 3, "{report:?}");
    assert_eq!(stored_records(&chain), expected);
}

#[test]
fn a_last_record_naming_another_block_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = genesis();
    let (mut records, _) = chain_with_records(dir.path(), &genesis, &keys, 5, 1_000);
    records[4].hash = records[3].hash;
    write_outputs(dir.path(), &records);
    let error = Chain::open(dir.path(), &genesis).unwrap_err();
    assert!(
        matches!(error, ChainError::RecordMismatch { height: 5, .. }),
        "{error}"
    );
}

#[test]
fn verify_catches_a_record_whose_receipts_or_events_were_altered() {
    let (genesis, keys) = genesis();
    type Tamper = fn(&mut BlockRecord);
    let tampers: [(&str, Tamper); 3] = [
        ("an event changed", |record| {
            record.market_events[0][0].action += 1;
        }),
        ("an event dropped", |record| {
            record.market_events[0].pop();
        }),
        ("a receipt changed", |record| {
            record.receipts[0].tx_hash = record.hash;
        }),
    ];
    for (what, tamper) in tampers {
        let dir = tempfile::tempdir().unwrap();
        let (mut records, _) = chain_with_records(dir.path(), &genesis, &keys, 6, 1_000);
        assert!(!records[2].market_events[0].is_empty());
        tamper(&mut records[2]);
        write_outputs(dir.path(), &records);

        // Open checks only the last record's block hash, so the altered record stays
        // and is served as stored.
        let (chain, report) = Chain::open(dir.path(), &genesis).unwrap();
        assert_eq!(report.records_rebuilt, 0, "{what}: {report:?}");
        assert_eq!(chain.record(3).unwrap(), records[2], "{what}");
        drop(chain);

        let error = chain::verify(dir.path(), |_| {}).unwrap_err();
        assert!(
            matches!(error, ChainError::RecordMismatch { height: 3, .. }),
            "{what}: {error}"
        );
    }
}
