//! The workloads a playbook watches when no cluster lists them (replay, backtest,
//! standalone): its `names`, else every workload its detectors have returned so far.
//! A workload once seen stays a target, so its disappearance reads as stale data.
//! All three modes discover the same way, so they agree on the same data.

use std::collections::{HashMap, HashSet};

use crate::engine::DetectorResult;
use crate::playbook::model::Playbook;
use crate::playbook::{PlaybookId, TargetRef};

#[derive(Debug, Default)]
pub struct Discovered {
    seen: HashMap<PlaybookId, HashSet<String>>,
    /// Target lists rebuilt only when a new workload appears (backtests ask every step).
    cached: HashMap<PlaybookId, Vec<TargetRef>>,
}

impl Discovered {
    /// Note the workloads in `pb`'s detector results.
    pub fn observe(&mut self, pb: &Playbook, results: &[DetectorResult]) {
        if !self.seen.contains_key(&pb.id) {
            self.seen.insert(pb.id.clone(), HashSet::new());
        }
        let Some(seen) = self.seen.get_mut(&pb.id) else {
            return;
        };
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
        if !self.cached.contains_key(&pb.id) {
            let names: Vec<String> = if pb.target.names.is_empty() {
                let mut names: Vec<String> = self
                    .seen
                    .get(&pb.id)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                names.sort();
                names
            } else {
                pb.target.names.clone()
            };
            let targets = names
                .into_iter()
                .map(|name| TargetRef {
                    namespace: pb.id.namespace.clone(),
                    name,
                })
                .collect();
            self.cached.insert(pb.id.clone(), targets);
        }
        self.cached.get(&pb.id).map_or(&[], Vec::as_slice)
    }
}
