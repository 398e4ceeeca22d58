//! Detector validation: exactly one kind, ordered thresholds, resolved defaults.

use std::collections::HashSet;

use super::names::{is_dns_label, is_label_name, is_metric_name, valid_matchers};
use super::{MAX_DETECTORS, Problems};
use crate::duration::Duration;
use crate::playbook::detector::{Comparison, DetectorSpec, RequestsSpec};
use crate::playbook::model::{BurnWindow, Detector, DetectorKind, Requests};
use crate::severity::Severity;

const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
const LEAK_WINDOW: Duration = Duration::from_secs(3600);
const CPU_USAGE: &str = "container_cpu_usage_seconds_total";
const MEMORY_USAGE: &str = "container_memory_working_set_bytes";
const LIMITS: &str = "kube_pod_container_resource_limits";
const HISTOGRAM: &str = "http_server_request_duration_seconds";
const REQUESTS: &str = "http_server_request_duration_seconds_count";
const STATUS_LABEL: &str = "http_response_status_code";
const MAX_QUERY_BYTES: usize = 16 * 1024;

/// The SRE workbook's recommended pairs (table 5-8), mapped to severities.
pub const DEFAULT_BURN_WINDOWS: [(Severity, BurnWindow); 4] = [
    (
        Severity::Low,
        BurnWindow {
            long: Duration::from_secs(3 * 86_400),
            short: Duration::from_secs(6 * 3600),
            factor: 1.0,
        },
    ),
    (
        Severity::Medium,
        BurnWindow {
            long: Duration::from_secs(86_400),
            short: Duration::from_secs(2 * 3600),
            factor: 3.0,
        },
    ),
    (
        Severity::High,
        BurnWindow {
            long: Duration::from_secs(6 * 3600),
            short: Duration::from_secs(1800),
            factor: 6.0,
        },
    ),
    (
        Severity::Critical,
        BurnWindow {
            long: Duration::from_secs(3600),
            short: Duration::from_secs(300),
            factor: 14.4,
        },
    ),
];

pub fn validate_all(specs: &[DetectorSpec], interval: Duration, p: &mut Problems) -> Vec<Detector> {
    if specs.is_empty() {
        p.push("spec.detectors", "at least one detector is required");
    }
    if specs.len() > MAX_DETECTORS {
        p.push(
            "spec.detectors",
            format!("at most {MAX_DETECTORS} detectors"),
        );
    }
    let mut seen = HashSet::new();
    specs
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let path = format!("spec.detectors[{i}]");
            if !seen.insert(d.name.as_str()) {
                p.push(
                    format!("{path}.name"),
                    format!("duplicate detector name {:?}", d.name),
                );
            }
            validate_one(d, &path, interval, p)
        })
        .collect()
}

fn validate_one(
    d: &DetectorSpec,
    path: &str,
    interval: Duration,
    p: &mut Problems,
) -> Option<Detector> {
    if !is_dns_label(&d.name) {
        p.push(
            format!("{path}.name"),
            format!("{:?} is not a DNS-1123 label", d.name),
        );
    }
    let kind = kind(d, path, p)?;
    let default_comparison = match kind {
        DetectorKind::MemoryLeak { .. } => Comparison::Below,
        _ => Comparison::Above,
    };
    let comparison = d.comparison.unwrap_or(default_comparison);
    let thresholds = match &kind {
        DetectorKind::SloBurnRate { windows, .. } => {
            if d.thresholds.iter().next().is_some() {
                p.push(
                    format!("{path}.thresholds"),
                    "not used by sloBurnRate: severities come from its windows",
                );
            }
            if d.comparison == Some(Comparison::Below) {
                p.push(format!("{path}.comparison"), "sloBurnRate fires above");
            }
            // The query returns the rank of the most severe firing pair.
            windows
                .iter()
                .map(|(s, _)| (*s, f64::from(s.rank())))
                .collect()
        }
        _ => thresholds(d, comparison, path, p),
    };
    let hysteresis = d.hysteresis.unwrap_or(0.0);
    if !hysteresis.is_finite() || hysteresis < 0.0 {
        p.push(format!("{path}.hysteresis"), "must be a finite number >= 0");
    }
    let for_ = d.for_.unwrap_or(Duration::ZERO);
    Some(Detector {
        name: d.name.clone(),
        kind,
        thresholds,
        comparison,
        for_,
        hysteresis,
        clear_for: d.clear_for.unwrap_or(for_.max(interval)),
    })
}

