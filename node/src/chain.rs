//! The durable chain: the state machine (`markets`) over the block log, the outputs log
//! and snapshots ([`crate::storage`]).
//!
//! ```text
//! commit(txs) ─► execute_block ─► append block to the log (fsync) = committed
//!                               ─► append its record to outputs/ (fsync) ─► Ok
//!                               └─ every `snapshot_interval` blocks: snapshot
//! open(dir)   ─► genesis.bin ─► latest valid snapshot at S (or genesis state, S = 0)
//!             ─► outputs/ ends before S: re-execute blocks 1..=S from genesis on a
//!                scratch state and append the records it lacks
//!             ─► replay the log after S, re-executing each block, comparing every
//!                recomputed header with the stored one, and appending every record
//!                outputs/ lacks
//! verify(dir) ─► replay the whole log from genesis, ignoring snapshots, and check that
//!                each snapshot's state and each stored record equal the replayed ones
//! ```
//!
//! On disk:
//!
//! ```text
//! <dir>/LOCK, genesis.bin
//! <dir>/blocks-*.log          the block log: header and transactions of each block
//! <dir>/outputs/blocks-*.log  the outputs log: one BlockRecord (receipts, events) a block
//! <dir>/snapshots/            state snapshots
//! ```
//!
//! A block is committed once its block-log `append` has returned, which is after
//! `fdatasync`: a block reported committed survives `kill -9` and power loss. A block
//! executed but not yet appended (the process dies in between) was never reported, and
//! its transactions are simply not in the chain after the restart.
//!
//! One process owns a data directory: it holds an exclusive lock on `<dir>/LOCK`.
//!
//! # Block outputs
//!
//! The receipts and book events of each block are stored as a [`BlockRecord`] in a
//! second [`BlockLog`] in `<dir>/outputs/`, at the block's height, so that fills and
//! receipts can be served by height and event streams replayed from any height without
//! re-executing blocks. A record is a function of the block log (re-executing the
//! blocks up to its height gives it), so the block log stays the one source of truth:
//! recovery regenerates records from blocks, never the other way round.
//!
//! [`Chain::commit`] appends the record only after the block's append has returned, and
//! returns `Ok` only after both. Before appending the block it checks that the record
//! fits a log record ([`crate::storage::limits::PAYLOAD_BYTES_MAX`]), so that a
//! committed block always has a record that can be stored: otherwise every later open
//! would fail trying to regenerate it.
//!
//! Recovery, with `B` the block log's last height, `R` the outputs log's and `S` the
//! snapshot's:
//!
//! - `R < B` (records missing): normal after a crash between the two appends (one record
//!   missing), or for a directory written before outputs were stored, or one whose
//!   `outputs/` was removed. If `R >= S`, the replay after the snapshot produces the
//!   missing records at no extra cost. If `R < S`, open first re-executes blocks `1..=S`
//!   from genesis on a scratch state (signatures re-verified, headers compared, as in
//!   any replay) to regenerate records `R + 1..=S`, then loads the snapshot as usual:
//!   the same work as replaying from genesis, done once. Regenerated records are counted
//!   in [`OpenReport::records_rebuilt`]. Each is appended (and fsynced) like any other,
//!   so an interrupted rebuild resumes where it stopped.
//! - `R > B` (records ahead): cannot happen under the crash model, since record `h` is
//!   appended only after block `h` is durable. It means the block log lost blocks that
//!   were committed (and whose records may have been served to clients), or that
//!   `outputs/` comes from another directory. Open refuses with
//!   [`ChainError::RecordsAhead`] rather than rebuilding: discarding the records would
//!   hide that loss and destroy the evidence of what was reported, and the storage
//!   layer's rule is that good data is never cut off to make a log open. The operator
//!   moves `<dir>/outputs/` aside after looking, and open rebuilds it from the blocks.
//! - The last record's block hash differs from the stored block's at its height: the
//!   same reasoning, [`ChainError::RecordMismatch`]. Open checks only the last record
//!   (one read); [`verify`] checks every record against the re-executed block.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use markets::{
    Block, BlockContext, ExecutedBlock, Genesis, Hash, Receipt, SignedTransaction, State,
    TaggedEvent, execute_block, execute_verified,
};
use matching::Height;

