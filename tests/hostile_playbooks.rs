//! Hostile playbooks (issue 8, "Bad input"): each is rejected with a message that
//! names the file, the field where there is one, and the reason; nothing valid
//! next to it is lost. The property tests over the same code are in `fuzz_input.rs`.

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
    selector:
      matchLabels: {app: checkout}
  interval: 15s
  detectors:
    - name: p99
      latency: {matchers: 'route="/cart"'}
      thresholds: {high: 0.8, critical: 2}
      for: 1m
    - name: errors
      errorRate: {requests: {errorStatus: "5.."}}
      thresholds: {high: 0.05}
  actions:
    high:
      - diagnostics: {maxPods: 3}
      - rateLimit: {requestsPerSecond: 100}
"#;

/// Every problem line (`file:line:column: field: reason`) of one text.
fn problems(yaml: &str) -> Vec<String> {
    parse_documents(yaml, Some(Path::new("pb.yaml")))
        .into_iter()
        .flat_map(|r| r.err().unwrap_or_default())
        .map(|p| p.to_string())
        .collect()
}

/// GOOD with the first `from` replaced by `to`; the fixture text must exist.
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "fixture text {from:?} not in GOOD");
    GOOD.replacen(from, to, 1)
}

/// `depth` nested flow sequences as the value of `spec.target.names`.
fn nested(depth: usize) -> String {
    edit(
        "names: [checkout]",
        &format!("names: {}{}", "[".repeat(depth), "]".repeat(depth)),
    )
}

/// "Billion laughs": nine levels of ten aliases, 10^9 strings once expanded.
fn alias_bomb() -> String {
    let mut s = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    edit("spec:\n", &format!("{s}spec:\n"))
}

