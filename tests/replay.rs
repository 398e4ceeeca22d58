//! Every shipped scenario replays, through the shipped playbooks, to the outcome
//! documented in `scenarios/expected.json` (computed by `scenarios/generate.py`
//! from the data, independently of this engine).

use firebreak::engine::EventKind;
use firebreak::incident::Operation;
use firebreak::replay::{Entry, Format, ReplayArgs, SCENARIOS, load_playbooks, replay_scenario};
use serde_json::Value;

fn args() -> ReplayArgs {
    ReplayArgs {
        scenarios: Vec::new(),
        playbooks: None,
        output: Format::Json,
        out: None,
        step: None,
        kill_switch: false,
    }
}

fn replay(name: &str, args: &ReplayArgs) -> Vec<Entry> {
    let text = SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("embedded scenario");
    let playbooks = load_playbooks(None).expect("shipped playbooks are valid");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(replay_scenario(name, text, &playbooks, args))
        .expect("replay")
}

fn at(e: &Entry) -> String {
    e.event.at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/expected.json"
    ))
    .expect("expected.json");
    match serde_json::from_str(&text).expect("json") {
        Value::Object(m) => m,
        _ => panic!("expected.json is not an object"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_scenario_replays_to_its_documented_outcome() {
    let expected = expected();
    assert_eq!(
        expected.len(),
        SCENARIOS.len(),
        "one expectation per shipped scenario"
    );
    for (name, exp) in &expected {
        let entries = replay(name, &args());
        let workload = format!(
            "{}/{}",
            exp["namespace"].as_str().unwrap_or(""),
            exp["workload"].as_str().unwrap_or("")
        );
        let mine: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.event.target.to_string() == workload)
            .collect();

        // Severity timeline: opened, escalated, de-escalated.
        let timeline: Vec<(String, String)> = mine
            .iter()
            .filter_map(|e| match &e.event.kind {
                EventKind::IncidentOpened { severity }
                | EventKind::IncidentEscalated { to: severity, .. }
                | EventKind::IncidentDeescalated { to: severity, .. } => {
                    Some((at(e), severity.to_string()))
                }
                _ => None,
            })
            .collect();
        let want: Vec<(String, String)> = exp["severity_timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["at"].as_str().unwrap_or("").to_owned(),
                    s["severity"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(timeline, want, "{name}: severity timeline");
        assert_eq!(
            timeline.first().map(|t| t.0.as_str()),
            exp["opened_at"].as_str(),
            "{name}: opened"
        );

        let resolved: Vec<String> = mine
            .iter()
            .filter(|e| matches!(e.event.kind, EventKind::IncidentResolved { .. }))
            .map(|e| at(e))
            .collect();
        assert_eq!(
            resolved,
            exp["resolved_at"]
                .as_str()
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            "{name}: resolved"
        );

        // Actions in order, each with the exact request or message it would send.
        let applied: Vec<(String, String, String)> = mine
            .iter()
            .filter_map(|e| match &e.event.kind {
                EventKind::ActionIssued {
                    action,
                    severity,
                    operation: Operation::Apply,
                    dry_run,
                    ..
                } => {
                    assert!(dry_run, "{name}: replay is dry-run");
                    assert!(
                        e.render_error.is_none(),
                        "{name}: {action} renders: {:?}",
                        e.render_error
                    );
                    if *action == "notify" {
                        assert!(e.slack.is_some(), "{name}: notify shows its Slack message");
                    } else {
                        assert!(
                            e.requests.as_ref().is_some_and(|r| !r.is_empty()),
                            "{name}: {action} shows requests"
                        );
                    }
                    Some((at(e), severity.to_string(), (*action).to_owned()))
                }
                _ => None,
            })
            .collect();
        let want: Vec<(String, String, String)> = exp["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
                (s("at"), s("severity"), s("action"))
            })
            .collect();
        assert_eq!(applied, want, "{name}: actions");

        let reverted: Vec<String> = mine
            .iter()
            .filter_map(|e| match &e.event.kind {
                EventKind::ActionIssued {
                    action,
                    operation: Operation::Revert,
                    ..
                } => Some((*action).to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(
            reverted,
            strings(&exp["reverted_on_resolve"]),
            "{name}: reverts"
        );

        // Healthy neighbours never open an incident.
        let incidents_elsewhere: Vec<String> = entries
            .iter()
            .filter(|e| matches!(e.event.kind, EventKind::IncidentOpened { .. }))
            .map(|e| e.event.target.to_string())
            .filter(|t| *t != workload)
            .collect();
        assert!(
            incidents_elsewhere.is_empty(),
            "{name}: unexpected incidents on {incidents_elsewhere:?}"
        );
        let text = SCENARIOS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .unwrap_or("");
        for quiet in strings(&exp["no_incident"]) {
            assert!(
                text.contains(&format!("workload=\"{quiet}\"")),
                "{name}: neighbour {quiet} has data"
            );
        }

        if let Some(hours) = exp["min_lead_time_hours"].as_f64() {
            let damage: jiff::Timestamp = exp["damage_at"]
                .as_str()
                .unwrap_or("")
                .parse()
                .expect("damage_at");
            let opened: jiff::Timestamp = want_time(exp["opened_at"].as_str());
            let lead = damage.duration_since(opened).as_secs_f64() / 3600.0;
            assert!(
                lead >= hours,
                "{name}: detected {lead:.1} h before the damage, wanted >= {hours} h"
            );
        }
    }
}

fn want_time(s: Option<&str>) -> jiff::Timestamp {
    s.unwrap_or("").parse().expect("timestamp")
}

#[test]
fn the_memory_leak_data_gap_is_reported_as_no_data_and_changes_nothing() {
    let entries = replay("memory-leak", &args());
    let gap: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            matches!(
                &e.event.kind,
                EventKind::DetectorChanged {
                    to: firebreak::detect::Level::NoData { .. },
                    ..
                }
            )
        })
        .collect();
    assert!(
        !gap.is_empty(),
        "the scenario's 13-minute gap shows as no data"
    );
    let start = gap[0].event.at;
    let during: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.event.at > start && e.event.at < start + jiff::SignedDuration::from_mins(5))
        .filter(|e| !matches!(e.event.kind, EventKind::DetectorChanged { .. }))
        .collect();
    assert!(
        during.is_empty(),
        "no incident change or action during the gap: {during:?}"
    );
}

#[test]
fn kill_switch_replay_holds_every_cluster_change() {
    let mut a = args();
    a.kill_switch = true;
    let entries = replay("traffic-surge", &a);
    let issued: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::ActionIssued { action, .. } => Some(*action),
            _ => None,
        })
        .collect();
    assert!(
        issued.iter().all(|a| *a == "notify"),
        "only notifications: {issued:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::ActionHeld { .. }))
    );
    assert!(
        entries
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::IncidentResolved { .. })),
        "evaluation continues"
    );
}

#[test]
fn rendered_requests_are_the_kubernetes_objects_the_actions_send() {
    let entries = replay("traffic-surge", &args());
    let rate_limit = entries
        .iter()
        .find(|e| {
            matches!(
                e.event.kind,
                EventKind::ActionIssued {
                    action: "rateLimit",
                    operation: Operation::Apply,
                    ..
                }
            )
        })
        .and_then(|e| e.requests.clone())
        .expect("rate limit issued");
    let body = rate_limit[0].body.clone().expect("body");
    assert_eq!(rate_limit[0].method, "PATCH");
    assert_eq!(body["kind"], "EnvoyFilter");
    assert!(
        rate_limit[0]
            .path
            .contains("/namespaces/trading/envoyfilters/"),
        "{}",
        rate_limit[0].path
    );
}
