//! The node's durable storage: an append-only, checksummed log of blocks ([`BlockLog`])
//! and periodic state snapshots ([`Snapshots`]). Both store opaque bytes; the block and
//! state encodings live elsewhere.
//!
//! ```text
//!  node ── append(h, block bytes) ──► BlockLog ── write, fdatasync ──► <dir>/blocks-<first h>.log
//!       ◄─ Ok once the record is on disk                               (segments, bounded size)
//!
//!  node ── write(h, state bytes) ──► Snapshots ── temp, fsync, rename, fsync dir ──► snapshots/
//!
//!  restart: Snapshots::latest() ─► state at S ─► BlockLog::open ─► iter_from(S + 1) ─► replay
//! ```
//!
//! ```
//! use node::storage::{BlockLog, Snapshots};
//! use matching::Height;
//!
//! let dir = tempfile::tempdir()?;
//! let (mut log, recovery) = BlockLog::open(dir.path())?;
//! assert_eq!(recovery.last_height, None);
//! log.append(Height(1), b"block one")?; // durable once this returns
//! log.append(Height(2), b"block two")?;
//! drop(log);
//!
//! let (log, recovery) = BlockLog::open(dir.path())?;
//! assert_eq!((recovery.last_height, recovery.truncated), (Some(Height(2)), None));
//! assert_eq!(log.read(Height(2))?, b"block two");
//! let blocks: Vec<_> = log.iter_from(Height(1))?.collect::<Result<_, _>>()?;
//! assert_eq!(blocks.len(), 2);
//!
//! let mut snapshots = Snapshots::open(dir.path())?;
//! snapshots.write(Height(2), b"state after block two")?;
//! let latest = snapshots.latest()?.snapshot.expect("one snapshot");
//! assert_eq!(latest.height, Height(2));
//! assert_eq!(latest.payload, b"state after block two");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! One process owns a storage directory. Nothing here locks it (`File::lock` needs Rust
//! 1.89 and the workspace supports 1.88), so the node must not be started twice on one
//! directory.
//! Everything here assumes a POSIX file system (Linux): directories are fsynced.
//!
//! # Block log format (version 1)
//!
//! The log is a sequence of *segment* files in its directory, named
//! `blocks-{first height:020}.log` (e.g. `blocks-00000000000000000001.log`), holding
//! consecutive heights: each segment starts at the height after the previous segment's
//! last record. A new segment is started when the next record would take the current one
//! past [`LogConfig::segment_bytes_max`] (so a segment is only ever bigger than that
//! when it holds a single record bigger than that). A segment is a plain concatenation
//! of records, with no file header. A record, all integers little-endian:
//!
//! | offset      | bytes | field                                                        |
//! |-------------|-------|--------------------------------------------------------------|
//! | 0           | 4     | magic `CLBK` (`43 4C 42 4B`)                                 |
//! | 4           | 2     | format version, `u16` = 1                                    |
//! | 6           | 2     | reserved, zero                                               |
//! | 8           | 4     | payload length `n`, `u32`, at most [`limits::PAYLOAD_BYTES_MAX`] |
//! | 12          | 8     | height, `u64`                                                |
//! | 20          | 4     | header checksum: CRC-32 (IEEE, as `crc32fast`) of bytes 0..20 |
//! | 24          | `n`   | payload                                                      |
//! | 24 + `n`    | 4     | record checksum: CRC-32 of bytes 0..24+`n` (header and payload) |
//!
//! A record takes [`RECORD_OVERHEAD_BYTES`] (28) + `n` bytes. The header has its own
//! checksum so that a length can be trusted before the payload is read: a record whose
//! header verifies tells exactly where it ends, and one whose header does not verify is
//! never used to find the next record.
//!
//! # Snapshot format (version 1)
//!
//! One file per snapshot in `<dir>/snapshots/`, named `snapshot-{height:020}.bin`:
//!
//! | offset   | bytes | field                                                        |
//! |----------|-------|--------------------------------------------------------------|
//! | 0        | 4     | magic `CLSS` (`43 4C 53 53`)                                 |
//! | 4        | 2     | format version, `u16` = 1                                    |
//! | 6        | 2     | reserved, zero                                               |
//! | 8        | 8     | height, `u64` (must equal the one in the file name)          |
//! | 16       | 8     | payload length `n`, `u64`, at most [`limits::SNAPSHOT_BYTES_MAX`] |
//! | 24       | `n`   | payload                                                      |
//! | 24 + `n` | 4     | CRC-32 of bytes 0..24+`n`                                    |
//!
//! The file's length must be exactly 28 + `n`. A snapshot being written is first
//! `snapshot-{height:020}.bin.tmp`.
//!
//! # Durability
//!
//! **What is synced when.** [`BlockLog::append`] writes the whole record at the end of
//! the last segment with one positioned write, then calls `fdatasync` (`sync_data`),
//! which makes the bytes and the file's new length durable; only then does it return
//! `Ok`, so a block reported committed after `append` returns survives a crash of the
//! process, the kernel or the power. A new segment file is created, fsynced and its
//! directory fsynced *before* its first record is written, so the name of a file holding
//! a committed record is durable too. Recovery's truncation of a torn tail is fsynced
//! before the log accepts an append, so new records never land behind stale bytes.
//!
//! **Why a torn record can only be the last one.** The log is only ever written at its
//! end, and append `h + 1` starts only after append `h`'s `fdatasync` has returned. So at
//! any crash every record but the one being written is durable, and the file system may
//! have kept any part of that one: a prefix, sectors out of order, or a length that
//! grew before the data did (read back as zeros). Recovery therefore cuts the last
//! segment at the first record that is incomplete or fails a checksum, *provided nothing
//! that was written later follows it*:
//!
//! - fewer than 24 bytes left, or a header that verifies but a record running past the
//!   end of the file: torn, cut;
//! - a header that verifies, a complete record, a bad record checksum: torn if the
//!   record ends exactly at the end of the file, corruption if bytes follow (they can only
//!   come from a later append, which began after this record was durable);
//! - a header that does not verify (bad magic or header checksum): its length cannot be
//!   trusted, so the rest of the segment is searched for any valid record header; if one
//!   is found the log is corrupt, otherwise the tail is torn (typically zeros) and cut.
//!
//! A valid header with an unexpected height, an unknown version or a length over the
//! limit is corruption wherever it is: a torn write cannot produce a header that
//! verifies but differs from what was written. Segments other than the last were
//! complete when the next one was started, so any defect in them is corruption.
//! Corruption makes [`BlockLog::open`] fail with [`StorageError::Corrupt`] naming the
//! file and offset; good data is never cut off to make a log open. Known false alarms,
//! where a crash is reported as corruption and the operator cuts the file at the
//! reported offset by hand: a torn last record whose header is lost but whose payload
//! holds a complete, valid record header (possible with payloads an attacker chose); and
//! a file system that shows stale blocks of deleted files in a file's grown tail after a
//! crash (ext4 with `data=writeback`; the default `data=ordered` does not), if those
//! blocks held an old log's records.
//!
//! Opening reads every record of the last segment (checksums included) but only the
//! headers of sealed segments, so opening stays fast as the chain grows; payload
//! checksums of sealed segments are checked by every [`BlockLog::read`] and
//! [`BlockLog::iter_from`], and all of them by [`BlockLog::verify`].
//!
//! **Failed appends.** After a failed write or `fdatasync` the state of the file is
//! unknown (Linux may drop the dirty pages and report the error once), so the log
//! refuses further appends ([`StorageError::Poisoned`]); the node should exit and
//! recover by reopening, which re-reads what is on disk.
//!
//! **Snapshots.** [`Snapshots::write`] writes `*.bin.tmp`, fsyncs it, renames it to
//! `*.bin`, and fsyncs the directory. `rename` replaces the directory entry atomically
//! (POSIX): after a crash the final name is either absent or names the complete, fsynced
//! file, never a partial one. Without the fsync before the rename a file system could
//! persist the rename before the data and leave an empty or partial file under the
//! final name; without the directory fsync the rename itself could be lost. A leftover
//! temp file is ignored by [`Snapshots::latest`] and removed by [`Snapshots::prune`];
//! a snapshot that fails its checks is skipped and reported, and the next older one is
//! used.

