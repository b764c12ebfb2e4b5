//! The block log and the snapshots (`node::storage`): the on-disk format pinned
//! byte by byte, round trips and reopens, recovery from a torn tail cut at every byte of
//! the last record and from a bit flip at every byte of it, refusal to open on damage a
//! crash cannot explain, a model check of random appends, truncations, bit flips and
//! reopens against a plain `Vec<Vec<u8>>`, snapshot atomicity, and a real `kill -9` of a
//! writer process.
//!
//! Seeds: the model's proptest run takes `PROPTEST_RNG_SEED`; the long model run and the
//! crash test print theirs and take `CLOBCHAIN_STORAGE_SEED` to replay.

use std::fs::{self, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ::node::storage::{
    BlockLog, Corruption, LogConfig, RECORD_HEADER_BYTES, RECORD_OVERHEAD_BYTES, Recovery,
    SNAPSHOT_OVERHEAD_BYTES, SkippedSnapshot, Snapshot, SnapshotDefect, Snapshots, StorageError,
    TornTail, Truncation, limits, segment_file_name, snapshot_file_name,
};
use matching::Height;
use proptest::prelude::*;
use tempfile::TempDir;

// ---- helpers ----

/// SplitMix64: a small seeded generator, so a printed seed replays exactly.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}

/// The seed from `CLOBCHAIN_STORAGE_SEED`, else `default`; printed either way.
fn seed_or(default: impl FnOnce() -> u64) -> u64 {
    let seed = std::env::var("CLOBCHAIN_STORAGE_SEED")
        .map(|s| s.parse().expect("CLOBCHAIN_STORAGE_SEED is a u64"))
        .unwrap_or_else(|_| default());
    println!("CLOBCHAIN_STORAGE_SEED={seed}");
    seed
}

/// A payload that names its height and has `len` bytes in all (at least 8).
fn payload(height: u64, len: usize) -> Vec<u8> {
    let mut bytes = height.to_le_bytes().to_vec();
    let tag = height.to_le_bytes()[0];
    bytes.extend((0..len.saturating_sub(8)).map(|i| i.to_le_bytes()[0].wrapping_mul(31) ^ tag));
    bytes
}

/// A file offset or length as an index (all are small here).
fn index_of(offset: u64) -> usize {
    usize::try_from(offset).expect("a small offset")
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("create a temp dir")
}

/// Opens the log, which must open, and checks its invariants.
fn open(dir: &Path, config: LogConfig) -> (BlockLog, Recovery) {
    let (log, recovery) = BlockLog::open_with(dir, config)
        .unwrap_or_else(|error| panic!("open {}: {error}", dir.display()));
    log.check_invariants();
    (log, recovery)
}

/// Opens the log, which must fail, and returns why.
fn open_err(dir: &Path, config: LogConfig) -> StorageError {
    match BlockLog::open_with(dir, config) {
        Ok((log, recovery)) => panic!("opened a damaged log: {recovery:?}, {log:?}"),
        Err(error) => error,
    }
}

/// What open fails with on a corrupt file.
fn corruption(error: StorageError) -> (PathBuf, u64, Corruption) {
    match error {
        StorageError::Corrupt {
            path,
            offset,
            corruption,
        } => (path, offset, corruption),
        other => panic!("expected corruption, got {other}"),
    }
}

/// The segment files of the log in `dir`, in height order.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.starts_with("blocks-") && name.ends_with(".log")
        })
        .collect();
    files.sort();
    files
}

/// The first height in a segment's file name.
fn segment_first(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name["blocks-".len().."blocks-".len() + 20].parse().unwrap()
}

/// Every record, read one by one and streamed, must equal the model (heights from 1).
fn assert_matches(log: &BlockLog, model: &[Vec<u8>]) {
    let last = (!model.is_empty()).then_some(Height(model.len() as u64));
    assert_eq!(log.last_height(), last);
    assert_eq!(log.next_height(), Height(model.len() as u64 + 1));
    let streamed: Vec<(Height, Vec<u8>)> = log
        .iter_from(Height(1))
        .expect("iter_from(1)")
        .collect::<Result<_, _>>()
        .expect("stream every record");
    let expected: Vec<(Height, Vec<u8>)> = model
        .iter()
        .enumerate()
        .map(|(i, p)| (Height(i as u64 + 1), p.clone()))
        .collect();
    assert_eq!(streamed, expected);
    for (height, payload) in &expected {
        assert_eq!(
            &log.read(*height).expect("read"),
            payload,
            "height {height}"
        );
    }
}

/// A log whose every record is alone in its segment file.
const ONE_RECORD_PER_SEGMENT: LogConfig = LogConfig {
    first_height: Height(1),
    segment_bytes_max: 1,
};

/// The record for `payload` at `height`, encoded here from the table in the module docs
/// (not with the library), so that the tests pin the format.
fn encode_record(height: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small payload");
    encode_record_with(1, 0, len, height, payload)
}