use crate::storage::{BlockLog, Recovery, Snapshots, StorageError, limits};

/// Blocks between snapshots by default: restart replays at most this many blocks.
pub const SNAPSHOT_INTERVAL_DEFAULT: u64 = 1_000;
/// Snapshots kept on disk.
pub const SNAPSHOTS_KEPT: usize = 3;
/// The folder of the outputs log inside the data directory.
pub const OUTPUTS_DIR: &str = "outputs";

const GENESIS_FILE: &str = "genesis.bin";
const LOCK_FILE: &str = "LOCK";
/// How long opening waits for the directory's lock; see `lock_dir` for why it waits.
/// A fork-to-exec window lasts well under a millisecond on an idle machine.
const LOCK_WAIT: Duration = Duration::from_millis(500);
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// Why the chain could not open, commit or verify.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is locked by another process", path.display())]
    Locked { path: PathBuf },
    #[error("{} holds a different genesis (hash {stored}) than the one given (hash {given})", path.display())]
    GenesisMismatch {
        path: PathBuf,
        stored: Hash,
        given: Hash,
    },
    #[error("{}: {reason}", path.display())]
    BadGenesis { path: PathBuf, reason: String },
    #[error("block {height} in the log does not decode: {reason}")]
    BadBlock { height: u64, reason: String },
    #[error("block {height}: re-executing it gives header hash {computed}, the log holds {stored}")]
    HeaderMismatch {
        height: u64,
        stored: Hash,
        computed: Hash,
    },
    #[error("block {height} cannot execute: {source}")]
    Execute {
        height: u64,
        source: markets::BlockError,
    },
    #[error("snapshot at height {height}: {reason}")]
    BadSnapshot { height: u64, reason: String },
    #[error("the record of block {height} in the outputs log does not decode: {reason}")]
    BadRecord { height: u64, reason: String },
    /// A stored record disagrees with the block log; see the module docs (recovery).
    #[error(
        "the record of block {height} in the outputs log {reason}; if the block log is \
         right, move the outputs folder aside and open the chain to rebuild it"
    )]
    RecordMismatch { height: u64, reason: String },
    /// The outputs log holds records of blocks the block log does not have; see the
    /// module docs (recovery).
    #[error(
        "the outputs log in {} ends at height {records_last}, after the block log, which \
         ends at {blocks_last}: the block log lost committed blocks or the outputs come \
         from another directory; move {} aside to rebuild it from the block log",
        dir.display(),
        dir.display()
    )]
    RecordsAhead {
        dir: PathBuf,
        records_last: u64,
        blocks_last: u64,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ChainError {
    let path = path.to_path_buf();
    move |source| ChainError::Io { op, path, source }
}

/// The stored outputs of one block: what executing it produced besides the new state.
/// Stored borsh-encoded in the outputs log at `height`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockRecord {
    pub height: u64,
    /// The block's header hash, tying the record to the block it describes.
    pub hash: Hash,
    pub receipts: Vec<Receipt>,
    /// Per market, indexed by market id, in the order the book emitted them.
    pub market_events: Vec<Vec<TaggedEvent>>,
}

impl From<&ExecutedBlock> for BlockRecord {
    fn from(output: &ExecutedBlock) -> Self {
        BlockRecord {
            height: output.header.height,
            hash: output.hash,
            receipts: output.receipts.clone(),
            market_events: output.market_events.clone(),
        }
    }
}

/// [`BlockRecord`] borrowing from a [`ExecutedBlock`], so that commit encodes the record
/// without copying the receipts and events. Borsh encodes a slice like a `Vec` and a
/// reference like its target, so the bytes are those of the owned type.
#[derive(BorshSerialize)]
struct BlockRecordRef<'a> {
    height: u64,
    hash: &'a Hash,
    receipts: &'a [Receipt],
    market_events: &'a [Vec<TaggedEvent>],
}

fn encode_record(output: &ExecutedBlock) -> Vec<u8> {
    borsh::to_vec(&BlockRecordRef {
        height: output.header.height,
        hash: &output.hash,
        receipts: &output.receipts,
        market_events: &output.market_events,
    })
    .expect("Vec")
}

