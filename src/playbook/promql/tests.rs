use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use super::*;
use crate::playbook::model::{BurnWindow, Comparison};
use crate::playbook::spec::WorkloadKind;
use crate::severity::Severity;

fn dur(s: &str) -> Duration {
    s.parse().expect(s)
}

fn target(kind: WorkloadKind, workload_label: Option<&str>) -> Target {
    Target {
        kind,
        match_labels: BTreeMap::new(),
        names: vec![],
        workload_label: workload_label.map(str::to_owned),
    }
}

fn deployment() -> Target {
    target(WorkloadKind::Deployment, None)
}

fn detector(kind: DetectorKind) -> Detector {
    Detector {
        name: kind.as_str().to_owned(),
        kind,
        thresholds: vec![(Severity::High, 1.0)],
        comparison: Comparison::Above,
        for_: Duration::ZERO,
        hysteresis: 0.0,
        clear_for: Duration::ZERO,
    }
}

fn requests(matchers: Option<&str>) -> Requests {
    Requests {
        metric: "http_server_request_duration_seconds_count".to_owned(),
        status_label: "http_response_status_code".to_owned(),
        error_status: "5..".to_owned(),
        matchers: matchers.map(str::to_owned),
    }
}

/// One detector of every kind, with the spec defaults.
fn all_kinds() -> Vec<Detector> {
    let app = Some(r#"container="app""#.to_owned());
    let kinds = vec![
        DetectorKind::CpuSaturation {
            window: dur("5m"),
            usage_metric: "container_cpu_usage_seconds_total".to_owned(),
            limit_metric: "kube_pod_container_resource_limits".to_owned(),
            matchers: app.clone(),
        },
        DetectorKind::MemoryPressure {
            usage_metric: "container_memory_working_set_bytes".to_owned(),
            limit_metric: "kube_pod_container_resource_limits".to_owned(),
            matchers: None,
        },
        DetectorKind::MemoryLeak {
            window: dur("1h"),
            usage_metric: "container_memory_working_set_bytes".to_owned(),
            limit_metric: "kube_pod_container_resource_limits".to_owned(),
            matchers: None,
        },
        DetectorKind::Latency {
            quantile: 0.99,
            window: dur("5m"),
            metric: "http_server_request_duration_seconds".to_owned(),
            matchers: Some(r#"http_route!="/healthz""#.to_owned()),
        },
        DetectorKind::ErrorRate {
            window: dur("5m"),
            requests: requests(None),
        },
        DetectorKind::RequestRate {
            window: dur("1m"),
            metric: "http_server_request_duration_seconds_count".to_owned(),
            matchers: None,
        },
        DetectorKind::SloBurnRate {
            objective: 0.999,
            requests: requests(None),
            windows: vec![
                (
                    Severity::High,
                    BurnWindow {
                        long: dur("6h"),
                        short: dur("30m"),
                        factor: 6.0,
                    },
                ),
                (
                    Severity::Critical,
                    BurnWindow {
                        long: dur("1h"),
                        short: dur("5m"),
                        factor: 14.4,
                    },
                ),
            ],
        },
        DetectorKind::PromQl {
            query: r#"max by (namespace, workload) (my_queue_depth{namespace="$namespace"})"#
                .to_owned(),
        },
    ];
    kinds.into_iter().map(detector).collect()
}

const OWNER_MAP: &str = r#"max by (namespace, workload, pod) (label_replace(label_replace(kube_pod_owner{namespace="shop", owner_kind="ReplicaSet"}, "replicaset", "$1", "owner_name", "(.*)") * on (namespace, replicaset) group_left (owner_name) topk by (namespace, replicaset) (1, max by (namespace, replicaset, owner_name) (kube_replicaset_owner{namespace="shop", owner_kind="KIND"})), "workload", "$1", "owner_name", "(.*)"))"#;

const LABEL_MAP: &str = r#"max by (namespace, workload, pod) (label_replace(kube_pod_labels{namespace="shop", label_app_kubernetes_io_name!=""}, "workload", "$1", "label_app_kubernetes_io_name", "(.+)"))"#;

const JOIN: &str = "* on (namespace, pod) group_left (workload) MAP";

/// Expected queries in `all_kinds()` order; `MAP` stands for the mapping.
fn expected() -> Vec<String> {
    let cpu_usage = r#"container_cpu_usage_seconds_total{namespace="shop", container!="", container!="POD", image!="", container="app"}"#;
    let cpu_limit = r#"kube_pod_container_resource_limits{namespace="shop", resource="cpu", unit="core", container="app"}"#;
    let mem_usage =
        r#"container_memory_working_set_bytes{namespace="shop", container!="", image!=""}"#;
    let mem_limit =
        r#"kube_pod_container_resource_limits{namespace="shop", resource="memory", unit="byte"}"#;
    let rate =
        |sel: &str, w: &str| format!("sum by (namespace, workload) (rate({sel}[{w}]) {JOIN})");
    let all = r#"http_server_request_duration_seconds_count{namespace="shop"}"#;
    let errors = r#"http_server_request_duration_seconds_count{namespace="shop", http_response_status_code=~"5.."}"#;
    let ratio = |w: &str| format!("{} / {}", rate(errors, w), rate(all, w));
    vec![
        format!(
            "sum by (namespace, workload) ((rate({cpu_usage}[5m]) and on (namespace, pod, container) {cpu_limit}) {JOIN}) / \
             sum by (namespace, workload) ((max by (namespace, pod, container) ({cpu_limit}) and on (namespace, pod, container) {cpu_usage}) {JOIN})"
        ),
        format!(
            "sum by (namespace, workload) (({mem_usage} and on (namespace, pod, container) {mem_limit}) {JOIN}) / \
             sum by (namespace, workload) ((max by (namespace, pod, container) ({mem_limit}) and on (namespace, pod, container) {mem_usage}) {JOIN})"
        ),
        format!(
            "min by (namespace, workload) (((max by (namespace, pod, container) ({mem_limit}) - on (namespace, pod, container) max by (namespace, pod, container) ({mem_usage})) \
             / on (namespace, pod, container) clamp_min(max by (namespace, pod, container) (deriv({mem_usage}[1h])), 1e-06) / 3600) {JOIN})"
        ),
        format!(
            r#"histogram_quantile(0.99, sum by (namespace, workload, le) (rate(http_server_request_duration_seconds_bucket{{namespace="shop", http_route!="/healthz"}}[5m]) {JOIN}))"#
        ),
        format!(
            "({} or 0 * {}) / {}",
            rate(errors, "5m"),
            rate(all, "5m"),
            rate(all, "5m")
        ),
        rate(all, "1m"),
        format!(
            r#"max by (namespace, workload) (label_replace(({} >= bool 0.006) * ({} >= bool 0.006) * 3, "severity", "high", "", "") or label_replace(({} >= bool 0.0144) * ({} >= bool 0.0144) * 4, "severity", "critical", "", "") or 0 * {})"#,
            ratio("6h"),
            ratio("30m"),
            ratio("1h"),
            ratio("5m"),
            rate(all, "5m"),
        ),
        r#"max by (namespace, workload) (my_queue_depth{namespace="shop"})"#.to_owned(),
    ]
}

fn check_all(target: &Target, map: &str) {
    for (d, want) in all_kinds().iter().zip(expected()) {
        let want = want.replace("MAP", map);
        assert_eq!(render(d, target, "shop"), want, "{}", d.kind.as_str());
    }
}

#[test]
fn renders_every_kind_with_owner_references_for_deployments() {
    check_all(&deployment(), &OWNER_MAP.replace("KIND", "Deployment"));
}

#[test]
fn renders_every_kind_with_owner_references_for_rollouts() {
    let rollout = target(WorkloadKind::Rollout, None);
    check_all(&rollout, &OWNER_MAP.replace("KIND", "Rollout"));
}

#[test]
fn renders_every_kind_with_a_workload_label() {
    let by_label = target(WorkloadKind::Deployment, Some("app.kubernetes.io/name"));
    check_all(&by_label, LABEL_MAP);
}

#[test]
fn formats_numbers_without_float_noise() {
    assert_eq!(number(14.4 * (1.0 - 0.999)), "0.0144");
    assert_eq!(number(0.999), "0.999");
    assert_eq!(number(1.0), "1");
    assert_eq!(number(f64::INFINITY), "+Inf");
}

/// `query` with every double-quoted string literal removed.
fn outside_strings(query: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for c in query.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, false, _) => {}
            (false, _, '"') => in_string = true,
            (false, _, c) => out.push(c),
        }
    }
    out
}

