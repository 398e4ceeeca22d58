//! Clearing planned steps through the guardrails, and recording what the executor did.

use jiff::Timestamp;

use super::{Ctx, Engine, Evaluation, EventKind, TargetState};
use crate::incident::guardrails::Budgets;
use crate::incident::{
    GlobalGuardrails, Hold, IdempotencyKey, Incident, Operation, Phase, PlannedAction, Step,
    StepState,
};
use crate::playbook::model::ActionKind;

/// Notifications are not changes to the cluster: no guardrail holds them back.
fn is_guarded(step: &Step) -> bool {
    !matches!(step.action.kind, ActionKind::Notify { .. })
}

pub(super) fn issue(
    ctx: &Ctx<'_>,
    state: &mut TargetState,
    global: &GlobalGuardrails,
    budgets: &mut Budgets,
    out: &mut Evaluation,
) {
    if let Some(inc) = state.resolved.as_mut() {
        issue_reverts(ctx, inc, global, out);
        if !inc.reverts_outstanding() {
            // Handed out so that writers can record the final state.
            if let Some(done) = state.resolved.take() {
                out.finished.push(*done);
            }
        }
    }
    let Some(inc) = state.incident.as_mut() else {
        return;
    };
    let cooldown = state.cooldown_until.filter(|until| *until > ctx.now);
    // A held mitigation holds the mitigations after it: their order matters.
    let mut blocked = false;
    for i in 0..inc.steps.len() {
        let step = &inc.steps[i];
        if step.state != StepState::Pending {
            continue;
        }
        if let Some(reason) = global.refusal(step.action.kind.as_str()) {
            // Refused for good: it fails, so it neither blocks the steps after it
            // nor comes back every cycle.
            let key = step.key.clone();
            let outcome = StepState::Failed { reason };
            inc.steps[i].state = outcome.clone();
            out.events.push(ctx.event(
                Some(inc),
                EventKind::ActionFinished {
                    key,
                    operation: Operation::Apply,
                    outcome,
                },
            ));
            continue;
        }
        let retry = step
            .retry
            .as_ref()
            .filter(|r| r.operation == Operation::Apply);
        if retry.is_some_and(|r| !r.is_due(ctx.now)) {
            // Backing off: like a hold, it keeps the mitigations after it waiting.
            blocked |= is_guarded(step);
            continue;
        }
        // A retry is the same action, already cleared: no cooldown, no budget again.
        let retrying = retry.is_some();
        let hold = if !is_guarded(step) {
            None
        } else if blocked {
            continue;
        } else if global.kill_switch {
            Some(Hold::KillSwitch)
        } else if retrying {
            None
        } else if let Some(until) = cooldown {
            Some(Hold::Cooldown { until })
        } else {
            budgets.check(&ctx.pb.id, ctx.pb.guardrails.budget, global, ctx.now)
        };
        let step = &mut inc.steps[i];
        if let Some(hold) = hold {
            blocked = true;
            if step.hold.as_ref() != Some(&hold) {
                step.hold = Some(hold.clone());
                let key = step.key.clone();
                out.events
                    .push(ctx.event(Some(inc), EventKind::ActionHeld { key, hold }));
            }
            continue;
        }
        if is_guarded(step) && !retrying {
            budgets.spend(&ctx.pb.id, ctx.now);
        }
        step.hold = None;
        step.state = StepState::Issued;
        let attempt = attempt_of(step, Operation::Apply);
        let planned = planned(ctx, inc, i, Operation::Apply, global);
        push_issued(ctx, inc, planned, attempt, out);
    }
}

fn issue_reverts(
    ctx: &Ctx<'_>,
    inc: &mut Incident,
    global: &GlobalGuardrails,
    out: &mut Evaluation,
) {
    // Undo in reverse order of application.
    for i in (0..inc.steps.len()).rev() {
        if inc.steps[i].revert != Some(StepState::Pending) {
            continue;
        }
        let backing_off = inc.steps[i]
            .retry
            .as_ref()
            .is_some_and(|r| r.operation == Operation::Revert && !r.is_due(ctx.now));
        if backing_off {
            continue;
        }
        if global.kill_switch {
            if inc.steps[i].hold != Some(Hold::KillSwitch) {
                inc.steps[i].hold = Some(Hold::KillSwitch);
                let key = inc.steps[i].key.revert();
                out.events.push(ctx.event(
                    Some(inc),
                    EventKind::ActionHeld {
                        key,
                        hold: Hold::KillSwitch,
                    },
                ));
            }
            return;
        }
        inc.steps[i].hold = None;
        inc.steps[i].revert = Some(StepState::Issued);
        let attempt = attempt_of(&inc.steps[i], Operation::Revert);
        let planned = planned(ctx, inc, i, Operation::Revert, global);
        push_issued(ctx, inc, planned, attempt, out);
    }
}