use std::cmp::Reverse;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use matching::Height;

/// Every bound the storage keeps, in one place.
pub mod limits {
    use super::RECORD_OVERHEAD_BYTES;

    /// The largest block payload. Blocks are bounded far below this by the chain; this
    /// bound exists so that a corrupt length can never make the log allocate more.
    pub const PAYLOAD_BYTES_MAX: u32 = 64 << 20;
    /// The default [`LogConfig::segment_bytes_max`](super::LogConfig): 256 MiB files,
    /// few enough for a long chain, small enough to copy or delete one at a time.
    pub const SEGMENT_BYTES_DEFAULT: u64 = 256 << 20;
    /// The largest snapshot payload (4 GiB). Reading a snapshot allocates its size, so
    /// this is also the most a corrupt snapshot can make [`super::Snapshots::latest`]
    /// allocate.
    pub const SNAPSHOT_BYTES_MAX: u64 = 4 << 30;
    /// Bytes read at a time when searching a damaged tail for a valid record header.
    pub const SCAN_CHUNK_BYTES: usize = 1 << 20;

    // With the default size a segment holds several records of the largest size, so
    // only a configured smaller size makes a segment hold a single oversized record.
    const _: () =
        assert!(SEGMENT_BYTES_DEFAULT >= 3 * (PAYLOAD_BYTES_MAX as u64 + RECORD_OVERHEAD_BYTES));
    // A record header must fit in a search chunk, which overlaps the next by one header.
    const _: () = assert!(SCAN_CHUNK_BYTES as u64 > 2 * super::RECORD_HEADER_BYTES);
}

const RECORD_MAGIC: [u8; 4] = *b"CLBK";
const RECORD_VERSION: u16 = 1;
const HEADER_BYTES: usize = 24;
const OVERHEAD_BYTES: usize = HEADER_BYTES + 4;
/// Bytes of a record header, header checksum included.
pub const RECORD_HEADER_BYTES: u64 = HEADER_BYTES as u64;
/// Bytes a record takes besides its payload: the header and the record checksum.
pub const RECORD_OVERHEAD_BYTES: u64 = OVERHEAD_BYTES as u64;

const SNAPSHOT_MAGIC: [u8; 4] = *b"CLSS";
const SNAPSHOT_VERSION: u16 = 1;
const SNAPSHOT_HEADER_BYTES: usize = 24;
/// Bytes a snapshot file takes besides its payload.
pub const SNAPSHOT_OVERHEAD_BYTES: u64 = SNAPSHOT_HEADER_BYTES as u64 + 4;
/// The folder of snapshots inside the node's storage directory.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// Everything that can go wrong in storage. Each variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Damage that a crash cannot explain; the log refuses to open rather than cut it.
    #[error("{} is corrupt at byte {offset}: {corruption}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        corruption: Corruption,
    },
    /// The log's first segment does not start at the configured first height (a
    /// segment was removed, or the log belongs to another chain).
    #[error("the block log in {} starts at height {found}, expected {expected}", dir.display())]
    FirstHeightMismatch {
        dir: PathBuf,
        expected: Height,
        found: Height,
    },
    /// Over [`limits::PAYLOAD_BYTES_MAX`] or [`limits::SNAPSHOT_BYTES_MAX`].
    #[error("a payload of {len} bytes at height {height} is over the limit of {max} bytes")]
    PayloadTooLarge { height: Height, len: u64, max: u64 },
    #[error(
        "height {height} is not in the block log, which holds heights {first} to {next} \
         (exclusive)"
    )]
    HeightNotFound {
        height: Height,
        first: Height,
        next: Height,
    },
    /// A previous append failed; see the module docs (durability).
    #[error(
        "the block log in {} refuses appends after a failed write; restart to recover",
        dir.display()
    )]
    Poisoned { dir: PathBuf },
}

