//! The engine with actions recorded instead of applied: what replay, backtest and
//! the standalone shadow mode share. Each issued action carries the exact requests it
//! would send, and is recorded as done at once.

use jiff::Timestamp;

use super::timeline::Entry;
use crate::act::render::{self, RenderContext};
use crate::engine::{DetectorResult, Engine};
use crate::incident::{GlobalGuardrails, Operation, PlannedAction};
use crate::playbook::TargetRef;
use crate::playbook::model::{DetectorKind, Playbook};

/// An engine whose actions are never sent.
#[derive(Debug, Default)]
pub struct DryRun {
    engine: Engine,
    /// Incidents the last cycle finished (resolved, nothing left to revert).
    finished: Vec<crate::incident::Incident>,
}

impl DryRun {
    /// `global.dry_run` is forced on.
    pub fn new(global: GlobalGuardrails) -> Self {
        DryRun {
            engine: Engine::new(GlobalGuardrails {
                dry_run: true,
                ..global
            }),
            finished: Vec::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Incident `id` on `target`: open, or finished by the last cycle.
    pub fn record(
        &self,
        pb: &crate::playbook::PlaybookId,
        target: &str,
        id: &crate::incident::IncidentId,
    ) -> Option<&crate::incident::Incident> {
        self.engine
            .record_or_finished(pb, target, id, &self.finished)
    }

    /// Evaluate `pb` at `now` on `results` (aligned with its detectors); the timeline entries.
    pub fn cycle(
        &mut self,
        pb: &Playbook,
        targets: &[TargetRef],
        results: &[DetectorResult],
        now: Timestamp,
    ) -> Vec<Entry> {
        let eval = self.engine.evaluate(pb, targets, results, now);
        let mut entries = Vec::with_capacity(eval.events.len());
        for event in eval.events {
            let action = eval.actions.iter().find(|a| event.is_issue_of(&a.key));
            entries.push(match action {
                Some(a) => {
                    let rps = current_rps(pb, results, &a.target);
                    Entry::issued(event, pb, a, rendered(pb, a, rps, now))
                }
                None => Entry::from(event),
            });
        }
        for action in &eval.actions {
            let outcome = self.engine.record_outcome(action, Ok(()), now);
            entries.extend(outcome.into_iter().map(Entry::from));
        }
        self.finished = eval.finished;
        entries
    }
}

/// The target's request rate from a `requestRate` detector, for relative rate limits.
pub(crate) fn current_rps(
    pb: &Playbook,
    results: &[DetectorResult],
    target: &TargetRef,
) -> Option<f64> {
    pb.detectors
        .iter()
        .zip(results)
        .find(|(d, _)| matches!(d.kind, DetectorKind::RequestRate { .. }))
        .and_then(|(_, r)| r.as_ref().ok()?.get(&target.name).copied())
}

fn rendered(
    pb: &Playbook,
    action: &PlannedAction,
    current_rps: Option<f64>,
    now: Timestamp,
) -> Result<Vec<render::Request>, String> {
    let ctx = RenderContext {
        incident_id: &action.incident.0,
        target: &action.target,
        kind: pb.target.kind,
        match_labels: &pb.target.match_labels,
        current_rps,
        current_replicas: None,
        existing_destination_rule: None,
        now,
    };
    let result = match action.operation {
        Operation::Apply => render::render_apply(&action.action.kind, &ctx),
        Operation::Revert => render::render_revert(&action.action.kind, &ctx),
    };
    result.map_err(|e| e.to_string())
}