fn encode_record_with(
    version: u16,
    reserved: u16,
    len: u32,
    height: u64,
    payload: &[u8],
) -> Vec<u8> {
    let mut record = b"CLBK".to_vec();
    record.extend(version.to_le_bytes());
    record.extend(reserved.to_le_bytes());
    record.extend(len.to_le_bytes());
    record.extend(height.to_le_bytes());
    let header_crc = crc32fast::hash(&record);
    record.extend(header_crc.to_le_bytes());
    record.extend(payload);
    let crc = crc32fast::hash(&record);
    record.extend(crc.to_le_bytes());
    record
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- the format ----

#[test]
fn record_bytes_follow_the_documented_format() {
    let dir = tempdir();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    log.append(Height(1), b"hello").unwrap();
    log.append(Height(2), b"").unwrap();
    let files = segment_files(dir.path());
    assert_eq!(files, [dir.path().join("blocks-00000000000000000001.log")]);
    assert_eq!(
        segment_file_name(Height(1)),
        "blocks-00000000000000000001.log"
    );
    let bytes = fs::read(&files[0]).unwrap();
    let mut expected = encode_record(1, b"hello");
    expected.extend(encode_record(2, b""));
    assert_eq!(bytes, expected);
    // Pinned: changing these bytes changes the format of every log on disk.
    assert_eq!(
        hex(&bytes[..33]),
        "434c424b010000000500000001000000000000000c06b19568656c6c6f35453b16"
    );
    assert_eq!(bytes.len() as u64, 2 * RECORD_OVERHEAD_BYTES + 5);
}

#[test]
fn snapshot_bytes_follow_the_documented_format() {
    let dir = tempdir();
    let mut snapshots = Snapshots::open(dir.path()).unwrap();
    snapshots.write(Height(7), b"state").unwrap();
    let path = dir
        .path()
        .join("snapshots/snapshot-00000000000000000007.bin");
    assert_eq!(snapshots.dir().join(snapshot_file_name(Height(7))), path);
    let bytes = fs::read(&path).unwrap();
    let mut expected = b"CLSS".to_vec();
    expected.extend(1u16.to_le_bytes());
    expected.extend(0u16.to_le_bytes());
    expected.extend(7u64.to_le_bytes());
    expected.extend(5u64.to_le_bytes());
    expected.extend(b"state");
    let crc = crc32fast::hash(&expected);
    expected.extend(crc.to_le_bytes());
    assert_eq!(bytes, expected);
    // Pinned, like the block record above.
    assert_eq!(
        hex(&bytes),
        "434c535301000000070000000000000005000000000000007374617465c2b784d9"
    );
}

// ---- the block log: round trips ----

#[test]
fn round_trip_and_reopen_after_clean_close() {
    let dir = tempdir();
    let (mut log, recovery) = open(dir.path(), LogConfig::default());
    assert_eq!(
        recovery,
        Recovery {
            segments: 0,
            records: 0,
            last_height: None,
            truncated: None
        }
    );
    assert_eq!(
        (log.first_height(), log.next_height(), log.last_height()),
        (Height(1), Height(1), None)
    );
    let mut model = Vec::new();
    for height in 1..=50u64 {
        let p = if height == 7 {
            Vec::new()
        } else {
            payload(height, (height * 37 % 300) as usize)
        };
        log.append(Height(height), &p).unwrap();
        model.push(p);
        log.check_invariants();
    }
    assert_matches(&log, &model);
    let tail: Vec<u64> = log
        .iter_from(Height(48))
        .unwrap()
        .map(|r| r.unwrap().0.0)
        .collect();
    assert_eq!(tail, [48, 49, 50]);
    assert_eq!(log.iter_from(Height(51)).unwrap().count(), 0);
    assert!(matches!(
        log.iter_from(Height(52)),
        Err(StorageError::HeightNotFound { .. })
    ));
    assert!(matches!(
        log.iter_from(Height(0)),
        Err(StorageError::HeightNotFound { .. })
    ));
    for missing in [0, 51, u64::MAX] {
        assert!(matches!(
            log.read(Height(missing)),
            Err(StorageError::HeightNotFound { height, first: Height(1), next: Height(51) })
                if height == Height(missing)
        ));
    }
    assert_eq!(log.verify().unwrap(), 50);
    drop(log);

    let (mut log, recovery) = open(dir.path(), LogConfig::default());
    assert_eq!(
        recovery,
        Recovery {
            segments: 1,
            records: 50,
            last_height: Some(Height(50)),
            truncated: None
        }
    );
    assert_matches(&log, &model);
    log.append(Height(51), b"after reopen").unwrap();
    model.push(b"after reopen".to_vec());
    drop(log);
    let (log, _) = open(dir.path(), LogConfig::default());
    assert_matches(&log, &model);
}

#[test]
fn the_first_height_is_configured_and_checked() {
    let dir = tempdir();
    let config = LogConfig {
        first_height: Height(100),
        ..LogConfig::default()
    };
    let (mut log, _) = open(dir.path(), config);
    assert_eq!(log.next_height(), Height(100));
    log.append(Height(100), b"a").unwrap();
    log.append(Height(101), b"b").unwrap();
    drop(log);
    let (log, recovery) = open(dir.path(), config);
    assert_eq!(
        (log.first_height(), recovery.last_height),
        (Height(100), Some(Height(101)))
    );
    assert_eq!(log.read(Height(101)).unwrap(), b"b");
    match open_err(dir.path(), LogConfig::default()) {
        StorageError::FirstHeightMismatch {
            expected, found, ..
        } => assert_eq!((expected, found), (Height(1), Height(100))),
        other => panic!("{other}"),
    }
}

#[test]
#[should_panic(expected = "consecutive heights")]
fn an_append_out_of_sequence_is_a_caller_bug() {
    let dir = tempdir();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    log.append(Height(1), b"one").unwrap();
    let _ = log.append(Height(3), b"three");
}

#[test]
fn a_payload_over_the_limit_is_rejected_and_the_log_stays_usable() {
    let dir = tempdir();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    let too_big = vec![0u8; limits::PAYLOAD_BYTES_MAX as usize + 1];
    assert!(matches!(
        log.append(Height(1), &too_big),
        Err(StorageError::PayloadTooLarge {
            height: Height(1),
            ..
        })
    ));
    log.check_invariants();
    log.append(Height(1), b"fine").unwrap();
    assert_matches(&log, &[b"fine".to_vec()]);
}

#[test]
fn segments_roll_over_at_the_size_limit() {
    let dir = tempdir();
    let config = LogConfig {
        first_height: Height(1),
        segment_bytes_max: 300,
    };
    let (mut log, _) = open(dir.path(), config);
    let mut model = Vec::new();
    for height in 1..=40u64 {
        // Mostly small records, and one bigger than a segment, which gets its own.
        let len = if height == 20 {
            500
        } else {
            20 + (height * 13 % 90) as usize
        };
        let p = payload(height, len);
        log.append(Height(height), &p).unwrap();
        model.push(p);
        log.check_invariants();
    }
    assert_matches(&log, &model);
    drop(log);
    let files = segment_files(dir.path());
    assert!(files.len() > 10, "{} segments", files.len());
    for file in &files {
        let len = fs::metadata(file).unwrap().len();
        let first = segment_first(file);
        assert!(
            len <= 300 || first == 20,
            "{} has {len} bytes",
            file.display()
        );
    }
    let (log, recovery) = open(dir.path(), config);
    assert_eq!(
        (recovery.segments, recovery.records, recovery.truncated),
        (files.len(), 40, None)
    );
    assert_matches(&log, &model);
    assert_eq!(log.verify().unwrap(), 40);
    // A different segment size on reopen is fine: segments are found by name.
    let (log, _) = open(dir.path(), LogConfig::default());
    assert_matches(&log, &model);
}

// ---- the block log: torn tails ----

/// Payload lengths of the five records the damage tests start from.
const FIVE: [usize; 5] = [10, 8, 30, 12, 40];

/// Writes five records; returns the model, and the path and byte span of the last.
fn five_records(dir: &Path, config: LogConfig) -> (Vec<Vec<u8>>, PathBuf, u64, u64) {
    let (mut log, _) = open(dir, config);
    let model: Vec<Vec<u8>> = FIVE
        .iter()
        .enumerate()
        .map(|(i, &len)| payload(i as u64 + 1, len))
        .collect();
    for (i, p) in model.iter().enumerate() {
        log.append(Height(i as u64 + 1), p).unwrap();
    }
    drop(log);
    let last = segment_files(dir).pop().unwrap();
    let end = fs::metadata(&last).unwrap().len();
    let start = end - (RECORD_OVERHEAD_BYTES + FIVE[4] as u64);
    (model, last, start, end)
}

/// Opens a log whose last record (of five) was damaged: the first four must be intact,
/// the cut must be `expected`, and the log must take height 5 again and keep it.
fn assert_recovers(dir: &Path, config: LogConfig, model: &[Vec<u8>], expected: Option<Truncation>) {
    let (mut log, recovery) = open(dir, config);
    assert_eq!(recovery.truncated, expected);
    assert_eq!(recovery.last_height, Some(Height(4)));
    assert_matches(&log, &model[..4]);
    log.append(Height(5), b"five again").unwrap();
    drop(log);
    let (log, recovery) = open(dir, config);
    assert_eq!(recovery.truncated, None);
    let mut model = model[..4].to_vec();
    model.push(b"five again".to_vec());
    assert_matches(&log, &model);
}

#[test]
fn a_torn_tail_is_cut_at_every_byte_offset_of_the_last_record() {
    for config in [LogConfig::default(), ONE_RECORD_PER_SEGMENT] {
        let dir = tempdir();
        let (model, last, start, end) = five_records(dir.path(), config);
        let original = fs::read(&last).unwrap();
        for cut in start..end {
            fs::write(&last, &original[..index_of(cut)]).unwrap();
            let torn = cut - start;
            let expected = (torn > 0).then(|| Truncation {
                path: last.clone(),
                offset: start,
                bytes: torn,
                reason: if torn < RECORD_HEADER_BYTES {
                    TornTail::IncompleteHeader
                } else {
                    TornTail::IncompleteRecord
                },
            });
            assert_recovers(dir.path(), config, &model, expected);
        }
    }
}

#[test]
fn a_bit_flip_anywhere_in_the_last_record_is_a_torn_tail() {
    for config in [LogConfig::default(), ONE_RECORD_PER_SEGMENT] {
        let dir = tempdir();
        let (model, last, start, end) = five_records(dir.path(), config);
        let original = fs::read(&last).unwrap();
        for at in start..end {
            let mut bytes = original.clone();
            bytes[index_of(at)] ^= 1 << (at % 8);
            fs::write(&last, &bytes).unwrap();
            let expected = Some(Truncation {
                path: last.clone(),
                offset: start,
                bytes: end - start,
                reason: if at - start < RECORD_HEADER_BYTES {
                    TornTail::UnreadableHeader
                } else {
                    TornTail::BadChecksum
                },
            });
            assert_recovers(dir.path(), config, &model, expected);
        }
    }
}

#[test]
fn a_bit_flip_anywhere_in_a_middle_record_refuses_to_open() {
    let dir = tempdir();
    let (model, path, ..) = five_records(dir.path(), LogConfig::default());
    let original = fs::read(&path).unwrap();
    let spans: Vec<u64> = FIVE
        .iter()
        .map(|&len| RECORD_OVERHEAD_BYTES + len as u64)
        .collect();
    let start = spans[0] + spans[1];
    let next = start + spans[2];
    for at in start..next {
        let mut bytes = original.clone();
        bytes[index_of(at)] ^= 1 << (at % 8);
        fs::write(&path, &bytes).unwrap();
        let expected = if at - start < RECORD_HEADER_BYTES {
            Corruption::UnreadableHeader {
                valid_header_at: Some(next),
            }
        } else {
            Corruption::BadChecksum
        };
        let error = open_err(dir.path(), LogConfig::default());
        assert!(error.to_string().contains("is corrupt at byte"), "{error}");
        assert_eq!(
            corruption(error),
            (path.clone(), start, expected),
            "flip at {at}"
        );
        // Refusing to open leaves every byte where it was.
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
    fs::write(&path, &original).unwrap();
    let (log, recovery) = open(dir.path(), LogConfig::default());
    assert_eq!(recovery.truncated, None);
    assert_matches(&log, &model);
}

#[test]
fn damage_in_a_sealed_segment_is_corruption() {
    let dir = tempdir();
    let (model, ..) = five_records(dir.path(), ONE_RECORD_PER_SEGMENT);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 5);
    let second = files[1].clone();
    let original = fs::read(&second).unwrap();
    let restore = || fs::write(&second, &original).unwrap();

    // A payload flip: open reads only sealed headers, so reading the record finds it.
    let mut bytes = original.clone();
    bytes[index_of(RECORD_HEADER_BYTES) + 3] ^= 0x10;
    fs::write(&second, &bytes).unwrap();
    let (log, _) = open(dir.path(), ONE_RECORD_PER_SEGMENT);
    assert_eq!(log.read(Height(1)).unwrap(), model[0]);
    assert_eq!(log.read(Height(3)).unwrap(), model[2]);
    assert_eq!(
        corruption(log.read(Height(2)).unwrap_err()),
        (second.clone(), 0, Corruption::BadChecksum)
    );
    assert!(matches!(log.verify(), Err(StorageError::Corrupt { .. })));
    let mut iter = log.iter_from(Height(1)).unwrap();
    assert_eq!(iter.next().unwrap().unwrap(), (Height(1), model[0].clone()));
    assert!(iter.next().unwrap().is_err());
    assert!(iter.next().is_none(), "the stream stops at the first error");
    drop(log);
    restore();

    // A header flip, a missing byte, extra bytes, an empty file.
    let mut bytes = original.clone();
    bytes[9] ^= 0x01;
    let cases: [(Vec<u8>, u64, Corruption); 5] = [
        (
            bytes,
            0,
            Corruption::UnreadableHeader {
                valid_header_at: None,
            },
        ),
        (
            original[..original.len() - 1].to_vec(),
            0,
            Corruption::SealedSegmentIncomplete,
        ),
        (
            [&original[..], &[0; 10]].concat(),
            original.len() as u64,
            Corruption::SealedSegmentIncomplete,
        ),
        (
            [&original[..], &[0; 30]].concat(),
            original.len() as u64,
            Corruption::UnreadableHeader {
                valid_header_at: None,
            },
        ),
        (Vec::new(), 0, Corruption::SealedSegmentEmpty),
    ];
    for (bytes, offset, expected) in cases {
        fs::write(&second, &bytes).unwrap();
        assert_eq!(
            corruption(open_err(dir.path(), ONE_RECORD_PER_SEGMENT)),
            (second.clone(), offset, expected)
        );
        restore();
    }

    // A missing segment in the middle, and a missing first segment.
    let third = fs::read(&files[2]).unwrap();
    fs::remove_file(&files[2]).unwrap();
    assert_eq!(
        corruption(open_err(dir.path(), ONE_RECORD_PER_SEGMENT)),
        (
            files[3].clone(),
            0,
            Corruption::SegmentOutOfSequence {
                expected: Height(3),
                found: Height(4)
            }
        )
    );
    fs::write(&files[2], third).unwrap();
    let first = fs::read(&files[0]).unwrap();
    fs::remove_file(&files[0]).unwrap();
    assert!(matches!(
        open_err(dir.path(), ONE_RECORD_PER_SEGMENT),
        StorageError::FirstHeightMismatch {
            expected: Height(1),
            found: Height(2),
            ..
        }
    ));
    fs::write(&files[0], first).unwrap();
    let (log, _) = open(dir.path(), ONE_RECORD_PER_SEGMENT);
    assert_matches(&log, &model);
}

/// Writes `bytes` as the log's only segment (first height 1) and opens it.
fn write_segment(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join(segment_file_name(Height(1)));
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn empty_files_and_garbage() {
    let config = LogConfig::default();
    let records: Vec<u8> = (1..=3)
        .flat_map(|h| encode_record(h, &payload(h, 20)))
        .collect();
    let model: Vec<Vec<u8>> = (1..=3).map(|h| payload(h, 20)).collect();

    // An empty segment: an empty log that starts at its name.
    let dir = tempdir();
    write_segment(dir.path(), b"");
    let (mut log, recovery) = open(dir.path(), config);
    assert_eq!(
        (recovery.segments, recovery.records, recovery.truncated),
        (1, 0, None)
    );
    log.append(Height(1), b"first").unwrap();
    assert_matches(&log, &[b"first".to_vec()]);

    // Other files are left alone.
    let dir = tempdir();
    fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    fs::write(dir.path().join("blocks-12.log"), b"not a segment name").unwrap();
    let (log, recovery) = open(dir.path(), config);
    assert_eq!((recovery.segments, log.last_height()), (0, None));

    // Garbage at the tail, with or without records before it: cut.
    let mut rng = Rng(0x5eed);
    let garbage = rng.bytes(4096);
    let tails: [(&[u8], &[u8], TornTail); 5] = [
        (b"", &[0; 1000], TornTail::UnreadableHeader),
        (b"", &garbage, TornTail::UnreadableHeader),
        (&records, &[0; 1000], TornTail::UnreadableHeader),
        (&records, &garbage, TornTail::UnreadableHeader),
        (&records, &garbage[..10], TornTail::IncompleteHeader),
    ];
    for (good, tail, reason) in tails {
        let dir = tempdir();
        let path = write_segment(dir.path(), &[good, tail].concat());
        let (log, recovery) = open(dir.path(), config);
        assert_eq!(
            recovery.truncated,
            Some(Truncation {
                path: path.clone(),
                offset: good.len() as u64,
                bytes: tail.len() as u64,
                reason
            })
        );
        assert_matches(&log, if good.is_empty() { &[] } else { &model });
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            good.len() as u64,
            "cut on disk"
        );
    }

    // Garbage followed by a valid record is not a tail: refuse.
    let dir = tempdir();
    let one = encode_record(1, b"one");
    let path = write_segment(
        dir.path(),
        &[&one[..], &[0; 50], &encode_record(2, b"two")].concat(),
    );
    assert_eq!(
        corruption(open_err(dir.path(), config)),
        (
            path,
            one.len() as u64,
            Corruption::UnreadableHeader {
                valid_header_at: Some(one.len() as u64 + 50)
            }
        )
    );
}

#[test]
fn headers_that_verify_but_break_the_rules_are_corruption() {
    let one = encode_record(1, b"one");
    let two = encode_record(2, b"two");
    let at = one.len() as u64 + two.len() as u64;
    let cases: [(Vec<u8>, u64, Corruption); 6] = [
        // A gap and a repeat in the heights, also as the last record.
        (
            [&one[..], &two, &encode_record(4, b"four")].concat(),
            at,
            Corruption::HeightOutOfSequence {
                expected: Height(3),
                found: Height(4),
            },
        ),
        (
            [&one[..], &two, &two, &encode_record(3, b"three")].concat(),
            at,
            Corruption::HeightOutOfSequence {
                expected: Height(3),
                found: Height(2),
            },
        ),
        (
            encode_record(5, b"five"),
            0,
            Corruption::HeightOutOfSequence {
                expected: Height(1),
                found: Height(5),
            },
        ),
        // Another version, a reserved bit, a length over the limit (nothing allocated).
        (
            [&one[..], &encode_record_with(2, 0, 3, 2, b"two")].concat(),
            one.len() as u64,
            Corruption::UnsupportedFormat {
                version: 2,
                reserved: 0,
            },
        ),
        (
            [&one[..], &encode_record_with(1, 4, 3, 2, b"two")].concat(),
            one.len() as u64,
            Corruption::UnsupportedFormat {
                version: 1,
                reserved: 4,
            },
        ),
        (
            [&one[..], &encode_record_with(1, 0, u32::MAX, 2, b"")].concat(),
            one.len() as u64,
            Corruption::LengthOverLimit {
                len: u32::MAX,
                max: limits::PAYLOAD_BYTES_MAX,
            },
        ),
    ];
    for (bytes, offset, expected) in cases {
        let dir = tempdir();
        let path = write_segment(dir.path(), &bytes);
        assert_eq!(
            corruption(open_err(dir.path(), LogConfig::default())),
            (path.clone(), offset, expected)
        );
        assert_eq!(fs::read(&path).unwrap(), bytes, "left as it was");
    }
}

// ---- the block log against a model ----

#[derive(Clone, Debug)]
enum Op {
    Append {
        len: usize,
        fill: u8,
    },
    Reopen,
    /// Cut the last segment file at `at` modulo its length plus one.
    Truncate {
        at: u64,
    },
    /// Flip one bit of the last record, if it is in the last segment.
    FlipLast {
        at: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..200, any::<u8>()).prop_map(|(len, fill)| Op::Append { len, fill }),
        1 => Just(Op::Reopen),
        2 => any::<u16>().prop_map(|at| Op::Truncate { at: at.into() }),
        1 => any::<u16>().prop_map(|at| Op::FlipLast { at: at.into() }),
    ]
}