/// Why a log file is corrupt (as opposed to torn by a crash, see [`TornTail`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// Bad magic or header checksum, not at the log's tail: either a valid record header
    /// follows in the same file (at `valid_header_at`), or the segment is not the last.
    #[error(
        "record header fails its checksum and is not a torn tail \
         (valid record header at {valid_header_at:?})"
    )]
    UnreadableHeader { valid_header_at: Option<u64> },
    /// The record checksum fails and the record is not the last thing in the log.
    #[error("record checksum mismatch, and the record is not the log's last")]
    BadChecksum,
    #[error("record format version {version} with reserved field {reserved:#06x} is not supported")]
    UnsupportedFormat { version: u16, reserved: u16 },
    #[error("payload length {len} is over the limit of {max} bytes")]
    LengthOverLimit { len: u32, max: u32 },
    #[error("record has height {found}, expected {expected}")]
    HeightOutOfSequence { expected: Height, found: Height },
    /// A segment other than the last ends inside a record.
    #[error("a segment that is not the last ends inside a record")]
    SealedSegmentIncomplete,
    #[error("a segment that is not the last is empty")]
    SealedSegmentEmpty,
    #[error("segment starts at height {found}, expected {expected}")]
    SegmentOutOfSequence { expected: Height, found: Height },
    /// On read: the record no longer has the length it had when the log was opened.
    #[error("record is {found} bytes long, the index says {expected}")]
    LengthMismatch { expected: u64, found: u64 },
}

/// How the tail of the last segment was torn by a crash; recovery cuts it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornTail {
    /// Fewer bytes than a record header.
    IncompleteHeader,
    /// A header with bad magic or checksum, and no valid record header after it.
    UnreadableHeader,
    /// A valid header whose record runs past the end of the file.
    IncompleteRecord,
    /// A complete last record whose record checksum fails.
    BadChecksum,
}

/// Bytes cut off the end of the log at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub path: PathBuf,
    /// The file's new length: where the torn record started.
    pub offset: u64,
    pub bytes: u64,
    pub reason: TornTail,
}

/// What [`BlockLog::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    pub records: u64,
    pub last_height: Option<Height>,
    /// A torn tail that was cut off, if there was one.
    pub truncated: Option<Truncation>,
}

/// How a [`BlockLog`] is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The height of the log's first record. A log that is not empty must start there
    /// ([`StorageError::FirstHeightMismatch`]).
    pub first_height: Height,
    /// A record that would take the current segment past this size starts a new one.
    pub segment_bytes_max: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            first_height: Height(1),
            segment_bytes_max: limits::SEGMENT_BYTES_DEFAULT,
        }
    }
}

/// One segment file and the index of its records.
#[derive(Debug)]
struct Segment {
    first: Height,
    path: PathBuf,
    /// The offset of each record: record `i` has height `first + i`.
    offsets: Vec<u64>,
    /// The file's length: whole records only.
    len: u64,
}

impl Segment {
    fn count(&self) -> u64 {
        self.offsets.len() as u64
    }

    fn next_height(&self) -> Height {
        Height(self.first.0 + self.count())
    }

    /// The offset and length of record `index`.
    fn record_span(&self, index: usize) -> (u64, u64) {
        let start = self.offsets[index];
        let end = self.offsets.get(index + 1).copied().unwrap_or(self.len);
        (start, end - start)
    }
}

/// The append-only block log. See the module docs for the format and the durability
/// argument.
#[derive(Debug)]
pub struct BlockLog {
    dir: PathBuf,
    config: LogConfig,
    /// In height order; only the last may be empty.
    segments: Vec<Segment>,
    /// The last segment, open for reading and writing; `None` while there is none.
    writer: Option<File>,
    poisoned: bool,
}

impl BlockLog {
    /// Opens (or creates) the log in `dir` with the default [`LogConfig`]: first height
    /// 1, 256 MiB segments.
    pub fn open(dir: &Path) -> Result<(BlockLog, Recovery), StorageError> {
        BlockLog::open_with(dir, LogConfig::default())
    }

