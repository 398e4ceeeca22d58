//! Detector specs: which signal to compute per workload and how to judge it.
//!
//! Exactly one kind field is set per detector (Kubernetes' "one-of" idiom, as in
//! volume sources), which keeps the CRD schema structural. `validate.rs` turns
//! it into [`super::model::DetectorKind`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::severity::PerSeverity;

/// The detector fires on low values: `comparison: below`, or no comparison on a
/// `memoryLeak` (its default), as `validate.rs` decides.
macro_rules! fires_below {
    () => {
        "(has(self.comparison) ? self.comparison == 'below' : has(self.memoryLeak))"
    };
}

/// Every two thresholds present are ordered by `$op` (higher severity on the
/// left); pairwise over the present ones, since any may be absent.
macro_rules! thresholds_ordered {
    ($op:literal) => {
        concat!(
            "(!has(self.thresholds.low) || !has(self.thresholds.medium) || self.thresholds.medium ", $op, " self.thresholds.low)",
            " && (!has(self.thresholds.low) || !has(self.thresholds.high) || self.thresholds.high ", $op, " self.thresholds.low)",
            " && (!has(self.thresholds.low) || !has(self.thresholds.critical) || self.thresholds.critical ", $op, " self.thresholds.low)",
            " && (!has(self.thresholds.medium) || !has(self.thresholds.high) || self.thresholds.high ", $op, " self.thresholds.medium)",
            " && (!has(self.thresholds.medium) || !has(self.thresholds.critical) || self.thresholds.critical ", $op, " self.thresholds.medium)",
            " && (!has(self.thresholds.high) || !has(self.thresholds.critical) || self.thresholds.critical ", $op, " self.thresholds.high)",
        )
    };
}

/// CEL rule (`x-kubernetes-validations`) on a detector: for `comparison: above`
/// thresholds strictly increase with severity. The API server then rejects at
/// `kubectl apply` what `validate.rs` would reject later.
pub const THRESHOLDS_INCREASE_RULE: &str = concat!(
    "!has(self.thresholds) || ",
    fires_below!(),
    " || (",
    thresholds_ordered!(">"),
    ")"
);
pub const THRESHOLDS_INCREASE_MESSAGE: &str = "thresholds must increase with severity (low < medium < high < critical) when comparison is above, the default";

/// CEL rule on a detector: for `comparison: below` thresholds strictly decrease.
pub const THRESHOLDS_DECREASE_RULE: &str = concat!(
    "!has(self.thresholds) || !",
    fires_below!(),
    " || (",
    thresholds_ordered!("<"),
    ")"
);
pub const THRESHOLDS_DECREASE_MESSAGE: &str = "thresholds must decrease with severity (low > medium > high > critical) when comparison is below, the default for memoryLeak";

/// One detector of a playbook.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": THRESHOLDS_INCREASE_RULE,
        "message": THRESHOLDS_INCREASE_MESSAGE,
        "fieldPath": ".thresholds",
    },
    {
        "rule": THRESHOLDS_DECREASE_RULE,
        "message": THRESHOLDS_DECREASE_MESSAGE,
        "fieldPath": ".thresholds",
    },
]))]
pub struct DetectorSpec {
    /// Unique within the playbook; appears in incidents and events.
    pub name: String,

    /// CPU usage / CPU limit (ratio, 1.0 = at the limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_saturation: Option<CpuSaturationSpec>,
    /// Memory working set / memory limit (ratio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_pressure: Option<MemoryPressureSpec>,
    /// Hours until the working set reaches the limit at the current growth rate
    /// (fires on low values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_leak: Option<MemoryLeakSpec>,
    /// A latency quantile from a request-duration histogram, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Share of requests answered with an error status (ratio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<ErrorRateSpec>,
    /// Requests per second (fires on surges, or on drops with `comparison: below`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<RequestRateSpec>,
    /// SLO multi-window, multi-burn-rate (Google SRE workbook, chapter 5).
    /// Its value is the rank of the most severe window pair that fires (0-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_burn_rate: Option<SloBurnRateSpec>,
    /// A PromQL expression returning one series per workload, labelled
    /// `namespace` and `workload`. `$namespace` is replaced by the playbook's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promql: Option<String>,

    /// Threshold per severity. Required except for `sloBurnRate`.
    #[serde(default)]
    pub thresholds: PerSeverity<f64>,
    /// `above` (default; `below` for `memoryLeak`): which side of a threshold fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// How long a threshold must stay crossed before the severity is reached (default 0s).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<Duration>,
    /// Margin, in the detector's unit, the value must recede past a threshold to leave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hysteresis: Option<f64>,
    /// How long the value must stay past threshold minus hysteresis before the
    /// severity is left (default: the `for` duration, at least one interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_for: Option<Duration>,
}

/// Which side of the threshold fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Comparison {
    Above,
    Below,
}

/// Extra label matchers appended to every selector of a built-in detector,
/// e.g. `container="app"` or `route!="/healthz"`.
pub type Matchers = Option<String>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuSaturationSpec {
    /// Rate window (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// cAdvisor counter (default `container_cpu_usage_seconds_total`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metric: Option<String>,
    /// kube-state-metrics limits (default `kube_pod_container_resource_limits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Matchers,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryPressureSpec {
    /// cAdvisor gauge (default `container_memory_working_set_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metric: Option<String>,
    /// kube-state-metrics limits (default `kube_pod_container_resource_limits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Matchers,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryLeakSpec {
    /// Window over which growth is fitted (default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Matchers,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencySpec {
    /// Quantile in (0, 1), default 0.99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// Rate window (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// Histogram base name, without `_bucket` (default OpenTelemetry's
    /// `http_server_request_duration_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Matchers,
}

/// Which requests count and which of them are errors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRateSpec {
    /// Rate window (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// Which requests count and which are errors (defaults: OpenTelemetry HTTP server metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestsSpec>,
}

/// The request counter and how errors are told apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestsSpec {
    /// Request counter (default `http_server_request_duration_seconds_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Status label (default OpenTelemetry's `http_response_status_code`; `code` for
    /// most Prometheus client libraries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_label: Option<String>,
    /// Regex of error statuses (default `5..`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Matchers,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestRateSpec {
    /// Rate window (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// Request counter (default `http_server_request_duration_seconds_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Matchers,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SloBurnRateSpec {
    /// Availability objective in (0, 1), e.g. 0.999.
    pub objective: f64,
    /// Which requests count and which are errors (defaults: OpenTelemetry HTTP server metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestsSpec>,
    /// Window pairs per severity. Default: the SRE workbook's
    /// critical 1h/5m 14.4x, high 6h/30m 6x, medium 1d/2h 3x, low 3d/6h 1x.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<PerSeverity<BurnWindowSpec>>,
}

/// A long and a short window that must both burn faster than `factor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BurnWindowSpec {
    pub long: Duration,
    pub short: Duration,
    pub factor: f64,
}
