//! The `Playbook` custom resource as users write it (the wire form).
//!
//! These types are deliberately permissive: they describe what YAML may say. The
//! rules that a schema cannot express (exactly one detector kind, thresholds that
//! increase with severity, …) live in `validate.rs`, which turns a spec into the
//! validated [`super::model::Playbook`] the engine uses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::action::ActionSpec;
use super::detector::DetectorSpec;
use crate::duration::Duration;
use crate::severity::PerSeverity;

/// What to watch, how to judge it, and what to do at each severity.
// kube's derive takes one `printcolumn(...)` per column; clippy mistakes them for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "firebreak.dev",
    version = "v1alpha1",
    kind = "Playbook",
    namespaced,
    status = "PlaybookStatus",
    shortname = "pb",
    category = "firebreak",
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.target.kind"),
    printcolumn(name = "Targets", type_ = "integer", json_path = ".status.targets"),
    printcolumn(name = "Detectors", type_ = "string", json_path = ".status.detectors"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Incidents",
        type_ = "integer",
        json_path = ".status.activeIncidents"
    ),
    printcolumn(
        name = "Last Evaluation",
        type_ = "date",
        json_path = ".status.lastEvaluation"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PlaybookSpec {
    /// Which workloads this playbook watches.
    pub target: TargetSpec,
    /// How often detectors are evaluated (default 15s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Signals judged per workload; an incident's severity is the highest of its detectors.
    // maxItems also bounds the API server's cost estimate of the detectors' CEL rules.
    #[schemars(length(max = crate::playbook::validate::MAX_DETECTORS))]
    pub detectors: Vec<DetectorSpec>,
    /// Actions per severity. Reaching a severity runs its actions and those of every
    /// lower severity that have not run yet for the incident, lowest first.
    #[serde(default)]
    pub actions: PerSeverity<Vec<ActionSpec>>,
    /// Where incident notifications go, per severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifySpec>,
    /// Limits on what this playbook may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<GuardrailsSpec>,
}

/// Kind of workload a playbook selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadKind {
    #[default]
    Deployment,
    /// Argo Rollouts `Rollout`.
    Rollout,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::Rollout => "Rollout",
        }
    }
}

/// Workloads in the playbook's namespace, by label selector and/or by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    #[serde(default)]
    pub kind: WorkloadKind,
    /// Label selector over the workloads (not their pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Explicit workload names; combined with `selector` when both are set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Map series to workloads by this pod label instead of the owner references
    /// kube-state-metrics exposes (`kube_pod_owner` → `kube_replicaset_owner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_label: Option<String>,
}

/// Notification routing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotifySpec {
    /// Slack routes per severity; a severity without a route uses the nearest lower one.
    #[serde(default)]
    pub slack: PerSeverity<SlackRoute>,
}

/// Where and how loudly one severity is announced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackRoute {
    /// Channel name (`#incidents`) or ID (`C0123456`).
    pub channel: String,
    /// Mentions added to the root message, e.g. `<!subteam^S0123>` or `@oncall`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Post without notifying anyone (no mentions, no channel ping).
    #[serde(default)]
    pub quiet: bool,
}

/// Limits on what a playbook may do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailsSpec {
    /// After an incident resolves, a new incident on the same workload waits this long
    /// before its actions run (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Duration>,
    /// At most this many actions per window for this playbook (default 20 per 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// Record what would be done without doing it.
    #[serde(default)]
    pub dry_run: bool,
    /// Raise the severity one step when an incident stays unresolved this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after: Option<Duration>,
    /// When a GitOps tool or a person reverts or edits an applied mitigation,
    /// apply it again (within the budget; default true). False: only record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reapply_on_drift: Option<bool>,
}

/// A count of actions allowed per sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetSpec {
    pub max_actions: u32,
    pub window: Duration,
}

/// Observed state, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlaybookStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (False with reason `Invalid` when the spec does not validate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Number of workloads currently selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<i32>,
    /// Detector names, comma separated (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectors: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_incidents: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluation: Option<Time>,
    /// Detectors without data at the last evaluation, and why (missing data takes no action).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_data: Vec<NoDataStatus>,
    /// Mitigations currently applied by this playbook's incidents (`incident/step key`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_mitigations: Vec<String>,
}

/// A detector with no value for some targets at the last evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoDataStatus {
    pub detector: String,
    /// A no-data reason: `unreachable`, `timeout`, `http_status`, `query_failed`,
    /// `empty_result`, `no_series`, `stale`, `nan`.
    pub reason: String,
    pub targets: i32,
}
