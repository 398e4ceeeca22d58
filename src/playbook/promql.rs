//! Detectors rendered to PromQL: one batched query per detector for all the
//! workloads of a playbook, `… by (namespace, workload)`.

use super::model::{Detector, Target};

/// The instant query whose result has one series per workload, labelled
/// `namespace` and `workload`, whose value the detector's thresholds judge.
pub fn render(detector: &Detector, target: &Target, namespace: &str) -> String {
    let _ = (detector, target, namespace);
    todo!("promql rendering")
}
