//! Transient failures of an action against a scripted API server: retried
//! after a backoff under the same key, reusing the ledger and spending no
//! budget (the playbook allows one action an hour, so a retry that spent it
//! again would be held); terminal failures fail at once; a new leader
//! continues the backoff.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::tests::{
    DEPLOYMENT, ENVOY_FILTER, EVENTS, INCIDENT, INCIDENT_STATUS, INCIDENTS, LIST_INCIDENTS,
    PLAYBOOK_STATUS, body, deployment, entry_of, evaluator_with, incident_list, issued,
    source_high_until,
};
use crate::engine::{Event, EventKind};
use crate::incident::{Operation, StepState};
use crate::notify::notice::{NoticeKind, Notices};
use crate::operator::catalog::{Catalog, Entry};
use crate::operator::testing_writers::fixtures::t;
use crate::operator::testing_writers::{Exchange, Reply, expect, mock_client, served};

const PLAYBOOK: &str = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: memory-leak, namespace: risk}
spec:
  target:
    kind: Deployment
    selector: {matchLabels: {app: pricer}}
  interval: 15s
  guardrails:
    budget: {maxActions: 1, window: 1h}
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

fn apply_path() -> String {
    format!("{ENVOY_FILTER}?fieldManager=firebreak&force=true")
}

fn server_error() -> Reply {
    Reply::Status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "Internal error occurred: etcdserver: request timed out".to_owned(),
    )
}

/// The opening cycle at t(0) (recorded and told first), the rate limit's
/// apply answered with `reply` (a failure: the incident is not mitigated).
fn opening(reply: Reply) -> Vec<Exchange> {
    vec![
        expect(Method::POST, INCIDENTS, Reply::Stored("501")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("502")),
        expect(Method::GET, DEPLOYMENT, deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("601")),
        expect(Method::POST, EVENTS, Reply::Stored("602")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("503")),
        expect(Method::PATCH, apply_path(), reply),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("504")),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
    ]
}

/// In [`opening`]: the apply, and the status written after it.
const OPENING_APPLY: usize = 6;
const OPENING_OUTCOME: usize = 7;

/// The read before a retry: did the failed attempt land after all? No.
fn not_landed() -> Exchange {
    expect(
        Method::GET,
        ENVOY_FILTER,
        Reply::not_found(
            "envoyfilters.networking.istio.io",
            "firebreak-ratelimit-pricer",
        ),
    )
}

/// A cycle that only retries the apply (answered with `reply`): the attempt
/// recorded, then sent; a success mitigates the incident (its Events).
fn retry(reply: Reply) -> Vec<Exchange> {
    let success = matches!(reply, Reply::Stored(_));
    let mut script = vec![
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("509")),
        not_landed(),
        expect(Method::PATCH, apply_path(), reply),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("510")),
    ];
    if success {
        script.push(expect(Method::POST, EVENTS, Reply::Stored("611")));
        script.push(expect(Method::POST, EVENTS, Reply::Stored("612")));
    }
    script.push(expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))));
    script
}

fn quiet() -> Exchange {
    expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({})))
}

fn setup() -> (Catalog, Entry) {
    let catalog = Catalog::default();
    let entry = entry_of(PLAYBOOK);
    catalog.upsert(entry.clone());
    (catalog, entry)
}

/// The attempts and reasons of the `ActionRetrying` events.
fn retrying(events: &[Event]) -> Vec<(u32, jiff::Timestamp)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionRetrying {
                attempt, retry_at, ..
            } => Some((*attempt, *retry_at)),
            _ => None,
        })
        .collect()
}

fn attempts(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionIssued { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect()
}

fn held(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e.kind, EventKind::ActionHeld { .. }))
}