/// What [`Chain::open`] did.
#[derive(Debug)]
pub struct OpenReport {
    pub log: Recovery,
    /// What opening the outputs log found (a torn tail cut off, say).
    pub outputs: Recovery,
    /// Height of the snapshot the state was loaded from (0: genesis).
    pub snapshot_height: u64,
    /// Newer snapshot files passed over as damaged or unfinished.
    pub snapshots_skipped: usize,
    /// Blocks re-executed from the log after the snapshot.
    pub blocks_replayed: u64,
    /// Records missing from the outputs log that were regenerated and appended.
    pub records_rebuilt: u64,
    /// Blocks re-executed from genesis, besides `blocks_replayed`, to regenerate records
    /// at or below the snapshot height (0 unless the outputs log ended before it).
    pub blocks_reexecuted_for_records: u64,
}

/// The chain's state and its storage, in one directory.
#[derive(Debug)]
pub struct Chain {
    state: State,
    store: Store,
}

/// The chain's storage without its state: the block log, the outputs log and the
/// snapshots. The node's writer stage owns it (behind a lock readers share), while the
/// executor owns the [`State`]; see [`Chain::into_parts`].
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    log: BlockLog,
    /// One [`BlockRecord`] per block, at the block's height.
    outputs: BlockLog,
    snapshots: Snapshots,
    snapshot_interval: u64,
    last_header: Option<markets::BlockHeader>,
    _lock: File,
}

impl Chain {
    /// Opens the chain in `dir`, creating it from `genesis` if the directory is new.
    /// An existing directory must hold the same genesis. Regenerates missing records in
    /// the outputs log; see the module docs (recovery).
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<(Chain, OpenReport), ChainError> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let lock = lock_dir(dir)?;
        let genesis_state = open_genesis(dir, genesis)?;

        let snapshots = Snapshots::open(dir)?;
        let latest = snapshots.latest()?;
        let snapshots_skipped = latest.skipped.len();
        let snapshot_state = match latest.snapshot {
            Some(snapshot) => {
                let state = State::from_snapshot_bytes(&snapshot.payload).map_err(|e| {
                    ChainError::BadSnapshot {
                        height: snapshot.height.0,
                        reason: e.to_string(),
                    }
                })?;
                if !state.same_configuration(&genesis_state) || state.height() != snapshot.height.0
                {
                    return Err(ChainError::BadSnapshot {
                        height: snapshot.height.0,
                        reason: "belongs to another chain, configuration or height".into(),
                    });
                }
                Some(state)
            }
            None => None,
        };
        let snapshot_height = snapshot_state.as_ref().map_or(0, State::height);

        let (log, recovery) = BlockLog::open(dir)?;
        let (mut outputs, outputs_recovery) = BlockLog::open(&dir.join(OUTPUTS_DIR))?;
        let blocks_last = last_height(&log);
        if blocks_last < snapshot_height {
            return Err(ChainError::BadSnapshot {
                height: snapshot_height,
                reason: format!("is ahead of the block log, which ends at {blocks_last}"),
            });
        }
        check_last_record(&log, &outputs)?;
        let mut records_rebuilt = 0;
        let mut blocks_reexecuted_for_records = 0;
        if last_height(&outputs) < snapshot_height {
            (blocks_reexecuted_for_records, records_rebuilt) =
                rebuild_records(genesis_state.clone(), &log, &mut outputs, snapshot_height)?;
        }

