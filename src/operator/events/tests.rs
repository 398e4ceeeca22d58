use std::sync::Arc;

use http::Method;
use kube::runtime::events::EventType;
use serde_json::{Value, json};

use super::{EventFailureLabels, IncidentEvents, transition};
use crate::detect::Level;
use crate::engine::{EscalationCause, EventKind};
use crate::operator::testing_writers::fixtures::*;
use crate::operator::testing_writers::{Reply, expect, mock_client, served};
use crate::playbook::spec::WorkloadKind;
use crate::severity::Severity;

const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/risk/events?";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/risk/deployments/pricer";
const DEPLOYMENT_UID: &str = "c2b7e4a1-93f0-4d6e-b1a8-5e0f7c3d9b26";
const POD: &str = "firebreak-6d4f9c7b8-2xkqp";

fn deployment_metadata() -> Reply {
    Reply::ok(json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": {
            "name": WORKLOAD,
            "namespace": NS,
            "uid": DEPLOYMENT_UID,
            "resourceVersion": "48213",
            "generation": 7,
            "labels": { "app.kubernetes.io/part-of": "risk-platform" },
        },
    }))
}

fn failures(events: &IncidentEvents, kind: &str) -> u64 {
    events
        .failures()
        .get_or_create(&EventFailureLabels {
            kind: kind.to_owned(),
        })
        .get()
}

#[tokio::test]
async fn an_incident_opened_at_critical_warns_on_the_playbook_and_the_deployment() {
    let entry = entry();
    let (client, verifier) = mock_client(NS);
    let mut events = IncidentEvents::new(client, POD);
    let server = verifier.run(vec![
        expect(Method::GET, DEPLOYMENT, deployment_metadata()),
        expect(Method::POST, EVENTS, Reply::Stored("90001")),
        expect(Method::POST, EVENTS, Reply::Stored("90002")),
    ]);

    events
        .publish(&entry, &opening_events(&entry, Severity::Critical))
        .await;
    let (lookups, publishes) = (failures(&events, "lookup"), failures(&events, "publish"));
    drop(events);
    let received = served(server).await;

    assert_eq!((lookups, publishes), (0, 0));
    let posted: Vec<&Value> = received[1..]
        .iter()
        .map(|r| r.body.as_ref().expect("event body"))
        .collect();
    let regarding: Vec<&Value> = posted.iter().map(|e| &e["regarding"]).collect();
    assert_eq!(
        regarding,
        [
            &json!({
                "apiVersion": "firebreak.dev/v1alpha1", "kind": "Playbook",
                "namespace": NS, "name": PLAYBOOK, "uid": PLAYBOOK_UID,
            }),
            &json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "namespace": NS, "name": WORKLOAD, "uid": DEPLOYMENT_UID,
            }),
        ]
    );
    for (event, object) in posted.iter().zip([PLAYBOOK, WORKLOAD]) {
        assert_eq!(event["apiVersion"], "events.k8s.io/v1");
        assert_eq!(event["kind"], "Event");
        assert_eq!(event["metadata"]["namespace"], NS);
        let name = event["metadata"]["name"].as_str().expect("name");
        assert!(name.starts_with(&format!("{object}.")), "{name}");
        assert_eq!(event["type"], "Warning");
        assert_eq!(event["reason"], "IncidentOpened");
        assert_eq!(event["action"], "Detect");
        assert_eq!(
            event["note"],
            format!(
                "Incident {ID} opened at critical; memory-pressure=0.962 (critical, threshold 0.95)"
            )
        );
        assert_eq!(event["reportingController"], "firebreak");
        assert_eq!(event["reportingInstance"], POD);
        assert_eq!(
            event["related"],
            json!({
                "apiVersion": "firebreak.dev/v1alpha1", "kind": "Incident",
                "namespace": NS, "name": ID,
            })
        );
        assert!(event["eventTime"].is_string());
    }
}

#[tokio::test]
async fn a_failed_publish_is_counted_and_the_other_object_still_gets_its_event() {
    let entry = entry();
    let (client, verifier) = mock_client(NS);
    let mut events = IncidentEvents::new(client, POD);
    let denied = "events.events.k8s.io is forbidden: User \"system:serviceaccount:firebreak:firebreak\" cannot create resource \"events\" in API group \"events.k8s.io\" in the namespace \"risk\"";
    let server = verifier.run(vec![
        expect(
            Method::GET,
            DEPLOYMENT,
            Reply::not_found("deployments.apps", WORKLOAD),
        ),
        expect(Method::POST, EVENTS, Reply::forbidden(denied)),
        expect(Method::POST, EVENTS, Reply::Stored("90003")),
    ]);
    let resolved = event(
        &entry,
        840,
        true,
        EventKind::IncidentResolved {
            duration_seconds: 840,
        },
    );

    events.publish(&entry, &[resolved]).await;
    let (lookups, publishes) = (failures(&events, "lookup"), failures(&events, "publish"));
    drop(events);
    let received = served(server).await;

    assert_eq!((lookups, publishes), (1, 1));
    let deployment_event = received[2].body.as_ref().expect("event body");
    assert_eq!(deployment_event["type"], "Normal");
    assert_eq!(deployment_event["reason"], "IncidentResolved");
    assert_eq!(deployment_event["action"], "Resolve");
    assert_eq!(
        deployment_event["note"],
        format!("Incident {ID} resolved after 14m")
    );
    // Without the uid it is still listed by name (`kubectl get events`).
    assert!(deployment_event["regarding"].get("uid").is_none());
}

