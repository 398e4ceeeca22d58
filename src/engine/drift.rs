//! Drift: a mitigation someone else (a GitOps tool, a person) reverted or
//! edited. The caller checks the live objects; the engine decides, through the
//! same guardrails as any action, whether to apply it again.

use jiff::Timestamp;

use super::event::DriftResponse;
use super::issue::{planned, push_issued};
use super::{Ctx, Engine, Evaluation, Event, EventKind};
use crate::act::execute::Undo;
use crate::incident::{Hold, Operation, PlannedAction, StepState};
use crate::playbook::model::Playbook;

/// A mitigation applied for real in an open incident, for a drift check.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The apply as it was issued (same key; never dry-run).
    pub action: PlannedAction,
    /// What the apply recorded (the rate, the rule, the replica target).
    pub undo: Option<Undo>,
}

impl Engine {
    /// Mitigations of `pb`'s open incidents that are applied for real. Resolved
    /// incidents are left out: a mitigation removed while its incident resolves
    /// is not put back.
    pub fn applied_mitigations(&self, pb: &Playbook) -> Vec<Applied> {
        let mut out = Vec::new();
        for state in self.states.get(&pb.id).into_iter().flat_map(|m| m.values()) {
            let Some(inc) = state.incident.as_deref() else {
                continue;
            };
            let ctx = Ctx {
                pb,
                target: &inc.target,
                now: inc.opened_at,
            };
            for (i, step) in inc.steps.iter().enumerate() {
                if step.action.kind.is_mitigation()
                    && step.state == (StepState::Done { dry_run: false })
                {
                    let mut action = planned(&ctx, inc, i, Operation::Apply, &self.global);
                    action.dry_run = false;
                    out.push(Applied {
                        action,
                        undo: step.undo.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.action.key.cmp(&b.action.key));
        out
    }

    /// A drift check found `action`'s mitigation as it was applied: forget any
    /// drift reported before.
    pub fn record_in_place(&mut self, action: &PlannedAction) {
        if let Some(step) = self.step_mut(action) {
            step.drift = None;
        }
    }

    /// A drift check found `action`'s mitigation changed (`detail`). Re-applies
    /// it when it can be (`reapplicable`), the playbook allows it and the
    /// guardrails clear it (spending one unit of the budget): the returned
    /// evaluation then holds the action to execute (report its outcome with
    /// [`Engine::record_reapply`]). Otherwise the change is recorded once and
    /// left as the other party set it.
    pub fn record_drift(
        &mut self,
        pb: &Playbook,
        action: &PlannedAction,
        detail: String,
        reapplicable: bool,
        now: Timestamp,
    ) -> Evaluation {
        let mut out = Evaluation::default();
        let Some(inc) = self
            .states
            .get_mut(&pb.id)
            .and_then(|m| m.get_mut(&action.target.name))
            .and_then(|t| t.incident.as_deref_mut())
            .filter(|inc| inc.id == action.incident)
        else {
            return out;
        };
        let Some(i) = inc
            .steps
            .iter()
            .position(|s| s.key == action.key && s.state == (StepState::Done { dry_run: false }))
        else {
            return out;
        };
        let response = if !reapplicable || !pb.guardrails.reapply_on_drift {
            DriftResponse::Recorded
        } else if self.global.kill_switch {
            DriftResponse::Held {
                hold: Hold::KillSwitch,
            }
        } else {
            match self
                .budgets
                .check(&pb.id, pb.guardrails.budget, &self.global, now)
            {
                Some(hold) => DriftResponse::Held { hold },
                None => DriftResponse::Reapplied,
            }
        };
        let step = &mut inc.steps[i];
        let reapply = response == DriftResponse::Reapplied;
        if !reapply && step.drift.as_deref() == Some(detail.as_str()) {
            // Reported already, and still left as it is.
            return out;
        }
        step.drift = (!reapply).then(|| detail.clone());
        tracing::warn!(
            playbook = %pb.id,
            target = %action.target,
            incident = %action.incident,
            key = %action.key,
            detail = %detail,
            response = %response,
            "mitigation drifted"
        );
        let ctx = Ctx {
            pb,
            target: &action.target,
            now,
        };
        out.events.push(ctx.event(
            Some(inc),
            EventKind::MitigationDrifted {
                key: action.key.clone(),
                detail,
                response,
            },
        ));
        if reapply {
            self.budgets.spend(&pb.id, now);
            let planned = PlannedAction {
                dry_run: self.global.dry_run || pb.guardrails.dry_run || action.action.dry_run,
                ..action.clone()
            };
            push_issued(&ctx, inc, planned, 1, &mut out);
        }
        out
    }

    /// The outcome of a re-apply after drift. The step stays applied either way:
    /// a failed re-apply is reported, and the next check finds the drift again.
    pub fn record_reapply(
        &mut self,
        action: &PlannedAction,
        outcome: Result<(), String>,
        now: Timestamp,
    ) -> Vec<Event> {
        let outcome = match outcome {
            Ok(()) => StepState::Done {
                dry_run: action.dry_run,
            },
            Err(reason) => StepState::Failed { reason },
        };
        vec![Event {
            at: now,
            playbook: action.playbook.clone(),
            target: action.target.clone(),
            incident: Some(action.incident.clone()),
            kind: EventKind::ActionFinished {
                key: action.key.clone(),
                operation: Operation::Apply,
                outcome,
            },
        }]
    }
}
