//! The leader's loop: every playbook in the catalog is evaluated at its
//! `interval` against live Prometheus and the workloads its selector finds; the
//! decisions become Incident resources, Kubernetes Events and Playbook status.
//!
//! A replica that becomes leader first restores the open incidents from their
//! `Incident` resources, so it neither repeats nor forgets an action; a replica
//! that loses leadership drops its state, which now belongs to the new leader.
//!
//! Each cycle: gather (targets, detector queries) → decide (engine) → act
//! (`execute`: transient failures are retried by the engine with backoff) →
//! check applied mitigations for drift (`drift`) → write Incidents, Events,
//! notices and Playbook status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::catalog::{Catalog, Entry};
use super::events::IncidentEvents;
use super::incidents::{IncidentWriter, open_incidents};
use super::workloads::Workloads;
use crate::act::execute::Executor;
use crate::detect::MetricSource;
use crate::detect::prometheus::PrometheusSource;
use crate::engine::{Engine, Event, EventKind};
use crate::incident::resource::Incident as IncidentResource;
use crate::incident::{GlobalGuardrails, IncidentId, Operation, persist};
use crate::notify::Notifier;
use crate::playbook::spec::NoDataStatus;
use crate::playbook::{Playbook as PlaybookResource, PlaybookId};
use crate::runner::QueryMode;
use crate::runner::query::gather_timed;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::ActionLabels;

/// Longest sleep between looks at the catalog, so that a new playbook is
/// evaluated within this long; due playbooks wake the loop at their own time.
const TICK: Duration = Duration::from_secs(1);

/// What the operator watches: the workloads, and the namespaces (empty: all).
pub struct Watched {
    pub workloads: Workloads,
    pub namespaces: Vec<String>,
}

pub struct Evaluator<S = PrometheusSource> {
    client: Client,
    executor: Executor,
    source: S,
    catalog: Catalog,
    metrics: Arc<Metrics>,
    global: GlobalGuardrails,
    engine: Engine,
    writer: IncidentWriter,
    publisher: IncidentEvents,
    notifier: Notifier,
    query_mode: QueryMode,
    workloads: Workloads,
    watch_namespaces: Vec<String>,
    next_due: HashMap<PlaybookId, Instant>,
    /// Open incidents listed at the start of leadership, not yet continued.
    pending: HashMap<PlaybookId, Vec<IncidentResource>>,
    /// Incidents whose pending notices were published again at restore, to clear.
    republished: Vec<(String, String)>,
}

impl<S: MetricSource> Evaluator<S> {
    pub fn new(
        client: Client,
        source: S,
        catalog: Catalog,
        metrics: Arc<Metrics>,
        global: GlobalGuardrails,
        publisher: IncidentEvents,
        watched: Watched,
    ) -> Self {
        Evaluator {
            writer: IncidentWriter::new(client.clone()),
            executor: Executor::new(client.clone()),
            client,
            source,
            catalog,
            metrics,
            engine: Engine::new(global.clone()),
            global,
            publisher,
            notifier: Notifier::default(),
            query_mode: QueryMode::Detector,
            workloads: watched.workloads,
            watch_namespaces: watched.namespaces,
            next_due: HashMap::new(),
            pending: HashMap::new(),
            republished: Vec::new(),
        }
    }

    /// Send incident notices to these sinks (Kafka, Slack).
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Read detectors' recorded series instead of running their queries
    /// (the rules `firebreak rules` renders must be loaded in Prometheus).
    pub fn with_query_mode(mut self, mode: QueryMode) -> Self {
        self.query_mode = mode;
        self
    }

    /// Evaluate while `leader` is true, until `shutdown` turns true.
    pub async fn run(
        mut self,
        mut leader: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                self.notifier.flush().await;
                return;
            }
            if !*leader.borrow_and_update() {
                tokio::select! {
                    _ = leader.changed() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            // Targets come from the workload watches: wait for their first list.
            self.workloads.ready().await;
            let mut listed = self.list_open().await;
            loop {
                let wake = self.next_wake();
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    _ = leader.changed() => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() || !*leader.borrow() {
                    break;
                }
                if !listed {
                    listed = self.list_open().await;
                    continue;
                }
                self.tick().await;
            }
            tracing::info!("not leading: dropping evaluation state");
            self.engine = Engine::new(self.global.clone());
            self.next_due.clear();
            self.pending.clear();
        }
    }

    /// List the open incidents the previous leader recorded; each is continued
    /// just before its playbook's first evaluation (the catalog may still be filling).
    pub async fn list_open(&mut self) -> bool {
        match open_incidents(&self.client, &self.watch_namespaces).await {
            Ok(found) => {
                for inc in found {
                    let id = PlaybookId {
                        namespace: inc.namespace().unwrap_or_default(),
                        name: inc.spec.playbook.clone(),
                    };
                    self.pending.entry(id).or_default().push(inc);
                }
                true
            }
            Err(e) => {
                // Evaluating without them would open duplicates: retry before anything else.
                tracing::error!(error = %e, "listing open incidents failed; retrying");
                false
            }
        }
    }

