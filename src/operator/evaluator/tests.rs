//! One evaluator cycle against a scripted API server (targets from a watched
//! store): the exact requests it sends for an incident that opens, and a new leader continuing that incident from its
//! resource without repeating an action, then reverting its mitigation once.

use std::sync::Arc;

use http::Method;
use serde_json::{Value, json};

use k8s_openapi::api::apps::v1::Deployment;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;

use super::{Evaluator, Watched};
use crate::detect::file_source::FileSource;
use crate::engine::{Event, EventKind};
use crate::incident::{GlobalGuardrails, Operation};
use crate::operator::catalog::{Catalog, Entry};
use crate::operator::events::IncidentEvents;
use crate::operator::testing_writers::fixtures::{PLAYBOOK_UID, t};
use crate::operator::testing_writers::{Exchange, Received, Reply, expect, mock_client, served};
use crate::operator::workloads::{Index, Workloads};
use crate::telemetry::Metrics;

const PLAYBOOK: &str = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: memory-leak, namespace: risk}
spec:
  target:
    kind: Deployment
    selector: {matchLabels: {app: pricer}}
  interval: 15s
  detectors:
    - name: memory-pressure
      memoryPressure: {}
      thresholds: {low: 0.7, critical: 0.95}
      clearFor: 15s
  actions:
    low:
      - notify: {}
    critical:
      - rateLimit: {requestsPerSecond: 100}
"#;

pub(super) const INCIDENTS: &str =
    "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents?&fieldManager=firebreak";
pub(super) const INCIDENT: &str =
    "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents/memory-leak-pricer-1772443440";
pub(super) const INCIDENT_STATUS: &str = "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents/memory-leak-pricer-1772443440/status?&fieldManager=firebreak";
pub(super) const LIST_INCIDENTS: &str =
    "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents?&limit=500";
pub(super) const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/risk/deployments/pricer";
pub(super) const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/risk/events?";
pub(super) const PLAYBOOK_STATUS: &str =
    "/apis/firebreak.dev/v1alpha1/namespaces/risk/playbooks/memory-leak/status?";

fn entry() -> Entry {
    entry_of(PLAYBOOK)
}

/// The catalog entry of the playbook in `yaml`.
pub(super) fn entry_of(yaml: &str) -> Entry {
    let pb = crate::playbook::load::parse_documents(yaml, None)
        .into_iter()
        .next()
        .expect("one document")
        .expect("valid playbook");
    Entry {
        playbook: Arc::new(pb),
        uid: PLAYBOOK_UID.to_owned(),
        generation: Some(1),
        paused: false,
    }
}

/// Memory pressure of risk/pricer: 0.97 for the first 30 s, then 0.5.
pub(super) fn source() -> FileSource {
    source_high_until(15)
}

/// Memory pressure of risk/pricer: 0.97 up to `high_until` seconds, then 0.5.
pub(super) fn source_high_until(high_until: i64) -> FileSource {
    let mut text = String::from("# TYPE firebreak_signal gauge\n");
    for secs in (0..=high_until + 120).step_by(15) {
        let v = if secs <= high_until { 0.97 } else { 0.5 };
        text.push_str(&format!(
            "firebreak_signal{{detector=\"memory-pressure\",namespace=\"risk\",workload=\"pricer\"}} {v} {}\n",
            t(secs).as_second()
        ));
    }
    text.push_str("# EOF\n");
    FileSource::parse(&text).expect("signals")
}

/// The watched Deployments: `pricer` (selected) and `cart` (other labels).
pub(super) fn workloads() -> Workloads {
    let index = Index::default();
    index.apply(&watcher::Event::<PartialObjectMeta<Deployment>>::Init);
    for (name, app) in [("pricer", "pricer"), ("cart", "cart")] {
        let meta: PartialObjectMeta<Deployment> = serde_json::from_value(json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": {"name": name, "namespace": "risk", "labels": {"app": app}}
        }))
        .expect("metadata");
        index.apply(&watcher::Event::InitApply(meta));
    }
    index.apply(&watcher::Event::<PartialObjectMeta<Deployment>>::InitDone);
    Workloads::from_indexes(vec![index], Vec::new())
}

