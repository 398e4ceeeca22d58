//! The queries a playbook runs each cycle: one per detector, for all its workloads.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::detect::{DetectorQuery, MetricSource, Missing};
use crate::engine::DetectorResult;
use crate::playbook::model::{Detector, Playbook};
use crate::playbook::promql;

/// What a detector's query asks the source for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryMode {
    /// Each detector's own PromQL over the raw metrics (cAdvisor, kube-state-metrics, …).
    #[default]
    Detector,
    /// The detector values already recorded as `firebreak_signal{detector, namespace,
    /// workload, playbook}` by the rules `firebreak rules` renders (replay
    /// scenarios store the same series, without `playbook`).
    Recorded,
}

/// The query of one detector in `mode`.
pub fn detector_query(pb: &Playbook, d: &Detector, mode: QueryMode) -> DetectorQuery {
    let promql = match mode {
        QueryMode::Detector => promql::render(d, &pb.target, &pb.id.namespace),
        QueryMode::Recorded => crate::playbook::rules::recorded_query(pb, d),
    };
    DetectorQuery {
        playbook: pb.id.clone(),
        detector: d.name.clone(),
        promql,
    }
}

/// The range query of one detector in `mode`: recorded series are read as
/// stored, and the caller takes the maximum per workload as [`detector_query`]'s
/// `max by (namespace, workload)` would.
pub fn range_query(pb: &Playbook, d: &Detector, mode: QueryMode) -> String {
    match mode {
        QueryMode::Detector => promql::render(d, &pb.target, &pb.id.namespace),
        QueryMode::Recorded => crate::playbook::rules::recorded_selector(pb, d),
    }
}

/// Run every detector's query at `now`; a failed query becomes that detector's no-data reason.
pub async fn gather(
    source: &impl MetricSource,
    pb: &Playbook,
    mode: QueryMode,
    now: Timestamp,
) -> Vec<DetectorResult> {
    gather_timed(source, pb, mode, now)
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// [`gather`] with each query's wall time, for metrics.
pub async fn gather_timed(
    source: &impl MetricSource,
    pb: &Playbook,
    mode: QueryMode,
    now: Timestamp,
) -> Vec<(DetectorResult, std::time::Duration)> {
    let queries: Vec<DetectorQuery> = pb
        .detectors
        .iter()
        .map(|d| detector_query(pb, d, mode))
        .collect();
    // Concurrently: a cycle costs the slowest query, not the sum.
    let timed = queries.iter().map(|q| async move {
        let started = std::time::Instant::now();
        let r = source.query(q, now).await;
        (r, started.elapsed())
    });
    futures::future::join_all(timed)
        .await
        .into_iter()
        .map(|(r, took)| {
            let r = r
                .map(|values| {
                    values
                        .into_iter()
                        .filter(|v| v.namespace == pb.id.namespace)
                        .map(|v| (v.workload, v.value))
                        .collect::<HashMap<_, _>>()
                })
                .map_err(Missing::from);
            (r, took)
        })
        .collect()
}