    /// Opens (or creates) the log in `dir`: scans it, builds the index, and cuts off a
    /// torn tail (reported in [`Recovery::truncated`]). Fails on corruption.
    pub fn open_with(dir: &Path, config: LogConfig) -> Result<(BlockLog, Recovery), StorageError> {
        assert!(
            config.segment_bytes_max > 0,
            "segment_bytes_max must be positive"
        );
        create_dir_durably(dir)?;
        let names = list_segments(dir)?;
        if let Some((found, _)) = names.first()
            && *found != config.first_height
        {
            return Err(StorageError::FirstHeightMismatch {
                dir: dir.to_owned(),
                expected: config.first_height,
                found: *found,
            });
        }
        let mut segments: Vec<Segment> = Vec::with_capacity(names.len());
        let mut writer = None;
        let mut truncated = None;
        let count = names.len();
        for (index, (first, path)) in names.into_iter().enumerate() {
            let sealed = index + 1 < count;
            let expected = segments
                .last()
                .map_or(config.first_height, Segment::next_height);
            if first != expected {
                return Err(StorageError::Corrupt {
                    path,
                    offset: 0,
                    corruption: Corruption::SegmentOutOfSequence {
                        expected,
                        found: first,
                    },
                });
            }
            let file = OpenOptions::new()
                .read(true)
                .write(!sealed)
                .open(&path)
                .map_err(io_error("open", &path))?;
            let file_len = file.metadata().map_err(io_error("stat", &path))?.len();
            let scan = scan_segment(&file, &path, file_len, first, sealed)?;
            if sealed && scan.offsets.is_empty() {
                return Err(StorageError::Corrupt {
                    path,
                    offset: 0,
                    corruption: Corruption::SealedSegmentEmpty,
                });
            }
            if let Some(reason) = scan.torn {
                file.set_len(scan.len)
                    .map_err(io_error("truncate", &path))?;
                file.sync_all().map_err(io_error("fsync", &path))?;
                truncated = Some(Truncation {
                    path: path.clone(),
                    offset: scan.len,
                    bytes: file_len - scan.len,
                    reason,
                });
            }
            if !sealed {
                writer = Some(file);
            }
            segments.push(Segment {
                first,
                path,
                offsets: scan.offsets,
                len: scan.len,
            });
        }
        let log = BlockLog {
            dir: dir.to_owned(),
            config,
            segments,
            writer,
            poisoned: false,
        };
        let recovery = Recovery {
            segments: log.segments.len(),
            records: log.segments.iter().map(Segment::count).sum(),
            last_height: log.last_height(),
            truncated,
        };
        Ok((log, recovery))
    }

    /// The height of the first record (the configured first height while empty).
    pub fn first_height(&self) -> Height {
        self.segments
            .first()
            .map_or(self.config.first_height, |segment| segment.first)
    }

    /// The height the next append must have.
    pub fn next_height(&self) -> Height {
        self.segments
            .last()
            .map_or(self.config.first_height, Segment::next_height)
    }

    /// The height of the last record, `None` while the log is empty.
    pub fn last_height(&self) -> Option<Height> {
        let next = self.next_height();
        (next != self.first_height()).then(|| Height(next.0 - 1))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends the record for `height`, which must be [`next_height`](Self::next_height)
    /// (anything else is a caller bug and panics). Returns once the record is durable
    /// (`fdatasync`): only then may the block be reported committed. After an I/O error
    /// the log is poisoned and refuses further appends.
    pub fn append(&mut self, height: Height, payload: &[u8]) -> Result<(), StorageError> {
        self.append_unsynced(height, payload)?;
        self.sync()
    }

    /// [`append`](Self::append) without the `fdatasync`: the record is written (and
    /// readable) but not durable until [`sync`](Self::sync) returns, so it must not be
    /// reported committed before that. Splitting the two lets the node sync under a
    /// shared lock, so that readers of earlier records never wait for the disk.
    pub fn append_unsynced(&mut self, height: Height, payload: &[u8]) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        let expected = self.next_height();
        assert_eq!(
            height, expected,
            "block log appends must have consecutive heights"
        );
        let payload_len = u32::try_from(payload.len())
            .ok()
            .filter(|&len| len <= limits::PAYLOAD_BYTES_MAX)
            .ok_or(StorageError::PayloadTooLarge {
                height,
                len: payload.len() as u64,
                max: u64::from(limits::PAYLOAD_BYTES_MAX),
            })?;
        let record = encode_record(height, payload_len, payload);
        let result = self.write_record(height, &record);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn write_record(&mut self, height: Height, record: &[u8]) -> Result<(), StorageError> {
        let record_bytes = record.len() as u64;
        let start_segment = match self.segments.last() {
            None => true,
            Some(last) => {
                !last.offsets.is_empty() && last.len + record_bytes > self.config.segment_bytes_max
            }
        };
        if start_segment {
            // `sync` covers the last segment only: finish this one first.
            self.sync()?;
            self.start_segment(height)?;
        }
        let segment = self
            .segments
            .last_mut()
            .expect("a segment was just ensured");
        let writer = self.writer.as_ref().expect("the last segment is open");
        writer
            .write_all_at(record, segment.len)
            .map_err(io_error("write", &segment.path))?;
        segment.offsets.push(segment.len);
        segment.len += record_bytes;
        Ok(())
    }

    /// Makes every record appended so far durable (`fdatasync` of the last segment;
    /// earlier segments were synced before a later one was started). An error leaves
    /// records whose durability is unknown: the caller must stop, as after a failed
    /// append.
    pub fn sync(&self) -> Result<(), StorageError> {
        if let (Some(writer), Some(segment)) = (&self.writer, self.segments.last()) {
            writer
                .sync_data()
                .map_err(io_error("fdatasync", &segment.path))?;
        }
        Ok(())
    }

    /// Creates the segment starting at `first` and makes its name durable before any
    /// record goes in.
    fn start_segment(&mut self, first: Height) -> Result<(), StorageError> {
        let path = self.dir.join(segment_file_name(first));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error("create", &path))?;
        file.sync_all().map_err(io_error("fsync", &path))?;
        sync_dir(&self.dir)?;
        self.segments.push(Segment {
            first,
            path,
            offsets: Vec::new(),
            len: 0,
        });
        self.writer = Some(file);
        Ok(())
    }

    /// The segment holding `height` and the record's index in it.
    fn locate(&self, height: Height) -> Result<(usize, usize), StorageError> {
        let not_found = || StorageError::HeightNotFound {
            height,
            first: self.first_height(),
            next: self.next_height(),
        };
        if height < self.first_height() || height >= self.next_height() {
            return Err(not_found());
        }
        let segment = self.segments.partition_point(|s| s.first <= height) - 1;
        let index =
            usize::try_from(height.0 - self.segments[segment].first.0).map_err(|_| not_found())?;
        Ok((segment, index))
    }