/// (what, input, substrings that one problem line must all contain)
fn cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let hostile_value = r#"x"} or vector(1) or {a=""#;
    vec![
        (
            "threshold beyond f64",
            edit("critical: 2}", "critical: 1e309}"),
            vec![
                "pb.yaml:15:",
                "spec.detectors[0].thresholds.critical: not a finite number",
            ],
        ),
        (
            "infinite threshold",
            edit("critical: 2}", "critical: .inf}"),
            vec!["spec.detectors[0].thresholds.critical: must be a finite number"],
        ),
        (
            "NaN threshold",
            edit("high: 0.05}", "high: .nan}"),
            vec!["spec.detectors[1].thresholds.high: must be a finite number"],
        ),
        (
            "duration that overflows u64 milliseconds",
            edit("for: 1m", "for: 18446744073709551615w"),
            vec!["pb.yaml:16:", "spec.detectors[0].for", "too large"],
        ),
        (
            "duration with more digits than any integer",
            edit("for: 1m", &format!("for: {}s", "9".repeat(400))),
            vec!["spec.detectors[0].for", "too large"],
        ),
        (
            "count beyond u32",
            edit("maxPods: 3", "maxPods: 99999999999"),
            vec![
                "pb.yaml:22:",
                "spec.actions.high[0].diagnostics.maxPods: must be a whole number",
            ],
        ),
        (
            "count in range of u32 but not of the field",
            edit("maxPods: 3", "maxPods: 4000000000"),
            vec![
                "spec.actions.high[0].diagnostics.maxPods",
                "between 1 and 20",
            ],
        ),
        (
            "negative count",
            edit("requestsPerSecond: 100", "requestsPerSecond: -100"),
            vec!["spec.actions.high[1].rateLimit.requestsPerSecond: must be a whole number"],
        ),
        (
            "negative duration",
            edit("interval: 15s", "interval: -5s"),
            vec!["pb.yaml:11:", "spec.interval", "invalid duration \"-5s\""],
        ),
        (
            "zero interval",
            edit("interval: 15s", "interval: 0s"),
            vec!["pb.yaml:11:", "spec.interval", "at least 1s"],
        ),
        (
            "zero budget window",
            edit(
                "  actions:\n",
                "  guardrails: {budget: {maxActions: 5, window: 0s}}\n  actions:\n",
            ),
            vec!["spec.guardrails.budget.window", "longer than 0s"],
        ),
        (
            "PromQL injection through a matcher value",
            edit(r#"route="/cart""#, &format!("route=\"{hostile_value}\"")),
            vec![
                "pb.yaml:14:",
                "spec.detectors[0].latency.matchers",
                "not a list of label matchers",
            ],
        ),
        (
            "PromQL injection through the namespace",
            edit("namespace: shop", &format!("namespace: '{hostile_value}'")),
            vec!["pb.yaml:5:", "metadata.namespace", "not a DNS-1123 label"],
        ),
        (
            "PromQL injection through a metric name",
            edit("latency: {", "latency: {metric: 'up or vector(1)', "),
            vec![
                "spec.detectors[0].latency.metric",
                "not a valid Prometheus metric name",
            ],
        ),
        (
            "PromQL injection through the status label",
            edit(
                "{errorStatus:",
                "{statusLabel: 'code=~\".*\"} or {a', errorStatus:",
            ),
            vec![
                "spec.detectors[1].errorRate.requests.statusLabel",
                "not a valid Prometheus label name",
            ],
        ),
        (
            "label selector injection through a matchLabels value",
            edit("{app: checkout}", "{app: 'checkout,tier!=db'}"),
            vec![
                "pb.yaml:10:",
                "spec.target.selector.matchLabels.app",
                "not a Kubernetes label value",
            ],
        ),
        (
            "label selector injection through a matchLabels key",
            edit("{app: checkout}", "{'x=1,example.com/app': checkout}"),
            vec![
                "spec.target.selector.matchLabels.x=1,example.com/app",
                "not a Kubernetes label key",
            ],
        ),
        (
            "unknown field (a typo)",
            edit("for: 1m", "fro: 1m"),
            vec!["pb.yaml:16:7: spec.detectors[0].fro: unknown field"],
        ),
        (
            "unknown top-level field",
            edit("spec:\n", "spce: {}\nspec:\n"),
            vec!["pb.yaml:6:1: spce: unknown field"],
        ),
        (
            "10,000 levels of flow nesting",
            nested(10_000),
            vec![
                "pb.yaml:8:",
                "spec.target.names: nested deeper than 32 levels",
            ],
        ),
        (
            "nesting just past the limit",
            nested(40),
            vec!["spec.target.names: nested deeper than 32 levels"],
        ),
        (
            "alias bomb",
            alias_bomb(),
            vec!["pb.yaml:", "aliases expand to more than 10000 nodes"],
        ),
        (
            "10 MB file",
            format!("{GOOD}{}", "#".repeat(10 * 1024 * 1024)),
            vec!["pb.yaml: file is 10486", "limited to 1048576 bytes"],
        ),
        (
            "wrong type: string for a list",
            edit("names: [checkout]", "names: checkout"),
            vec!["pb.yaml:8:12: spec.target.names: expected a list"],
        ),
        (
            "wrong type: list for a number",
            edit("critical: 2}", "critical: [2]}"),
            vec!["spec.detectors[0].thresholds.critical: expected a single value"],
        ),
        (
            "wrong type: mapping for a duration",
            edit("interval: 15s", "interval: {every: 15s}"),
            vec!["pb.yaml:11:13: spec.interval: expected a single value"],
        ),
        (
            "duplicate keys",
            edit("  name: api\n", "  name: api\n  name: web\n"),
            vec!["pb.yaml:5:3: metadata.name: written twice (duplicate key)"],
        ),
        (
            "binary garbage",
            "\u{0}\u{1}\u{2}\u{7f}PK\u{3}\u{4}\u{fffd}\u{10}".repeat(20),
            vec!["pb.yaml:1:1: unexpected character"],
        ),
        (
            "a scalar, not a mapping",
            "just some text\n".to_owned(),
            vec!["pb.yaml:1:1: expected a mapping (key: value)"],
        ),
        (
            "tab indentation",
            edit("  name: api", "\tname: api"),
            vec!["pb.yaml:4:2: tabs disallowed"],
        ),
    ]
}

