//! The durable chain: restart, snapshots, torn tails, corruption, and `kill -9`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clobchain::chain::{self, Chain, ChainError};
use ed25519_dalek::SigningKey;
use markets::{
    Action, Genesis, MarketId, OrderAction, PlaceOrder, Signatures, SignedTransaction, Transaction,
};
use matching::{SelfTradePrevention, Side, TimeInForce};

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
            .commit(genesis.timestamp_ms + height * 100, txs, Signatures::Verify)
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
    commit_blocks(&mut chain, &genesis, &keys, 1);
    drop(chain);

    // A crash in the middle of appending block 4: only part of its record reached the
    // disk (as if block 4 was never reported committed).
    let full_len = std::fs::metadata(&file).unwrap().len();
    let torn = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    torn.set_len(good_len + (full_len - good_len) / 2).unwrap();
    drop(torn);

    let (mut chain, report) = Chain::open(dir.path(), &genesis).unwrap();
    assert!(
        report.log.truncated.is_some(),
        "the torn tail is reported: {report:?}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), good_len);
    assert_eq!((chain.height(), chain.state().block_hash()), (3, hash));
    commit_blocks(&mut chain, &genesis, &keys, 2);
    drop(chain);
    assert_eq!(chain::verify(dir.path(), |_| {}).unwrap().blocks, 5);
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
            .commit(genesis.timestamp_ms + height * 100, txs, Signatures::Verify)
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
        }
        chain.state().check_invariants();
        assert_eq!(
            chain.state().clone().state_root(),
            chain.last_header().unwrap().state_root
        );
    }
    let verified = chain::verify(dir.path(), |_| {}).unwrap();
    assert!(verified.blocks >= reported.last().unwrap().0);
}