#[tokio::test]
async fn a_rollout_target_is_referenced_as_an_argo_rollout() {
    let mut entry = entry();
    let mut playbook = (*entry.playbook).clone();
    playbook.target.kind = WorkloadKind::Rollout;
    entry.playbook = Arc::new(playbook);
    let (client, verifier) = mock_client(NS);
    let mut events = IncidentEvents::new(client, POD);
    let server = verifier.run(vec![
        expect(
            Method::GET,
            "/apis/argoproj.io/v1alpha1/namespaces/risk/rollouts/pricer",
            Reply::ok(json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                "metadata": { "name": WORKLOAD, "namespace": NS, "uid": "r-1" },
            })),
        ),
        expect(Method::POST, EVENTS, Reply::Stored("90004")),
        expect(Method::POST, EVENTS, Reply::Stored("90005")),
    ]);
    let deescalated = event(
        &entry,
        600,
        true,
        EventKind::IncidentDeescalated {
            from: Severity::High,
            to: Severity::Low,
        },
    );

    events.publish(&entry, &[deescalated]).await;
    drop(events);
    let received = served(server).await;

    let workload = &received[2].body.as_ref().expect("event body")["regarding"];
    assert_eq!(
        workload,
        &json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "namespace": NS, "name": WORKLOAD, "uid": "r-1",
        })
    );
}

#[tokio::test]
async fn events_of_other_playbooks_and_non_lifecycle_events_publish_nothing() {
    let entry = entry();
    let (client, verifier) = mock_client(NS);
    let mut events = IncidentEvents::new(client, POD);
    let server = verifier.run(vec![]);
    let mut other = event(
        &entry,
        0,
        true,
        EventKind::IncidentOpened {
            severity: Severity::Critical,
        },
    );
    other.playbook.name = "slo-burn".to_owned();
    let held = event(
        &entry,
        60,
        true,
        EventKind::ActionHeld {
            key: crate::incident::IdempotencyKey("checkout-api-1/high/0/rateLimit".to_owned()),
            hold: crate::incident::guardrails::Hold::KillSwitch,
        },
    );

    events.publish(&entry, &[other, held]).await;
    drop(events);
    assert!(served(server).await.is_empty());
}

/// One row per lifecycle event: the Event's type, reason and action.
#[test]
fn lifecycle_events_map_to_type_reason_and_action() {
    use EventType::{Normal, Warning};
    let entry = entry();
    let opened = |severity| EventKind::IncidentOpened { severity };
    let escalated = |from, to| EventKind::IncidentEscalated {
        from,
        to,
        cause: EscalationCause::Unresolved,
    };
    let rows = [
        (opened(Severity::Low), Normal, "IncidentOpened", "Detect"),
        (opened(Severity::Medium), Normal, "IncidentOpened", "Detect"),
        (opened(Severity::High), Warning, "IncidentOpened", "Detect"),
        (
            opened(Severity::Critical),
            Warning,
            "IncidentOpened",
            "Detect",
        ),
        (
            escalated(Severity::Low, Severity::Medium),
            Normal,
            "IncidentEscalated",
            "Detect",
        ),
        (
            escalated(Severity::Medium, Severity::High),
            Warning,
            "IncidentEscalated",
            "Detect",
        ),
        (
            EventKind::IncidentDeescalated {
                from: Severity::Critical,
                to: Severity::High,
            },
            Normal,
            "IncidentDeescalated",
            "Detect",
        ),
        (
            EventKind::IncidentMitigated,
            Normal,
            "IncidentMitigated",
            "Mitigate",
        ),
        (
            EventKind::IncidentResolved {
                duration_seconds: 60,
            },
            Normal,
            "IncidentResolved",
            "Resolve",
        ),
    ];
    for (kind, type_, reason, action) in rows {
        let e = event(&entry, 0, true, kind.clone());
        let t = transition(&e, "").unwrap_or_else(|| panic!("{kind:?} is a transition"));
        assert_eq!(
            (t.type_, t.reason, t.action),
            (type_, reason, action),
            "{kind:?}"
        );
    }
    let e = event(
        &entry,
        0,
        true,
        escalated(Severity::High, Severity::Critical),
    );
    assert_eq!(
        transition(&e, "").expect("transition").note,
        format!("Incident {ID} escalated from high to critical (unresolved too long)")
    );
    let changed = EventKind::DetectorChanged {
        detector: "latency-p99".to_owned(),
        from: Level::Ok,
        to: Level::Firing {
            severity: Severity::Low,
        },
        value: Some(0.3),
        threshold: Some(0.25),
    };
    assert_eq!(transition(&event(&entry, 0, true, changed), ""), None);
    assert_eq!(
        transition(&event(&entry, 0, false, opened(Severity::Low)), ""),
        None
    );
}

#[test]
fn long_notes_are_cut_to_the_api_limit_on_a_char_boundary() {
    let note = super::truncate("é".repeat(600), super::NOTE_LIMIT);
    assert!(note.len() <= 1024, "{}", note.len());
    assert!(note.ends_with('…'));
}