fn finished(events: &[Event]) -> Vec<StepState> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionFinished {
                key,
                outcome,
                operation: Operation::Apply,
            } if key.kind() == "rateLimit" => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_transient_failure_is_retried_after_one_interval_and_applied_once() {
    let conflict = || {
        Reply::conflict(
            "envoyfilters.networking.istio.io",
            "firebreak-ratelimit-pricer",
        )
    };
    for (name, failure) in [
        ("500", server_error as fn() -> Reply),
        ("409", conflict as fn() -> Reply),
    ] {
        let (client, server) = mock_client("risk");
        let mut script = opening(failure());
        script.extend(retry(Reply::Stored("900")));
        // t(30): the drift check reads the filter back; it is as applied, nothing is written.
        let applied = super::tests_drift::applied_filter(&entry_of(PLAYBOOK));
        script.push(expect(Method::GET, ENVOY_FILTER, Reply::ok(applied)));
        script.push(quiet());
        let server = server.run(script);
        let (catalog, entry) = setup();
        let mut ev = evaluator_with(client, &catalog, false, source_high_until(15));
        let opened = ev.cycle(&entry, t(0)).await;
        let retried = ev.cycle(&entry, t(15)).await;
        let after = ev.cycle(&entry, t(30)).await;
        drop(ev);
        let received = served(server).await;

        assert_eq!(retrying(&opened), [(1, t(15))], "{name}");
        assert!(
            finished(&opened).is_empty(),
            "{name}: not final: {opened:#?}"
        );
        let step = &body(&received, OPENING_OUTCOME)["status"]["steps"][1];
        assert_eq!(step["state"]["state"], "Pending", "{name}: {step}");
        assert_eq!(step["retry"]["attempts"], 1, "{name}");
        assert_eq!(step["retry"]["operation"], "apply", "{name}");
        assert_eq!(step["retry"]["nextAttemptAt"], "2026-03-02T09:24:15Z");
        assert!(
            step["retry"]["lastError"].as_str().unwrap().contains(name),
            "{name}: {step}"
        );
        let timeline: Vec<&str> = body(&received, OPENING_OUTCOME)["status"]["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert!(timeline.contains(&"actionRetrying"), "{timeline:?}");

        // The retry: same action, same key, second attempt; the budget of one
        // is not spent again, so nothing is held.
        assert_eq!(issued(&retried), [("rateLimit", Operation::Apply)]);
        assert_eq!(attempts(&retried), [2]);
        assert!(!held(&retried), "{name}: {retried:#?}");
        assert_eq!(finished(&retried), [StepState::Done { dry_run: false }]);
        // Both attempts sent the same filter (the ledger's rate, not re-resolved).
        let retried_at = opening(server_error()).len();
        assert_eq!(
            body(&received, OPENING_APPLY),
            body(&received, retried_at + 2),
            "{name}"
        );
        let step = &body(&received, retried_at + 3)["status"]["steps"][1];
        assert_eq!(step["state"]["state"], "Done");
        assert!(step.get("retry").is_none(), "{step}");
        assert!(issued(&after).is_empty(), "{after:#?}");
    }
}

#[tokio::test]
async fn a_forbidden_apply_fails_at_once_and_is_not_retried() {
    let (client, server) = mock_client("risk");
    let mut script = opening(Reply::forbidden(
        "envoyfilters.networking.istio.io \"firebreak-ratelimit-pricer\" is forbidden: User \"system:serviceaccount:firebreak:firebreak\" cannot patch resource \"envoyfilters\"",
    ));
    script.push(quiet());
    script.push(quiet());
    let server = server.run(script);
    let (catalog, entry) = setup();
    let mut ev = evaluator_with(client, &catalog, false, source_high_until(60));
    let opened = ev.cycle(&entry, t(0)).await;
    let later = [ev.cycle(&entry, t(15)).await, ev.cycle(&entry, t(30)).await];
    drop(ev);
    let received = served(server).await;

    assert!(retrying(&opened).is_empty());
    let outcomes = finished(&opened);
    let [StepState::Failed { reason }] = outcomes.as_slice() else {
        panic!("one failure: {opened:#?}");
    };
    assert!(reason.contains("403 Forbidden"), "{reason}");
    let step = &body(&received, OPENING_OUTCOME)["status"]["steps"][1];
    assert_eq!(step["state"]["state"], "Failed");
    assert!(step.get("retry").is_none(), "{step}");
    for events in later {
        assert!(issued(&events).is_empty(), "{events:#?}");
    }
}

#[tokio::test]
async fn attempts_are_bounded_and_the_last_failure_is_the_action_failed_notice() {
    let (client, server) = mock_client("risk");
    let mut script = opening(server_error());
    // Backoff of 1, 2, 4 and 8 intervals: attempts at 15, 45, 105 and 225 s.
    script.extend(retry(server_error()));
    script.push(quiet());
    for _ in 0..3 {
        script.extend(retry(server_error()));
    }
    script.push(quiet());
    let server = server.run(script);
    let (catalog, entry) = setup();
    let mut ev = evaluator_with(client, &catalog, false, source_high_until(600));
    let mut notices = Notices::default();
    let mut failed = Vec::new();
    let mut tried = Vec::new();
    for secs in [0, 15, 30, 45, 105, 225, 240] {
        let events = ev.cycle(&entry, t(secs)).await;
        tried.extend(attempts(&events).into_iter().filter(|a| *a > 1));
        let pb = &entry.playbook;
        let engine = &ev.engine;
        let built = notices.build(pb, &events, |target, id| engine.record(&pb.id, target, id));
        failed.extend(
            built
                .into_iter()
                .filter(|n| n.kind == NoticeKind::ActionFailed)
                .map(|n| (secs, n.action.and_then(|a| a.error).unwrap_or_default())),
        );
    }
    drop(ev);
    let received = served(server).await;

    assert_eq!(tried, [2, 3, 4, 5]);
    let [(225, error)] = failed.as_slice() else {
        panic!("one action.failed, after the fifth attempt: {failed:?}");
    };
    assert!(error.contains("500 InternalError"), "{error}");
    assert!(error.ends_with("(gave up after 5 attempts)"), "{error}");
    let last: &Value = &body(&received, received.len() - 3)["status"]["steps"][1];
    assert_eq!(last["state"]["state"], "Failed", "{last}");
    assert_eq!(last["state"]["reason"], json!(error));
    assert!(last.get("retry").is_none());
}

#[tokio::test]
async fn a_new_leader_continues_the_backoff_without_spending_the_budget_again() {
    let (client, server) = mock_client("risk");
    let server = server.run(opening(server_error()));
    let (catalog, entry) = setup();
    let mut first = evaluator_with(client, &catalog, false, source_high_until(120));
    first.cycle(&entry, t(0)).await;
    drop(first);
    let received = served(server).await;
    let mut stored = body(&received, 0).clone();
    stored["metadata"]["resourceVersion"] = json!("503");
    stored["status"] = body(&received, OPENING_OUTCOME)["status"].clone();

    let (client, server) = mock_client("risk");
    let list = incident_list(&stored);
    let server = server.run(vec![
        expect(Method::GET, LIST_INCIDENTS, Reply::ok(list)),
        // t(15): the retry that was due, recorded (adopting the Incident),
        // then sent from the recorded undo (no re-read of the workload; only
        // whether the failed attempt landed).
        expect(
            Method::POST,
            INCIDENTS,
            Reply::already_exists("incidents.firebreak.dev", "memory-leak-pricer-1772443440"),
        ),
        expect(Method::GET, INCIDENT, Reply::ok(stored)),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("505")),
        not_landed(),
        expect(Method::PATCH, apply_path(), server_error()),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("506")),
        quiet(),
        // t(30): backing off (next attempt at 45 s).
        quiet(),
    ]);
    let mut next = evaluator_with(client, &catalog, false, source_high_until(120));
    assert!(next.list_open().await);
    next.restore(&entry);
    let retried = next.cycle(&entry, t(15)).await;
    let waiting = next.cycle(&entry, t(30)).await;
    drop(next);
    let received = served(server).await;

    assert_eq!(attempts(&retried), [2]);
    assert!(
        !held(&retried),
        "the restored budget counts the first attempt only"
    );
    assert_eq!(retrying(&retried), [(2, t(45))]);
    assert!(issued(&waiting).is_empty(), "{waiting:#?}");
    let step = &body(&received, 6)["status"]["steps"][1];
    assert_eq!(step["retry"]["attempts"], 2, "{step}");
    assert_eq!(step["retry"]["nextAttemptAt"], "2026-03-02T09:24:45Z");
    let timeline: Vec<&str> = body(&received, 6)["status"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(timeline.contains(&"actionRetried"), "{timeline:?}");
}

