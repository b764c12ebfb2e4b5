//! Faults simplex proves against a validator: two notarize votes for different blocks in
//! one view, two finalize votes, or a nullify and a finalize in one view. Simplex checks
//! the signatures before it reports one, and the report carries both signed votes: the
//! evidence. Each is logged with the signer and counted (the node's metrics read them).

use std::collections::BTreeMap;
use std::sync::Arc;

use commonware_actor::Feedback;
use commonware_codec::Encode as _;
use commonware_consensus::simplex::types::{Activity, Attributable as _};
use commonware_consensus::{Reporter, Viewable as _};
use commonware_cryptography::sha256::Digest;
use parking_lot::Mutex;

use crate::Scheme;

/// One proven fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// The faulty validator's index in the validator set.
    pub signer: u32,
    pub view: u64,
    /// The encoded evidence (both signed votes), as simplex reported it.
    pub evidence: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    ConflictingNotarize,
    ConflictingFinalize,
    NullifyFinalize,
}

/// Faults kept in full; beyond this only the counts grow.
pub const FAULTS_KEPT_MAX: usize = 1024;

/// A simplex reporter that keeps the faults it is told of. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Mutex<FaultLog>>);

#[derive(Debug, Default)]
struct FaultLog {
    kept: Vec<Fault>,
    counts: BTreeMap<FaultKind, u64>,
}

impl Faults {
    /// The faults kept, oldest first.
    pub fn list(&self) -> Vec<Fault> {
        self.0.lock().kept.clone()
    }

    /// How many of each kind were seen.
    pub fn counts(&self) -> BTreeMap<FaultKind, u64> {
        self.0.lock().counts.clone()
    }

    fn record(&self, kind: FaultKind, signer: u32, view: u64, evidence: Vec<u8>) {
        tracing::warn!(?kind, signer, view, "validator fault proven");
        let mut log = self.0.lock();
        *log.counts.entry(kind).or_default() += 1;
        if log.kept.len() < FAULTS_KEPT_MAX {
            log.kept.push(Fault {
                kind,
                signer,
                view,
                evidence,
            });
        }
    }
}

impl Reporter for Faults {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Activity<Scheme, Digest>) -> Feedback {
        match activity {
            Activity::ConflictingNotarize(f) => self.record(
                FaultKind::ConflictingNotarize,
                f.signer().get(),
                f.view().get(),
                f.encode().to_vec(),
            ),
            Activity::ConflictingFinalize(f) => self.record(
                FaultKind::ConflictingFinalize,
                f.signer().get(),
                f.view().get(),
                f.encode().to_vec(),
            ),
            Activity::NullifyFinalize(f) => self.record(
                FaultKind::NullifyFinalize,
                f.signer().get(),
                f.view().get(),
                f.encode().to_vec(),
            ),
            _ => {}
        }
        Feedback::Ok
    }
}