        let mut state = snapshot_state.unwrap_or(genesis_state);
        let mut last_header = None;
        let mut blocks_replayed = 0;
        if snapshot_height > 0 {
            // The snapshot must be the state after the stored block at its height.
            let header = read_block(&log, snapshot_height)?.header;
            if header.hash() != state.block_hash()
                || header.timestamp_ms != state.timestamp_ms()
                || header.state_root != state.state_root()
            {
                return Err(ChainError::BadSnapshot {
                    height: snapshot_height,
                    reason: "does not match the stored block at its height".into(),
                });
            }
            last_header = Some(header);
        }
        for record in log.iter_from(Height(snapshot_height + 1))? {
            let (height, payload) = record?;
            let block = decode_block(height.0, &payload)?;
            let output = replay_block(&mut state, &block)?;
            if outputs.next_height() == height {
                outputs.append(height, &encode_record(&output))?;
                records_rebuilt += 1;
            }
            last_header = Some(block.header);
            blocks_replayed += 1;
        }
        assert_eq!(
            outputs.next_height(),
            log.next_height(),
            "after open the outputs log has a record for every block"
        );
        let report = OpenReport {
            log: recovery,
            outputs: outputs_recovery,
            snapshot_height,
            snapshots_skipped,
            blocks_replayed,
            records_rebuilt,
            blocks_reexecuted_for_records,
        };
        let chain = Chain {
            state,
            store: Store {
                dir: dir.to_path_buf(),
                log,
                outputs,
                snapshots,
                snapshot_interval: SNAPSHOT_INTERVAL_DEFAULT,
                last_header,
                _lock: lock,
            },
        };
        Ok((chain, report))
    }

    /// Snapshot every `interval` blocks (at least 1).
    pub fn set_snapshot_interval(&mut self, interval: u64) {
        self.store.snapshot_interval = interval.max(1);
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn height(&self) -> u64 {
        self.state.height()
    }

    pub fn dir(&self) -> &Path {
        &self.store.dir
    }

    /// The header of the last block (None at genesis).
    pub fn last_header(&self) -> Option<&markets::BlockHeader> {
        self.store.last_header.as_ref()
    }

    /// The state and the storage apart, for a node that executes on one thread and
    /// writes on another.
    pub fn into_parts(self) -> (State, Store) {
        (self.state, self.store)
    }

    /// Executes the next block (every signature checked) and makes it and its record
    /// durable, then snapshots if one is due. The block is committed once it is in the
    /// block log; `Ok` means its record is stored too. On `Err` after execution (the disk
    /// failed), the in-memory state is ahead of the block log or of the outputs log: the
    /// caller must stop, and a restart recovers from disk, with or without this block (it
    /// is there if its append completed).
    pub fn commit(
        &mut self,
        timestamp_ms: u64,
        transactions: Vec<SignedTransaction>,
    ) -> Result<ExecutedBlock, ChainError> {
        let height = self.state.height() + 1;
        let context = BlockContext {
            height,
            timestamp_ms,
        };
        let verified = markets::verify_block(&self.state, &transactions);
        let block = execute_verified(&mut self.state, context, verified)
            .map_err(|source| ChainError::Execute { height, source })?;
        self.store.append(&block)?;
        if self.store.snapshot_due(height) {
            self.snapshot()?;
        }
        Ok(block)
    }

    /// Writes a snapshot of the current state and prunes old ones.
    pub fn snapshot(&mut self) -> Result<(), ChainError> {
        let bytes = self.state.snapshot_bytes();
        self.store.write_snapshot(self.state.height(), &bytes)
    }

    /// A stored block.
    pub fn block(&self, height: u64) -> Result<Block, ChainError> {
        self.store.block(height)
    }

    /// The stored outputs of the block at `height` (1 to [`height`](Self::height)).
    pub fn record(&self, height: u64) -> Result<BlockRecord, ChainError> {
        self.store.record(height)
    }

    /// See [`Store::records_from`].
    pub fn records_from(
        &self,
        from: u64,
    ) -> Result<impl Iterator<Item = Result<BlockRecord, ChainError>> + '_, ChainError> {
        self.store.records_from(from)
    }
}

impl Store {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The height of the last block written (durable once [`Store::sync`] returns).
    pub fn height(&self) -> u64 {
        last_height(&self.log)
    }

    /// Snapshot every `interval` blocks (at least 1).
    pub fn set_snapshot_interval(&mut self, interval: u64) {
        self.snapshot_interval = interval.max(1);
    }

    /// Whether the state after block `height` is to be snapshotted.
    pub fn snapshot_due(&self, height: u64) -> bool {
        height.is_multiple_of(self.snapshot_interval)
    }

