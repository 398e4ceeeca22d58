//! Detectors rendered to PromQL: one batched query per detector for all the
//! workloads of a playbook, `… by (namespace, workload)`.
//!
//! Every metric family (cAdvisor `container_*`, kube-state-metrics limits,
//! application HTTP metrics scraped by pod/service monitors) carries
//! `namespace` and `pod`; it is attributed to its workload by one join,
//! `* on (namespace, pod) group_left (workload) <pod → workload mapping>`.
//! Selectors are restricted to the playbook's namespace; the engine picks its
//! targets out of the result client-side, so no workload name appears here.

use super::model::{Detector, DetectorKind, Requests, Target};
use crate::duration::Duration;

#[cfg(test)]
mod tests;

/// Where a rendered query finds each pod's workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping<'a> {
    /// [`workload_mapping`] inlined at every join: the query stands alone.
    Inline,
    /// A selector of series shaped like [`workload_mapping`]'s, recorded by a rule.
    Selector(&'a str),
}

/// The instant query whose result has one series per workload, labelled
/// `namespace` and `workload`, whose value the detector's thresholds judge.
pub fn render(detector: &Detector, target: &Target, namespace: &str) -> String {
    render_with(detector, target, namespace, Mapping::Inline)
}

/// Whether `detector`'s query attributes pods to workloads (every built-in kind;
/// custom PromQL does its own).
pub fn uses_mapping(detector: &Detector) -> bool {
    !matches!(detector.kind, DetectorKind::PromQl { .. })
}

/// [`render`], reading the pod → workload mapping from `mapping`.
pub fn render_with(
    detector: &Detector,
    target: &Target,
    namespace: &str,
    mapping: Mapping<'_>,
) -> String {
    let q = Query {
        namespace: quote(namespace),
        mapping: match mapping {
            Mapping::Inline => workload_mapping(target, namespace),
            Mapping::Selector(selector) => selector.to_owned(),
        },
    };
    match &detector.kind {
        DetectorKind::CpuSaturation {
            window,
            usage_metric,
            limit_metric,
            matchers,
        } => {
            let usage = q.selector(usage_metric, CPU_USAGE, matchers);
            let limit = q.selector(limit_metric, CPU_LIMIT, matchers);
            saturation(&q, &format!("rate({usage}[{window}])"), &usage, &limit)
        }
        DetectorKind::MemoryPressure {
            usage_metric,
            limit_metric,
            matchers,
        } => {
            let usage = q.selector(usage_metric, MEMORY_USAGE, matchers);
            let limit = q.selector(limit_metric, MEMORY_LIMIT, matchers);
            saturation(&q, &usage, &usage, &limit)
        }
        DetectorKind::MemoryLeak {
            window,
            usage_metric,
            limit_metric,
            matchers,
        } => {
            let usage = q.selector(usage_metric, MEMORY_USAGE, matchers);
            let limit = q.selector(limit_metric, MEMORY_LIMIT, matchers);
            memory_leak(&q, *window, &usage, &limit)
        }
        DetectorKind::Latency {
            quantile,
            window,
            metric,
            matchers,
        } => {
            let buckets = q.selector(&format!("{metric}_bucket"), &[], matchers);
            let by_le = q.per_workload("sum", ", le", &format!("rate({buckets}[{window}])"));
            format!("histogram_quantile({}, {by_le})", number(*quantile))
        }
        DetectorKind::ErrorRate { window, requests } => {
            let errors = q.requests_rate(requests, true, *window);
            let all = q.requests_rate(requests, false, *window);
            // Without `or 0 * all`, a workload that never answered an error (fresh
            // pods, e.g. right after a rollback) has no error series and would read
            // as "no data" instead of 0.
            format!("({errors} or 0 * {all}) / {all}")
        }
        DetectorKind::RequestRate {
            window,
            metric,
            matchers,
        } => {
            let requests = q.selector(metric, &[], matchers);
            q.per_workload("sum", "", &format!("rate({requests}[{window}])"))
        }
        DetectorKind::SloBurnRate {
            objective,
            requests,
            windows,
        } => {
            // Google SRE workbook ch. 5, "multiwindow, multi-burn-rate alerts": a
            // pair fires when both windows burn the error budget `factor` times
            // faster than sustainable, i.e. error ratio >= factor * (1 - objective).
            // `>= bool` turns NaN (no traffic) into 0; the value is the rank of the
            // most severe firing pair. Each pair gets its own `severity` label, or
            // `or` would drop all but the first (same label set).
            let ratio = |w| {
                let errors = q.requests_rate(requests, true, w);
                let all = q.requests_rate(requests, false, w);
                format!("{errors} / {all}")
            };
            let mut pairs: Vec<String> = windows
                .iter()
                .map(|(severity, bw)| {
                    let threshold = number(bw.factor * (1.0 - objective));
                    format!(
                        "label_replace(({} >= bool {threshold}) * ({} >= bool {threshold}) * {}, \"severity\", \"{severity}\", \"\", \"\")",
                        ratio(bw.long),
                        ratio(bw.short),
                        severity.rank(),
                    )
                })
                .collect();
            // A pair without error series has no result and cannot fire; this floor
            // keeps a 0 for every workload with traffic series. The 5m fallback only
            // keeps the query valid for an empty pair list, which validation should reject.
            let floor_window = windows
                .iter()
                .map(|(_, bw)| bw.short)
                .min()
                .unwrap_or(Duration::from_secs(300));
            pairs.push(format!(
                "0 * {}",
                q.requests_rate(requests, false, floor_window)
            ));
            format!("max by (namespace, workload) ({})", pairs.join(" or "))
        }
        // The user wrote the quotes around `$namespace`; the raw name goes in.
        DetectorKind::PromQl { query } => query.replace("$namespace", namespace),
    }
}