    /// Continue `entry`'s listed open incidents (before its first evaluation).
    pub fn restore(&mut self, entry: &Entry) {
        let pb = &entry.playbook;
        for inc in self.pending.remove(&pb.id).unwrap_or_default() {
            let name = inc.name_any();
            let status = inc.status.clone().unwrap_or_default();
            match persist::restore(pb, &name, &inc.spec, &status) {
                Ok((record, readings)) => {
                    tracing::info!(incident = %name, playbook = %pb.id, "continuing incident");
                    self.engine.restore(pb, record, &readings);
                    self.engine.restore_spent(&pb.id, &persist::spent(&status));
                    self.notifier.restore(pb, &inc);
                    // Written with the last change, maybe never handed to the sinks.
                    if !status.pending_notices.is_empty() {
                        tracing::info!(incident = %name, notices = status.pending_notices.len(), "publishing the notices of the last change again");
                        self.notifier.publish(pb, &status.pending_notices);
                        self.republished
                            .push((pb.id.namespace.clone(), name.clone()));
                    }
                }
                Err(e) => {
                    tracing::error!(incident = %name, playbook = %pb.id, error = %e, "cannot continue incident")
                }
            }
        }
    }

    /// When the next playbook is due, or [`TICK`] from now, whichever is sooner.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        self.catalog
            .snapshot()
            .iter()
            .map(|e| self.next_due.get(&e.playbook.id).copied().unwrap_or(now))
            .fold(now + TICK, Instant::min)
    }

    async fn tick(&mut self) {
        for entry in self.catalog.snapshot() {
            let now = Instant::now();
            let id = entry.playbook.id.clone();
            let due = self.next_due.get(&id).copied().unwrap_or(now);
            if due > now {
                continue;
            }
            self.next_due
                .insert(id, next_due(due, entry.playbook.interval.as_std(), now));
            self.restore(&entry);
            for (namespace, incident) in std::mem::take(&mut self.republished) {
                self.writer.clear_pending(&namespace, &incident).await;
            }
            self.cycle(&entry, Timestamp::now()).await;
        }
    }

    /// One evaluation of one playbook; returns the engine's events.
    pub async fn cycle(&mut self, entry: &Entry, now: Timestamp) -> Vec<Event> {
        let pb = &entry.playbook;
        let started = std::time::Instant::now();
        let targets = self.workloads.targets(pb);
        let timed = gather_timed(&self.source, pb, self.query_mode, now).await;
        let mut results = Vec::with_capacity(timed.len());
        for (d, (r, took)) in pb.detectors.iter().zip(timed) {
            let result = r.as_ref().err().map_or("ok", |m| m.reason());
            self.metrics
                .record_query(&pb.id.to_string(), &d.name, result, took);
            results.push(r);
        }
        self.engine
            .set_kill_switch(self.global.kill_switch || entry.paused);
        let eval = self.engine.evaluate(pb, &targets, &results, now);
        let mut events = eval.events;
        for action in &eval.actions {
            let outcome = self.execute(entry, action, &results, now).await;
            events.extend(outcome);
        }
        // Just applied: nothing to compare yet.
        let issued: Vec<_> = eval.actions.iter().map(|a| a.key.clone()).collect();
        events.extend(self.check_drift(entry, &issued, &results, now).await);
        self.count_actions(&events);
        crate::telemetry::incidents::record_evaluation(&self.metrics, pb, &self.engine, &events);
        // The status outbox: the notices are written with the change they tell
        // of, then handed to the sinks, then cleared (see `pending_notices`).
        let engine = &self.engine;
        let notices = if self.notifier.is_empty() {
            Vec::new()
        } else {
            self.notifier.build(pb, &events, |target, id| {
                engine.record_or_finished(&pb.id, target, id, &eval.finished)
            })
        };
        self.write_incidents(entry, &events, &eval.finished, &notices)
            .await;
        self.publisher.publish(entry, &events).await;
        self.notifier.publish(pb, &notices);
        self.clear_published(&pb.id.namespace, &notices).await;
        self.write_status(entry, targets.len(), now).await;
        self.metrics
            .record_cycle(&pb.id.to_string(), started.elapsed());
        events
    }

    fn count_actions(&self, events: &[Event]) {
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
    async fn write_status(&self, entry: &Entry, targets: usize, now: Timestamp) {
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

mod diagnostics;
mod drift;
mod execute;

/// The evaluation after one due at `due`: a fixed period from the first, so the
/// schedule does not drift by each cycle's own time; ticks missed by a slow cycle
/// are skipped, not run in a burst.
fn next_due(due: Instant, interval: Duration, now: Instant) -> Instant {
    let interval = interval.max(Duration::from_millis(100));
    let mut next = due + interval;
    while next <= now {
        next += interval;
    }
    next
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_drift;
#[cfg(test)]
mod tests_retry;
#[cfg(test)]
mod tests_takeover;
