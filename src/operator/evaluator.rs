//! The leader's loop: every playbook in the catalog is evaluated at its
//! `interval` against live Prometheus and the workloads its selector finds; the
//! decisions become Incident resources, Kubernetes Events and Playbook status.
//!
//! A replica that becomes leader first restores the open incidents from their
//! `Incident` resources, so it neither repeats nor forgets an action; a replica
//! that loses leadership drops its state, which now belongs to the new leader.
//!
//! Each cycle: gather (targets, detector queries) → decide (engine) → act
//! (`execute`: transient failures are retried by the engine with backoff),
//! recording and telling what has happened so far (`record`: Incidents, Events,
//! notices) before each action that changes the cluster → check applied
//! mitigations for drift (`drift`) → record and tell the rest → Playbook status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::catalog::{Catalog, Entry};
use super::events::IncidentEvents;
use super::incidents::{IncidentWriter, open_incidents};
use super::workloads::Workloads;
use crate::act::execute::Executor;
use crate::detect::MetricSource;
use crate::detect::prometheus::PrometheusSource;
use crate::engine::{Engine, Event};
use crate::incident::resource::Incident as IncidentResource;
use crate::incident::{GlobalGuardrails, persist};
use crate::notify::Notifier;
use crate::playbook::PlaybookId;
use crate::playbook::model::ActionKind;
use crate::runner::QueryMode;
use crate::runner::query::gather_timed;
use crate::telemetry::Metrics;

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
        // What has happened is recorded and told before anything is changed:
        // a crash mid-action then loses neither the decision (the readings a
        // restarted operator needs to hold the detectors' severities) nor the
        // outcomes of the steps before, nor their notices.
        let mut recorded = 0;
        for action in &eval.actions {
            if changes_something(action) && events.len() > recorded {
                self.record_change(entry, &events[recorded..], &eval.finished)
                    .await;
                recorded = events.len();
            }
            let outcome = self.execute(entry, action, &results, now).await;
            events.extend(outcome);
        }
        // Just applied: nothing to compare yet.
        let issued: Vec<_> = eval.actions.iter().map(|a| a.key.clone()).collect();
        events.extend(self.check_drift(entry, &issued, &results, now).await);
        self.count_actions(&events);
        crate::telemetry::incidents::record_evaluation(&self.metrics, pb, &self.engine, &events);
        self.record_change(entry, &events[recorded..], &eval.finished)
            .await;
        self.write_status(entry, targets.len(), now).await;
        self.metrics
            .record_cycle(&pb.id.to_string(), started.elapsed());
        events
    }
}

mod diagnostics;
mod drift;
mod execute;
mod record;

/// Whether executing `action` sends anything to the cluster (not a dry-run,
/// not a Slack message, which the notifier sends with the other notices).
fn changes_something(action: &crate::incident::PlannedAction) -> bool {
    !action.dry_run && !matches!(action.action.kind, ActionKind::Notify { .. })
}

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