    /// Writes `block` to the block log, from the bytes its transactions were encoded
    /// into at admission, without waiting for the disk, and returns its record for the
    /// outputs log. The order is the durability argument's: [`Store::sync_blocks`], then
    /// [`Store::write_record`], then [`Store::sync_records`], so a record never reaches
    /// the disk before its block (records ahead of the block log mean lost blocks; see
    /// the module docs). The block is committed once `sync_blocks` returns.
    pub fn write_block(&mut self, block: &ExecutedBlock) -> Result<Vec<u8>, ChainError> {
        let height = block.header.height;
        let record = encode_record(block);
        // Checked before the block is written: a committed block whose record cannot
        // be stored would make every later open fail regenerating it.
        if record.len() as u64 > u64::from(limits::PAYLOAD_BYTES_MAX) {
            return Err(StorageError::PayloadTooLarge {
                height: Height(height),
                len: record.len() as u64,
                max: u64::from(limits::PAYLOAD_BYTES_MAX),
            }
            .into());
        }
        self.log
            .append_unsynced(Height(height), &block.block_bytes())?;
        self.last_header = Some(block.header.clone());
        Ok(record)
    }

    /// `fdatasync`s the block log: every block written so far is committed when it
    /// returns. Takes `&self`, so readers sharing a lock with it are not held up by the
    /// disk.
    pub fn sync_blocks(&self) -> Result<(), ChainError> {
        Ok(self.log.sync()?)
    }

    /// Writes a block's record (from [`Store::write_block`]) once the block is synced.
    pub fn write_record(&mut self, height: u64, record: &[u8]) -> Result<(), ChainError> {
        Ok(self.outputs.append_unsynced(Height(height), record)?)
    }

    /// `fdatasync`s the outputs log (`&self`, as [`Store::sync_blocks`]).
    pub fn sync_records(&self) -> Result<(), ChainError> {
        Ok(self.outputs.sync()?)
    }

    /// The four steps of [`Store::write_block`] in their order.
    pub fn append(&mut self, block: &ExecutedBlock) -> Result<(), ChainError> {
        let record = self.write_block(block)?;
        self.sync_blocks()?;
        self.write_record(block.header.height, &record)?;
        self.sync_records()
    }

    /// Writes a snapshot (the state's [`State::snapshot_bytes`] after block `height`)
    /// and prunes old ones.
    pub fn write_snapshot(&mut self, height: u64, bytes: &[u8]) -> Result<(), ChainError> {
        self.snapshots.write(Height(height), bytes)?;
        self.snapshots.prune(SNAPSHOTS_KEPT)?;
        Ok(())
    }

    /// A stored block.
    pub fn block(&self, height: u64) -> Result<Block, ChainError> {
        read_block(&self.log, height)
    }

    /// The stored outputs of the block at `height`.
    pub fn record(&self, height: u64) -> Result<BlockRecord, ChainError> {
        read_record(&self.outputs, height)
    }

    /// A stored block with its stored receipts and events, as clients see it.
    pub fn executed(&self, height: u64) -> Result<ExecutedBlock, ChainError> {
        let block = self.block(height)?;
        let record = self.record(height)?;
        if record.hash != block.header.hash() {
            return Err(ChainError::RecordMismatch {
                height,
                reason: "names another block hash".into(),
            });
        }
        Ok(ExecutedBlock::from_stored(
            block,
            record.receipts,
            record.market_events,
        ))
    }

    /// The stored records from `from` to the last one as of this call, in height order,
    /// each read and checked as the iterator reaches it. `from` may be one past the last
    /// height (nothing to read); 0 or anything higher is
    /// [`StorageError::HeightNotFound`]. The iterator stops after the first error.
    pub fn records_from(
        &self,
        from: u64,
    ) -> Result<impl Iterator<Item = Result<BlockRecord, ChainError>> + '_, ChainError> {
        Ok(self.outputs.iter_from(Height(from))?.map(|item| {
            let (height, payload) = item?;
            decode_record(height.0, &payload)
        }))
    }
}

