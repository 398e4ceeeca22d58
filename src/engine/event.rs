//! The timeline: everything the engine decided, in order, as plain data.

use jiff::Timestamp;
use serde::{Serialize, Serializer};

use crate::detect::Level;
use crate::incident::{Hold, IdempotencyKey, IncidentId, Operation, StepState};
use crate::playbook::{PlaybookId, TargetRef};
use crate::severity::Severity;

fn display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// One entry of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub at: Timestamp,
    #[serde(serialize_with = "display")]
    pub playbook: PlaybookId,
    #[serde(serialize_with = "display")]
    pub target: TargetRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentId>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// Whether this is the `ActionIssued` entry of the action keyed `key`.
    pub fn is_issue_of(&self, key: &IdempotencyKey) -> bool {
        matches!(&self.kind, EventKind::ActionIssued { key: k, .. } if k == key)
    }
}

/// Why an incident's severity rose.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EscalationCause {
    /// A detector reached a higher severity.
    Detectors,
    /// Unresolved for the playbook's `escalateAfter`.
    Unresolved,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum EventKind {
    #[serde(rename_all = "camelCase")]
    DetectorChanged {
        detector: String,
        from: Level,
        to: Level,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        /// Threshold of the severity entered (or left, when recovering).
        #[serde(skip_serializing_if = "Option::is_none")]
        threshold: Option<f64>,
    },
    IncidentOpened {
        severity: Severity,
    },
    IncidentEscalated {
        from: Severity,
        to: Severity,
        cause: EscalationCause,
    },
    IncidentDeescalated {
        from: Severity,
        to: Severity,
    },
    IncidentMitigated,
    #[serde(rename_all = "camelCase")]
    IncidentResolved {
        duration_seconds: i64,
    },
    #[serde(rename_all = "camelCase")]
    ActionIssued {
        key: IdempotencyKey,
        action: &'static str,
        severity: Severity,
        operation: Operation,
        dry_run: bool,
        /// 1 for the first attempt; more when retried after a transient failure
        /// (a retry is the same action: it spends no budget).
        #[serde(skip_serializing_if = "is_first")]
        attempt: u32,
    },
    ActionHeld {
        key: IdempotencyKey,
        hold: Hold,
    },
    ActionFinished {
        key: IdempotencyKey,
        operation: Operation,
        outcome: StepState,
    },
    /// An attempt failed transiently; the step is issued again at `retry_at`.
    #[serde(rename_all = "camelCase")]
    ActionRetrying {
        key: IdempotencyKey,
        operation: Operation,
        /// The attempt that failed.
        attempt: u32,
        max_attempts: u32,
        reason: String,
        retry_at: Timestamp,
    },
    /// Someone else changed or removed an applied mitigation.
    MitigationDrifted {
        key: IdempotencyKey,
        /// What differs from what Firebreak applied.
        detail: String,
        response: DriftResponse,
    },
}

/// What Firebreak does about a drifted mitigation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "response", rename_all = "camelCase")]
pub enum DriftResponse {
    /// Applied again (one unit of the action budget spent).
    Reapplied,
    /// Left as the other party set it: a guardrail holds the re-apply back.
    Held { hold: Hold },
    /// Left as the other party set it: the playbook says `reapplyOnDrift: false`,
    /// or the mitigation cannot be applied again as it was (see `detail`).
    Recorded,
}

impl std::fmt::Display for DriftResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriftResponse::Reapplied => f.write_str("re-applied"),
            DriftResponse::Held { hold } => write!(f, "left as is (held: {hold})"),
            DriftResponse::Recorded => f.write_str("left as is (recorded only)"),
        }
    }
}

fn is_first(attempt: &u32) -> bool {
    *attempt <= 1
}
