//! The evaluator's drift checks: each mitigation applied for an open incident
//! is compared with the live object once per cycle (the playbook's interval),
//! one GET each; what someone else changed is recorded, and applied again only
//! as the engine's guardrails allow.

use jiff::Timestamp;

use super::Evaluator;
use crate::act::execute::ExecInput;
use crate::detect::MetricSource;
use crate::engine::{DetectorResult, Event};
use crate::incident::IdempotencyKey;
use crate::operator::catalog::Entry;

impl<S: MetricSource> Evaluator<S> {
    /// Check `entry`'s applied mitigations but those in `skip` (issued this
    /// cycle); returns the timeline events of what was found and done.
    pub(super) async fn check_drift(
        &mut self,
        entry: &Entry,
        skip: &[IdempotencyKey],
        results: &[DetectorResult],
        now: Timestamp,
    ) -> Vec<Event> {
        let pb = &entry.playbook;
        let mut events = Vec::new();
        for applied in self.engine.applied_mitigations(pb) {
            if skip.contains(&applied.action.key) {
                continue;
            }
            let input = ExecInput {
                action: &applied.action,
                pb,
                current_rps: None,
                undo: applied.undo.as_ref(),
                now,
            };
            let drift = match self.executor.check_drift(input).await {
                Ok(Some(drift)) => drift,
                Ok(None) => {
                    self.engine.record_in_place(&applied.action);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(playbook = %pb.id, key = %applied.action.key, error = %e, "drift check failed; checked again next cycle");
                    continue;
                }
            };
            let eval = self.engine.record_drift(
                pb,
                &applied.action,
                drift.detail,
                drift.reapplicable,
                now,
            );
            events.extend(eval.events);
            for action in &eval.actions {
                let outcome = match self.send(entry, action, results, now).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        tracing::warn!(playbook = %pb.id, key = %action.key, error = %e, "re-applying a drifted mitigation failed");
                        Err(e.to_string())
                    }
                };
                events.extend(self.engine.record_reapply(action, outcome, now));
            }
        }
        events
    }
}
