//! Drift against a scripted API server: each applied mitigation of an open
//! incident is read back once per cycle; an edit by someone else is recorded
//! and re-applied once within the budget, held (and recorded once) without it,
//! and never fought while the incident resolves.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::tests::{
    DEPLOYMENT, ENVOY_FILTER, EVENTS, INCIDENT_STATUS, INCIDENTS, PLAYBOOK_STATUS, body,
    deployment, entry_of, evaluator_with, issued, source_high_until,
};
use crate::act::render::{RenderContext, render_apply};
use crate::engine::{DriftResponse, Event, EventKind};
use crate::incident::{Hold, Operation};
use crate::operator::catalog::{Catalog, Entry};
use crate::operator::testing_writers::fixtures::{ID, t};
use crate::operator::testing_writers::{Exchange, Reply, expect, mock_client, served};
use crate::playbook::model::TargetRef;
use crate::severity::Severity;

fn playbook(guardrails: &str) -> String {
    format!(
        r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {{name: memory-leak, namespace: risk}}
spec:
  target:
    kind: Deployment
    selector: {{matchLabels: {{app: pricer}}}}
  interval: 15s
  guardrails: {guardrails}
  detectors:
    - name: memory-pressure
      memoryPressure: {{}}
      thresholds: {{low: 0.7, critical: 0.95}}
      clearFor: 15s
  actions:
    low:
      - notify: {{}}
    critical:
      - rateLimit: {{requestsPerSecond: 100}}
"#
    )
}

/// The EnvoyFilter as Firebreak applies it for `entry`'s rate limit.
pub(super) fn applied_filter(entry: &Entry) -> Value {
    let pb = &entry.playbook;
    let target = TargetRef {
        namespace: "risk".to_owned(),
        name: "pricer".to_owned(),
    };
    let ctx = RenderContext {
        incident_id: ID,
        target: &target,
        kind: pb.target.kind,
        match_labels: &pb.target.match_labels,
        current_rps: None,
        current_replicas: None,
        existing_destination_rule: None,
        now: t(0),
    };
    let action = &pb
        .actions
        .get(Severity::Critical)
        .expect("critical actions")[0];
    let mut filter = render_apply(&action.kind, &ctx).expect("rendered")[0]
        .body
        .clone()
        .expect("a body");
    // As the API server returns it: with its own metadata.
    filter["metadata"]["resourceVersion"] = json!("900");
    filter["metadata"]["generation"] = json!(1);
    filter
}

fn apply_path() -> String {
    format!("{ENVOY_FILTER}?fieldManager=firebreak&force=true")
}

/// t(0): the incident opens (recorded and told) and the rate limit is applied
/// (its ledger first), which mitigates it.
fn opening() -> Vec<Exchange> {
    vec![
        expect(Method::POST, INCIDENTS, Reply::Stored("501")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("502")),
        expect(Method::GET, DEPLOYMENT, deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("601")),
        expect(Method::POST, EVENTS, Reply::Stored("602")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("503")),
        expect(Method::PATCH, apply_path(), Reply::Stored("900")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("504")),
        expect(Method::POST, EVENTS, Reply::Stored("603")),
        expect(Method::POST, EVENTS, Reply::Stored("604")),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
    ]
}

/// Where the first cycle's filter is in the requests [`opening`] scripts.
const OPENING_FILTER: usize = 6;

fn quiet() -> Exchange {
    expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({})))
}

fn gone() -> Reply {
    Reply::not_found(
        "envoyfilters.networking.istio.io",
        "firebreak-ratelimit-pricer",
    )
}

fn setup(guardrails: &str) -> (Catalog, Entry) {
    let catalog = Catalog::default();
    let entry = entry_of(&playbook(guardrails));
    catalog.upsert(entry.clone());
    (catalog, entry)
}

