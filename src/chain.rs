//! The durable chain: the state machine (`markets`) over the block log and snapshots
//! ([`crate::storage`]).
//!
//! ```text
//! commit(txs) ─► execute_block ─► append block to the log (fsync) ─► Ok = committed
//!                                                 └─ every `snapshot_interval` blocks: snapshot
//! open(dir)   ─► genesis.bin ─► latest valid snapshot (or genesis state)
//!             ─► replay the log after it, re-executing each block and comparing every
//!                recomputed header with the stored one
//! verify(dir) ─► replay the whole log from genesis, ignoring snapshots, and check that
//!                each snapshot's state matches the replayed state at its height
//! ```
//!
//! A block is reported committed only after `append` has returned, which is after
//! `fdatasync`: a block reported committed survives `kill -9` and power loss. A block
//! executed but not yet appended (the process dies in between) was never reported, and
//! its transactions are simply not in the chain after the restart.
//!
//! One process owns a data directory: it holds an exclusive lock on `<dir>/LOCK`.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use markets::{
    Block, BlockContext, BlockOutput, Genesis, Hash, Signatures, SignedTransaction, State,
    execute_block,
};
use matching::Height;

use crate::storage::{BlockLog, Recovery, Snapshots, StorageError};

/// Blocks between snapshots by default: restart replays at most this many blocks.
pub const SNAPSHOT_INTERVAL_DEFAULT: u64 = 1_000;
/// Snapshots kept on disk.
pub const SNAPSHOTS_KEPT: usize = 3;

const GENESIS_FILE: &str = "genesis.bin";
const LOCK_FILE: &str = "LOCK";

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
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ChainError {
    let path = path.to_path_buf();
    move |source| ChainError::Io { op, path, source }
}

/// What [`Chain::open`] did.
#[derive(Debug)]
pub struct OpenReport {
    pub log: Recovery,
    /// Height of the snapshot the state was loaded from (0: genesis).
    pub snapshot_height: u64,
    /// Newer snapshot files passed over as damaged or unfinished.
    pub snapshots_skipped: usize,
    /// Blocks re-executed from the log.
    pub blocks_replayed: u64,
}

/// The chain's state and its storage, in one directory.
#[derive(Debug)]
pub struct Chain {
    dir: PathBuf,
    state: State,
    log: BlockLog,
    snapshots: Snapshots,
    snapshot_interval: u64,
    last_header: Option<markets::BlockHeader>,
    _lock: File,
}

impl Chain {
    /// Opens the chain in `dir`, creating it from `genesis` if the directory is new.
    /// An existing directory must hold the same genesis.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<(Chain, OpenReport), ChainError> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let lock = lock_dir(dir)?;
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
        let genesis_state = State::from_genesis(genesis).map_err(|e| ChainError::BadGenesis {
            path: genesis_path.clone(),
            reason: e.to_string(),
        })?;

        let snapshots = Snapshots::open(dir)?;
        let latest = snapshots.latest()?;
        let snapshots_skipped = latest.skipped.len();
        let mut state = match latest.snapshot {
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
                state
            }
            None => genesis_state,
        };
        let snapshot_height = state.height();

        let (log, recovery) = BlockLog::open(dir)?;
        let mut last_header = None;
        let mut blocks_replayed = 0;
        if let Some(last) = recovery.last_height
            && last.0 < snapshot_height
        {
            return Err(ChainError::BadSnapshot {
                height: snapshot_height,
                reason: format!("is ahead of the block log, which ends at {last}"),
            });
        }
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
            replay_block(&mut state, &block)?;
            last_header = Some(block.header);
            blocks_replayed += 1;
        }
        let report = OpenReport {
            log: recovery,
            snapshot_height,
            snapshots_skipped,
            blocks_replayed,
        };
        let chain = Chain {
            dir: dir.to_path_buf(),
            state,
            log,
            snapshots,
            snapshot_interval: SNAPSHOT_INTERVAL_DEFAULT,
            last_header,
            _lock: lock,
        };
        Ok((chain, report))
    }

    /// Snapshot every `interval` blocks (at least 1).
    pub fn set_snapshot_interval(&mut self, interval: u64) {
        self.snapshot_interval = interval.max(1);
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn height(&self) -> u64 {
        self.state.height()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The header of the last block (None at genesis).
    pub fn last_header(&self) -> Option<&markets::BlockHeader> {
        self.last_header.as_ref()
    }

    /// Executes the next block and makes it durable. When this returns `Ok`, the block
    /// is committed. On `Err` after execution (the disk failed), the in-memory state is
    /// ahead of the disk: the caller must stop, and a restart recovers from disk.
    pub fn commit(
        &mut self,
        timestamp_ms: u64,
        transactions: Vec<SignedTransaction>,
        signatures: Signatures<'_>,
    ) -> Result<BlockOutput, ChainError> {
        let height = self.state.height() + 1;
        let context = BlockContext {
            height,
            timestamp_ms,
        };
        let output = execute_block(&mut self.state, context, &transactions, signatures)
            .map_err(|source| ChainError::Execute { height, source })?;
        let block = Block {
            header: output.header.clone(),
            transactions,
        };
        self.log
            .append(Height(height), &borsh::to_vec(&block).expect("Vec"))?;
        self.last_header = Some(block.header);
        if height.is_multiple_of(self.snapshot_interval) {
            self.snapshot()?;
        }
        Ok(output)
    }

    /// Writes a snapshot of the current state and prunes old ones.
    pub fn snapshot(&mut self) -> Result<(), ChainError> {
        let height = Height(self.state.height());
        self.snapshots.write(height, &self.state.snapshot_bytes())?;
        self.snapshots.prune(SNAPSHOTS_KEPT)?;
        Ok(())
    }

    /// A stored block.
    pub fn block(&self, height: u64) -> Result<Block, ChainError> {
        read_block(&self.log, height)
    }
}

/// What [`verify`] checked.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub blocks: u64,
    pub transactions: u64,
    pub snapshots_checked: u64,
    pub last_hash: Option<Hash>,
    pub state_root: Option<Hash>,
}

/// Re-executes the whole stored chain in `dir` from its genesis, ignoring snapshots,
/// and checks every block's header against its recomputation (every signature
/// re-verified), then that each stored snapshot equals the replayed state at its height.
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
    let mut report = VerifyReport::default();
    for record in log.iter_from(Height(1))? {
        let (height, payload) = record?;
        let block = decode_block(height.0, &payload)?;
        report.transactions += block.transactions.len() as u64;
        replay_block(&mut state, &block)?;
        report.blocks += 1;
        report.last_hash = Some(state.block_hash());
        if let Some(snapshot) = latest.as_ref().filter(|s| s.height == height) {
            check_snapshot(height, &snapshot.payload, &mut state)?;
            report.snapshots_checked += 1;
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

/// Re-executes a stored block (signatures checked again) and compares headers.
fn replay_block(state: &mut State, block: &Block) -> Result<(), ChainError> {
    let height = block.header.height;
    let context = BlockContext {
        height,
        timestamp_ms: block.header.timestamp_ms,
    };
    let output = execute_block(state, context, &block.transactions, Signatures::Verify)
        .map_err(|source| ChainError::Execute { height, source })?;
    let stored = block.header.hash();
    if output.hash != stored {
        return Err(ChainError::HeaderMismatch {
            height,
            stored,
            computed: output.hash,
        });
    }
    Ok(())
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

fn lock_dir(dir: &Path) -> Result<File, ChainError> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(ChainError::Locked { path }),
        Err(fs::TryLockError::Error(e)) => Err(io("lock", &path)(e)),
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
