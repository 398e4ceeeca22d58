//! Playbook files: the shipped ones validate, and invalid ones are rejected with
//! every problem named by file, line, column, field and reason.

use std::path::Path;

use firebreak::playbook::load::{load_path, parse_documents};

const GOOD: &str = r#"apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata:
  name: api
  namespace: shop
spec:
  target:
    names: [checkout]
  detectors:
    - name: p99
      latency: {}
      thresholds: {high: 0.8, critical: 2}
  actions:
    high:
      - rateLimit: {requestsPerSecond: 100}
"#;

fn problems(yaml: &str) -> Vec<String> {
    parse_documents(yaml, Some(Path::new("pb.yaml")))
        .into_iter()
        .flat_map(|r| r.err().unwrap_or_default())
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn shipped_playbooks_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let report = load_path(&dir);
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.files, 5);
    assert_eq!(report.playbooks.len(), 5);
}

#[test]
fn a_good_playbook_has_no_problems() {
    assert!(problems(GOOD).is_empty());
}

/// (what is wrong, replaced text, replacement, every expected problem line)
const BAD: &[(&str, &str, &str, &[&str])] = &[
    (
        "thresholds must increase with severity",
        "{high: 0.8, critical: 2}",
        "{high: 0.8, critical: 0.5}",
        &[
            "pb.yaml:12:31: spec.detectors[0].thresholds.critical: must be greater than high (0.8), got 0.5",
        ],
    ),
    (
        "unknown fields are reported, not dropped",
        "      latency: {}\n",
        "      latency: {quantil: 0.9}\n",
        &["pb.yaml:11:17: spec.detectors[0].latency.quantil: unknown field"],
    ),
    (
        "wrong type names the field",
        "requestsPerSecond: 100",
        "requestsPerSecond: lots",
        &[
            "pb.yaml:15:40: spec.actions.high[0].rateLimit.requestsPerSecond: must be a whole number from 0 to 4294967295",
        ],
    ),
    (
        "malformed duration",
        "      latency: {}\n",
        "      latency: {}\n      for: 5 minutes\n",
        &["spec.detectors[0].for"],
    ),
    (
        "one detector kind only, and every problem is listed",
        "      latency: {}\n",
        "      latency: {}\n      errorRate: {}\n      hysteresis: -1\n",
        &[
            "pb.yaml:10:7: spec.detectors[0]: set exactly one detector kind, found latency, errorRate",
            "spec.detectors",
        ],
    ),
    (
        "PromQL injection through matchers is refused",
        "      latency: {}\n",
        "      latency: {matchers: 'a=\"x\"} or vector(1) or {b=\"y\"'}\n",
        &["pb.yaml:11:17: spec.detectors[0].latency.matchers: not a list of label matchers"],
    ),
    (
        "apiVersion and kind are checked",
        "kind: Playbook",
        "kind: Playbok",
        &["kind: expected \"Playbook\", got \"Playbok\""],
    ),
    (
        "names must be valid Kubernetes names",
        "names: [checkout]",
        "names: [Checkout_API]",
        &["pb.yaml:8:13: spec.target.names[0]: \"Checkout_API\" is not a DNS-1123 label"],
    ),
    (
        "rate limit needs exactly one limit",
        "{requestsPerSecond: 100}",
        "{requestsPerSecond: 100, percentOfCurrent: 80}",
        &["spec.actions.high[0].rateLimit: set exactly one of requestsPerSecond, percentOfCurrent"],
    ),
    (
        "keep on an irreversible action is a mistake",
        "      - rateLimit: {requestsPerSecond: 100}\n",
        "      - restart: {}\n        keep: true\n",
        &["spec.actions.high[0].keep: restart is never reverted; keep has no effect"],
    ),
    (
        "huge numbers are rejected as out of range",
        "requestsPerSecond: 100",
        "requestsPerSecond: 99999999999999999999",
        &["spec.actions.high[0].rateLimit.requestsPerSecond"],
    ),
    (
        "guardrail budget must allow something",
        "  actions:\n",
        "  guardrails: {budget: {maxActions: 0, window: 1h}}\n  actions:\n",
        &["spec.guardrails.budget.maxActions: must be at least 1"],
    ),
    (
        "rate limit by header and path at once, header name with upper case",
        "rateLimit: {requestsPerSecond: 100}",
        "rateLimit: {requestsPerSecond: 100, pathPrefix: /api, header: {name: X-Tenant, value: acme}}",
        &[
            "rateLimit.header: set at most one of pathPrefix and header",
            "rateLimit.header.name: must be a lower-case HTTP header name",
        ],
    ),
    (
        "rate limit header with an empty value",
        "rateLimit: {requestsPerSecond: 100}",
        "rateLimit: {requestsPerSecond: 100, header: {name: x-tenant, value: \"\"}}",
        &["rateLimit.header.value: must be 1 to 256 characters"],
    ),
];

#[test]
fn invalid_playbooks_give_documented_errors() {
    for (what, from, to, expected) in BAD {
        assert!(
            GOOD.contains(from),
            "{what}: fixture text {from:?} not found"
        );
        let got = problems(&GOOD.replacen(from, to, 1));
        assert!(!got.is_empty(), "{what}: accepted");
        for want in *expected {
            assert!(
                got.iter().any(|g| g.contains(want)),
                "{what}: wanted {want:?} in {got:#?}"
            );
        }
    }
}

#[test]
fn every_problem_in_a_file_is_listed() {
    let yaml = GOOD
        .replacen("{high: 0.8, critical: 2}", "{high: 0.8, critical: 0.1}", 1)
        .replacen("names: [checkout]", "names: [Bad!]", 1);
    assert_eq!(problems(&yaml).len(), 2, "{:#?}", problems(&yaml));
}

#[test]
fn multi_document_files_report_lines_in_the_whole_file() {
    let yaml = format!(
        "{GOOD}---\n{}",
        GOOD.replacen("critical: 2", "critical: 0.1", 1)
    );
    let results = parse_documents(&yaml, Some(Path::new("two.yaml")));
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let errs = results[1].as_ref().err().cloned().unwrap_or_default();
    let line_of_doc2_thresholds = GOOD.lines().count() + 1 + 12;
    assert_eq!(
        errs[0].position.map(|p| p.line),
        Some(line_of_doc2_thresholds),
        "{errs:?}"
    );
}

#[test]
fn oversized_and_missing_files_are_reported() {
    let big = format!("{GOOD}{}", "#".repeat(2 * 1024 * 1024));
    assert!(problems(&big)[0].contains("limited to 1048576 bytes"));
    let report = load_path(Path::new("/nonexistent/playbooks"));
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].to_string().contains("cannot read"));
}