pub(super) fn deployment() -> Reply {
    Reply::ok(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "pricer", "namespace": "risk", "uid": "c2b7e4a1-93f0-4d6e-b1a8-5e0f7c3d9b26"}
    }))
}

/// What the first cycle sends when the incident opens at critical (dry-run:
/// opened and mitigated in one write).
fn opening() -> Vec<Exchange> {
    vec![
        expect(Method::POST, INCIDENTS, Reply::Stored("501")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("502")),
        expect(Method::GET, DEPLOYMENT, deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("601")),
        expect(Method::POST, EVENTS, Reply::Stored("602")),
        expect(Method::POST, EVENTS, Reply::Stored("603")),
        expect(Method::POST, EVENTS, Reply::Stored("604")),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
    ]
}

/// An evaluator in global dry-run (`dry_run`) or executing actions.
pub(super) fn evaluator(
    client: kube::Client,
    catalog: &Catalog,
    dry_run: bool,
) -> Evaluator<FileSource> {
    evaluator_with(client, catalog, dry_run, source())
}

/// An evaluator reading `source`.
pub(super) fn evaluator_with(
    client: kube::Client,
    catalog: &Catalog,
    dry_run: bool,
    source: FileSource,
) -> Evaluator<FileSource> {
    Evaluator::new(
        client.clone(),
        source,
        catalog.clone(),
        Arc::new(Metrics::default()),
        GlobalGuardrails {
            dry_run,
            ..Default::default()
        },
        IncidentEvents::new(client, "firebreak-6d4f9c7b8-2xkqp"),
        Watched {
            workloads: workloads(),
            namespaces: vec!["risk".to_owned()],
        },
    )
}

pub(super) fn issued(events: &[Event]) -> Vec<(&'static str, Operation)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionIssued {
                action, operation, ..
            } => Some((*action, *operation)),
            _ => None,
        })
        .collect()
}

/// The Incident list a new leader reads at the start of its leadership.
pub(super) fn incident_list(stored: &Value) -> Value {
    json!({
        "apiVersion": "firebreak.dev/v1alpha1", "kind": "IncidentList",
        "metadata": {"resourceVersion": "700"}, "items": [stored.clone()]
    })
}

pub(super) fn body(received: &[Received], i: usize) -> &Value {
    received[i].body.as_ref().expect("a body")
}

#[tokio::test]
async fn an_opening_incident_is_created_evented_and_counted_in_the_playbook_status() {
    let (client, server) = mock_client("risk");
    let server = server.run(opening());
    let catalog = Catalog::default();
    let entry = entry();
    catalog.upsert(entry.clone());
    let mut ev = evaluator(client, &catalog, true);
    let events = ev.cycle(&entry, t(0)).await;
    let metrics = ev.metrics.encode();
    drop(ev);
    let received = served(server).await;

    assert_eq!(
        issued(&events),
        [
            ("notify", Operation::Apply),
            ("rateLimit", Operation::Apply)
        ]
    );
    for line in [
        r#"firebreak_incidents_opened_total{playbook="risk/memory-leak",severity="critical"} 1"#,
        r#"firebreak_incidents_active{playbook="risk/memory-leak",severity="critical"} 1"#,
        r#"firebreak_actions_total{action="rateLimit",result="dry_run"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    let created = body(&received, 0);
    assert_eq!(created["metadata"]["name"], "memory-leak-pricer-1772443440");
    assert_eq!(
        created["metadata"]["ownerReferences"][0]["uid"],
        PLAYBOOK_UID
    );
    assert_eq!(created["spec"]["openedSeverity"], "critical");
    let status = &body(&received, 1)["status"];
    assert_eq!(status["severity"], "critical");
    assert_eq!(status["readings"][0]["severity"], "critical");
    let steps: Vec<(&str, &str)> = status["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap(),
                s["state"]["state"].as_str().unwrap(),
            )
        })
        .collect();
    // Global dry-run: recorded, not sent.
    assert_eq!(steps, [("notify", "Done"), ("rateLimit", "Done")]);
    assert_eq!(status["steps"][1]["state"]["dryRun"], true);
    for i in [3, 4] {
        assert_eq!(body(&received, i)["reason"], "IncidentOpened");
        assert_eq!(body(&received, i)["type"], "Warning");
    }
    for i in [5, 6] {
        assert_eq!(body(&received, i)["reason"], "IncidentMitigated");
        assert_eq!(body(&received, i)["type"], "Normal");
    }
    let pb_status = &body(&received, 7)["status"];
    assert_eq!(pb_status["targets"], 1);
    assert_eq!(pb_status["activeIncidents"], 1);
    assert!(pb_status["lastEvaluation"].is_string(), "{pb_status}");
}

