//! The incident record: severity, phase and the steps of its plan.

use jiff::Timestamp;
use serde::Serialize;

use super::guardrails::Hold;
use super::plan::IdempotencyKey;
use crate::playbook::model::Action;
use crate::playbook::{PlaybookId, TargetRef};
use crate::severity::Severity;

/// `<playbook>-<workload>-<opened unix seconds>`: unique, stable, a valid object name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IncidentId(pub String);

impl IncidentId {
    pub fn new(playbook: &PlaybookId, target: &TargetRef, opened: Timestamp) -> Self {
        IncidentId(format!(
            "{}-{}-{}",
            playbook.name,
            target.name,
            opened.as_second()
        ))
    }
}

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Detected; actions for the current severity not all done.
    Open,
    /// Every action for the current severity is done and at least one mitigation took effect.
    Mitigated,
    Resolved,
}

/// Where one step (apply or revert) stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum StepState {
    /// Waiting for the guardrails.
    Pending,
    /// Handed to the executor.
    Issued,
    /// Applied, or recorded in dry-run.
    Done {
        dry_run: bool,
    },
    Failed {
        reason: String,
    },
}

/// One action of the plan and, after resolution, its revert.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub key: IdempotencyKey,
    pub severity: Severity,
    pub action: Action,
    pub state: StepState,
    pub revert: Option<StepState>,
    /// The guardrail currently holding this step back, if any.
    pub hold: Option<Hold>,
    /// What the executor recorded to undo or repeat the apply (the ledger).
    pub undo: Option<crate::act::execute::Undo>,
    /// What the apply did, for people (e.g. "restored revision 7").
    pub note: Option<String>,
    /// Waiting to be tried again after a transient failure of the apply or revert.
    pub retry: Option<super::Retry>,
    /// What the last drift check found changed (reported once, until it changes).
    pub drift: Option<String>,
}

impl Step {
    pub fn is_finished(&self) -> bool {
        matches!(
            self.state,
            StepState::Done { .. } | StepState::Failed { .. }
        )
    }

    /// Applied (or dry-run recorded) and to be undone on resolution. A failed
    /// attempt waiting for its retry counts: a 5xx may come after the write landed.
    pub fn needs_revert(&self) -> bool {
        let attempted = matches!(self.state, StepState::Done { .. } | StepState::Issued)
            || (self.state == StepState::Pending && self.retry.is_some());
        attempted && self.action.kind.is_reversible() && !self.action.keep
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: IncidentId,
    pub playbook: PlaybookId,
    pub target: TargetRef,
    pub severity: Severity,
    /// Raised by `escalateAfter`; the severity does not fall below it until resolution.
    pub floor: Option<Severity>,
    pub phase: Phase,
    pub opened_at: Timestamp,
    pub severity_since: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub steps: Vec<Step>,
    /// Highest severity whose actions have been added to `steps`.
    pub planned_up_to: Option<Severity>,
}

impl Incident {
    pub fn open(
        playbook: &PlaybookId,
        target: &TargetRef,
        severity: Severity,
        now: Timestamp,
    ) -> Self {
        Incident {
            id: IncidentId::new(playbook, target, now),
            playbook: playbook.clone(),
            target: target.clone(),
            severity,
            floor: None,
            phase: Phase::Open,
            opened_at: now,
            severity_since: now,
            resolved_at: None,
            steps: Vec::new(),
            planned_up_to: None,
        }
    }

    /// Add the steps of every severity up to `severity` not planned yet, lowest first.
    pub fn plan_up_to(
        &mut self,
        severity: Severity,
        actions: &crate::severity::PerSeverity<Vec<Action>>,
    ) {
        for s in Severity::ALL {
            if s > severity || self.planned_up_to.is_some_and(|p| s <= p) {
                continue;
            }
            for (i, action) in actions.get(s).into_iter().flatten().enumerate() {
                self.steps.push(Step {
                    key: IdempotencyKey::apply(&self.id, s, i, action.kind.as_str()),
                    severity: s,
                    action: action.clone(),
                    state: StepState::Pending,
                    revert: None,
                    hold: None,
                    undo: None,
                    note: None,
                    retry: None,
                    drift: None,
                });
            }
        }
        self.planned_up_to = self.planned_up_to.max(Some(severity));
    }

    /// Some revert is still waiting or handed out (a resolved incident stays until none is).
    pub fn reverts_outstanding(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.revert, Some(StepState::Pending | StepState::Issued)))
    }

    /// All planned steps finished and at least one mitigation took effect.
    pub fn is_mitigated(&self) -> bool {
        self.steps.iter().all(Step::is_finished)
            && self
                .steps
                .iter()
                .any(|s| s.action.kind.is_mitigation() && matches!(s.state, StepState::Done { .. }))
    }
}