/// Checks `<dir>/genesis.bin` against `genesis`, writing it if the directory is new,
/// and returns the genesis state.
fn open_genesis(dir: &Path, genesis: &Genesis) -> Result<State, ChainError> {
    let genesis_path = dir.join(GENESIS_FILE);
    match fs::read(&genesis_path) {
        Ok(bytes) => {
            let stored: Genesis =
                borsh::from_slice(&bytes).map_err(|e| ChainError::BadGenesis {
                    path: genesis_path.clone(),
                    reason: e.to_string(),
                })?;
            if stored != *genesis {
                return Err(ChainError::GenesisMismatch {
                    path: genesis_path,
                    stored: stored.hash(),
                    given: genesis.hash(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_durably(&genesis_path, &borsh::to_vec(genesis).expect("Vec"))?;
        }
        Err(e) => return Err(io("read", &genesis_path)(e)),
    }
    State::from_genesis(genesis).map_err(|e| ChainError::BadGenesis {
        path: genesis_path,
        reason: e.to_string(),
    })
}

/// The height of a log's last record, 0 while it is empty.
fn last_height(log: &BlockLog) -> u64 {
    log.last_height().map_or(0, |height| height.0)
}

/// Refuses an outputs log that ends after the block log, or whose last record names
/// another block than the stored one at its height (see the module docs).
fn check_last_record(log: &BlockLog, outputs: &BlockLog) -> Result<(), ChainError> {
    let blocks_last = last_height(log);
    let records_last = last_height(outputs);
    if records_last > blocks_last {
        return Err(ChainError::RecordsAhead {
            dir: outputs.dir().to_path_buf(),
            records_last,
            blocks_last,
        });
    }
    if records_last > 0 {
        let record = read_record(outputs, records_last)?;
        let stored = read_block(log, records_last)?.header.hash();
        if record.hash != stored {
            return Err(ChainError::RecordMismatch {
                height: records_last,
                reason: format!(
                    "names block hash {}, the block log's block is {stored}",
                    record.hash
                ),
            });
        }
    }
    Ok(())
}

/// Re-executes blocks `1..=through` on `state` (the genesis state), signatures checked
/// and headers compared as in any replay, and appends the record of every height the
/// outputs log lacks. Returns (blocks re-executed, records appended).
fn rebuild_records(
    mut state: State,
    log: &BlockLog,
    outputs: &mut BlockLog,
    through: u64,
) -> Result<(u64, u64), ChainError> {
    assert_eq!(state.height(), 0, "records are rebuilt from genesis");
    let mut executed = 0;
    let mut appended = 0;
    let count = usize::try_from(through).expect("a height fits usize");
    for item in log.iter_from(Height(1))?.take(count) {
        let (height, payload) = item?;
        let block = decode_block(height.0, &payload)?;
        let output = replay_block(&mut state, &block)?;
        executed += 1;
        if outputs.next_height() == height {
            outputs.append(height, &encode_record(&output))?;
            appended += 1;
        }
    }
    assert_eq!(
        outputs.next_height(),
        Height(through + 1),
        "the block log holds every block up to the snapshot"
    );
    Ok((executed, appended))
}

/// What [`verify`] checked.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub blocks: u64,
    pub transactions: u64,
    pub snapshots_checked: u64,
    /// Stored records compared with their re-executed block. Fewer than `blocks` when
    /// the outputs log is behind, which the next open repairs.
    pub records_checked: u64,
    pub last_hash: Option<Hash>,
    pub state_root: Option<Hash>,
}

/// Re-executes the whole stored chain in `dir` from its genesis, ignoring snapshots,
/// and checks every block's header against its recomputation (every signature
/// re-verified), that each stored snapshot equals the replayed state at its height, and
/// that each stored record equals the re-executed block's outputs.
pub fn verify(dir: &Path, mut progress: impl FnMut(u64)) -> Result<VerifyReport, ChainError> {
    let _lock = lock_dir(dir)?;
    let genesis_path = dir.join(GENESIS_FILE);
    let bytes = fs::read(&genesis_path).map_err(io("read", &genesis_path))?;
    let genesis: Genesis = borsh::from_slice(&bytes).map_err(|e| ChainError::BadGenesis {
        path: genesis_path.clone(),
        reason: e.to_string(),
    })?;
    let mut state = State::from_genesis(&genesis).map_err(|e| ChainError::BadGenesis {
        path: genesis_path,
        reason: e.to_string(),
    })?;

    // The snapshot a restart would load must equal the state the log replays to.
    let latest = Snapshots::open(dir)?.latest()?.snapshot;
    let (log, _) = BlockLog::open(dir)?;
    let (outputs, _) = BlockLog::open(&dir.join(OUTPUTS_DIR))?;
    let records_last = last_height(&outputs);
    let blocks_last = last_height(&log);
    if records_last > blocks_last {
        return Err(ChainError::RecordsAhead {
            dir: outputs.dir().to_path_buf(),
            records_last,
            blocks_last,
        });
    }
    let mut records = outputs.iter_from(Height(1))?;
    let mut report = VerifyReport::default();
    for item in log.iter_from(Height(1))? {
        let (height, payload) = item?;
        let block = decode_block(height.0, &payload)?;
        report.transactions += block.transactions.len() as u64;
        let output = replay_block(&mut state, &block)?;
        report.blocks += 1;
        report.last_hash = Some(state.block_hash());
        if let Some(snapshot) = latest.as_ref().filter(|s| s.height == height) {
            check_snapshot(height, &snapshot.payload, &mut state)?;
            report.snapshots_checked += 1;
        }
        if height.0 <= records_last {
            let (record_height, payload) = records.next().expect("a record up to the last")?;
            assert_eq!(record_height, height, "records and blocks are read in step");
            check_record(&decode_record(height.0, &payload)?, &output)?;
            report.records_checked += 1;
        }
        progress(height.0);
    }
    state.check_invariants();
    report.state_root = Some(state.state_root());
    Ok(report)
}

fn check_snapshot(height: Height, payload: &[u8], state: &mut State) -> Result<(), ChainError> {
    let bad = |reason: String| ChainError::BadSnapshot {
        height: height.0,
        reason,
    };
    let mut stored = State::from_snapshot_bytes(payload).map_err(|e| bad(e.to_string()))?;
    if stored.state_root() != state.state_root() {
        return Err(bad(
            "its state root differs from the replayed chain's".into()
        ));
    }
    Ok(())
}

/// Compares a stored record with the outputs of re-executing its block, naming the
/// first difference.
fn check_record(record: &BlockRecord, output: &ExecutedBlock) -> Result<(), ChainError> {
    let height = output.header.height;
    let mismatch = |reason: String| ChainError::RecordMismatch { height, reason };
    if record.hash != output.hash {
        return Err(mismatch(format!(
            "names block hash {}, re-executing the stored block gives {}",
            record.hash, output.hash
        )));
    }
    if record.receipts != output.receipts {
        let index = first_difference(&record.receipts, &output.receipts);
        return Err(mismatch(format!(
            "differs from re-execution in receipt {index} (stored {}, re-executed {})",
            record.receipts.len(),
            output.receipts.len()
        )));
    }
    if record.market_events != output.market_events {
        let market = first_difference(&record.market_events, &output.market_events);
        let empty = Vec::new();
        let stored = record.market_events.get(market).unwrap_or(&empty);
        let replayed = output.market_events.get(market).unwrap_or(&empty);
        return Err(mismatch(format!(
            "differs from re-execution in market {market}'s event {} (stored {}, \
             re-executed {})",
            first_difference(stored, replayed),
            stored.len(),
            replayed.len()
        )));
    }
    Ok(())
}

/// The index of the first element that differs, or the shorter length.
fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Re-executes a stored block (signatures checked again), compares headers, and
/// returns what it produced.
fn replay_block(state: &mut State, block: &Block) -> Result<ExecutedBlock, ChainError> {
    let height = block.header.height;
    let context = BlockContext {
        height,
        timestamp_ms: block.header.timestamp_ms,
    };
    let output = execute_block(state, context, &block.transactions)
        .map_err(|source| ChainError::Execute { height, source })?;
    let stored = block.header.hash();
    if output.hash != stored {
        return Err(ChainError::HeaderMismatch {
            height,
            stored,
            computed: output.hash,
        });
    }
    Ok(output)
}

fn read_block(log: &BlockLog, height: u64) -> Result<Block, ChainError> {
    decode_block(height, &log.read(Height(height))?)
}

fn decode_block(height: u64, payload: &[u8]) -> Result<Block, ChainError> {
    let block: Block = borsh::from_slice(payload).map_err(|e| ChainError::BadBlock {
        height,
        reason: e.to_string(),
    })?;
    if block.header.height != height {
        return Err(ChainError::BadBlock {
            height,
            reason: format!("header says height {}", block.header.height),
        });
    }
    Ok(block)
}

fn read_record(outputs: &BlockLog, height: u64) -> Result<BlockRecord, ChainError> {
    decode_record(height, &outputs.read(Height(height))?)
}

fn decode_record(height: u64, payload: &[u8]) -> Result<BlockRecord, ChainError> {
    let record: BlockRecord = borsh::from_slice(payload).map_err(|e| ChainError::BadRecord {
        height,
        reason: e.to_string(),
    })?;
    if record.height != height {
        return Err(ChainError::BadRecord {
            height,
            reason: format!("it says height {}", record.height),
        });
    }
    Ok(record)
}

/// Locks `<dir>/LOCK`, waiting up to [`LOCK_WAIT`] for a holder to let go.
///
/// The wait exists because the lock belongs to the open file, which `fork` shares: a
/// child process spawned while this process holds the lock keeps the file, and so the
/// lock, until its `exec` closes it. Reopening a chain just after dropping it fails
/// within that window if any thread of the process is spawning a child (the `kill -9`
/// test does, while other tests reopen their chains). A second process owning the
/// directory holds the lock for good and is still reported, [`LOCK_WAIT`] later.
fn lock_dir(dir: &Path) -> Result<File, ChainError> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY);
            }
            Err(fs::TryLockError::WouldBlock) => return Err(ChainError::Locked { path }),
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
        }
    }
}