fn random_op(rng: &mut Rng) -> Op {
    match rng.below(12) {
        0..8 => Op::Append {
            len: index_of(rng.below(200)),
            fill: rng.next_u64().to_le_bytes()[0],
        },
        8 => Op::Reopen,
        9 | 10 => Op::Truncate {
            at: rng.below(1 << 16),
        },
        _ => Op::FlipLast {
            at: rng.below(1 << 16),
        },
    }
}

/// Runs `ops` against a log in a fresh directory and a `Vec` of payloads (height
/// `i + 1` at index `i`), checking the two agree and the invariants hold after each.
fn run_model(config: LogConfig, ops: &[Op]) {
    let dir = tempdir();
    let (mut log, _) = open(dir.path(), config);
    let mut model: Vec<Vec<u8>> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let context = format!("step {step}: {op:?}");
        match *op {
            Op::Append { len, fill } => {
                let height = model.len() as u64 + 1;
                let mut p = height.to_le_bytes().to_vec();
                p.resize(len.max(8), fill);
                p.truncate(len);
                log.append(Height(height), &p).expect(&context);
                model.push(p);
            }
            Op::Reopen => {
                drop(log);
                let recovery;
                (log, recovery) = open(dir.path(), config);
                assert_eq!(recovery.truncated, None, "{context}");
            }
            Op::Truncate { at } => {
                let Some(last) = segment_files(dir.path()).pop() else {
                    continue;
                };
                drop(log);
                let first = segment_first(&last);
                let len = fs::metadata(&last).unwrap().len();
                let cut = at % (len + 1);
                OpenOptions::new()
                    .write(true)
                    .open(&last)
                    .unwrap()
                    .set_len(cut)
                    .unwrap();
                // The records of the last segment that end at or before the cut stay.
                let mut boundary = 0;
                let mut kept = first - 1;
                for payload in &model[index_of(first - 1)..] {
                    let end = boundary + RECORD_OVERHEAD_BYTES + payload.len() as u64;
                    if end > cut {
                        break;
                    }
                    boundary = end;
                    kept += 1;
                }
                model.truncate(index_of(kept));
                let torn = cut - boundary;
                let recovery;
                (log, recovery) = open(dir.path(), config);
                let expected = (torn > 0).then(|| Truncation {
                    path: last.clone(),
                    offset: boundary,
                    bytes: torn,
                    reason: if torn < RECORD_HEADER_BYTES {
                        TornTail::IncompleteHeader
                    } else {
                        TornTail::IncompleteRecord
                    },
                });
                assert_eq!(recovery.truncated, expected, "{context}");
            }
            Op::FlipLast { at } => {
                let Some(last) = segment_files(dir.path()).pop() else {
                    continue;
                };
                if segment_first(&last) > model.len() as u64 {
                    continue; // the last record is in a sealed segment
                }
                drop(log);
                let len = fs::metadata(&last).unwrap().len();
                let record = RECORD_OVERHEAD_BYTES + model.last().unwrap().len() as u64;
                let start = len - record;
                let offset = start + at % record;
                let mut bytes = fs::read(&last).unwrap();
                bytes[index_of(offset)] ^= 1 << (at % 8);
                fs::write(&last, &bytes).unwrap();
                model.pop();
                let recovery;
                (log, recovery) = open(dir.path(), config);
                let reason = if offset - start < RECORD_HEADER_BYTES {
                    TornTail::UnreadableHeader
                } else {
                    TornTail::BadChecksum
                };
                let expected = Truncation {
                    path: last.clone(),
                    offset: start,
                    bytes: record,
                    reason,
                };
                assert_eq!(recovery.truncated, Some(expected), "{context}");
            }
        }
        log.check_invariants();
        assert_matches(&log, &model);
    }
}