#[tokio::test]
async fn a_new_leader_continues_the_incident_without_repeating_an_action() {
    // The first leader opens the incident; what it wrote is what the next one lists.
    let (client, server) = mock_client("risk");
    let server = server.run(opening());
    let catalog = Catalog::default();
    let entry = entry();
    catalog.upsert(entry.clone());
    let mut first = evaluator(client, &catalog, true);
    first.cycle(&entry, t(0)).await;
    drop(first);
    let received = served(server).await;
    let mut stored = body(&received, 0).clone();
    stored["metadata"]["resourceVersion"] = json!("502");
    stored["status"] = body(&received, 1)["status"].clone();

    // The new leader lists it and continues it: while the value stays high and
    // then clears for `clearFor`, nothing is issued again; at resolution the rate
    // limit is reverted once (the notification has nothing to revert).
    let (client, server) = mock_client("risk");
    let list = incident_list(&stored);
    let server = server.run(vec![
        expect(Method::GET, LIST_INCIDENTS, Reply::ok(list)),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
        expect(
            Method::POST,
            INCIDENTS,
            Reply::already_exists("incidents.firebreak.dev", "memory-leak-pricer-1772443440"),
        ),
        expect(Method::GET, INCIDENT, Reply::ok(stored)),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("503")),
        expect(Method::GET, DEPLOYMENT, deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("611")),
        expect(Method::POST, EVENTS, Reply::Stored("612")),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
    ]);
    let mut next = evaluator(client, &catalog, true);
    assert!(next.list_open().await);
    next.restore(&entry);
    let still_high = next.cycle(&entry, t(15)).await;
    let clearing = next.cycle(&entry, t(30)).await;
    let resolved = next.cycle(&entry, t(45)).await;
    drop(next);
    let received = served(server).await;

    assert!(issued(&still_high).is_empty(), "{still_high:#?}");
    assert!(issued(&clearing).is_empty(), "{clearing:#?}");
    assert!(
        !clearing
            .iter()
            .any(|e| matches!(e.kind, EventKind::IncidentResolved { .. })),
        "resolved before clearFor: {clearing:#?}"
    );
    assert_eq!(issued(&resolved), [("rateLimit", Operation::Revert)]);
    let status = &body(&received, 5)["status"];
    assert_eq!(status["phase"], "Resolved");
    assert_eq!(status["steps"][1]["revert"]["state"], "Done");
    assert!(status["steps"][0].get("revert").is_none(), "{status}");
    for i in [7, 8] {
        assert_eq!(body(&received, i)["reason"], "IncidentResolved");
    }
}

pub(super) const ENVOY_FILTER: &str =
    "/apis/networking.istio.io/v1alpha3/namespaces/risk/envoyfilters/firebreak-ratelimit-pricer";

