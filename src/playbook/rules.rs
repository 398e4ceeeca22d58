//! Prometheus recording rules for playbooks' detectors.
//!
//! Each detector's batched query, recorded by Prometheus as
//! `firebreak_signal{namespace, workload, playbook, detector}`: Firebreak then
//! reads (`--query-mode recorded`) one cheap selector per detector instead of
//! evaluating the whole query in its cycle. Worth it at thousands of workloads,
//! where a raw query touches every pod's series each cycle (README, Performance):
//! Prometheus pays for the query on its own schedule and the cycle reads the
//! result. The rule interval adds up to one interval to detection.
//!
//! One group per playbook. Its first rule records the pod → workload mapping
//! (`firebreak_workload_pod`) that every built-in detector joins against, once
//! instead of once per join (eight times for the bench's four detectors); rules
//! in a group run one after another at the same evaluation time, so the
//! detectors read the mapping of that very evaluation. One group also keeps a
//! playbook's rules on one core at a time, leaving the others to ingestion and
//! to the cycle's queries.
//!
//! `promtool tsdb create-blocks-from rules` (backtests over history from before
//! the rules existed) evaluates every rule on its own against the raw series, so
//! a rule cannot read what another records in the same run: [`Layout::SelfContained`]
//! inlines the mapping instead. Both layouts record the same values. Rendered as
//! a rule file (`rule_files`) or as prometheus-operator `PrometheusRule`
//! objects, one per playbook in its namespace.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Detector, Playbook};
use super::promql::{self, Mapping};
use crate::detect::file_source::SIGNAL_METRIC;

/// Labels every recorded series carries besides `namespace` and `workload`.
pub const PLAYBOOK_LABEL: &str = "playbook";
pub const DETECTOR_LABEL: &str = "detector";
/// The recorded pod → workload mapping, `{namespace, workload, pod, playbook}` = 1.
pub const WORKLOAD_POD_METRIC: &str = "firebreak_workload_pod";

/// How a playbook's rules find each pod's workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// For Prometheus: the mapping recorded once per evaluation by the group's
    /// first rule and read by its detectors.
    #[default]
    Shared,
    /// For `promtool tsdb create-blocks-from rules`: every rule stands alone.
    SelfContained,
}

/// A Prometheus rule file: `groups:`.
#[derive(Debug, Serialize, PartialEq)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// The playbook's `interval`, so a fresh value is there for each cycle.
    pub interval: String,
    pub rules: Vec<RecordingRule>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RecordingRule {
    pub record: String,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
}

/// The group recording every detector of `pb`.
pub fn group(pb: &Playbook, layout: Layout) -> RuleGroup {
    let namespace = &pb.id.namespace;
    let playbook_label = || (PLAYBOOK_LABEL.to_owned(), pb.id.name.clone());
    let selector = mapping_selector(pb);
    let shared = layout == Layout::Shared && pb.detectors.iter().any(promql::uses_mapping);
    let mut rules = Vec::with_capacity(pb.detectors.len() + 1);
    let mapping = if shared {
        rules.push(RecordingRule {
            record: WORKLOAD_POD_METRIC.to_owned(),
            expr: promql::workload_mapping(&pb.target, namespace),
            labels: BTreeMap::from([playbook_label()]),
        });
        Mapping::Selector(&selector)
    } else {
        Mapping::Inline
    };
    rules.extend(pb.detectors.iter().map(|d| RecordingRule {
        record: SIGNAL_METRIC.to_owned(),
        expr: promql::render_with(d, &pb.target, namespace, mapping),
        labels: BTreeMap::from([
            playbook_label(),
            (DETECTOR_LABEL.to_owned(), d.name.clone()),
        ]),
    }));
    RuleGroup {
        name: format!("firebreak/{namespace}/{}", pb.id.name),
        interval: pb.interval.to_string(),
        rules,
    }
}

/// The series `pb`'s mapping rule records.
fn mapping_selector(pb: &Playbook) -> String {
    format!(
        "{WORKLOAD_POD_METRIC}{{namespace={}, {PLAYBOOK_LABEL}={}}}",
        promql::quote(&pb.id.namespace),
        promql::quote(&pb.id.name),
    )
}

/// Every playbook's group, in one rule file.
pub fn rule_file<'a>(
    playbooks: impl IntoIterator<Item = &'a Playbook>,
    layout: Layout,
) -> RuleFile {
    RuleFile {
        groups: playbooks.into_iter().map(|pb| group(pb, layout)).collect(),
    }
}

/// The name of the `PrometheusRule` that records `pb`.
pub fn prometheus_rule_name(pb: &Playbook) -> String {
    format!("firebreak-{}", pb.id.name)
}

/// A `monitoring.coreos.com/v1` `PrometheusRule` recording `pb`'s detectors, in
/// its namespace, with `labels` for the Prometheus `ruleSelector` to match.
pub fn prometheus_rule(
    pb: &Playbook,
    layout: Layout,
    labels: &BTreeMap<String, String>,
) -> serde_json::Value {
    let mut all = labels.clone();
    all.insert(
        "app.kubernetes.io/managed-by".to_owned(),
        "firebreak".to_owned(),
    );
    all.insert("firebreak.dev/playbook".to_owned(), pb.id.name.clone());
    serde_json::json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": prometheus_rule_name(pb),
            "namespace": pb.id.namespace,
            "labels": all,
        },
        "spec": rule_file([pb], layout),
    })
}

