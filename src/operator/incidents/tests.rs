use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use super::{IncidentWriter, RetryPolicy, WriteError};
use crate::engine::{EscalationCause, Event, EventKind};
use crate::incident::persist::status_of;
use crate::incident::{Incident, Phase, StepState};
use crate::operator::catalog::Entry;
use crate::operator::testing_writers::fixtures::*;
use crate::operator::testing_writers::{Received, Reply, expect, mock_client, served};
use crate::severity::Severity;

/// kube builds write URIs as `path?` + pairs, hence the `?&`.
const CREATE: &str =
    "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents?&fieldManager=firebreak";
const OBJECT: &str =
    "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents/memory-leak-pricer-1772443440";
const STATUS: &str = "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents/memory-leak-pricer-1772443440/status?&fieldManager=firebreak";
const RESOURCE: &str = "incidents.firebreak.dev";

fn writer() -> (
    IncidentWriter,
    crate::operator::testing_writers::ApiServerVerifier,
) {
    let (client, verifier) = mock_client(NS);
    let writer = IncidentWriter::new(client).with_retry(RetryPolicy {
        attempts: 5,
        backoff: Duration::from_millis(1),
    });
    (writer, verifier)
}

fn bodies(received: &[Received]) -> Vec<&Value> {
    received.iter().filter_map(|r| r.body.as_ref()).collect()
}

/// The status a first sync of `inc` writes for `events` (ids already set).
fn first_status(inc: &Incident, events: &[Event]) -> Value {
    serde_json::to_value(status_of(inc, &Default::default(), events)).expect("status")
}

fn escalated(entry: &Entry, inc: &mut Incident, secs: i64, to: Severity) -> Vec<Event> {
    let from = inc.severity;
    inc.severity = to;
    inc.severity_since = t(secs);
    inc.plan_up_to(to, &entry.playbook.actions);
    let cause = EscalationCause::Detectors;
    vec![event(
        entry,
        secs,
        true,
        EventKind::IncidentEscalated { from, to, cause },
    )]
}

#[tokio::test]
async fn creates_the_incident_owned_by_its_playbook_then_writes_its_status() {
    let entry = entry();
    let inc = opened(&entry, Severity::Critical);
    let (mut writer, verifier) = writer();
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::Stored("5001")),
        expect(Method::PUT, STATUS, Reply::Stored("5002")),
    ]);

    let result = writer
        .sync(
            &entry,
            &inc,
            &opening_events(&entry, Severity::Critical),
            &[],
        )
        .await;
    let tracked = writer.is_tracked(&inc.id);
    drop(writer);
    let received = served(server).await;

    // The uid is what the incident's diagnostics ConfigMaps are owned by.
    assert_eq!(
        result.expect("synced").as_deref(),
        Some("5d0c3b7e-2f41-4a8e-9c61-0b7f3e9a2d14")
    );
    assert!(tracked);
    let [create, put] = bodies(&received)[..] else {
        panic!("two writes, got {received:?}")
    };
    assert_eq!(
        create,
        &json!({
            "apiVersion": "firebreak.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {
                "name": ID,
                "namespace": NS,
                "labels": { "firebreak.dev/playbook": "memory-leak", "firebreak.dev/target": "pricer" },
                "ownerReferences": [{
                    "apiVersion": "firebreak.dev/v1alpha1",
                    "kind": "Playbook",
                    "name": "memory-leak",
                    "uid": PLAYBOOK_UID,
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "playbook": "memory-leak",
                "target": { "kind": "Deployment", "name": "pricer" },
                "openedAt": "2026-03-02T09:24:00Z",
                "openedSeverity": "critical",
            },
        })
    );
    assert_eq!(put["metadata"]["name"], ID);
    assert_eq!(put["metadata"]["resourceVersion"], "5001");
    let status = &put["status"];
    assert_eq!(status["phase"], "Open");
    assert_eq!(status["severity"], "critical");
    assert_eq!(status["plannedUpTo"], "critical");
    assert_eq!(status["severitySince"], "2026-03-02T09:24:00Z");
    // The reading that opened it is recorded, so a new leader restores the detector as firing.
    assert_eq!(timeline(status), ["detectorChanged", "incidentOpened"]);
    assert_eq!(status["timeline"][1]["message"], "opened at critical");
    assert_eq!(
        status["readings"],
        json!([{
            "detector": "memory-pressure", "severity": "critical", "value": 0.962,
            "at": "2026-03-02T09:24:00Z",
        }])
    );
    let steps: Vec<&str> = status["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["key"].as_str().expect("key"))
        .collect();
    assert_eq!(steps.len(), inc.steps.len());
    assert_eq!(steps[0], inc.steps[0].key.0);
    assert!(status.get("slack").is_none());
}

#[tokio::test]
async fn an_unchanged_status_sends_nothing() {
    let entry = entry();
    let inc = opened(&entry, Severity::High);
    let (mut writer, verifier) = writer();
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::Stored("5001")),
        expect(Method::PUT, STATUS, Reply::Stored("5002")),
    ]);

    let first = writer
        .sync(&entry, &inc, &opening_events(&entry, Severity::High), &[])
        .await;
    // Next cycles: nothing happened to this incident (another target's event is ignored).
    let mut other = event(&entry, 60, false, EventKind::IncidentMitigated);
    other.target.name = "quoter".to_owned();
    let second = writer.sync(&entry, &inc, &[], &[]).await;
    let third = writer.sync(&entry, &inc, &[other], &[]).await;
    drop(writer);
    let received = served(server).await;

    first.expect("first sync");
    second.expect("second sync");
    third.expect("third sync");
    assert_eq!(
        received.len(),
        2,
        "only the create and the first status write"
    );
}