    /// The payload of the record at `height`, checksums verified.
    pub fn read(&self, height: Height) -> Result<Vec<u8>, StorageError> {
        let (segment_index, index) = self.locate(height)?;
        let segment = &self.segments[segment_index];
        let (offset, record_bytes) = segment.record_span(index);
        let opened;
        let file = if segment_index + 1 == self.segments.len() {
            self.writer.as_ref().expect("the last segment is open")
        } else {
            opened = File::open(&segment.path).map_err(io_error("open", &segment.path))?;
            &opened
        };
        let mut header = [0u8; HEADER_BYTES];
        file.read_exact_at(&mut header, offset)
            .map_err(io_error("read", &segment.path))?;
        let payload_len = check_read_header(&header, height, record_bytes)
            .map_err(|corruption| corrupt(&segment.path, offset, corruption))?;
        let mut body = vec![0u8; payload_len + 4];
        file.read_exact_at(&mut body, offset + RECORD_HEADER_BYTES)
            .map_err(io_error("read", &segment.path))?;
        finish_record(&header, body)
            .map_err(|corruption| corrupt(&segment.path, offset, corruption))
    }

    /// The records from `from` to the last one (as of this call), in order, each
    /// checked. `from` may be [`next_height`](Self::next_height) (nothing to read).
    /// The iterator stops after the first error.
    pub fn iter_from(&self, from: Height) -> Result<LogIter<'_>, StorageError> {
        let next = self.next_height();
        if from < self.first_height() || from > next {
            return Err(StorageError::HeightNotFound {
                height: from,
                first: self.first_height(),
                next,
            });
        }
        let segment_index = if from == next {
            self.segments.len()
        } else {
            self.locate(from)?.0
        };
        Ok(LogIter {
            log: self,
            next: from,
            end: next,
            segment_index,
            reader: None,
            failed: false,
        })
    }

    /// Reads every record and checks every checksum; returns how many there are.
    pub fn verify(&self) -> Result<u64, StorageError> {
        let mut records = 0;
        for record in self.iter_from(self.first_height())? {
            record?;
            records += 1;
        }
        Ok(records)
    }

    /// Panics if the in-memory index disagrees with itself or with the last segment's
    /// length on disk. Tests call it after every operation.
    pub fn check_invariants(&self) {
        let mut expected_first = self.config.first_height;
        for (index, segment) in self.segments.iter().enumerate() {
            let last = index + 1 == self.segments.len();
            assert_eq!(segment.first, expected_first, "segments are contiguous");
            assert!(
                last || !segment.offsets.is_empty(),
                "only the last segment may be empty"
            );
            assert_eq!(
                segment.path,
                self.dir.join(segment_file_name(segment.first))
            );
            // Each record starts at or after the end of the previous one's overhead.
            let mut end_min = 0;
            for (i, &offset) in segment.offsets.iter().enumerate() {
                assert!(
                    if i == 0 {
                        offset == 0
                    } else {
                        offset >= end_min
                    },
                    "records follow each other from offset 0"
                );
                end_min = offset + RECORD_OVERHEAD_BYTES;
            }
            assert!(
                segment.len >= end_min,
                "the last record ends inside the segment"
            );
            assert!(
                !segment.offsets.is_empty() || segment.len == 0,
                "an empty segment is empty"
            );
            expected_first = segment.next_height();
        }
        assert_eq!(self.next_height(), expected_first);
        match (self.segments.last(), &self.writer) {
            (None, None) => {}
            (Some(last), Some(writer)) => {
                if !self.poisoned {
                    let on_disk = writer.metadata().expect("stat the last segment").len();
                    assert_eq!(
                        on_disk, last.len,
                        "the last segment's length matches the index"
                    );
                }
            }
            _ => panic!("a writer exactly when there is a segment"),
        }
    }
}

/// Streams records in height order; see [`BlockLog::iter_from`].
#[derive(Debug)]
pub struct LogIter<'a> {
    log: &'a BlockLog,
    next: Height,
    end: Height,
    segment_index: usize,
    /// The current segment, positioned at the record `next`.
    reader: Option<BufReader<File>>,
    failed: bool,
}

impl LogIter<'_> {
    fn read_next(&mut self) -> Result<Vec<u8>, StorageError> {
        let mut segment = &self.log.segments[self.segment_index];
        if self.next >= segment.next_height() {
            self.segment_index += 1;
            self.reader = None;
            segment = &self.log.segments[self.segment_index];
        }
        let index = usize::try_from(self.next.0 - segment.first.0).expect("index fits usize");
        let (offset, record_bytes) = segment.record_span(index);
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => {
                let mut file =
                    File::open(&segment.path).map_err(io_error("open", &segment.path))?;
                io::Seek::seek(&mut file, io::SeekFrom::Start(offset))
                    .map_err(io_error("seek", &segment.path))?;
                self.reader.insert(BufReader::with_capacity(1 << 16, file))
            }
        };
        let mut header = [0u8; HEADER_BYTES];
        reader
            .read_exact(&mut header)
            .map_err(io_error("read", &segment.path))?;
        let payload_len = check_read_header(&header, self.next, record_bytes)
            .map_err(|corruption| corrupt(&segment.path, offset, corruption))?;
        let mut body = vec![0u8; payload_len + 4];
        reader
            .read_exact(&mut body)
            .map_err(io_error("read", &segment.path))?;
        finish_record(&header, body)
            .map_err(|corruption| corrupt(&segment.path, offset, corruption))
    }
}