const EVIL: &str = r#"x\"} or vector(1) or up{a="\"#;

#[test]
fn quoted_values_cannot_break_out_of_their_string() {
    assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(quote("a\nb"), r#""a\nb""#);
    let mut errors = requests(None);
    errors.error_status = EVIL.to_owned();
    let d = detector(DetectorKind::ErrorRate {
        window: dur("5m"),
        requests: errors,
    });
    for t in [deployment(), target(WorkloadKind::Rollout, Some("app"))] {
        let query = render(&d, &t, EVIL);
        assert!(
            query.contains(r#"namespace="x\\\"} or vector(1) or up{a=\"\\""#),
            "{query}"
        );
        assert!(!outside_strings(&query).contains("vector"), "{query}");
    }
}

#[test]
fn sanitizes_pod_label_keys_like_kube_state_metrics() {
    assert_eq!(
        ksm_pod_label("app.kubernetes.io/name"),
        "label_app_kubernetes_io_name"
    );
    assert_eq!(ksm_pod_label("team-x"), "label_team_x");
}

/// Every rendered query (all kinds, both mappings, a Rollout, a hostile
/// namespace) as recording rules, for `promtool check rules`.
pub(super) fn rules_file() -> serde_json::Value {
    let targets = [
        deployment(),
        target(WorkloadKind::Rollout, None),
        target(WorkloadKind::Deployment, Some("app.kubernetes.io/name")),
    ];
    let mut rules = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        for ns in ["shop", EVIL] {
            for d in all_kinds() {
                // `$namespace` goes in raw inside the user's own quotes: safe for
                // real namespaces (DNS-1123 labels), not for this hostile one.
                if ns == EVIL && matches!(d.kind, DetectorKind::PromQl { .. }) {
                    continue;
                }
                rules.push(serde_json::json!({
                    "record": format!("firebreak:{}:{i}", d.kind.as_str()),
                    "expr": render(&d, t, ns),
                }));
            }
        }
    }
    serde_json::json!({ "groups": [{ "name": "firebreak", "rules": rules }] })
}

#[test]
fn promtool_accepts_every_rendered_query() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("firebreak-promql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("rules.yaml");
    // JSON is YAML, and serde_json quotes the expressions correctly.
    std::fs::write(&file, rules_file().to_string()).expect("write rules");
    let output = match Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run promtool ({e}): install Debian's `prometheus` package \
             (apt-get install -y prometheus), which provides it"
        ),
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "promtool check rules failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
