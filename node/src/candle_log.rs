//! The candles' own log: what each block changed in the minute candles
//! ([`api::candles::MinuteChanges`], borsh), one record per height, in
//! `<data>/candles/` (the block log's format, [`BlockLog`]).
//!
//! Candles are derived data: the log is written without `fdatasync`, and whatever it
//! lacks at start-up (a torn tail after a crash, a node upgraded from before candles)
//! is rebuilt from the stored blocks. A candle log that does not read back whole (a
//! power loss can drop unsynced records from the middle), or that is ahead of the chain
//! (the chain's own unsynced tail was cut), is thrown away and rebuilt whole. So candles after a restart
//! are those of a node that never stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use api::ReadView;
use api::candles::{Candles, MinuteChanges};
use markets::{ExecutedBlock, MarketConfig};
use matching::Height;
use parking_lot::Mutex;

use crate::Reporter;
use crate::storage::BlockLog;

/// The log in `dir` and every record in it, decoded; an error if any of that fails or
/// the log is ahead of the chain's `height`.
fn read_all(dir: &Path, height: u64) -> anyhow::Result<(BlockLog, Vec<(u64, MinuteChanges)>)> {
    let (log, recovery) = BlockLog::open(dir)?;
    if recovery.truncated.is_some() {
        tracing::warn!(dir = %dir.display(), "candle log: a torn tail was cut; the blocks after it are folded in again");
    }
    anyhow::ensure!(
        log.last_height().is_none_or(|last| last.0 <= height),
        "the candle log is ahead of the chain"
    );
    let mut records = Vec::new();
    for record in log.iter_from(log.first_height())? {
        let (at, bytes) = record?;
        let changes: MinuteChanges = borsh::from_slice(&bytes)
            .with_context(|| format!("candle record {} does not decode", at.0))?;
        records.push((at.0, changes));
    }
    Ok((log, records))
}

/// Folds each durable block into the candles and appends what changed to the log.
#[derive(Debug)]
pub struct CandleLog {
    candles: Arc<Candles>,
    log: Mutex<BlockLog>,
}

/// The candle log's directory in a data directory.
pub fn dir(data: &Path) -> PathBuf {
    data.join("candles")
}

fn configs(view: &ReadView) -> Vec<&MarketConfig> {
    view.markets.iter().map(|m| &m.config).collect()
}

impl CandleLog {
    /// Opens the log in `data` and loads it into `candles` (which must be empty), up to
    /// the chain's `height` at most. [`CandleLog::catch_up`] then folds in the blocks
    /// the log lacks.
    pub fn open(data: &Path, candles: Arc<Candles>, height: u64) -> anyhow::Result<CandleLog> {
        let dir = dir(data);
        // Read whole before restoring anything (a restore cannot be undone): a log that
        // does not open, read or decode (unsynced records can be lost from the middle,
        // not only the tail), or that is ahead of the chain, is thrown away and rebuilt.
        let (log, records) = match read_all(&dir, height) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %format!("{e:#}"), "candle log unusable; rebuilding it from blocks");
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("removing {}", dir.display()))?;
                }
                (BlockLog::open(&dir)?.0, Vec::new())
            }
        };
        for (at, changes) in &records {
            candles.restore(*at, changes);
        }
        candles.check_invariants();
        Ok(CandleLog {
            candles,
            log: Mutex::new(log),
        })
    }

    /// Folds in (and logs) the stored blocks after the log's last, up to `height`.
    pub fn catch_up(
        &self,
        height: u64,
        view: &ReadView,
        mut stored: impl FnMut(u64) -> anyhow::Result<Arc<ExecutedBlock>>,
    ) -> anyhow::Result<u64> {
        let from = self.candles.height() + 1;
        for h in from..=height {
            let block = stored(h)?;
            self.add(&block, view)?;
        }
        Ok(height.saturating_sub(from - 1))
    }

    fn add(&self, block: &ExecutedBlock, view: &ReadView) -> anyhow::Result<()> {
        let Some(changes) = self.candles.apply(block, &configs(view)) else {
            return Ok(());
        };
        let bytes = borsh::to_vec(&changes).expect("Vec");
        self.log
            .lock()
            .append_unsynced(Height(block.header.height), &bytes)?;
        Ok(())
    }
}

/// Must come before the feed among the node's reporters: the feed's `candles` channel
/// reads the candles this folds the block into.
impl Reporter for CandleLog {
    fn durable(&self, block: &Arc<ExecutedBlock>, view: &Arc<ReadView>) {
        if let Err(e) = self.add(block, view) {
            // Candles are derived: the chain goes on, and a restart rebuilds the log.
            tracing::error!(error = %format!("{e:#}"), height = block.header.height, "candle log append failed");
        }
    }
}
