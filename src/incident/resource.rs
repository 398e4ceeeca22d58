//! The `Incident` custom resource: one per incident, written by Firebreak and
//! owned by its Playbook. Its status is both what people read (`kubectl get
//! incidents`, the timeline) and what a new leader restores the engine from, so
//! the plan's steps carry enough to neither repeat nor forget an action.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::playbook::spec::WorkloadKind;
use crate::severity::Severity;

/// What happened to one workload, from detection to resolution.
// kube's derive takes one `printcolumn(...)` per column; clippy mistakes them for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "firebreak.dev",
    version = "v1alpha1",
    kind = "Incident",
    namespaced,
    status = "IncidentStatus",
    shortname = "inc",
    category = "firebreak",
    printcolumn(name = "Playbook", type_ = "string", json_path = ".spec.playbook"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target.name"),
    printcolumn(name = "Severity", type_ = "string", json_path = ".status.severity"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct IncidentSpec {
    /// Name of the Playbook (same namespace) that opened it.
    pub playbook: String,
    pub target: IncidentTarget,
    pub opened_at: Time,
    pub opened_severity: Severity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentTarget {
    pub kind: WorkloadKind,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IncidentPhase {
    Open,
    Mitigated,
    Resolved,
}

/// Observed state, written by Firebreak only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<IncidentPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Raised by `escalateAfter`: the severity does not fall below it until resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_since: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Time>,
    /// Highest severity whose actions are in `steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_up_to: Option<Severity>,
    /// Each detector's last reading and the severity it holds, as of the last change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readings: Vec<Reading>,
    /// The plan and ledger: every action step, in order, with its apply and revert state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// What happened, oldest first; at most [`TIMELINE_LIMIT`] entries are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
    /// Timeline entries dropped to stay under the limit (the oldest detector readings first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline_dropped: Option<u32>,
    /// The Slack thread of this incident, so that a restart continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackThread>,
    /// CloudEvents published to Kafka for this incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_published: Option<u64>,
    /// The notices of the last change, written with it and cleared once every
    /// sink has them: an operator killed in between publishes them on restart
    /// (a transactional outbox; at least once, subscribers dedupe on `ce_id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_notices: Vec<crate::notify::Notice>,
}

/// Entries kept in `status.timeline`: Kubernetes objects are limited to about 1.5 MiB.
pub const TIMELINE_LIMIT: usize = 200;

/// One action of the plan: `key` is its idempotency key, `index` its position in
/// the playbook's list for `severity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    pub key: String,
    pub severity: Severity,
    pub index: u32,
    /// The action kind (`rateLimit`, `notify`, …).
    pub action: String,
    pub state: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<StepStatus>,
    /// The guardrail holding the step back, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    /// What the apply changed and how to undo it (the ledger entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<crate::act::execute::Undo>,
    /// What the apply did, e.g. "restored revision 7".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set while the apply or revert waits to be tried again after a transient
    /// failure, so that a new leader continues the backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryRecord>,
}

/// A transient failure's retry: which operation, how many attempts failed, when next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryRecord {
    pub operation: crate::incident::Operation,
    /// Failed attempts so far (at most 5 are made).
    pub attempts: u32,
    pub next_attempt_at: Time,
    pub last_error: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    pub state: StepPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StepPhase {
    /// Waiting for the guardrails.
    Pending,
    /// Handed to the executor; its outcome is not recorded yet.
    Issued,
    Done,
    Failed,
}

/// A detector's state for this incident's target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reading {
    pub detector: String,
    /// The severity the detector holds (none: below every threshold, or no data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Why there is no value, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data: Option<String>,
    pub at: Time,
}

/// One line of the incident's story.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: Time,
    /// The engine event (`incidentOpened`, `detectorChanged`, `actionIssued`, …).
    pub event: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Idempotency key of the action concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackThread {
    pub channel: String,
    /// `ts` of the root message; replies go to `thread_ts` = this.
    pub ts: String,
}
