//! Rendering within Block Kit's limits: the root, replies, standalone messages.

use serde_json::Value;

use super::blocks::{MAX_BLOCKS, MAX_FIELD, MAX_HEADER, MAX_TEXT, Message};
use super::fixtures::{self, INCIDENT, action, escalated, notice};
use super::reply::{self, capture_pointer};
use super::root::{self, MAX_READINGS, RootInput, Tally};
use super::text::chars;
use super::view::Links;
use crate::notify::{Notice, NoticeKind, NoticeReading};
use crate::severity::Severity;

/// Every text of every block, with the limit that applies to it.
fn texts(blocks: &[Value]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for b in blocks {
        let limit = if b["type"] == "header" {
            MAX_HEADER
        } else {
            MAX_TEXT
        };
        if let Some(t) = b["text"]["text"].as_str() {
            out.push((limit, t.to_owned()));
        }
        for f in b["fields"].as_array().into_iter().flatten() {
            out.push((MAX_FIELD, f["text"].as_str().unwrap_or_default().to_owned()));
        }
        for e in b["elements"].as_array().into_iter().flatten() {
            out.push((MAX_TEXT, e["text"].as_str().unwrap_or_default().to_owned()));
        }
    }
    out
}

fn all_texts(m: &Message) -> Vec<(usize, String)> {
    let mut out = texts(&m.blocks);
    for a in &m.attachments {
        out.extend(texts(&a.blocks));
    }
    out
}

fn assert_within_limits(m: &Message) {
    assert!(m.block_count() <= MAX_BLOCKS, "{} blocks", m.block_count());
    assert!(!m.text.is_empty());
    for (limit, t) in all_texts(m) {
        assert!(chars(&t) <= limit, "{} > {limit}: {t:.80}", chars(&t));
    }
}

