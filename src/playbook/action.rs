//! Action specs: what a playbook may do at a severity.
//!
//! Provider-neutral: the same `rateLimit` renders to an Istio `EnvoyFilter`, an
//! Envoy Gateway `BackendTrafficPolicy` or an annotation, depending on `backend`.
//! Exactly one kind field is set per action.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// One step of a severity's action list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionSpec {
    /// Post (or update) the incident's Slack thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyActionSpec>,
    /// Capture logs, events and metric readings into a ConfigMap owned by the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<DiagnosticsSpec>,
    /// Limit the request rate the workload accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Eject failing endpoints and cap connections to the workload's service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerSpec>,
    /// Abort an Argo Rollout, or restore a Deployment's previous revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackSpec>,
    /// Change the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleSpec>,
    /// Restart the pods (`kubectl rollout restart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartSpec>,

    /// Leave this mitigation in place when the incident resolves.
    #[serde(default)]
    pub keep: bool,
    /// Record the request instead of sending it.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotifyActionSpec {
    /// Extra text for the thread reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticsSpec {
    /// Pods to capture, most affected first (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods: Option<u32>,
    /// Log lines per container (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_lines: Option<u32>,
    /// Log bytes per container, and of the exec's output (default 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_bytes: Option<u32>,
    /// Also capture the previous container's logs (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<bool>,
    /// A command to exec in the most affected running pod, e.g.
    /// `["jcmd", "1", "Thread.print"]`. Runs only where the operator allows it
    /// (`--diagnostics-exec`, with `pods/exec` RBAC); otherwise skipped and noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecSpec {
    pub command: Vec<String>,
    /// Default: the pod's first container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Default 30s; the connection is dropped then and the output read so far kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Where traffic policies are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TrafficBackend {
    /// Istio `EnvoyFilter` / `DestinationRule`.
    #[default]
    Istio,
    /// Envoy Gateway `BackendTrafficPolicy`.
    EnvoyGateway,
    /// An annotation on the workload's pod template that the application reads.
    Annotation,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSpec {
    /// Absolute limit in requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// Relative limit: this percentage of the current request rate, resolved at apply time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_of_current: Option<f64>,
    /// Token bucket size (default: one second's worth of requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Only requests whose path starts with this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Only requests carrying this header with this exact value (e.g. one
    /// tenant's `x-tenant-id`). At most one of `pathPrefix` and `header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatchSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<TrafficBackend>,
}

/// An HTTP request header and the exact value it must have.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatchSpec {
    /// Header name, lower case (HTTP/2 form), e.g. `x-tenant-id`.
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerSpec {
    /// Service host (default: the workload's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Consecutive 5xx before an endpoint is ejected (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx_errors: Option<u32>,
    /// Ejection analysis interval (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Minimum ejection time (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    /// At most this percentage of endpoints ejected (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<u32>,
    /// TCP connection cap per upstream host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Queued request cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<TrafficBackend>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackSpec {}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSpec {
    /// Set the replica count to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Add this many replicas to the current count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<u32>,
    /// Never scale above this (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartSpec {}
