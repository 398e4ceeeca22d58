//! The evaluator's part of a diagnostics capture: what only it knows. The
//! Incident's uid (the ConfigMaps' owner), the cycle's detector readings, and
//! the detectors' recent history from the metric source.
//!
//! The history comes from [`MetricSource::query_range`] rather than from values
//! the evaluator already holds: a cycle only has the instant values, and the
//! point of the snapshot is the minutes before the detection.

use jiff::{SignedDuration, Timestamp};

use super::Evaluator;
use crate::act::execute::{Evidence, ExecInput, IncidentOwner, Reading, Series, Snapshot};
use crate::detect::MetricSource;
use crate::engine::{DetectorResult, Event};
use crate::incident::PlannedAction;
use crate::operator::catalog::Entry;
use crate::playbook::model::{Playbook, TargetRef};
use crate::runner::query::detector_query;

/// The snapshot: each detector over the 15 minutes before the capture, every
/// 30 s (31 points a series, far under Prometheus' 11,000-point limit).
const WINDOW: SignedDuration = SignedDuration::from_mins(15);
const STEP: std::time::Duration = std::time::Duration::from_secs(30);

impl<S: MetricSource> Evaluator<S> {
    /// Let diagnostics captures run their `exec` (`--diagnostics-exec`).
    pub fn with_diagnostics_exec(mut self, enabled: bool) -> Self {
        self.executor = self.executor.with_diagnostics_exec(enabled);
        self
    }

    /// Stream diagnostics execs over `client` (no read timeout; see `Executor`).
    pub fn with_stream_client(mut self, client: kube::Client) -> Self {
        self.executor = self.executor.with_stream_client(client);
        self
    }

    /// Capture diagnostics for `action` and record the outcome; the engine's events.
    pub(super) async fn capture_diagnostics(
        &mut self,
        entry: &Entry,
        action: &PlannedAction,
        results: &[DetectorResult],
        now: Timestamp,
    ) -> Vec<Event> {
        // Actions run before the cycle writes its Incidents, so at an incident's
        // first cycle the resource does not exist yet: write it now for its uid.
        let uid = match self.persist(entry, action).await {
            Ok(uid) => uid,
            // Retried with backoff, as any transient failure.
            Err(e) => return self.failed(&entry.playbook, action, &e, now),
        };
        let Some(uid) = uid else {
            let reason = "the Incident resource has no uid; its diagnostics ConfigMaps need it as their owner".to_owned();
            tracing::warn!(
                playbook = %action.playbook,
                target = %action.target,
                incident = %action.incident,
                key = %action.key,
                "diagnostics not captured: no Incident to own them"
            );
            return self.engine.record_outcome(action, Err(reason), now);
        };
        let pb = &entry.playbook;
        let evidence = Evidence {
            owner: IncidentOwner {
                name: action.incident.0.clone(),
                uid,
            },
            readings: readings(pb, results, &action.target.name),
            snapshot: self.snapshot(pb, &action.target, now).await,
        };
        let input = ExecInput {
            action,
            pb,
            current_rps: None,
            undo: None,
            now,
        };
        match self.executor.capture_diagnostics(input, &evidence).await {
            Ok(done) => {
                self.engine.record_undo(action, None, done.note);
                self.engine.record_outcome(action, Ok(()), now)
            }
            Err(e) => self.failed(&entry.playbook, action, &e, now),
        }
    }

    /// Each detector's query over [`WINDOW`], the target's series only. The
    /// queries are the cycle's (all workloads, `by (namespace, workload)`), so
    /// what is stored is what the detectors saw.
    async fn snapshot(&self, pb: &Playbook, target: &TargetRef, now: Timestamp) -> Snapshot {
        let start = now.checked_sub(WINDOW).unwrap_or(now);
        let fetches = pb.detectors.iter().map(|d| {
            let q = detector_query(pb, d, self.query_mode);
            async move {
                let result = self.source.query_range(&q, start, now, STEP).await;
                (q, result)
            }
        });
        let series = futures::future::join_all(fetches)
            .await
            .into_iter()
            .map(|(q, result)| {
                let (samples, error) = match result {
                    Ok(all) => (
                        all.into_iter()
                            .find(|s| s.namespace == target.namespace && s.workload == target.name)
                            .map(|s| {
                                s.samples
                                    .into_iter()
                                    .map(|(ms, v)| (ms / 1000, v))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        None,
                    ),
                    Err(e) => (Vec::new(), Some(e.to_string())),
                };
                Series {
                    detector: q.detector,
                    query: q.promql,
                    samples,
                    error,
                }
            })
            .collect();
        Snapshot {
            start,
            end: now,
            step_seconds: STEP.as_secs(),
            series,
        }
    }
}

/// The cycle's value of each detector for `workload` (results align with the detectors).
fn readings(pb: &Playbook, results: &[DetectorResult], workload: &str) -> Vec<Reading> {
    pb.detectors
        .iter()
        .zip(results)
        .map(|(d, result)| {
            let (value, missing) = match result {
                Ok(values) => match values.get(workload) {
                    Some(v) => (Some(*v), None),
                    None => (None, Some("no value for this workload".to_owned())),
                },
                Err(m) => (None, Some(m.reason().to_owned())),
            };
            Reading {
                detector: d.name.clone(),
                value,
                missing,
                thresholds: d
                    .thresholds
                    .iter()
                    .map(|(severity, t)| (severity.to_string(), *t))
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
