//! The workloads a playbook watches when no cluster lists them (replay, backtest,
//! standalone): its `names`, else every workload its detectors have returned so far.
//! A workload once seen stays a target, so its disappearance reads as stale data.
//! All three modes discover the same way, so they agree on the same data.

use std::collections::{BTreeSet, HashMap};

use crate::engine::DetectorResult;
use crate::playbook::model::Playbook;
use crate::playbook::{PlaybookId, TargetRef};

#[derive(Debug, Default)]
pub struct Discovered {
    seen: HashMap<PlaybookId, BTreeSet<String>>,
    /// Target lists rebuilt only when a new workload appears (backtests ask every step).
    cached: HashMap<PlaybookId, Vec<TargetRef>>,
}

impl Discovered {
    /// Note the workloads in `pb`'s detector results.
    pub fn observe(&mut self, pb: &Playbook, results: &[DetectorResult]) {
        let seen = self.seen.entry(pb.id.clone()).or_default();
        let mut changed = false;
        for name in results.iter().flatten().flat_map(|m| m.keys()) {
            if !seen.contains(name) {
                seen.insert(name.clone());
                changed = true;
            }
        }
        if changed {
            self.cached.remove(&pb.id);
        }
    }

    /// `pb`'s targets: its `names`, else the workloads seen so far, sorted by name.
    pub fn targets(&mut self, pb: &Playbook) -> &[TargetRef] {
        let seen = &self.seen;
        self.cached.entry(pb.id.clone()).or_insert_with(|| {
            let names: Vec<String> = if pb.target.names.is_empty() {
                seen.get(&pb.id)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default()
            } else {
                pb.target.names.clone()
            };
            names
                .into_iter()
                .map(|name| TargetRef {
                    namespace: pb.id.namespace.clone(),
                    name,
                })
                .collect()
        })
    }
}
