//! The evaluator's "record and tell" step: a change goes to its Incidents
//! (with its notices, the status outbox), to Kubernetes Events and to the
//! sinks; the cycle's counts and the Playbook status follow.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::Evaluator;
use crate::detect::MetricSource;
use crate::engine::{Event, EventKind};
use crate::incident::{IncidentId, Operation};
use crate::operator::catalog::Entry;
use crate::playbook::Playbook as PlaybookResource;
use crate::playbook::spec::NoDataStatus;
use crate::telemetry::metrics::ActionLabels;

impl<S: MetricSource> Evaluator<S> {
    /// Write `events` to their Incidents with the notices they make (the status
    /// outbox), then hand the notices to the sinks and clear them from the status.
    pub(super) async fn record_change(
        &mut self,
        entry: &Entry,
        events: &[Event],
        finished: &[crate::incident::Incident],
    ) {
        let pb = &entry.playbook;
        let engine = &self.engine;
        let notices = if self.notifier.is_empty() {
            Vec::new()
        } else {
            self.notifier.build(pb, events, |target, id| {
                engine.record_or_finished(&pb.id, target, id, finished)
            })
        };
        self.write_incidents(entry, events, finished, &notices)
            .await;
        self.publisher.publish(entry, events).await;
        self.notifier.publish(pb, &notices);
        self.clear_published(&pb.id.namespace, &notices).await;
    }

    pub(super) fn count_actions(&self, events: &[Event]) {
        for e in events {
            let (action, result) = match &e.kind {
                EventKind::ActionIssued {
                    action,
                    operation,
                    dry_run,
                    attempt,
                    ..
                } => (
                    *action,
                    match (operation, dry_run) {
                        (_, true) => "dry_run",
                        _ if *attempt > 1 => "retried",
                        (Operation::Apply, false) => "applied",
                        (Operation::Revert, false) => "reverted",
                    },
                ),
                EventKind::ActionHeld { key, .. } => (key.kind(), "held"),
                EventKind::ActionRetrying { key, .. } => (key.kind(), "failed_transient"),
                EventKind::MitigationDrifted { key, .. } => (key.kind(), "drifted"),
                _ => continue,
            };
            self.metrics
                .actions
                .get_or_create(&ActionLabels {
                    action: action.to_owned(),
                    result: result.to_owned(),
                })
                .inc();
        }
    }

    async fn write_incidents(
        &mut self,
        entry: &Entry,
        events: &[Event],
        finished: &[crate::incident::Incident],
        notices: &[crate::notify::Notice],
    ) {
        let mut ids: Vec<(&IncidentId, &str)> = Vec::new();
        for e in events {
            if let Some(id) = &e.incident
                && !ids.iter().any(|(i, _)| *i == id)
            {
                ids.push((id, e.target.name.as_str()));
            }
        }
        for (id, target) in ids {
            let record = self
                .engine
                .record_or_finished(&entry.playbook.id, target, id, finished)
                .cloned();
            let Some(record) = record else { continue };
            if let Err(e) = self.writer.sync(entry, &record, events, notices).await {
                tracing::warn!(incident = %id, error = %e, "writing the Incident failed; retried next cycle");
            }
        }
    }

    /// Clear the notices each incident's status holds, now that the sinks have them.
    async fn clear_published(&mut self, namespace: &str, notices: &[crate::notify::Notice]) {
        let mut incidents: Vec<&str> = notices.iter().map(|n| n.incident.as_str()).collect();
        incidents.dedup();
        for incident in incidents {
            self.writer.clear_pending(namespace, incident).await;
        }
    }

    /// The status fields the evaluator owns (the controller owns conditions).
    pub(super) async fn write_status(&self, entry: &Entry, targets: usize, now: Timestamp) {
        let pb = &entry.playbook;
        let active = self
            .engine
            .incidents()
            .filter(|i| i.playbook == pb.id)
            .count();
        let counts = self.engine.missing_counts(&pb.id);
        let mut no_data: Vec<NoDataStatus> = counts
            .iter()
            .filter_map(|((d, reason), n)| {
                Some(NoDataStatus {
                    detector: pb.detectors.get(*d)?.name.clone(),
                    reason: (*reason).to_owned(),
                    targets: i32::try_from(*n).unwrap_or(i32::MAX),
                })
            })
            .collect();
        no_data.sort_by(|a, b| (&a.detector, &a.reason).cmp(&(&b.detector, &b.reason)));
        let patch = serde_json::json!({
            "status": {
                "targets": i32::try_from(targets).unwrap_or(i32::MAX),
                "activeIncidents": i32::try_from(active).unwrap_or(i32::MAX),
                "lastEvaluation": Time(now),
                "noData": no_data,
                "activeMitigations": self.engine.active_mitigations(&pb.id),
            }
        });
        let api: Api<PlaybookResource> = Api::namespaced(self.client.clone(), &pb.id.namespace);
        if let Err(e) = api
            .patch_status(&pb.id.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(playbook = %pb.id, error = %e, "writing Playbook status failed");
        }
    }
}