fn drifted(events: &[Event]) -> Vec<(String, DriftResponse)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MitigationDrifted {
                detail, response, ..
            } => Some((detail.clone(), response.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_edited_mitigation_is_recorded_and_reapplied_once_within_the_budget() {
    let (catalog, entry) = setup("{}");
    let mut edited = applied_filter(&entry);
    edited["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["token_bucket"]["tokens_per_fill"] =
        json!(5000);
    let (client, server) = mock_client("risk");
    let mut script = opening();
    script.extend([
        // t(15): someone raised the limit; Firebreak puts its own back, once.
        expect(Method::GET, ENVOY_FILTER, Reply::ok(edited)),
        expect(Method::PATCH, apply_path(), Reply::Stored("901")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("504")),
        expect(Method::POST, EVENTS, Reply::Stored("611")),
        expect(Method::POST, EVENTS, Reply::Stored("612")),
        quiet(),
        // t(30): as applied again; only read.
        expect(Method::GET, ENVOY_FILTER, Reply::ok(applied_filter(&entry))),
        quiet(),
    ]);
    let server = server.run(script);
    let mut ev = evaluator_with(client, &catalog, false, source_high_until(15));
    ev.cycle(&entry, t(0)).await;
    let found = ev.cycle(&entry, t(15)).await;
    let after = ev.cycle(&entry, t(30)).await;
    drop(ev);
    let received = served(server).await;

    let found_drift = drifted(&found);
    let [(detail, DriftResponse::Reapplied)] = found_drift.as_slice() else {
        panic!("one drift, re-applied: {found:#?}");
    };
    assert!(
        detail.contains("tokens_per_fill is 5000, Firebreak set 100"),
        "{detail}"
    );
    assert_eq!(issued(&found), [("rateLimit", Operation::Apply)]);
    let after_opening = opening().len();
    assert_eq!(
        body(&received, OPENING_FILTER),
        body(&received, after_opening + 1),
        "the same filter again"
    );
    let status = &body(&received, after_opening + 2)["status"];
    let last: Vec<&str> = status["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(3)
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        last,
        ["actionFinished", "actionIssued", "mitigationDrifted"]
    );
    assert_eq!(status["steps"][1]["state"]["state"], "Done");
    for i in [after_opening + 3, after_opening + 4] {
        assert_eq!(body(&received, i)["reason"], "MitigationDrifted");
        assert_eq!(body(&received, i)["type"], "Warning");
    }
    assert!(drifted(&after).is_empty() && issued(&after).is_empty());
}

#[tokio::test]
async fn with_the_budget_used_up_a_deleted_mitigation_is_recorded_once_and_left() {
    let (catalog, entry) = setup("{budget: {maxActions: 1, window: 1h}}");
    let (client, server) = mock_client("risk");
    let mut script = opening();
    script.extend([
        expect(Method::GET, ENVOY_FILTER, gone()),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("504")),
        expect(Method::POST, EVENTS, Reply::Stored("611")),
        expect(Method::POST, EVENTS, Reply::Stored("612")),
        quiet(),
        // Still gone: nothing new to record, nothing written.
        expect(Method::GET, ENVOY_FILTER, gone()),
        quiet(),
    ]);
    let server = server.run(script);
    let mut ev = evaluator_with(client, &catalog, false, source_high_until(15));
    ev.cycle(&entry, t(0)).await;
    let found = ev.cycle(&entry, t(15)).await;
    let again = ev.cycle(&entry, t(30)).await;
    drop(ev);
    let received = served(server).await;

    let found_drift = drifted(&found);
    let [(detail, DriftResponse::Held { hold })] = found_drift.as_slice() else {
        panic!("one drift, held: {found:#?}");
    };
    assert_eq!(detail, "EnvoyFilter firebreak-ratelimit-pricer was deleted");
    assert!(
        matches!(hold, Hold::Budget { max_actions: 1, .. }),
        "{hold:?}"
    );
    assert!(issued(&found).is_empty() && drifted(&again).is_empty());
    let entry_json = body(&received, opening().len() + 1)["status"]["timeline"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(entry_json["event"], "mitigationDrifted");
    assert!(
        entry_json["message"]
            .as_str()
            .unwrap()
            .contains("held: playbook risk/memory-leak budget"),
        "{entry_json}"
    );
}

#[tokio::test]
async fn reapply_on_drift_false_only_records() {
    let (catalog, entry) = setup("{reapplyOnDrift: false}");
    let (client, server) = mock_client("risk");
    let mut script = opening();
    script.extend([
        expect(Method::GET, ENVOY_FILTER, gone()),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("504")),
        expect(Method::POST, EVENTS, Reply::Stored("611")),
        expect(Method::POST, EVENTS, Reply::Stored("612")),
        quiet(),
    ]);
    let server = server.run(script);
    let mut ev = evaluator_with(client, &catalog, false, source_high_until(15));
    ev.cycle(&entry, t(0)).await;
    let found = ev.cycle(&entry, t(15)).await;
    drop(ev);
    served(server).await;

    assert!(matches!(
        drifted(&found).as_slice(),
        [(_, DriftResponse::Recorded)]
    ));
    assert!(issued(&found).is_empty());
}

#[tokio::test]
async fn a_mitigation_removed_while_the_incident_resolves_is_not_put_back() {
    let (catalog, entry) = setup("{}");
    let (client, server) = mock_client("risk");
    let mut script = opening();
    script.extend([
        expect(Method::GET, ENVOY_FILTER, Reply::ok(applied_filter(&entry))),
        quiet(),
        expect(Method::GET, ENVOY_FILTER, Reply::ok(applied_filter(&entry))),
        quiet(),
        // t(45): resolved (recorded and told); the revert meets a 503 and is
        // retried one interval later.
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("505")),
        expect(Method::POST, EVENTS, Reply::Stored("611")),
        expect(Method::POST, EVENTS, Reply::Stored("612")),
        expect(
            Method::DELETE,
            ENVOY_FILTER,
            Reply::Status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "the server is currently unable to handle the request".to_owned(),
            ),
        ),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("506")),
        quiet(),
        // t(60): someone deleted it meanwhile: no read, no apply, the delete is done.
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("507")),
        expect(Method::DELETE, ENVOY_FILTER, gone()),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("508")),
        quiet(),
    ]);
    let server = server.run(script);
    let mut ev = evaluator_with(client, &catalog, false, source_high_until(15));
    for secs in [0, 15, 30] {
        ev.cycle(&entry, t(secs)).await;
    }
    let resolved = ev.cycle(&entry, t(45)).await;
    let retried = ev.cycle(&entry, t(60)).await;
    drop(ev);
    let received = served(server).await;

    assert_eq!(issued(&resolved), [("rateLimit", Operation::Revert)]);
    assert!(resolved.iter().any(|e| matches!(
        e.kind,
        EventKind::ActionRetrying {
            operation: Operation::Revert,
            attempt: 1,
            ..
        }
    )));
    assert_eq!(issued(&retried), [("rateLimit", Operation::Revert)]);
    assert!(drifted(&retried).is_empty());
    let last = &body(&received, received.len() - 2)["status"];
    assert_eq!(last["phase"], "Resolved");
    assert_eq!(last["steps"][1]["revert"]["state"], "Done");
}
