//! The validated playbook the engine works with. Built only by `validate.rs`;
//! every default is resolved and every one-of is an enum.

use std::collections::BTreeMap;

use super::action::{CircuitBreakerSpec, DiagnosticsSpec, TrafficBackend};
use super::spec::WorkloadKind;
use crate::duration::Duration;
use crate::severity::{PerSeverity, Severity};

/// `namespace/name` of a playbook.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlaybookId {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for PlaybookId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A validated playbook.
#[derive(Clone, Debug, PartialEq)]
pub struct Playbook {
    pub id: PlaybookId,
    pub target: Target,
    pub interval: Duration,
    pub detectors: Vec<Detector>,
    /// Actions per severity (empty list where the playbook names none).
    pub actions: PerSeverity<Vec<Action>>,
    pub notify: PerSeverity<super::spec::SlackRoute>,
    pub guardrails: Guardrails,
}

impl Playbook {
    /// The Slack route for a severity: its own, else the nearest lower one.
    pub fn route_for(&self, severity: Severity) -> Option<&super::spec::SlackRoute> {
        Severity::ALL
            .into_iter()
            .rev()
            .filter(|s| *s <= severity)
            .find_map(|s| self.notify.get(s))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub kind: WorkloadKind,
    /// `matchLabels` of the selector, used to find pods for traffic policies.
    pub match_labels: BTreeMap<String, String>,
    /// Explicit names; empty means "every workload the selector matches".
    pub names: Vec<String>,
    /// Pod label that names the workload; `None` = owner references via kube-state-metrics.
    pub workload_label: Option<String>,
}

/// A workload a playbook watches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

pub use super::detector::Comparison;

#[derive(Clone, Debug, PartialEq)]
pub struct Detector {
    pub name: String,
    pub kind: DetectorKind,
    /// Thresholds present, lowest severity first, strictly ordered in the firing direction.
    pub thresholds: Vec<(Severity, f64)>,
    pub comparison: Comparison,
    pub for_: Duration,
    pub hysteresis: f64,
    pub clear_for: Duration,
}

impl Detector {
    /// Whether `value` is on the firing side of `threshold`.
    pub fn crosses(&self, value: f64, threshold: f64) -> bool {
        match self.comparison {
            Comparison::Above => value >= threshold,
            Comparison::Below => value <= threshold,
        }
    }

    /// Whether `value` has receded past `threshold` by the hysteresis margin.
    pub fn clears(&self, value: f64, threshold: f64) -> bool {
        match self.comparison {
            Comparison::Above => value < threshold - self.hysteresis,
            Comparison::Below => value > threshold + self.hysteresis,
        }
    }

    pub fn threshold(&self, severity: Severity) -> Option<f64> {
        self.thresholds
            .iter()
            .find(|(s, _)| *s == severity)
            .map(|(_, t)| *t)
    }
}

/// The signal a detector computes, with metric names resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum DetectorKind {
    CpuSaturation {
        window: Duration,
        usage_metric: String,
        limit_metric: String,
        matchers: Option<String>,
    },
    MemoryPressure {
        usage_metric: String,
        limit_metric: String,
        matchers: Option<String>,
    },
    MemoryLeak {
        window: Duration,
        usage_metric: String,
        limit_metric: String,
        matchers: Option<String>,
    },
    Latency {
        quantile: f64,
        window: Duration,
        metric: String,
        matchers: Option<String>,
    },
    ErrorRate {
        window: Duration,
        requests: Requests,
    },
    RequestRate {
        window: Duration,
        metric: String,
        matchers: Option<String>,
    },
    SloBurnRate {
        objective: f64,
        requests: Requests,
        /// Window pairs, lowest severity first.
        windows: Vec<(Severity, BurnWindow)>,
    },
    PromQl {
        query: String,
    },
}

impl DetectorKind {
    /// The spec field name, for messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            DetectorKind::CpuSaturation { .. } => "cpuSaturation",
            DetectorKind::MemoryPressure { .. } => "memoryPressure",
            DetectorKind::MemoryLeak { .. } => "memoryLeak",
            DetectorKind::Latency { .. } => "latency",
            DetectorKind::ErrorRate { .. } => "errorRate",
            DetectorKind::RequestRate { .. } => "requestRate",
            DetectorKind::SloBurnRate { .. } => "sloBurnRate",
            DetectorKind::PromQl { .. } => "promql",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Requests {
    pub metric: String,
    pub status_label: String,
    pub error_status: String,
    pub matchers: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnWindow {
    pub long: Duration,
    pub short: Duration,
    pub factor: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Guardrails {
    pub cooldown: Duration,
    pub budget: Budget,
    pub dry_run: bool,
    pub escalate_after: Option<Duration>,
    /// Apply a mitigation again when someone else changed it (within the budget).
    pub reapply_on_drift: bool,
}

/// At most `max_actions` per sliding `window`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub max_actions: u32,
    pub window: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub keep: bool,
    pub dry_run: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionKind {
    Notify { message: Option<String> },
    Diagnostics(DiagnosticsSpec),
    RateLimit(RateLimit),
    CircuitBreaker(CircuitBreakerSpec),
    Rollback,
    Scale(Scale),
    Restart,
}

impl ActionKind {
    /// The spec field name, used in idempotency keys and messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionKind::Notify { .. } => "notify",
            ActionKind::Diagnostics(_) => "diagnostics",
            ActionKind::RateLimit(_) => "rateLimit",
            ActionKind::CircuitBreaker(_) => "circuitBreaker",
            ActionKind::Rollback => "rollback",
            ActionKind::Scale(_) => "scale",
            ActionKind::Restart => "restart",
        }
    }

    /// Mitigations change the workload's traffic or pods and are reverted on resolve.
    pub fn is_mitigation(&self) -> bool {
        !matches!(self, ActionKind::Notify { .. } | ActionKind::Diagnostics(_))
    }

    /// Whether resolving the incident undoes this action (unless `keep`).
    pub fn is_reversible(&self) -> bool {
        matches!(
            self,
            ActionKind::RateLimit(_) | ActionKind::CircuitBreaker(_) | ActionKind::Scale(_)
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    pub limit: RateLimitValue,
    pub burst: Option<u32>,
    pub path_prefix: Option<String>,
    /// `(name, value)`: only requests with this header value.
    pub header: Option<(String, String)>,
    pub backend: TrafficBackend,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateLimitValue {
    RequestsPerSecond(u32),
    /// Percentage of the current request rate, resolved when applied.
    PercentOfCurrent(f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub to: ScaleTo,
    pub max: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScaleTo {
    Replicas(u32),
    Add(u32),
}