#[tokio::test]
async fn a_mitigation_is_sent_after_its_ledger_is_written_and_reverted_once_on_resolution() {
    let applied = super::tests_drift::applied_filter(&entry());
    let (client, server) = mock_client("risk");
    let server = server.run(vec![
        // t(0): the opening is recorded and told, then the rate limit's undo
        // is written before the rate limit itself.
        expect(Method::POST, INCIDENTS, Reply::Stored("501")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("502")),
        expect(Method::GET, DEPLOYMENT, deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("601")),
        expect(Method::POST, EVENTS, Reply::Stored("602")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("503")),
        expect(
            Method::PATCH,
            format!("{ENVOY_FILTER}?fieldManager=firebreak&force=true"),
            Reply::Stored("900"),
        ),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("504")),
        expect(Method::POST, EVENTS, Reply::Stored("603")),
        expect(Method::POST, EVENTS, Reply::Stored("604")),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
        // t(15), t(30): high, then clearing: the rate limit is read back (it is
        // as applied), nothing is sent again.
        expect(Method::GET, ENVOY_FILTER, Reply::ok(applied.clone())),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
        expect(Method::GET, ENVOY_FILTER, Reply::ok(applied)),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
        // t(45): resolved (recorded and told); the rate limit is removed.
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("505")),
        expect(Method::POST, EVENTS, Reply::Stored("611")),
        expect(Method::POST, EVENTS, Reply::Stored("612")),
        expect(
            Method::DELETE,
            ENVOY_FILTER,
            Reply::ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
        ),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("506")),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
    ]);
    let catalog = Catalog::default();
    let entry = entry();
    catalog.upsert(entry.clone());
    let mut ev = evaluator(client, &catalog, false);
    let opened = ev.cycle(&entry, t(0)).await;
    let high = ev.cycle(&entry, t(15)).await;
    let clearing = ev.cycle(&entry, t(30)).await;
    let resolved = ev.cycle(&entry, t(45)).await;
    drop(ev);
    let received = served(server).await;

    assert_eq!(
        issued(&opened),
        [
            ("notify", Operation::Apply),
            ("rateLimit", Operation::Apply)
        ]
    );
    assert!(issued(&high).is_empty() && issued(&clearing).is_empty());
    assert_eq!(issued(&resolved), [("rateLimit", Operation::Revert)]);
    // The decision is recorded before anything is sent.
    let decided = &body(&received, 1)["status"];
    assert_eq!(decided["readings"][0]["severity"], "critical", "{decided}");
    assert_eq!(decided["steps"][1]["state"]["state"], "Issued", "{decided}");
    assert!(decided["steps"][1].get("undo").is_none(), "{decided}");
    // The ledger entry is in the status before the EnvoyFilter is written.
    let ledger = &body(&received, 5)["status"]["steps"][1];
    assert_eq!(
        ledger["undo"]["rateLimit"]["requestsPerSecond"], 100.0,
        "{ledger}"
    );
    assert_eq!(ledger["state"]["state"], "Issued");
    let filter = body(&received, 6);
    assert_eq!(filter["kind"], "EnvoyFilter");
    let done = &body(&received, 7)["status"]["steps"];
    assert_eq!(done[1]["state"]["state"], "Done");
    assert_eq!(done[1]["state"]["dryRun"], false);
    // No Slack yet: the notification is recorded as a dry-run, not claimed as sent.
    assert_eq!(done[0]["state"]["dryRun"], true);
    let active = |i: usize| body(&received, i)["status"]["activeMitigations"].clone();
    for i in [8, 9] {
        assert_eq!(body(&received, i)["reason"], "IncidentMitigated");
    }
    assert_eq!(
        active(10),
        json!(["memory-leak-pricer-1772443440/critical/0/rateLimit"])
    );
    assert_eq!(active(20), json!([]), "cleared once reverted");
    assert_eq!(body(&received, 15)["status"]["phase"], "Resolved");
    assert_eq!(body(&received, 16)["reason"], "IncidentResolved");
    let final_status = &body(&received, 19)["status"];
    assert_eq!(final_status["phase"], "Resolved");
    assert_eq!(final_status["steps"][1]["revert"]["state"], "Done");
}

#[test]
fn schedule_keeps_its_phase_and_skips_missed_ticks() {
    use std::time::Duration;
    let t0 = tokio::time::Instant::now();
    let s = Duration::from_secs;
    // On time, or a cycle that took 3 s: the next is still 5 s after the last due.
    assert_eq!(super::next_due(t0, s(5), t0), t0 + s(5));
    assert_eq!(super::next_due(t0, s(5), t0 + s(3)), t0 + s(5));
    // A cycle that overran two periods: the missed ones are skipped, the phase kept.
    assert_eq!(super::next_due(t0, s(5), t0 + s(11)), t0 + s(15));
    assert_eq!(super::next_due(t0, s(5), t0 + s(10)), t0 + s(15));
}