/// Writes a small file so that it is either absent or complete after a crash.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), ChainError> {
    let temp = path.with_extension("tmp");
    let mut file = File::create(&temp).map_err(io("create", &temp))?;
    file.write_all(bytes).map_err(io("write", &temp))?;
    file.sync_all().map_err(io("sync", &temp))?;
    fs::rename(&temp, path).map_err(io("rename", path))?;
    let parent = path.parent().unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", parent))?;
    Ok(())
}

/// The committed transactions the node answers `duplicate` for: the chain's own index,
/// so exactly-once does not depend on what any reader keeps. For each signer, the hashes
/// of its last [`NONCE_WINDOW`](markets::limits::NONCE_WINDOW) committed transactions:
/// a resend of an older one is refused by the nonce window itself (`NONCE_TOO_OLD` or
/// `NONCE_ALREADY_USED`) and can never execute twice, so the index is bounded by the
/// window, not by time or by a reader's cache.
#[derive(Debug, Default)]
pub struct TxIndex {
    by_hash: std::collections::HashMap<Hash, (u64, u32)>,
    /// Oldest first.
    by_signer: std::collections::HashMap<[u8; 32], std::collections::VecDeque<Hash>>,
}

impl TxIndex {
    /// Indexes a block's transactions.
    pub fn add(&mut self, block: &ExecutedBlock) {
        let height = block.header.height;
        for (i, tx) in block.transactions.iter().enumerate() {
            let index = u32::try_from(i).expect("bounded by the block limit");
            let hash = tx.hash();
            if self.by_hash.insert(hash, (height, index)).is_some() {
                continue; // a block never holds one transaction twice; stay correct anyway
            }
            let kept = self
                .by_signer
                .entry(tx.signed().transaction.signer)
                .or_default();
            kept.push_back(hash);
            if kept.len() > markets::limits::NONCE_WINDOW {
                let old = kept.pop_front().expect("non-empty");
                self.by_hash.remove(&old);
            }
        }
    }

    /// Where a committed transaction is: `(height, index in block)`.
    pub fn get(&self, hash: &Hash) -> Option<(u64, u32)> {
        self.by_hash.get(hash).copied()
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Panics if the two maps disagree or a signer keeps more than the window.
    pub fn check_invariants(&self) {
        let mut count = 0;
        for kept in self.by_signer.values() {
            assert!(!kept.is_empty() && kept.len() <= markets::limits::NONCE_WINDOW);
            for hash in kept {
                assert!(
                    self.by_hash.contains_key(hash),
                    "every kept hash is indexed"
                );
            }
            count += kept.len();
        }
        assert_eq!(count, self.by_hash.len(), "every indexed hash is kept once");
    }
}