impl Iterator for LogIter<'_> {
    type Item = Result<(Height, Vec<u8>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.end {
            return None;
        }
        match self.read_next() {
            Ok(payload) => {
                let height = self.next;
                self.next = Height(height.0 + 1);
                Some(Ok((height, payload)))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

// ---- records ----

/// The file name of the segment whose first record has height `first`.
pub fn segment_file_name(first: Height) -> String {
    format!("blocks-{:020}.log", first.0)
}

fn parse_segment_file_name(name: &str) -> Option<Height> {
    let digits = name.strip_prefix("blocks-")?.strip_suffix(".log")?;
    parse_height_digits(digits)
}

/// Exactly 20 decimal digits, as written by the `{:020}` formats.
fn parse_height_digits(digits: &str) -> Option<Height> {
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok().map(Height))
        .flatten()
}

fn encode_record(height: Height, payload_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(payload.len() + OVERHEAD_BYTES);
    record.extend_from_slice(&RECORD_MAGIC);
    record.extend_from_slice(&RECORD_VERSION.to_le_bytes());
    record.extend_from_slice(&0u16.to_le_bytes());
    record.extend_from_slice(&payload_len.to_le_bytes());
    record.extend_from_slice(&height.0.to_le_bytes());
    let header_crc = crc32fast::hash(&record);
    record.extend_from_slice(&header_crc.to_le_bytes());
    record.extend_from_slice(payload);
    let record_crc = crc32fast::hash(&record);
    record.extend_from_slice(&record_crc.to_le_bytes());
    record
}

/// A record header whose magic and header checksum verify.
#[derive(Clone, Copy, Debug)]
struct RecordHeader {
    version: u16,
    reserved: u16,
    payload_len: u32,
    height: Height,
}

fn le_u16(bytes: &[u8]) -> u16 {
    u16::from_le_bytes(bytes.try_into().expect("2 bytes"))
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// `None` when the magic or the header checksum is wrong: nothing in it can be trusted.
fn decode_header(bytes: &[u8; HEADER_BYTES]) -> Option<RecordHeader> {
    (bytes[0..4] == RECORD_MAGIC && le_u32(&bytes[20..24]) == crc32fast::hash(&bytes[0..20])).then(
        || RecordHeader {
            version: le_u16(&bytes[4..6]),
            reserved: le_u16(&bytes[6..8]),
            payload_len: le_u32(&bytes[8..12]),
            height: Height(le_u64(&bytes[12..20])),
        },
    )
}

/// The checks on a header that verifies, in the order they are made.
fn check_header(header: &RecordHeader, expected: Height) -> Result<(), Corruption> {
    if header.version != RECORD_VERSION || header.reserved != 0 {
        return Err(Corruption::UnsupportedFormat {
            version: header.version,
            reserved: header.reserved,
        });
    }
    if header.payload_len > limits::PAYLOAD_BYTES_MAX {
        return Err(Corruption::LengthOverLimit {
            len: header.payload_len,
            max: limits::PAYLOAD_BYTES_MAX,
        });
    }
    if header.height != expected {
        return Err(Corruption::HeightOutOfSequence {
            expected,
            found: header.height,
        });
    }
    Ok(())
}

/// Checks a header read back through the index; returns the payload length.
fn check_read_header(
    bytes: &[u8; HEADER_BYTES],
    height: Height,
    record_bytes: u64,
) -> Result<usize, Corruption> {
    let header = decode_header(bytes).ok_or(Corruption::UnreadableHeader {
        valid_header_at: None,
    })?;
    check_header(&header, height)?;
    let found = RECORD_OVERHEAD_BYTES + u64::from(header.payload_len);
    if found != record_bytes {
        return Err(Corruption::LengthMismatch {
            expected: record_bytes,
            found,
        });
    }
    Ok(usize::try_from(header.payload_len).expect("u32 fits usize"))
}

/// Checks the record checksum over `header` and `body` (payload then checksum) and
/// returns the payload.
fn finish_record(header: &[u8; HEADER_BYTES], mut body: Vec<u8>) -> Result<Vec<u8>, Corruption> {
    let payload_len = body.len() - 4;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(&body[..payload_len]);
    if hasher.finalize() != le_u32(&body[payload_len..]) {
        return Err(Corruption::BadChecksum);
    }
    body.truncate(payload_len);
    Ok(body)
}

// ---- opening ----

/// What a segment scan found.
struct SegmentScan {
    offsets: Vec<u64>,
    /// Bytes of whole, valid records.
    len: u64,
    /// Why the bytes after `len` are to be cut off; `None` when there are none.
    torn: Option<TornTail>,
}

/// Walks a segment record by record (see the module docs for the rules). A sealed
/// segment must be whole, and only its headers are read; the last segment's payloads
/// are checksummed too, and a torn tail in it is reported, not cut (the caller cuts).
fn scan_segment(
    file: &File,
    path: &Path,
    file_len: u64,
    first: Height,
    sealed: bool,
) -> Result<SegmentScan, StorageError> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut offsets = Vec::new();
    let mut pos = 0u64;
    let mut height = first;
    let torn = loop {
        let remaining = file_len - pos;
        if remaining == 0 {
            break None;
        }
        if remaining < RECORD_HEADER_BYTES {
            if sealed {
                return Err(corrupt(path, pos, Corruption::SealedSegmentIncomplete));
            }
            break Some(TornTail::IncompleteHeader);
        }
        let mut header_bytes = [0u8; HEADER_BYTES];
        reader
            .read_exact(&mut header_bytes)
            .map_err(io_error("read", path))?;
        let Some(header) = decode_header(&header_bytes) else {
            let valid_header_at = if sealed {
                None
            } else {
                match find_valid_header(file, path, pos + 1, file_len)? {
                    None => break Some(TornTail::UnreadableHeader),
                    found => found,
                }
            };
            return Err(corrupt(
                path,
                pos,
                Corruption::UnreadableHeader { valid_header_at },
            ));
        };
        check_header(&header, height).map_err(|corruption| corrupt(path, pos, corruption))?;
        let end = pos + RECORD_OVERHEAD_BYTES + u64::from(header.payload_len);
        if end > file_len {
            if sealed {
                return Err(corrupt(path, pos, Corruption::SealedSegmentIncomplete));
            }
            break Some(TornTail::IncompleteRecord);
        }
        if sealed {
            reader
                .seek_relative(i64::from(header.payload_len) + 4)
                .map_err(io_error("seek", path))?;
        } else if !record_checksum_matches(&mut reader, path, &header_bytes, header.payload_len)? {
            if end < file_len {
                return Err(corrupt(path, pos, Corruption::BadChecksum));
            }
            break Some(TornTail::BadChecksum);
        }
        offsets.push(pos);
        pos = end;
        height = Height(height.0 + 1);
    };
    Ok(SegmentScan {
        offsets,
        len: pos,
        torn,
    })
}

/// Reads a record's payload and checksum from `reader` without holding the payload.
fn record_checksum_matches(
    reader: &mut impl Read,
    path: &Path,
    header: &[u8; HEADER_BYTES],
    payload_len: u32,
) -> Result<bool, StorageError> {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    let mut left = u64::from(payload_len);
    let mut buffer = [0u8; 8192];
    while left > 0 {
        let chunk = usize::try_from(left.min(buffer.len() as u64)).expect("at most 8192");
        reader
            .read_exact(&mut buffer[..chunk])
            .map_err(io_error("read", path))?;
        hasher.update(&buffer[..chunk]);
        left -= chunk as u64;
    }
    let mut stored = [0u8; 4];
    reader
        .read_exact(&mut stored)
        .map_err(io_error("read", path))?;
    Ok(hasher.finalize() == u32::from_le_bytes(stored))
}

/// The offset of the first valid record header (magic and header checksum) at or after
/// `from`, reading [`limits::SCAN_CHUNK_BYTES`] at a time.
fn find_valid_header(
    file: &File,
    path: &Path,
    from: u64,
    file_len: u64,
) -> Result<Option<u64>, StorageError> {
    let mut buffer = vec![0u8; limits::SCAN_CHUNK_BYTES];
    let mut start = from;
    while start + RECORD_HEADER_BYTES <= file_len {
        let want =
            usize::try_from((file_len - start).min(buffer.len() as u64)).expect("at most a chunk");
        let window = &mut buffer[..want];
        file.read_exact_at(window, start)
            .map_err(io_error("read", path))?;
        for i in 0..=want - HEADER_BYTES {
            let candidate: &[u8; HEADER_BYTES] =
                window[i..i + HEADER_BYTES].try_into().expect("a header");
            if decode_header(candidate).is_some() {
                return Ok(Some(start + i as u64));
            }
        }
        // The next window starts just after the last position checked.
        start += (want - HEADER_BYTES + 1) as u64;
    }
    Ok(None)
}

/// The segment files in `dir`, in height order. Other files are ignored.
fn list_segments(dir: &Path) -> Result<Vec<(Height, PathBuf)>, StorageError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let entry = entry.map_err(io_error("list", dir))?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            segments.push((first, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

// ---- snapshots ----

/// One verified snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub height: Height,
    pub payload: Vec<u8>,
}

/// What [`Snapshots::latest`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatestSnapshot {
    /// The newest snapshot that verifies.
    pub snapshot: Option<Snapshot>,
    /// Newer files that were passed over, newest first, with the reason.
    pub skipped: Vec<SkippedSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedSnapshot {
    pub path: PathBuf,
    pub height: Height,
    pub defect: SnapshotDefect,
}

/// Why a snapshot file was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotDefect {
    /// A temp file: its write never reached the rename.
    #[error("unfinished write (temp file)")]
    Unfinished,
    #[error("{file_len} bytes: shorter than a header and checksum")]
    TooShort { file_len: u64 },
    #[error("{file_len} bytes: over the snapshot limit")]
    TooLong { file_len: u64 },
    #[error("bad magic")]
    BadMagic,
    #[error("format version {version} with reserved field {reserved:#06x} is not supported")]
    UnsupportedFormat { version: u16, reserved: u16 },
    #[error("header says height {found}")]
    HeightMismatch { found: Height },
    #[error("header says {payload_len} payload bytes, the file holds {file_len} bytes")]
    LengthMismatch { payload_len: u64, file_len: u64 },
    #[error("checksum mismatch")]
    BadChecksum,
}

/// The snapshots in `<dir>/snapshots/`. See the module docs for the format and why
/// writes are atomic.
#[derive(Debug)]
pub struct Snapshots {
    dir: PathBuf,
}

/// A snapshot file found in the folder.
#[derive(Debug)]
struct SnapshotFile {
    height: Height,
    path: PathBuf,
    temp: bool,
}

/// The file name of the snapshot at `height`.
pub fn snapshot_file_name(height: Height) -> String {
    format!("snapshot-{:020}.bin", height.0)
}

impl Snapshots {
    /// Opens (or creates) `<dir>/snapshots/`.
    pub fn open(dir: &Path) -> Result<Snapshots, StorageError> {
        create_dir_durably(dir)?;
        let dir = dir.join(SNAPSHOT_DIR);
        create_dir_durably(&dir)?;
        Ok(Snapshots { dir })
    }

    /// The snapshot folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the snapshot of `height` atomically: temp file, fsync, rename, fsync of
    /// the folder. Replaces an existing snapshot of the same height.
    pub fn write(&mut self, height: Height, payload: &[u8]) -> Result<(), StorageError> {
        let len = payload.len() as u64;
        if len > limits::SNAPSHOT_BYTES_MAX {
            return Err(StorageError::PayloadTooLarge {
                height,
                len,
                max: limits::SNAPSHOT_BYTES_MAX,
            });
        }
        let path = self.dir.join(snapshot_file_name(height));
        let temp = temp_path(&path);
        let mut header = Vec::with_capacity(SNAPSHOT_HEADER_BYTES);
        header.extend_from_slice(&SNAPSHOT_MAGIC);
        header.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&height.0.to_le_bytes());
        header.extend_from_slice(&len.to_le_bytes());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header);
        hasher.update(payload);
        let written = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&header)?;
            file.write_all(payload)?;
            file.write_all(&hasher.finalize().to_le_bytes())?;
            file.sync_all()
        })();
        if let Err(source) = written {
            // Best effort: a leftover temp file is harmless and `prune` removes it.
            let _ = fs::remove_file(&temp);
            return Err(StorageError::Io {
                op: "write",
                path: temp,
                source,
            });
        }
        fs::rename(&temp, &path).map_err(io_error("rename", &temp))?;
        sync_dir(&self.dir)
    }

    /// The newest snapshot that verifies, and the newer files passed over (temp files
    /// and corrupt snapshots). Only I/O errors are errors.
    pub fn latest(&self) -> Result<LatestSnapshot, StorageError> {
        let mut skipped = Vec::new();
        for file in self.list()? {
            let defect = if file.temp {
                SnapshotDefect::Unfinished
            } else {
                match read_snapshot(&file.path, file.height)? {
                    Ok(payload) => {
                        return Ok(LatestSnapshot {
                            snapshot: Some(Snapshot {
                                height: file.height,
                                payload,
                            }),
                            skipped,
                        });
                    }
                    Err(defect) => defect,
                }
            };
            skipped.push(SkippedSnapshot {
                path: file.path,
                height: file.height,
                defect,
            });
        }
        Ok(LatestSnapshot {
            snapshot: None,
            skipped,
        })
    }

    /// Keeps the newest `keep` snapshots that verify (at least one: pruning to none is a
    /// caller bug), removes every older snapshot and every temp file, and returns what
    /// it removed. Corrupt snapshots newer than the kept ones stay, for inspection.
    /// Every kept snapshot is read in full to verify it.
    pub fn prune(&mut self, keep: usize) -> Result<Vec<PathBuf>, StorageError> {
        assert!(keep >= 1, "pruning must keep at least one snapshot");
        let mut kept = 0;
        let mut removed = Vec::new();
        for file in self.list()? {
            let remove = file.temp
                || kept >= keep
                || match read_snapshot(&file.path, file.height)? {
                    Ok(_) => {
                        kept += 1;
                        false
                    }
                    Err(_) => false,
                };
            if remove {
                fs::remove_file(&file.path).map_err(io_error("remove", &file.path))?;
                removed.push(file.path);
            }
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Snapshot and temp files, newest first (a temp file before the snapshot of the
    /// same height). Other files are ignored.
    fn list(&self) -> Result<Vec<SnapshotFile>, StorageError> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_error("list", &self.dir))? {
            let entry = entry.map_err(io_error("list", &self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let (stem, temp) = match name.strip_suffix(".tmp") {
                Some(stem) => (stem, true),
                None => (name, false),
            };
            let height = stem
                .strip_prefix("snapshot-")
                .and_then(|rest| rest.strip_suffix(".bin"))
                .and_then(parse_height_digits);
            if let Some(height) = height {
                files.push(SnapshotFile {
                    height,
                    path: entry.path(),
                    temp,
                });
            }
        }
        files.sort_by_key(|file| Reverse((file.height, file.temp)));
        Ok(files)
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// The payload of the snapshot file at `path`, or why it cannot be used.
fn read_snapshot(
    path: &Path,
    height: Height,
) -> Result<Result<Vec<u8>, SnapshotDefect>, StorageError> {
    let mut file = File::open(path).map_err(io_error("open", path))?;
    let file_len = file.metadata().map_err(io_error("stat", path))?.len();
    if file_len < SNAPSHOT_OVERHEAD_BYTES {
        return Ok(Err(SnapshotDefect::TooShort { file_len }));
    }
    if file_len > SNAPSHOT_OVERHEAD_BYTES + limits::SNAPSHOT_BYTES_MAX {
        return Ok(Err(SnapshotDefect::TooLong { file_len }));
    }
    let mut header = [0u8; SNAPSHOT_HEADER_BYTES];
    file.read_exact(&mut header)
        .map_err(io_error("read", path))?;
    if header[0..4] != SNAPSHOT_MAGIC {
        return Ok(Err(SnapshotDefect::BadMagic));
    }
    let (version, reserved) = (le_u16(&header[4..6]), le_u16(&header[6..8]));
    if version != SNAPSHOT_VERSION || reserved != 0 {
        return Ok(Err(SnapshotDefect::UnsupportedFormat { version, reserved }));
    }
    let found = Height(le_u64(&header[8..16]));
    if found != height {
        return Ok(Err(SnapshotDefect::HeightMismatch { found }));
    }
    let payload_len = le_u64(&header[16..24]);
    if payload_len != file_len - SNAPSHOT_OVERHEAD_BYTES {
        return Ok(Err(SnapshotDefect::LengthMismatch {
            payload_len,
            file_len,
        }));
    }
    // Bounded by the file length check above.
    let mut body = vec![0u8; usize::try_from(payload_len + 4).expect("under the limit")];
    file.read_exact(&mut body).map_err(io_error("read", path))?;
    let payload_len = body.len() - 4;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header);
    hasher.update(&body[..payload_len]);
    if hasher.finalize() != le_u32(&body[payload_len..]) {
        return Ok(Err(SnapshotDefect::BadChecksum));
    }
    body.truncate(payload_len);
    Ok(Ok(body))
}

// ---- files ----

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, offset: u64, corruption: Corruption) -> StorageError {
    StorageError::Corrupt {
        path: path.to_owned(),
        offset,
        corruption,
    }
}

/// Makes the entries of `dir` (new files, renames, removals) durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// Creates `dir` if it is missing and makes its entry in its parent durable.
fn create_dir_durably(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    sync_dir(dir)?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}
