//! The engine live against Prometheus, actions in dry-run: each cycle queries
//! every detector once for all workloads at wall-clock time and evaluates.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::detect::MetricSource;
use crate::engine::DetectorResult;
use crate::incident::GlobalGuardrails;
use crate::playbook::model::Playbook;
use crate::runner::query::gather_timed;
use crate::runner::{Discovered, DryRun, Entry, QueryMode};
use crate::telemetry::{Metrics, admin::Readiness};

/// Standalone evaluation state: playbooks, engine, discovered targets, query health.
pub struct Live<S> {
    source: S,
    playbooks: Vec<Playbook>,
    mode: QueryMode,
    dry: DryRun,
    discovered: Discovered,
    /// Last failure reason per (playbook index, detector index), to log changes once.
    failing: HashMap<(usize, usize), &'static str>,
    metrics: Arc<Metrics>,
    ready: Readiness,
    notifier: crate::notify::Notifier,
}

impl<S: MetricSource> Live<S> {
    pub fn new(
        source: S,
        playbooks: Vec<Playbook>,
        global: GlobalGuardrails,
        mode: QueryMode,
        metrics: Arc<Metrics>,
    ) -> Self {
        Live {
            source,
            playbooks,
            mode,
            dry: DryRun::new(global),
            discovered: Discovered::default(),
            failing: HashMap::new(),
            metrics,
            ready: Readiness::default(),
            notifier: crate::notify::Notifier::default(),
        }
    }

    /// Send incident notices to these sinks (Kafka, Slack) as they happen.
    pub fn with_notifier(mut self, notifier: crate::notify::Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    pub fn playbooks(&self) -> &[Playbook] {
        &self.playbooks
    }

    /// Turns true after the first cycle in which every query answered.
    pub fn readiness(&self) -> Readiness {
        self.ready.clone()
    }

    /// One cycle of playbook `i` at `now`: query, evaluate, record in dry-run.
    pub async fn cycle(&mut self, i: usize, now: Timestamp) -> Vec<Entry> {
        let Some(pb) = self.playbooks.get(i) else {
            return Vec::new();
        };
        let started = std::time::Instant::now();
        let _span = tracing::debug_span!("cycle", playbook = %pb.id).entered();
        let timed = gather_timed(&self.source, pb, self.mode, now).await;
        let mut results: Vec<DetectorResult> = Vec::with_capacity(timed.len());
        let mut all_ok = true;
        for (j, (result, took)) in timed.into_iter().enumerate() {
            let reason = result.as_ref().err().map(|m| m.reason());
            all_ok &= reason.is_none();
            let detector = &pb.detectors[j].name;
            self.metrics
                .record_query(&pb.id.to_string(), detector, reason.unwrap_or("ok"), took);
            report_change(&mut self.failing, (i, j), pb, detector, &result);
            results.push(result);
        }
        if all_ok {
            self.ready.set(true);
        }
        self.discovered.observe(pb, &results);
        let targets = self.discovered.targets(pb);
        let entries = self.dry.cycle(pb, targets, &results, now);
        let events: Vec<_> = entries.iter().map(|e| e.event.clone()).collect();
        crate::telemetry::incidents::record_evaluation(
            &self.metrics,
            pb,
            self.dry.engine(),
            &events,
        );
        let dry = &self.dry;
        self.notifier
            .notify(pb, &events, |target, id| dry.record(&pb.id, target, id));
        self.metrics
            .record_cycle(&pb.id.to_string(), started.elapsed());
        entries
    }
}

/// Log a detector query starting or stopping to fail, once per change.
fn report_change(
    failing: &mut HashMap<(usize, usize), &'static str>,
    key: (usize, usize),
    pb: &Playbook,
    detector: &str,
    result: &DetectorResult,
) {
    match result {
        Err(missing) => {
            if failing.insert(key, missing.reason()) != Some(missing.reason()) {
                tracing::warn!(
                    playbook = %pb.id,
                    detector,
                    reason = missing.reason(),
                    error = %missing,
                    "detector has no data; no action and no revert until it returns"
                );
            }
        }
        Ok(_) => {
            if let Some(was) = failing.remove(&key) {
                tracing::info!(playbook = %pb.id, detector, was, "detector query recovered");
            }
        }
    }
}