fn config() -> impl Strategy<Value = LogConfig> {
    prop_oneof![
        Just(LogConfig::default()),
        (1u64..800).prop_map(|segment_bytes_max| LogConfig {
            first_height: Height(1),
            segment_bytes_max
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Each append is an fdatasync (and with small segments, a file and a directory
        // fsync too): the budget is disk waits, not CPU.
        cases: 32,
        // Shrunk failures are pinned as named tests, not in a seed file.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_agrees_with_a_vec_through_appends_cuts_flips_and_reopens(
        config in config(),
        ops in prop::collection::vec(op(), 1..50),
    ) {
        run_model(config, &ops);
    }
}

/// One long run from one seed, across small segments.
#[test]
fn log_agrees_with_a_vec_over_a_long_seeded_run() {
    let seed = seed_or(|| 0x0010_6ab1);
    let mut rng = Rng(seed);
    let ops: Vec<Op> = (0..400).map(|_| random_op(&mut rng)).collect();
    let config = LogConfig {
        first_height: Height(1),
        segment_bytes_max: 1 + rng.below(2000),
    };
    println!("{config:?}");
    run_model(config, &ops);
}

// ---- snapshots ----

fn latest(snapshots: &Snapshots) -> (Option<Snapshot>, Vec<SkippedSnapshot>) {
    let latest = snapshots.latest().expect("latest");
    (latest.snapshot, latest.skipped)
}

fn snapshot(height: u64, payload: &[u8]) -> Option<Snapshot> {
    Some(Snapshot {
        height: Height(height),
        payload: payload.to_vec(),
    })
}

#[test]
fn snapshots_round_trip_and_the_newest_wins() {
    let dir = tempdir();
    let mut snapshots = Snapshots::open(dir.path()).unwrap();
    assert_eq!(latest(&snapshots), (None, vec![]));
    snapshots.write(Height(20), b"twenty").unwrap();
    snapshots.write(Height(10), b"ten").unwrap();
    snapshots.write(Height(0), b"").unwrap();
    assert_eq!(latest(&snapshots), (snapshot(20, b"twenty"), vec![]));
    snapshots.write(Height(20), b"twenty, again").unwrap();
    let snapshots = Snapshots::open(dir.path()).unwrap();
    assert_eq!(latest(&snapshots), (snapshot(20, b"twenty, again"), vec![]));
    let names: Vec<String> = fs::read_dir(snapshots.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "no temp file is left behind: {names:?}");
}

#[test]
fn a_leftover_temp_file_or_a_corrupt_newest_snapshot_falls_back_to_the_previous() {
    let dir = tempdir();
    let mut snapshots = Snapshots::open(dir.path()).unwrap();
    snapshots.write(Height(10), b"ten").unwrap();
    snapshots.write(Height(20), b"twenty").unwrap();
    let twenty = snapshots.dir().join(snapshot_file_name(Height(20)));
    let good = fs::read(&twenty).unwrap();

    // A write that never reached its rename: half a file under the temp name.
    let temp = snapshots
        .dir()
        .join("snapshot-00000000000000000030.bin.tmp");
    fs::write(&temp, &good[..good.len() / 2]).unwrap();
    let skipped_temp = SkippedSnapshot {
        path: temp.clone(),
        height: Height(30),
        defect: SnapshotDefect::Unfinished,
    };
    assert_eq!(
        latest(&snapshots),
        (snapshot(20, b"twenty"), vec![skipped_temp.clone()])
    );

    // The newest snapshot damaged in every way the checks know.
    let mut flipped = good.clone();
    flipped[26] ^= 0x04;
    let mut other_version = good.clone();
    other_version[4] = 9;
    let damaged: [(Vec<u8>, SnapshotDefect); 6] = [
        (flipped, SnapshotDefect::BadChecksum),
        (
            good[..good.len() - 1].to_vec(),
            SnapshotDefect::LengthMismatch {
                payload_len: 6,
                file_len: good.len() as u64 - 1,
            },
        ),
        (Vec::new(), SnapshotDefect::TooShort { file_len: 0 }),
        (
            [&b"XXXX"[..], &good[4..]].concat(),
            SnapshotDefect::BadMagic,
        ),
        (
            other_version,
            SnapshotDefect::UnsupportedFormat {
                version: 9,
                reserved: 0,
            },
        ),
        (
            fs::read(snapshots.dir().join(snapshot_file_name(Height(10)))).unwrap(),
            SnapshotDefect::HeightMismatch { found: Height(10) },
        ),
    ];
    for (bytes, defect) in damaged {
        fs::write(&twenty, &bytes).unwrap();
        let skipped = vec![
            skipped_temp.clone(),
            SkippedSnapshot {
                path: twenty.clone(),
                height: Height(20),
                defect,
            },
        ];
        assert_eq!(latest(&snapshots), (snapshot(10, b"ten"), skipped));
    }
    fs::write(&twenty, &good).unwrap();
    assert_eq!(latest(&snapshots).0, snapshot(20, b"twenty"));
}

#[test]
fn prune_keeps_the_newest_good_snapshots_and_removes_temp_files() {
    let dir = tempdir();
    let mut snapshots = Snapshots::open(dir.path()).unwrap();
    for height in [10, 20, 30, 40, 50] {
        snapshots
            .write(Height(height), &payload(height, 100))
            .unwrap();
    }
    let path = |height| snapshots.dir().join(snapshot_file_name(Height(height)));
    let (p10, p20, p30, p40, p50) = (path(10), path(20), path(30), path(40), path(50));
    let temp = snapshots
        .dir()
        .join("snapshot-00000000000000000060.bin.tmp");
    fs::write(&temp, b"half").unwrap();
    // The newest is corrupt: it is neither counted nor removed.
    let mut bytes = fs::read(&p50).unwrap();
    bytes[40] ^= 1;
    fs::write(&p50, &bytes).unwrap();
    let other = snapshots.dir().join("notes.txt");
    fs::write(&other, b"left alone").unwrap();

    let removed = snapshots.prune(2).unwrap();
    assert_eq!(removed, [temp, p20, p10]);
    assert!(p50.exists() && p40.exists() && p30.exists() && other.exists());
    let (found, skipped) = latest(&snapshots);
    assert_eq!(found, snapshot(40, &payload(40, 100)));
    assert_eq!(skipped.len(), 1);
    assert_eq!(snapshots.prune(2).unwrap(), Vec::<PathBuf>::new());
    assert_eq!(snapshots.prune(1).unwrap(), [p30]);
}

#[test]
#[should_panic(expected = "at least one")]
fn pruning_to_nothing_is_a_caller_bug() {
    let dir = tempdir();
    let mut snapshots = Snapshots::open(dir.path()).unwrap();
    let _ = snapshots.prune(0);
}

#[test]
fn a_snapshot_file_over_the_limit_is_skipped_without_reading_it() {
    let dir = tempdir();
    let mut snapshots = Snapshots::open(dir.path()).unwrap();
    snapshots.write(Height(1), &[7; 1000]).unwrap();
    // A sparse file one byte over the limit: its length alone rules it out.
    let huge = snapshots.dir().join(snapshot_file_name(Height(2)));
    let file_len = limits::SNAPSHOT_BYTES_MAX + SNAPSHOT_OVERHEAD_BYTES + 1;
    fs::File::create(&huge).unwrap().set_len(file_len).unwrap();
    let skipped = SkippedSnapshot {
        path: huge,
        height: Height(2),
        defect: SnapshotDefect::TooLong { file_len },
    };
    assert_eq!(latest(&snapshots), (snapshot(1, &[7; 1000]), vec![skipped]));
}

// ---- kill -9 ----

const CRASH_DIR_ENV: &str = "CLOBCHAIN_STORAGE_CRASH_DIR";
const CRASH_CHILD_TEST: &str = "storage::crash_writer_child";
/// Small segments, so that crashes also land around a segment change.
const CRASH_CONFIG: LogConfig = LogConfig {
    first_height: Height(1),
    segment_bytes_max: 1 << 20,
};
const CRASH_ROUNDS: u64 = 5;
const CRASH_SNAPSHOT_EVERY: u64 = 25;

/// The block at `height` in the crash test: mostly small, one in sixteen up to half a
/// MiB (a long write, so a kill can land inside it).
fn crash_payload(height: u64) -> Vec<u8> {
    let mut rng = Rng(height);
    let len = if rng.below(16) == 0 {
        64 * 1024 + rng.below(448 * 1024)
    } else {
        rng.below(2000)
    };
    let mut bytes = height.to_le_bytes().to_vec();
    bytes.extend(rng.bytes(index_of(len)));
    bytes
}

fn crash_snapshot(height: u64) -> Vec<u8> {
    let mut bytes = Rng(!height).bytes(20_000);
    bytes.extend(height.to_le_bytes());
    bytes
}

/// The writer of [`kill_9_keeps_every_acknowledged_block`], run in a child process: it
/// appends blocks (and writes a snapshot every few) until killed, printing each height
/// after `append` (or `write`) returned. It stops by itself after 30 s.
#[test]
#[ignore = "the writer process of kill_9_keeps_every_acknowledged_block, which starts it"]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let (mut log, _) = BlockLog::open_with(&dir, CRASH_CONFIG).expect("open the log");
    let mut snapshots = Snapshots::open(&dir).expect("open the snapshots");
    let mut out = std::io::stdout().lock();
    // libtest has printed "test <name> ... " without a newline: end that line first.
    writeln!(out).expect("print");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut height = log.next_height().0;
    while Instant::now() < deadline {
        log.append(Height(height), &crash_payload(height))
            .expect("append");
        writeln!(out, "APPENDED {height}")
            .and_then(|()| out.flush())
            .expect("print");
        if height % CRASH_SNAPSHOT_EVERY == 0 {
            snapshots
                .write(Height(height), &crash_snapshot(height))
                .expect("snapshot");
            writeln!(out, "SNAPSHOT {height}")
                .and_then(|()| out.flush())
                .expect("print");
            snapshots.prune(2).expect("prune");
        }
        height += 1;
    }
}

/// Kills the child if a check fails while it runs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_9_keeps_every_acknowledged_block() {
    let seed = seed_or(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970");
        (now.as_secs() << 30) ^ u64::from(now.subsec_nanos())
    });
    let mut rng = Rng(seed);
    let dir = tempdir();
    let mut next: u64 = 1;
    let mut snapshot_acknowledged = None;
    let mut torn_rounds = 0;
    for round in 0..CRASH_ROUNDS {
        let kill_after = 10 + rng.below(150);
        let spin = Duration::from_micros(rng.below(3000));
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().expect("the test binary"))
                .args([
                    CRASH_CHILD_TEST,
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CRASH_DIR_ENV, dir.path())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the writer"),
        );
        let stdout = BufReader::new(child.0.stdout.take().expect("piped"));
        let mut appended = 0;
        let mut killed = false;
        // Every line the child printed, read to the end: after the kill too, since a
        // line in the pipe was printed after its append had returned.
        for line in stdout.lines() {
            let line = line.expect("read the writer's output");
            if let Some(height) = line.strip_prefix("APPENDED ") {
                let height: u64 = height.parse().expect("a height");
                assert_eq!(height, next, "round {round}: heights are consecutive");
                next += 1;
                appended += 1;
                if appended == kill_after {
                    let start = Instant::now();
                    while start.elapsed() < spin {}
                    child.0.kill().expect("kill -9 the writer");
                    killed = true;
                }
            } else if let Some(height) = line.strip_prefix("SNAPSHOT ") {
                snapshot_acknowledged = Some(height.parse::<u64>().expect("a height"));
            }
        }
        let status = child.0.wait().expect("wait for the writer");
        assert!(
            killed,
            "round {round}: the writer stopped by itself: {status}"
        );
        let acknowledged = next - 1;

        let (log, recovery) = open(dir.path(), CRASH_CONFIG);
        let last = log.last_height().expect("blocks were acknowledged").0;
        // At most the one block appended but not yet printed when the kill came.
        assert!(
            (acknowledged..=acknowledged + 1).contains(&last),
            "round {round}: {acknowledged} acknowledged, {last} in the log: {recovery:?}"
        );
        for record in log.iter_from(Height(1)).expect("iterate") {
            let (height, payload) = record.expect("every record reads back");
            assert!(
                payload == crash_payload(height.0),
                "round {round}: block {height} differs"
            );
        }
        if recovery.truncated.is_some() {
            torn_rounds += 1;
        }
        next = last + 1;

        let latest = Snapshots::open(dir.path())
            .unwrap()
            .latest()
            .expect("latest");
        if let Some(acknowledged) = snapshot_acknowledged {
            let found = latest.snapshot.expect("a snapshot was acknowledged");
            assert!(
                found.height.0 >= acknowledged,
                "round {round}: snapshot {found:?}"
            );
            assert!(
                found.payload == crash_snapshot(found.height.0),
                "round {round}"
            );
        }
        assert!(
            latest
                .skipped
                .iter()
                .all(|s| s.defect == SnapshotDefect::Unfinished),
            "round {round}: only unfinished writes may be skipped: {:?}",
            latest.skipped
        );
        println!("round {round}: killed after {appended} appends, {recovery:?}");
    }
    println!("{torn_rounds} of {CRASH_ROUNDS} rounds cut a torn tail");
}