pub(super) fn planned(
    ctx: &Ctx<'_>,
    inc: &Incident,
    i: usize,
    operation: Operation,
    global: &GlobalGuardrails,
) -> PlannedAction {
    let step = &inc.steps[i];
    let key = match operation {
        Operation::Apply => step.key.clone(),
        Operation::Revert => step.key.revert(),
    };
    PlannedAction {
        key,
        incident: inc.id.clone(),
        playbook: ctx.pb.id.clone(),
        target: ctx.target.clone(),
        severity: step.severity,
        operation,
        action: step.action.clone(),
        dry_run: global.dry_run || ctx.pb.guardrails.dry_run || step.action.dry_run,
    }
}

/// 1, or the attempt a retry of `operation` is.
fn attempt_of(step: &Step, operation: Operation) -> u32 {
    step.retry
        .as_ref()
        .filter(|r| r.operation == operation)
        .map_or(1, |r| r.attempts + 1)
}

pub(super) fn push_issued(
    ctx: &Ctx<'_>,
    inc: &Incident,
    planned: PlannedAction,
    attempt: u32,
    out: &mut Evaluation,
) {
    out.events.push(ctx.event(
        Some(inc),
        EventKind::ActionIssued {
            key: planned.key.clone(),
            action: planned.action.kind.as_str(),
            severity: planned.severity,
            operation: planned.operation,
            dry_run: planned.dry_run,
            attempt,
        },
    ));
    out.actions.push(planned);
}

impl Engine {
    /// Record what the executor did with an issued action. Returns the timeline
    /// entries it causes (the outcome, and `IncidentMitigated` when it completes the plan).
    pub fn record_outcome(
        &mut self,
        action: &PlannedAction,
        outcome: Result<(), String>,
        now: Timestamp,
    ) -> Vec<super::Event> {
        let mut events = Vec::new();
        let Some(state) = self
            .states
            .get_mut(&action.playbook)
            .and_then(|m| m.get_mut(&action.target.name))
        else {
            return events;
        };
        let new_state = match outcome {
            Ok(()) => StepState::Done {
                dry_run: action.dry_run,
            },
            Err(reason) => StepState::Failed { reason },
        };
        let event = |inc: &Incident, kind| super::Event {
            at: now,
            playbook: action.playbook.clone(),
            target: action.target.clone(),
            incident: Some(inc.id.clone()),
            kind,
        };
        for inc in [state.incident.as_deref_mut(), state.resolved.as_deref_mut()]
            .into_iter()
            .flatten()
        {
            if inc.id != action.incident {
                continue;
            }
            let Some(step) = inc
                .steps
                .iter_mut()
                .find(|s| key_matches(s, &action.key, action.operation))
            else {
                continue;
            };
            match action.operation {
                Operation::Apply => step.state = new_state.clone(),
                Operation::Revert => step.revert = Some(new_state.clone()),
            }
            step.retry = None;
            events.push(event(
                inc,
                EventKind::ActionFinished {
                    key: action.key.clone(),
                    operation: action.operation,
                    outcome: new_state.clone(),
                },
            ));
            if inc.phase == Phase::Open && inc.is_mitigated() {
                inc.phase = Phase::Mitigated;
                events.push(event(inc, EventKind::IncidentMitigated));
            }
        }
        events
    }
}

pub(super) fn key_matches(step: &Step, key: &IdempotencyKey, op: Operation) -> bool {
    match op {
        Operation::Apply => step.key == *key,
        Operation::Revert => step.key.revert() == *key,
    }
}

impl Engine {
    pub(super) fn step_mut(&mut self, action: &PlannedAction) -> Option<&mut Step> {
        let state = self
            .states
            .get_mut(&action.playbook)?
            .get_mut(&action.target.name)?;
        [state.incident.as_deref_mut(), state.resolved.as_deref_mut()]
            .into_iter()
            .flatten()
            .filter(|inc| inc.id == action.incident)
            .flat_map(|inc| inc.steps.iter_mut())
            .find(|s| key_matches(s, &action.key, action.operation))
    }

    /// The executor's record of `action`'s step: what its apply changed.
    pub fn undo_of(&mut self, action: &PlannedAction) -> Option<crate::act::execute::Undo> {
        self.step_mut(action)?.undo.clone()
    }

    /// Keep what the executor recorded for `action`'s step (written to the
    /// Incident's ledger), so a revert or a repeat after a restart can use it.
    pub fn record_undo(
        &mut self,
        action: &PlannedAction,
        undo: Option<crate::act::execute::Undo>,
        note: Option<String>,
    ) {
        if let Some(step) = self.step_mut(action) {
            if undo.is_some() {
                step.undo = undo;
            }
            if note.is_some() {
                step.note = note;
            }
        }
    }
}
