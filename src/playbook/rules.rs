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
//! One group per detector, so that Prometheus evaluates a playbook's rules
//! concurrently (rules in one group run one after another). Rendered as a rule
//! file (`rule_files`, `promtool tsdb create-blocks-from rules` for backtests over
//! history from before the rules existed) or as prometheus-operator
//! `PrometheusRule` objects, one per playbook in its namespace.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Detector, Playbook};
use super::promql;
use crate::detect::file_source::SIGNAL_METRIC;

/// Labels every recorded series carries besides `namespace` and `workload`.
pub const PLAYBOOK_LABEL: &str = "playbook";
pub const DETECTOR_LABEL: &str = "detector";

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

/// The group recording `detector` of `pb`.
pub fn group(pb: &Playbook, detector: &Detector) -> RuleGroup {
    RuleGroup {
        name: format!(
            "firebreak/{}/{}/{}",
            pb.id.namespace, pb.id.name, detector.name
        ),
        interval: pb.interval.to_string(),
        rules: vec![RecordingRule {
            record: SIGNAL_METRIC.to_owned(),
            expr: promql::render(detector, &pb.target, &pb.id.namespace),
            labels: BTreeMap::from([
                (PLAYBOOK_LABEL.to_owned(), pb.id.name.clone()),
                (DETECTOR_LABEL.to_owned(), detector.name.clone()),
            ]),
        }],
    }
}

/// Every detector of every playbook, in one rule file.
pub fn rule_file<'a>(playbooks: impl IntoIterator<Item = &'a Playbook>) -> RuleFile {
    RuleFile {
        groups: playbooks
            .into_iter()
            .flat_map(|pb| pb.detectors.iter().map(move |d| group(pb, d)))
            .collect(),
    }
}

/// The name of the `PrometheusRule` that records `pb`.
pub fn prometheus_rule_name(pb: &Playbook) -> String {
    format!("firebreak-{}", pb.id.name)
}

/// A `monitoring.coreos.com/v1` `PrometheusRule` recording `pb`'s detectors, in
/// its namespace, with `labels` for the Prometheus `ruleSelector` to match.
pub fn prometheus_rule(pb: &Playbook, labels: &BTreeMap<String, String>) -> serde_json::Value {
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
        "spec": rule_file([pb]),
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
    fn one_group_per_detector_at_the_playbook_interval() {
        let pb = playbook();
        let file = rule_file([&pb]);
        let names: Vec<_> = file.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "firebreak/shop/checkout-latency/p99",
                "firebreak/shop/checkout-latency/errors"
            ]
        );
        let g = &file.groups[0];
        assert_eq!(g.interval, "30s");
        assert_eq!(g.rules[0].record, "firebreak_signal");
        assert_eq!(
            g.rules[0].expr,
            promql::render(&pb.detectors[0], &pb.target, "shop")
        );
        assert_eq!(g.rules[0].labels["playbook"], "checkout-latency");
        assert_eq!(g.rules[0].labels["detector"], "p99");
    }

    #[test]
    fn prometheus_rule_carries_selector_labels_and_the_same_groups() {
        let pb = playbook();
        let labels = BTreeMap::from([("release".to_owned(), "kube-prometheus-stack".to_owned())]);
        let rule = prometheus_rule(&pb, &labels);
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
            serde_json::to_value(rule_file([&pb])).expect("json")
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