#[tokio::test]
async fn a_conflicting_status_write_is_redone_on_the_latest_object_keeping_its_slack_thread() {
    let entry = entry();
    let mut inc = opened(&entry, Severity::High);
    let opening = vec![event(
        &entry,
        0,
        true,
        EventKind::IncidentOpened {
            severity: Severity::High,
        },
    )];
    // What the Slack notifier wrote meanwhile, on top of our first status.
    let mut theirs = first_status(&inc, &opening);
    theirs["slack"] = json!({ "channel": "#incidents", "ts": "1772443441.000200" });
    theirs["eventsPublished"] = json!(2);
    let (mut writer, verifier) = writer();
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::Stored("5001")),
        expect(Method::PUT, STATUS, Reply::Stored("5002")),
        expect(Method::PUT, STATUS, Reply::conflict(RESOURCE, ID)),
        expect(
            Method::GET,
            OBJECT,
            Reply::ok(stored(&entry, &inc, "5003", theirs)),
        ),
        expect(Method::PUT, STATUS, Reply::Stored("5004")),
    ]);

    let first = writer.sync(&entry, &inc, &opening, &[]).await;
    let escalation = escalated(&entry, &mut inc, 300, Severity::Critical);
    let second = writer.sync(&entry, &inc, &escalation, &[]).await;
    drop(writer);
    let received = served(server).await;

    first.expect("first sync");
    second.expect("second sync after one conflict");
    let puts: Vec<&Value> = received
        .iter()
        .filter(|r| r.method == Method::PUT)
        .filter_map(|r| r.body.as_ref())
        .collect();
    let [_, conflicting, retried] = puts[..] else {
        panic!("three status writes, got {received:?}")
    };
    assert_eq!(conflicting["metadata"]["resourceVersion"], "5002");
    assert!(conflicting["status"].get("slack").is_none());
    assert_eq!(retried["metadata"]["resourceVersion"], "5003");
    let status = &retried["status"];
    assert_eq!(
        status["slack"],
        json!({ "channel": "#incidents", "ts": "1772443441.000200" })
    );
    assert_eq!(status["eventsPublished"], 2);
    assert_eq!(status["severity"], "critical");
    assert_eq!(status["severitySince"], "2026-03-02T09:29:00Z");
    assert_eq!(timeline(status), ["incidentOpened", "incidentEscalated"]);
}

