//! The workloads a playbook watches when no cluster lists them (replay, backtest,
//! standalone): its `names`, else every workload its detectors have returned so far.
//! A workload once seen stays a target, so its disappearance reads as stale data.

use std::collections::{BTreeSet, HashMap};

use crate::engine::DetectorResult;
use crate::playbook::model::Playbook;
use crate::playbook::{PlaybookId, TargetRef};

#[derive(Debug, Default)]
pub struct Discovered {
    seen: HashMap<PlaybookId, BTreeSet<String>>,
}

impl Discovered {
    /// Note the workloads in `pb`'s detector results.
    pub fn observe(&mut self, pb: &Playbook, results: &[DetectorResult]) {
        let names = results.iter().flatten().flat_map(|m| m.keys().cloned());
        self.add(pb, names);
    }

    pub fn add(&mut self, pb: &Playbook, names: impl IntoIterator<Item = String>) {
        self.seen.entry(pb.id.clone()).or_default().extend(names);
    }

    /// `pb`'s targets, sorted by name.
    pub fn targets(&self, pb: &Playbook) -> Vec<TargetRef> {
        let names: Vec<String> = if pb.target.names.is_empty() {
            self.seen
                .get(&pb.id)
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
    }
}
