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
}
