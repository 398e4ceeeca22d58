//! Transient failures: the step goes back to waiting, with a backoff, until its
//! attempts are used up.

use jiff::Timestamp;

use super::{Engine, Event, EventKind};
use crate::duration::Duration;
use crate::incident::retry::MAX_ATTEMPTS;
use crate::incident::{Operation, PlannedAction, Retry, StepState};

impl Engine {
    /// Record that `action` failed with a transient error (`reason`): it is
    /// issued again after a backoff counted in `interval`s (the playbook's),
    /// reusing its recorded undo and spending no budget, or, once
    /// [`MAX_ATTEMPTS`] have failed, it fails for good with the last reason.
    pub fn record_transient_failure(
        &mut self,
        action: &PlannedAction,
        reason: String,
        interval: Duration,
        now: Timestamp,
    ) -> Vec<Event> {
        let Some(step) = self.step_mut(action) else {
            return Vec::new();
        };
        let attempts = step
            .retry
            .as_ref()
            .filter(|r| r.operation == action.operation)
            .map_or(0, |r| r.attempts)
            + 1;
        let Some(retry) =
            Retry::after_failure(action.operation, attempts, reason.clone(), interval, now)
        else {
            let reason = format!("{reason} (gave up after {attempts} attempts)");
            return self.record_outcome(action, Err(reason), now);
        };
        let retry_at = retry.next_at;
        match action.operation {
            Operation::Apply => step.state = StepState::Pending,
            Operation::Revert => step.revert = Some(StepState::Pending),
        }
        step.retry = Some(retry);
        vec![Event {
            at: now,
            playbook: action.playbook.clone(),
            target: action.target.clone(),
            incident: Some(action.incident.clone()),
            kind: EventKind::ActionRetrying {
                key: action.key.clone(),
                operation: action.operation,
                attempt: attempts,
                max_attempts: MAX_ATTEMPTS,
                reason,
                retry_at,
            },
        }]
    }
}