#[tokio::test]
async fn an_apply_that_landed_although_its_answer_was_lost_is_not_sent_again() {
    let (client, server) = mock_client("risk");
    // The apply reached the server but timed out on the way back (504).
    let timeout = Reply::Status(
        StatusCode::GATEWAY_TIMEOUT,
        "Timeout",
        "the request timed out".to_owned(),
    );
    let mut script = opening(timeout);
    let applied = super::tests_drift::applied_filter(&entry_of(PLAYBOOK));
    // t(15): the attempt is recorded; the filter is there, as applied: done,
    // no second PATCH, and the incident is mitigated.
    script.push(expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("509")));
    script.push(expect(Method::GET, ENVOY_FILTER, Reply::ok(applied)));
    script.push(expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("510")));
    script.push(expect(Method::POST, EVENTS, Reply::Stored("611")));
    script.push(expect(Method::POST, EVENTS, Reply::Stored("612")));
    script.push(quiet());
    let server = server.run(script);
    let (catalog, entry) = setup();
    let mut ev = evaluator_with(client, &catalog, false, source_high_until(120));
    ev.cycle(&entry, t(0)).await;
    let second = ev.cycle(&entry, t(15)).await;
    drop(ev);
    let received = served(server).await;

    // Retried by the engine, found in place by the executor: done, not sent.
    assert_eq!(attempts(&second), [2]);
    assert_eq!(finished(&second), [StepState::Done { dry_run: false }]);
    // The script has no second PATCH: one would fail it.
    let step = &body(&received, opening(server_error()).len() + 2)["status"]["steps"][1];
    assert_eq!(step["state"]["state"], "Done", "{step}");
}