#[tokio::test]
async fn adopts_an_incident_another_leader_created() {
    let entry = entry();
    let mut inc = opened(&entry, Severity::Medium);
    let opening = vec![event(
        &entry,
        0,
        true,
        EventKind::IncidentOpened {
            severity: Severity::Medium,
        },
    )];
    let mut previous_leader = first_status(&inc, &opening);
    previous_leader["slack"] =
        json!({ "channel": "#risk-platform-alerts", "ts": "1772443441.000100" });
    let (mut writer, verifier) = writer();
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::already_exists(RESOURCE, ID)),
        expect(
            Method::GET,
            OBJECT,
            Reply::ok(stored(&entry, &inc, "7001", previous_leader)),
        ),
        expect(Method::PUT, STATUS, Reply::Stored("7002")),
    ]);

    // The new leader restored the record and its first cycle escalates it.
    let escalation = escalated(&entry, &mut inc, 600, Severity::High);
    let result = writer.sync(&entry, &inc, &escalation, &[]).await;
    drop(writer);
    let received = served(server).await;

    result.expect("adopted");
    let put = received[2].body.as_ref().expect("status body");
    assert_eq!(put["metadata"]["resourceVersion"], "7001");
    assert_eq!(put["status"]["severity"], "high");
    assert_eq!(put["status"]["slack"]["ts"], "1772443441.000100");
    assert_eq!(
        timeline(&put["status"]),
        ["incidentOpened", "incidentEscalated"]
    );
}

#[tokio::test]
async fn gives_up_after_bounded_conflicts_and_writes_the_events_next_sync() {
    let entry = entry();
    let mut inc = opened(&entry, Severity::High);
    let (client, verifier) = mock_client(NS);
    let mut writer = IncidentWriter::new(client).with_retry(RetryPolicy {
        attempts: 2,
        backoff: Duration::from_millis(1),
    });
    // The latest object holds our first status (the opening reading now carries the id).
    let mut written = opening_events(&entry, Severity::High);
    written[0].incident = written[1].incident.clone();
    let ours = first_status(&inc, &written);
    let latest = |rv| Reply::ok(stored(&entry, &inc, rv, ours.clone()));
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::Stored("5001")),
        expect(Method::PUT, STATUS, Reply::Stored("5002")),
        expect(Method::PUT, STATUS, Reply::conflict(RESOURCE, ID)),
        expect(Method::GET, OBJECT, latest("5003")),
        expect(Method::PUT, STATUS, Reply::conflict(RESOURCE, ID)),
        // Next cycle: no new event, the escalation is still to be written.
        expect(Method::PUT, STATUS, Reply::conflict(RESOURCE, ID)),
        expect(Method::GET, OBJECT, latest("5005")),
        expect(Method::PUT, STATUS, Reply::Stored("5006")),
    ]);

    let first = writer
        .sync(&entry, &inc, &opening_events(&entry, Severity::High), &[])
        .await;
    let escalation = escalated(&entry, &mut inc, 300, Severity::Critical);
    let second = writer.sync(&entry, &inc, &escalation, &[]).await;
    let third = writer.sync(&entry, &inc, &[], &[]).await;
    drop(writer);
    let received = served(server).await;

    first.expect("first sync");
    let err = second.expect_err("conflicts exhausted");
    assert!(
        matches!(err, WriteError::Conflict { attempts: 2, .. }),
        "{err}"
    );
    assert_eq!(err.metric_label(), "conflict");
    third.expect("written on the next sync");
    let last = received.last().and_then(|r| r.body.as_ref()).expect("body");
    assert_eq!(last["metadata"]["resourceVersion"], "5005");
    assert_eq!(
        timeline(&last["status"]),
        ["detectorChanged", "incidentOpened", "incidentEscalated"]
    );
}