fn joined(m: &Message) -> String {
    all_texts(m)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_root(n: &Notice, tally: &Tally, mentions: &[String]) -> Message {
    let links = Links {
        prometheus: "https://prometheus.example.com".parse().ok(),
        grafana: "https://grafana.example.com/d/abc/workload".parse().ok(),
    };
    root::render(&RootInput {
        notice: n,
        view: &fixtures::view(),
        links: &links,
        tally,
        mentions,
        step: None,
    })
}

#[test]
fn the_root_shows_severity_workload_playbook_readings_phase_and_links() {
    let n = escalated(60, Severity::Low, Severity::High);
    let tally = Tally {
        applied: 2,
        dry_run: 1,
        failed: 1,
        reverted: 0,
    };
    let m = render_root(&n, &tally, &["@oncall".into()]);
    assert_within_limits(&m);
    assert_eq!(m.attachments[0].color, "#E8762D");
    assert!(m.link_names);
    assert!(
        m.text
            .starts_with("@oncall :large_orange_circle: HIGH incident on shop/checkout: open"),
        "{}",
        m.text
    );
    let all = joined(&m);
    for want in [
        ":large_orange_circle: HIGH · shop/checkout · open",
        "Deployment `shop/checkout`",
        "`shop/checkout-latency`",
        "high (was low)",
        "*latency-p99* 0.42 ≥ 0.3 (high)",
        "https://prometheus.example.com/graph?g0.expr=",
        "g0.range_input=1h",
        "https://grafana.example.com/d/abc/workload?var-namespace=shop&var-workload=checkout",
        "*Actions:* 2 applied · 1 dry-run · 1 failed",
        &format!("kubectl -n shop get incident {INCIDENT}"),
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
}

#[test]
fn a_resolved_root_is_green_and_says_how_long_it_took() {
    let mut n = notice(NoticeKind::Resolved, 843, Severity::High);
    n.phase = "resolved".into();
    n.duration_seconds = Some(843);
    let m = render_root(&n, &Tally::default(), &[]);
    assert_eq!(m.attachments[0].color, "#2EB67D");
    let all = joined(&m);
    assert!(
        all.contains(":white_check_mark: HIGH · shop/checkout · resolved"),
        "{all}"
    );
    assert!(all.contains("*Duration*\n14m 3s"), "{all}");
    assert!(
        all.contains("to="),
        "the Grafana range ends after resolution: {all}"
    );
}

#[test]
fn more_than_50_readings_are_capped_and_counted() {
    let mut n = notice(NoticeKind::Opened, 0, Severity::Critical);
    n.readings = (0..60)
        .map(|i| NoticeReading {
            detector: format!("detector-{i:02}-{}", "x".repeat(120)),
            value: Some(f64::from(i)),
            threshold: Some(1.0),
            severity: (i % 2 == 0).then_some(Severity::Critical),
            no_data: None,
            at: fixtures::t0(),
        })
        .collect();
    let m = render_root(&n, &Tally::default(), &[]);
    assert_within_limits(&m);
    let all = joined(&m);
    let listed = all.lines().filter(|l| l.starts_with("• ")).count();
    assert_eq!(listed, MAX_READINGS);
    assert!(all.contains("… and 40 more detectors"), "{all}");
    // Firing detectors come first.
    let first = all
        .lines()
        .find(|l| l.starts_with("• "))
        .unwrap_or_default();
    assert!(first.contains(":red_circle:"), "{first}");
}

#[test]
fn a_long_diagnostics_note_is_truncated_with_a_pointer_to_its_configmap() {
    let mut n = action(NoticeKind::ActionApplied, 30, "diagnostics", false);
    let log: String = (0..400)
        .map(|i| format!("line {i:04}: GC pause <1s> & retry\n"))
        .collect();
    let note = format!("captured into configmap/fb-diag-checkout-7 (2 pods)\n{log}");
    assert!(note.len() > 10_000);
    if let Some(a) = n.action.as_mut() {
        a.note = Some(note);
    }
    let m = reply::render(&n, &[]);
    assert_within_limits(&m);
    let all = joined(&m);
    assert!(
        all.contains(":stethoscope: *Diagnostics* captured"),
        "{all}"
    );
    assert!(
        all.contains("GC pause &lt;1s&gt; &amp; retry"),
        "escaped: {all:.400}"
    );
    let capture = all_texts(&m)
        .into_iter()
        .map(|(_, t)| t)
        .find(|t| t.starts_with("```"))
        .unwrap_or_default();
    assert!(
        chars(&capture) <= MAX_TEXT && chars(&capture) > MAX_TEXT - 200,
        "{}",
        chars(&capture)
    );
    assert!(
        capture
            .ends_with("Full capture: `kubectl -n shop get configmap fb-diag-checkout-7 -o yaml`"),
        "{}",
        &capture[capture.len() - 200..]
    );
    assert_eq!(
        capture.matches("```").count(),
        2,
        "the code block is closed before the pointer"
    );
}

#[test]
fn the_configmap_is_found_in_the_usual_phrasings() {
    let p = |note: &str| capture_pointer(note, "shop");
    assert_eq!(
        p("stored in ConfigMap `diag-1`."),
        "`kubectl -n shop get configmap diag-1 -o yaml`"
    );
    assert_eq!(
        p("configmap/ops/diag-2: 3 pods"),
        "`kubectl -n ops get configmap diag-2 -o yaml`"
    );
    assert!(p("3 pods captured").contains("kubectl -n shop get configmaps"));
}

#[test]
fn replies_say_what_happened_to_which_action() {
    let applied = reply::render(
        &action(NoticeKind::ActionApplied, 1, "rateLimit", false),
        &[],
    );
    assert!(joined(&applied).contains(":white_check_mark: *rateLimit* applied"));
    let dry = reply::render(&action(NoticeKind::ActionApplied, 1, "rollback", true), &[]);
    assert!(joined(&dry).contains(":test_tube: *rollback* dry-run: recorded, not applied"));
    let failed = reply::render(
        &action(NoticeKind::ActionFailed, 1, "circuitBreaker", false),
        &[],
    );
    assert!(joined(&failed).contains(":x: *circuitBreaker* apply failed"));
    assert!(joined(&failed).contains("```admission webhook denied```"));
    let reverted = reply::render(
        &action(NoticeKind::ActionReverted, 1, "rateLimit", false),
        &[],
    );
    assert!(joined(&reverted).contains(":leftwards_arrow_with_hook: *rateLimit* reverted"));
    let up = reply::render(
        &escalated(5, Severity::Low, Severity::High),
        &["@oncall".into(), "@here".into()],
    );
    assert!(
        joined(&up)
            .contains(":arrow_up: *Escalated* low → *high* :large_orange_circle: @oncall <!here>")
    );
    assert!(
        up.link_names && up.text.ends_with("@oncall <!here>"),
        "{}",
        up.text
    );
    for m in [applied, dry, failed, reverted, up] {
        assert_within_limits(&m);
        assert!(m.attachments.is_empty());
    }
}

#[test]
fn a_standalone_message_names_its_incident() {
    let view = fixtures::view();
    let m = reply::standalone(
        &action(NoticeKind::ActionApplied, 1, "rateLimit", false),
        &view,
        &Links::default(),
        &[],
    );
    let all = joined(&m);
    assert!(
        all.contains("*HIGH* incident on `shop/checkout` · playbook `shop/checkout-latency`"),
        "{all}"
    );
    assert!(m.text.starts_with("shop/checkout: "), "{}", m.text);
    let m = reply::standalone(
        &escalated(5, Severity::Low, Severity::High),
        &view,
        &Links::default(),
        &[],
    );
    assert!(joined(&m).contains("HIGH · shop/checkout · escalated from low"));
    assert_within_limits(&m);
}
