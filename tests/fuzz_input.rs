//! Property tests over everything that reads untrusted text (issue 8, "Bad input"):
//! the playbook parser and validator, the PromQL they render, and the OpenMetrics
//! scenario reader. Inputs are random edits of the shipped playbooks and scenarios
//! and random YAML-ish text; the properties are "no panic" and "every rejection
//! says where and why". Bounded to a few hundred cases each so CI stays fast.
//!
//! A failure prints the shrunk input and the seed; rerun it with
//! `PROPTEST_RNG_SEED=<seed> cargo test --test fuzz_input`. More cases:
//! `PROPTEST_CASES=10000`.

use std::path::Path;

use firebreak::detect::file_source::FileSource;
use firebreak::detect::openmetrics;
use firebreak::detect::{DetectorQuery, MetricSource};
use firebreak::playbook::PlaybookId;
use firebreak::playbook::load::parse_documents;
use firebreak::playbook::model::DetectorKind;
use firebreak::playbook::promql::render;
use jiff::Timestamp;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::RngSeed;

// Not in `support/mod.rs`: only this test depends on proptest.
#[path = "support/fuzz.rs"]
mod fuzz;
use fuzz::{apply, edits, outside_braces, promql_skeleton, yaml_ish};

const PLAYBOOKS: [(&str, &str); 5] = [
    (
        "cache-stampede.yaml",
        include_str!("../playbooks/cache-stampede.yaml"),
    ),
    (
        "lock-contention.yaml",
        include_str!("../playbooks/lock-contention.yaml"),
    ),
    (
        "memory-leak.yaml",
        include_str!("../playbooks/memory-leak.yaml"),
    ),
    ("slo-burn.yaml", include_str!("../playbooks/slo-burn.yaml")),
    (
        "traffic-surge.yaml",
        include_str!("../playbooks/traffic-surge.yaml"),
    ),
];

const SCENARIOS: [&str; 2] = [
    include_str!("../scenarios/lock-contention.om"),
    include_str!("../scenarios/cache-stampede.om"),
];

/// 256 cases unless `PROPTEST_CASES` says otherwise; a seed chosen here (or taken
/// from `PROPTEST_RNG_SEED`) and printed, so that a CI failure can be replayed.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config.failure_persistence = None;
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
    config.rng_seed = RngSeed::Fixed(seed);
    // Shown with the failure (the harness prints a failed test's output).
    eprintln!("proptest seed: PROPTEST_RNG_SEED={seed}");
    config
}

/// Parse and validate `text` as file `name`: no panic, and every problem names the
/// file, has a reason, and points inside the text when it has a position.
fn check_playbooks(name: &str, text: &str) {
    let file = Path::new(name);
    let lines = text.lines().count().max(1);
    for result in parse_documents(text, Some(file)) {
        match result {
            Ok(pb) => {
                // A valid playbook renders; the built-in kinds' PromQL is well formed.
                for d in &pb.detectors {
                    let q = render(d, &pb.target, &pb.id.namespace);
                    if !matches!(d.kind, DetectorKind::PromQl { .. }) {
                        assert!(promql_skeleton(&q).is_some(), "unbalanced PromQL: {q}");
                    }
                }
            }
            Err(problems) => {
                assert!(!problems.is_empty(), "a rejection without a problem");
                for p in problems {
                    assert_eq!(p.file.as_deref(), Some(file), "{p}");
                    assert!(!p.reason.trim().is_empty(), "no reason: {p:?}");
                    assert!(!p.reason.contains('\n'), "multi-line reason: {p:?}");
                    if let Some(pos) = p.position {
                        assert!(
                            pos.line >= 1 && pos.line <= lines + 1,
                            "{p} ({lines} lines)"
                        );
                        assert!(pos.column >= 1, "{p}");
                    }
                    assert!(
                        p.path.chars().all(|c| !c.is_control()),
                        "field path {:?}",
                        p.path
                    );
                }
            }
        }
    }
}