#[tokio::test]
async fn forgets_a_resolved_incident_after_its_final_write() {
    let entry = entry();
    let mut inc = opened(&entry, Severity::Low);
    let (mut writer, verifier) = writer();
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::Stored("5001")),
        expect(Method::PUT, STATUS, Reply::Stored("5002")),
        expect(Method::PUT, STATUS, Reply::Stored("5003")),
    ]);

    let first = writer
        .sync(&entry, &inc, &opening_events(&entry, Severity::Low), &[])
        .await;
    for step in &mut inc.steps {
        step.state = StepState::Done { dry_run: false };
    }
    inc.phase = Phase::Resolved;
    inc.resolved_at = Some(t(900));
    let resolved = [event(
        &entry,
        900,
        true,
        EventKind::IncidentResolved {
            duration_seconds: 900,
        },
    )];
    let second = writer.sync(&entry, &inc, &resolved, &[]).await;
    let tracked = writer.is_tracked(&inc.id);
    drop(writer);
    let received = served(server).await;

    first.expect("first sync");
    second.expect("final sync");
    assert!(!tracked, "nothing left to write for a finished incident");
    let last = received[2].body.as_ref().expect("body");
    assert_eq!(last["status"]["phase"], "Resolved");
    assert_eq!(last["status"]["resolvedAt"], "2026-03-02T09:39:00Z");
}

#[tokio::test]
async fn an_incident_deleted_behind_our_back_is_created_again() {
    let entry = entry();
    let mut inc = opened(&entry, Severity::High);
    let (mut writer, verifier) = writer();
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::Stored("5001")),
        expect(Method::PUT, STATUS, Reply::Stored("5002")),
        expect(Method::PUT, STATUS, Reply::not_found(RESOURCE, ID)),
        expect(Method::POST, CREATE, Reply::Stored("6001")),
        expect(Method::PUT, STATUS, Reply::Stored("6002")),
    ]);

    let first = writer
        .sync(&entry, &inc, &opening_events(&entry, Severity::High), &[])
        .await;
    let escalation = escalated(&entry, &mut inc, 120, Severity::Critical);
    let second = writer.sync(&entry, &inc, &escalation, &[]).await;
    let third = writer.sync(&entry, &inc, &[], &[]).await;
    drop(writer);
    let received = served(server).await;

    first.expect("first sync");
    assert_eq!(second.expect_err("gone").metric_label(), "gone");
    third.expect("recreated");
    let last = received[4].body.as_ref().expect("body");
    assert_eq!(last["metadata"]["resourceVersion"], "6001");
    assert_eq!(timeline(&last["status"]), ["incidentEscalated"]);
}

/// A notice of this incident, as the notifier builds them.
fn notice_of(id: &str) -> crate::notify::Notice {
    serde_json::from_value(json!({
        "schemaVersion": 1, "id": format!("{id}/opened"), "kind": "opened",
        "at": "2025-06-02T09:00:00Z", "incident": id,
        "playbook": {"namespace": NS, "name": "memory-leak"},
        "target": {"namespace": NS, "kind": "Deployment", "name": "pricer"},
        "severity": "critical", "phase": "open", "openedAt": "2025-06-02T09:00:00Z",
        "readings": [],
    }))
    .expect("a notice")
}

#[tokio::test]
async fn notices_are_written_with_their_change_then_cleared() {
    let entry = entry();
    let inc = opened(&entry, Severity::Critical);
    let (mut writer, verifier) = writer();
    let server = verifier.run(vec![
        expect(Method::POST, CREATE, Reply::Stored("5001")),
        expect(Method::PUT, STATUS, Reply::Stored("5002")),
        expect(Method::PATCH, STATUS, Reply::Stored("5003")),
    ]);
    let notice = notice_of(ID);
    let other = notice_of("another-incident");
    writer
        .sync(
            &entry,
            &inc,
            &opening_events(&entry, Severity::Critical),
            &[notice.clone(), other],
        )
        .await
        .expect("synced");
    writer.clear_pending(NS, ID).await;
    // Nothing changed since: no write, and the cleared notices do not come back.
    writer.sync(&entry, &inc, &[], &[]).await.expect("synced");
    drop(writer);
    let received = served(server).await;
    let [_, put, patch] = bodies(&received)[..] else {
        panic!("create, status, clear; got {received:?}")
    };
    assert_eq!(
        put["status"]["pendingNotices"],
        json!([serde_json::to_value(&notice).expect("json")]),
        "only this incident's notices"
    );
    assert_eq!(patch, &json!({"status": {"pendingNotices": null}}));
}