#[test]
fn hostile_playbooks_are_rejected_with_the_field_and_reason() {
    let mut failures = Vec::new();
    for (what, yaml, expected) in cases() {
        let got = problems(&yaml);
        let found = got
            .iter()
            .any(|line| expected.iter().all(|want| line.contains(want)));
        if !found {
            failures.push(format!(
                "{what}: no problem contains all of {expected:?}:\n{got:#?}"
            ));
        }
        // Problem lines are for people and CI logs: no source snippets, no kilobytes
        // of the input echoed back.
        for line in &got {
            assert!(line.starts_with("pb.yaml"), "{what}: {line}");
            assert!(!line.contains('\n') && line.len() < 400, "{what}: {line:?}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_valid_document_next_to_a_hostile_one_still_loads() {
    let yaml = format!("{}---\n{GOOD}", nested(10_000));
    let results = parse_documents(&yaml, Some(Path::new("two.yaml")));
    assert_eq!(results.len(), 2);
    assert!(results[0].is_err());
    assert!(results[1].is_ok(), "{:?}", results[1]);
}

#[test]
fn a_document_marker_with_a_comment_still_separates_documents() {
    let yaml = format!(
        "{GOOD}--- # the second one\n{}",
        edit("name: api", "name: web")
    );
    let results = parse_documents(&yaml, Some(Path::new("two.yaml")));
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[test]
fn files_that_are_not_playbook_text_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    };
    write(
        "big.yaml",
        format!("{GOOD}{}", "#".repeat(10 << 20)).as_bytes(),
    );
    write("latin1.yaml", b"metadata:\n  name: caf\xe9\n");
    write("empty.yaml", b"");
    write("comments.yaml", b"# nothing here yet\n");
    let report = load_path(dir.path());
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    let expect = [
        ("big.yaml", "file is 10486"),
        ("big.yaml", "limited to 1048576 bytes"),
        (
            "latin1.yaml",
            "not UTF-8 text: invalid byte at line 2, column 12",
        ),
        ("empty.yaml", "no playbook in the file"),
        ("comments.yaml", "no playbook in the file"),
    ];
    for (file, want) in expect {
        assert!(
            lines.iter().any(|l| l.contains(file) && l.contains(want)),
            "{file}: {want:?} not in {lines:#?}"
        );
    }
    assert_eq!(report.files, 4);
}

/// `firebreak validate` on a directory with one good and one hostile file: one
/// `invalid file:line:column: …` line per problem, the good file still `ok`, exit 1.
#[test]
fn validate_cli_reports_each_problem_and_the_good_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a-good.yaml"), GOOD).expect("write");
    let hostile = edit("interval: 15s", "interval: 0s").replacen("maxPods: 3", "maxPods: 0", 1);
    std::fs::write(dir.path().join("b-hostile.yaml"), hostile).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .arg("validate")
        .arg(dir.path())
        .output()
        .expect("run firebreak validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let good = dir.path().join("a-good.yaml");
    let bad = dir.path().join("b-hostile.yaml").display().to_string();
    assert!(
        stdout.contains(&format!("ok      shop/api ({})", good.display())),
        "{stdout}"
    );
    let invalid: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("invalid "))
        .collect();
    let expected = [
        format!("invalid {bad}:11:3: spec.interval: must be at least 1s"),
        format!(
            "invalid {bad}:22:23: spec.actions.high[0].diagnostics.maxPods: must be between 1 and 20"
        ),
    ];
    assert_eq!(invalid, expected, "{stdout}");
    assert!(
        stdout.contains("1 valid playbook(s), 2 problem(s) in 2 file(s)"),
        "{stdout}"
    );
}