/// Parse `text` as a scenario: no panic; an error names a line of the text; a
/// scenario that loads answers queries for each of its series at any time.
fn check_scenario(text: &str) {
    let source = match FileSource::parse(text) {
        Err(e) => {
            assert!(!e.reason.is_empty());
            assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}");
            return;
        }
        Ok(source) => source,
    };
    let (from, to) = source
        .span()
        .unwrap_or((Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH));
    let series = openmetrics::parse(text).unwrap_or_default();
    for s in series.iter().take(8) {
        let label = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
        let q = DetectorQuery {
            playbook: PlaybookId {
                namespace: label("namespace"),
                name: label("playbook"),
            },
            detector: label("detector"),
            promql: String::new(),
        };
        // The span's ends, and the ends of time: as far as can be from any sample.
        for at in [from, to, Timestamp::MIN, Timestamp::MAX] {
            let answer = futures::executor::block_on(source.query(&q, at));
            assert!(answer.is_ok(), "{answer:?}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn edited_playbooks_never_panic_and_name_every_problem(
        which in 0..PLAYBOOKS.len(),
        edits in edits(),
    ) {
        let (name, text) = PLAYBOOKS[which];
        check_playbooks(name, &apply(text, &edits));
    }

    #[test]
    fn yaml_ish_text_never_panics(text in yaml_ish()) {
        check_playbooks("random.yaml", &text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_playbooks("random.yaml", &text);
        check_scenario(&text);
    }

    /// Whatever a matcher value, error status or namespace holds, it is either
    /// refused or cannot change the query's structure (what is outside strings).
    #[test]
    fn label_values_cannot_change_the_query(value in "[ -~]{0,24}|\\PC{0,8}") {
        let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let playbook = |matcher: &str, status: &str, namespace: &str| format!(
            "apiVersion: firebreak.dev/v1alpha1\nkind: Playbook\nmetadata: {{name: x, namespace: {}}}\n\
             spec:\n  target: {{names: [x]}}\n  detectors:\n\
             \x20   - {{name: a, latency: {{matchers: {}}}, thresholds: {{high: 1}}}}\n\
             \x20   - {{name: b, errorRate: {{requests: {{errorStatus: {}}}}}, thresholds: {{high: 1}}}}\n",
            json(namespace), json(matcher), json(status),
        );
        // The matcher field holds matchers, not a value: a quote in it may end the
        // value and start another matcher, but nothing may leave the braces.
        let shape = |yaml: &str, braces: bool| -> Option<Vec<String>> {
            let mut docs = parse_documents(yaml, None);
            let pb = docs.pop()?.ok()?;
            Some(pb.detectors.iter()
                .map(|d| render(d, &pb.target, &pb.id.namespace))
                .map(|q| match promql_skeleton(&q) {
                    Some(s) if braces => outside_braces(&s),
                    Some(s) => s,
                    None => format!("unbalanced: {q}"),
                })
                .collect())
        };
        let benign_yaml = playbook("route=\"x\"", "5..", "shop");
        let hostile = [
            (playbook(&format!("route=\"{value}\""), "5..", "shop"), true),
            (playbook("route=\"x\"", &value, "shop"), false),
            (playbook("route=\"x\"", "5..", &value), false),
        ];
        for (yaml, braces) in hostile {
            let benign = shape(&benign_yaml, braces);
            prop_assert!(benign.is_some());
            if let Some(got) = shape(&yaml, braces) {
                prop_assert_eq!(Some(got), benign, "{}", yaml);
            }
        }
    }

    #[test]
    fn edited_scenarios_never_panic_and_name_the_line(
        which in 0..SCENARIOS.len(),
        start in any::<Index>(),
        len in 0usize..300,
        edits in edits(),
    ) {
        let lines: Vec<&str> = SCENARIOS[which].lines().collect();
        let start = start.index(lines.len());
        let end = (start + len).min(lines.len());
        let mut slice = lines[start..end].join("\n");
        slice.push_str("\n# EOF\n");
        check_scenario(&apply(&slice, &edits));
    }
}