/// The recorded series of one detector, as the cycle reads it: series without a
/// `playbook` label (replay scenarios store none) count as this playbook's.
pub fn recorded_query(pb: &Playbook, d: &Detector) -> String {
    format!(
        "max by (namespace, workload) ({})",
        recorded_selector(pb, d)
    )
}

/// [`recorded_query`] without the `max by`: the series as stored, which a
/// backtest reduces per workload itself. Over a range, Prometheus 2.42 groups
/// every series at every step, four times the cost of reading them.
pub fn recorded_selector(pb: &Playbook, d: &Detector) -> String {
    format!(
        "{SIGNAL_METRIC}{{{DETECTOR_LABEL}={}, namespace={}, {PLAYBOOK_LABEL}=~{}}}",
        promql::quote(&d.name),
        promql::quote(&pb.id.namespace),
        // Empty or this playbook: a missing label matches the empty string.
        promql::quote(&format!("|{}", pb.id.name)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load::parse_documents;

    const PLAYBOOK: &str = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: checkout-latency, namespace: shop}
spec:
  target: {kind: Deployment, selector: {matchLabels: {app: checkout}}}
  interval: 30s
  detectors:
    - name: p99
      latency: {quantile: 0.99, window: 5m}
      thresholds: {high: 1}
    - name: errors
      errorRate: {window: 5m}
      thresholds: {low: 0.05}
  actions:
    high: [{notify: {}}]
"#;

    fn playbook() -> Playbook {
        parse_documents(PLAYBOOK, None)
            .into_iter()
            .next()
            .and_then(Result::ok)
            .expect("valid playbook")
    }

    #[test]
    fn one_group_per_playbook_recording_the_mapping_first() {
        let pb = playbook();
        let file = rule_file([&pb], Layout::Shared);
        assert_eq!(file.groups.len(), 1);
        let g = &file.groups[0];
        assert_eq!(g.name, "firebreak/shop/checkout-latency");
        assert_eq!(g.interval, "30s");
        let records: Vec<_> = g.rules.iter().map(|r| r.record.as_str()).collect();
        assert_eq!(
            records,
            [
                "firebreak_workload_pod",
                "firebreak_signal",
                "firebreak_signal"
            ]
        );
        assert_eq!(
            g.rules[0].expr,
            promql::workload_mapping(&pb.target, "shop")
        );
        assert_eq!(g.rules[0].labels["playbook"], "checkout-latency");
        let selector = r#"firebreak_workload_pod{namespace="shop", playbook="checkout-latency"}"#;
        for (rule, d) in g.rules[1..].iter().zip(&pb.detectors) {
            assert_eq!(
                rule.expr,
                promql::render_with(d, &pb.target, "shop", Mapping::Selector(selector))
            );
            assert!(rule.expr.contains(selector), "{}", rule.expr);
            assert!(!rule.expr.contains("kube_pod_owner"), "{}", rule.expr);
            assert_eq!(rule.labels["playbook"], "checkout-latency");
            assert_eq!(rule.labels["detector"], d.name);
        }
    }

    #[test]
    fn self_contained_rules_inline_the_mapping() {
        let pb = playbook();
        let file = rule_file([&pb], Layout::SelfContained);
        let g = &file.groups[0];
        assert_eq!(g.rules.len(), pb.detectors.len());
        for (rule, d) in g.rules.iter().zip(&pb.detectors) {
            assert_eq!(rule.record, "firebreak_signal");
            assert_eq!(rule.expr, promql::render(d, &pb.target, "shop"));
        }
    }

    #[test]
    fn custom_promql_alone_records_no_mapping() {
        let mut pb = playbook();
        pb.detectors.truncate(1);
        pb.detectors[0].kind = crate::playbook::model::DetectorKind::PromQl {
            query: "up{namespace=\"$namespace\"}".to_owned(),
        };
        let file = rule_file([&pb], Layout::Shared);
        let records: Vec<_> = file.groups[0].rules.iter().map(|r| &r.record).collect();
        assert_eq!(records, ["firebreak_signal"]);
        assert_eq!(file.groups[0].rules[0].expr, r#"up{namespace="shop"}"#);
    }

    #[test]
    fn prometheus_rule_carries_selector_labels_and_the_same_groups() {
        let pb = playbook();
        let labels = BTreeMap::from([("release".to_owned(), "kube-prometheus-stack".to_owned())]);
        let rule = prometheus_rule(&pb, Layout::Shared, &labels);
        assert_eq!(rule["metadata"]["name"], "firebreak-checkout-latency");
        assert_eq!(rule["metadata"]["namespace"], "shop");
        assert_eq!(
            rule["metadata"]["labels"]["release"],
            "kube-prometheus-stack"
        );
        assert_eq!(
            rule["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "firebreak"
        );
        assert_eq!(
            rule["spec"],
            serde_json::to_value(rule_file([&pb], Layout::Shared)).expect("json")
        );
    }

    #[test]
    fn recorded_query_selects_what_the_rule_records() {
        let pb = playbook();
        assert_eq!(
            recorded_query(&pb, &pb.detectors[1]),
            r#"max by (namespace, workload) (firebreak_signal{detector="errors", namespace="shop", playbook=~"|checkout-latency"})"#
        );
    }
}