fn thresholds(
    d: &DetectorSpec,
    comparison: Comparison,
    path: &str,
    p: &mut Problems,
) -> Vec<(Severity, f64)> {
    let list: Vec<(Severity, f64)> = d.thresholds.iter().map(|(s, v)| (s, *v)).collect();
    if list.is_empty() {
        p.push(
            format!("{path}.thresholds"),
            "at least one of low, medium, high, critical is required",
        );
    }
    for (s, v) in &list {
        if !v.is_finite() {
            p.push(format!("{path}.thresholds.{s}"), "must be a finite number");
        }
    }
    for pair in list.windows(2) {
        let ((lo_s, lo), (hi_s, hi)) = (pair[0], pair[1]);
        let ordered = match comparison {
            Comparison::Above => hi > lo,
            Comparison::Below => hi < lo,
        };
        if !ordered {
            let word = match comparison {
                Comparison::Above => "greater",
                Comparison::Below => "less (comparison: below)",
            };
            p.push(
                format!("{path}.thresholds.{hi_s}"),
                format!("must be {word} than {lo_s} ({lo}), got {hi}"),
            );
        }
    }
    list
}

/// Resolve the one kind field that is set, with defaults.
fn kind(d: &DetectorSpec, path: &str, p: &mut Problems) -> Option<DetectorKind> {
    let kind_field = super::exactly_one(
        path,
        "detector kind",
        &[
            ("cpuSaturation", d.cpu_saturation.is_some()),
            ("memoryPressure", d.memory_pressure.is_some()),
            ("memoryLeak", d.memory_leak.is_some()),
            ("latency", d.latency.is_some()),
            ("errorRate", d.error_rate.is_some()),
            ("requestRate", d.request_rate.is_some()),
            ("sloBurnRate", d.slo_burn_rate.is_some()),
            ("promql", d.promql.is_some()),
        ],
        p,
    )?;
    let mut c = Checker {
        path: format!("{path}.{kind_field}"),
        p,
    };
    let kind = if let Some(s) = &d.cpu_saturation {
        DetectorKind::CpuSaturation {
            window: c.window("window", s.window, DEFAULT_WINDOW),
            usage_metric: c.metric("usageMetric", &s.usage_metric, CPU_USAGE),
            limit_metric: c.metric("limitMetric", &s.limit_metric, LIMITS),
            matchers: c.matchers("matchers", &s.matchers),
        }
    } else if let Some(s) = &d.memory_pressure {
        DetectorKind::MemoryPressure {
            usage_metric: c.metric("usageMetric", &s.usage_metric, MEMORY_USAGE),
            limit_metric: c.metric("limitMetric", &s.limit_metric, LIMITS),
            matchers: c.matchers("matchers", &s.matchers),
        }
    } else if let Some(s) = &d.memory_leak {
        DetectorKind::MemoryLeak {
            window: c.window("window", s.window, LEAK_WINDOW),
            usage_metric: c.metric("usageMetric", &s.usage_metric, MEMORY_USAGE),
            limit_metric: c.metric("limitMetric", &s.limit_metric, LIMITS),
            matchers: c.matchers("matchers", &s.matchers),
        }
    } else if let Some(s) = &d.latency {
        let quantile = s.quantile.unwrap_or(0.99);
        if !(quantile > 0.0 && quantile < 1.0) {
            c.push("quantile", "must be between 0 and 1 (exclusive)");
        }
        DetectorKind::Latency {
            quantile,
            window: c.window("window", s.window, DEFAULT_WINDOW),
            metric: c.metric("metric", &s.metric, HISTOGRAM),
            matchers: c.matchers("matchers", &s.matchers),
        }
    } else if let Some(s) = &d.error_rate {
        DetectorKind::ErrorRate {
            window: c.window("window", s.window, DEFAULT_WINDOW),
            requests: c.requests(s.requests.as_ref()),
        }
    } else if let Some(s) = &d.request_rate {
        DetectorKind::RequestRate {
            window: c.window("window", s.window, DEFAULT_WINDOW),
            metric: c.metric("metric", &s.metric, REQUESTS),
            matchers: c.matchers("matchers", &s.matchers),
        }
    } else if let Some(s) = &d.slo_burn_rate {
        if !(s.objective > 0.0 && s.objective < 1.0) {
            c.push(
                "objective",
                "must be between 0 and 1 (exclusive), e.g. 0.999",
            );
        }
        let windows = match &s.windows {
            None => DEFAULT_BURN_WINDOWS.to_vec(),
            Some(w) => w
                .iter()
                .map(|(sev, w)| {
                    let at = format!("windows.{sev}");
                    if w.short >= w.long {
                        c.push(&format!("{at}.short"), "must be shorter than long");
                    }
                    if w.short.is_zero() {
                        c.push(&format!("{at}.short"), "must be longer than 0s");
                    }
                    if !(w.factor.is_finite() && w.factor > 0.0) {
                        c.push(&format!("{at}.factor"), "must be a positive number");
                    }
                    (
                        sev,
                        BurnWindow {
                            long: w.long,
                            short: w.short,
                            factor: w.factor,
                        },
                    )
                })
                .collect(),
        };
        if windows.is_empty() {
            c.push("windows", "at least one window pair is required");
        }
        DetectorKind::SloBurnRate {
            objective: s.objective,
            requests: c.requests(s.requests.as_ref()),
            windows,
        }
    } else {
        let query = d.promql.clone().unwrap_or_default();
        if query.trim().is_empty() {
            c.push("", "must not be empty");
        } else if query.len() > MAX_QUERY_BYTES {
            c.push("", &format!("at most {MAX_QUERY_BYTES} bytes"));
        }
        DetectorKind::PromQl { query }
    };
    Some(kind)
}