/// A PromQL double-quoted string literal holding `value` verbatim (Go escapes,
/// which PromQL uses), so no value can end the string early.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The label under which kube-state-metrics exposes pod label `key` on
/// `kube_pod_labels`: `label_` + the key with every character outside
/// `[a-zA-Z0-9_]` replaced by `_` (the key must be in KSM's
/// `--metric-labels-allowlist`).
pub fn ksm_pod_label(key: &str) -> String {
    let sanitized: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("label_{sanitized}")
}

/// Shortest round-trip decimal of `x` after rounding to 12 significant digits,
/// so arithmetic noise such as `14.4 * (1 - 0.999) = 0.014400000000000013`
/// prints as `0.0144`.
fn number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let rounded: f64 = format!("{x:.11e}").parse().unwrap_or(x);
    rounded.to_string()
}

/// cAdvisor: `container=""` is the pod cgroup, `POD` the pause container.
/// `image!=""` drops the kubelet's `/metrics/resource` copy of the same
/// container (same `namespace`, `pod`, `container`, no `image`), which would
/// otherwise be counted twice where both endpoints are scraped; kube-prometheus'
/// `container_cpu_usage_seconds_total` and `container_memory_working_set_bytes`
/// rules select `image!=""` for the same reason.
const CPU_USAGE: &[&str] = &[r#"container!="""#, r#"container!="POD""#, r#"image!="""#];
const MEMORY_USAGE: &[&str] = &[r#"container!="""#, r#"image!="""#];
const CPU_LIMIT: &[&str] = &[r#"resource="cpu""#, r#"unit="core""#];
const MEMORY_LIMIT: &[&str] = &[r#"resource="memory""#, r#"unit="byte""#];

/// Below this growth (bytes/s, under 0.1 byte a day) memory counts as flat.
const MIN_GROWTH: &str = "1e-06";

struct Query {
    /// The namespace as a quoted string literal.
    namespace: String,
    /// Series `{namespace, workload, pod}` with value 1, unique per (namespace, pod).
    mapping: String,
}

impl Query {
    /// `metric{namespace="…", <fixed>, <user matchers>}`.
    fn selector(&self, metric: &str, fixed: &[&str], matchers: &Option<String>) -> String {
        let mut parts = vec![format!("namespace={}", self.namespace)];
        parts.extend(fixed.iter().map(|m| (*m).to_owned()));
        let extra = matchers
            .as_deref()
            .map(|m| m.trim().trim_end_matches(',').trim())
            .filter(|m| !m.is_empty());
        parts.extend(extra.map(str::to_owned));
        format!("{metric}{{{}}}", parts.join(", "))
    }

    /// `agg by (namespace, workload<extra_by>) (expr * on (namespace, pod) group_left (workload) mapping)`;
    /// `expr` must bind tighter than `*` (a call, a selector or parenthesised).
    fn per_workload(&self, agg: &str, extra_by: &str, expr: &str) -> String {
        format!(
            "{agg} by (namespace, workload{extra_by}) ({expr} * on (namespace, pod) group_left (workload) {})",
            self.mapping
        )
    }

    /// Request rate per workload over `window`, only errors if `errors`.
    fn requests_rate(&self, r: &Requests, errors: bool, window: Duration) -> String {
        let status = format!("{}=~{}", r.status_label, quote(&r.error_status));
        let fixed: &[&str] = if errors { &[status.as_str()] } else { &[] };
        let selector = self.selector(&r.metric, fixed, &r.matchers);
        self.per_workload("sum", "", &format!("rate({selector}[{window}])"))
    }
}

/// Usage / limit per workload, over the containers that have both a usage series
/// and a limit: containers without a limit would inflate the ratio, limits of
/// pods that no longer run (evicted, completed) would deflate it. Limits are
/// deduplicated per container first (HA kube-state-metrics), as kube-prometheus'
/// `namespace_cpu:kube_pod_container_resource_limits:sum` does.
fn saturation(q: &Query, usage_value: &str, usage: &str, limit: &str) -> String {
    let used = q.per_workload(
        "sum",
        "",
        &format!("({usage_value} and on (namespace, pod, container) {limit})"),
    );
    let allowed = q.per_workload(
        "sum",
        "",
        &format!("(max by (namespace, pod, container) ({limit}) and on (namespace, pod, container) {usage})"),
    );
    format!("{used} / {allowed}")
}

/// Hours until the working set reaches the limit, per container, then the
/// soonest container of each workload. `deriv` (the least-squares slope
/// `predict_linear` also fits) gives the growth rate directly, where
/// `predict_linear` would only answer "over the limit by a fixed horizon?".
/// Non-positive growth is clamped to [`MIN_GROWTH`], so a flat or shrinking
/// container yields a huge number (not a negative one, and not a missing series,
/// which the engine would treat as "no data"). At or over the limit gives <= 0.
/// Both sides are reduced to (namespace, pod, container) first: cAdvisor and
/// kube-state-metrics carry different other labels, and a restarted container
/// has two cAdvisor series within the window.
fn memory_leak(q: &Query, window: Duration, usage: &str, limit: &str) -> String {
    let per_container = "max by (namespace, pod, container)";
    let headroom = format!(
        "({per_container} ({limit}) - on (namespace, pod, container) {per_container} ({usage}))"
    );
    let growth = format!("clamp_min({per_container} (deriv({usage}[{window}])), {MIN_GROWTH})");
    q.per_workload(
        "min",
        "",
        &format!("({headroom} / on (namespace, pod, container) {growth} / 3600)"),
    )
}

/// Series `{namespace, workload, pod}` (value 1) naming each pod's workload.
pub fn workload_mapping(target: &Target, namespace: &str) -> String {
    let ns = quote(namespace);
    match &target.workload_label {
        // kube-prometheus' `namespace_workload_pod:kube_pod_owner:relabel`
        // (kubernetes-mixin rules/apps.libsonnet, deployment rule): pod →
        // ReplicaSet by `kube_pod_owner`, ReplicaSet → Deployment (or Argo
        // Rollout) by `kube_replicaset_owner`; `topk` keeps one owner per
        // ReplicaSet so the join stays many-to-one.
        None => format!(
            "max by (namespace, workload, pod) (label_replace(label_replace(\
             kube_pod_owner{{namespace={ns}, owner_kind=\"ReplicaSet\"}}, \
             \"replicaset\", \"$1\", \"owner_name\", \"(.*)\") \
             * on (namespace, replicaset) group_left (owner_name) \
             topk by (namespace, replicaset) (1, max by (namespace, replicaset, owner_name) (\
             kube_replicaset_owner{{namespace={ns}, owner_kind={kind}}})), \
             \"workload\", \"$1\", \"owner_name\", \"(.*)\"))",
            kind = quote(target.kind.as_str()),
        ),
        Some(key) => {
            let label = ksm_pod_label(key);
            format!(
                "max by (namespace, workload, pod) (label_replace(\
                 kube_pod_labels{{namespace={ns}, {label}!=\"\"}}, \
                 \"workload\", \"$1\", \"{label}\", \"(.+)\"))"
            )
        }
    }
}