/// Field checks under one detector kind's path.
struct Checker<'a> {
    path: String,
    p: &'a mut Problems,
}

impl Checker<'_> {
    /// A problem at `field` under this kind's path (`""`: the kind itself).
    fn push(&mut self, field: &str, reason: &str) {
        let path = if field.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{field}", self.path)
        };
        self.p.push(path, reason.to_owned());
    }

    fn window(&mut self, field: &str, value: Option<Duration>, default: Duration) -> Duration {
        let w = value.unwrap_or(default);
        if w < Duration::from_secs(1) {
            self.push(field, "must be at least 1s");
        }
        w
    }

    fn metric(&mut self, field: &str, value: &Option<String>, default: &str) -> String {
        let m = value.clone().unwrap_or_else(|| default.to_owned());
        if !is_metric_name(&m) {
            self.push(
                field,
                &format!("{m:?} is not a valid Prometheus metric name"),
            );
        }
        m
    }

    fn label(&mut self, field: &str, value: &Option<String>, default: &str) -> String {
        let l = value.clone().unwrap_or_else(|| default.to_owned());
        if !is_label_name(&l) || l.contains(['-', '.']) {
            self.push(
                field,
                &format!("{l:?} is not a valid Prometheus label name"),
            );
        }
        l
    }

    fn matchers(&mut self, field: &str, value: &Option<String>) -> Option<String> {
        if let Some(m) = value
            && let Err(reason) = valid_matchers(m)
        {
            self.push(field, &format!("not a list of label matchers: {reason}"));
        }
        value.clone()
    }

    fn requests(&mut self, r: Option<&RequestsSpec>) -> Requests {
        let r = r.cloned().unwrap_or_default();
        let error_status = r.error_status.clone().unwrap_or_else(|| "5..".to_owned());
        if error_status.is_empty() {
            self.push("requests.errorStatus", "must not be empty");
        }
        Requests {
            metric: self.metric("requests.metric", &r.metric, REQUESTS),
            status_label: self.label("requests.statusLabel", &r.status_label, STATUS_LABEL),
            error_status,
            matchers: self.matchers("requests.matchers", &r.matchers),
        }
    }
}
