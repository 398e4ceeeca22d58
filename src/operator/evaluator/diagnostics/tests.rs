//! A diagnostics step through one evaluator cycle: the Incident is written
//! and told first (its uid owns the ConfigMap), then the capture, then the
//! step's note.

use std::sync::Arc;

use http::Method;
use serde_json::{Value, json};

use super::super::tests::{
    DEPLOYMENT, EVENTS, INCIDENT_STATUS, INCIDENTS, PLAYBOOK_STATUS, body, evaluator, issued,
};
use crate::incident::Operation;
use crate::operator::catalog::{Catalog, Entry};
use crate::operator::testing_writers::fixtures::{PLAYBOOK_UID, t};
use crate::operator::testing_writers::{Reply, expect, mock_client, served};

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
  actions:
    low:
      - diagnostics: {maxPods: 1, tailLines: 100, exec: {command: [jcmd, "1", Thread.print]}}
"#;

const POD: &str = "pricer-7d9f-aaaaa";
const CONFIG_MAP: &str = "memory-leak-pricer-1772443440-diag-0";
/// What `Reply::Stored` gives a created object: the Incident's uid.
const INCIDENT_UID: &str = "5d0c3b7e-2f41-4a8e-9c61-0b7f3e9a2d14";

fn entry() -> Entry {
    let pb = crate::playbook::load::parse_documents(PLAYBOOK, None)
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

fn pods() -> Reply {
    Reply::ok(json!({
        "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [{
            "metadata": {
                "name": POD, "namespace": "risk",
                "labels": {"app": "pricer", "pod-template-hash": "7d9f"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "pricer-7d9f", "uid": "u", "controller": true}],
            },
            "spec": {"containers": [{"name": "pricer"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "pricer",
                "ready": true, "restartCount": 0, "image": "pricer", "imageID": "",
                "state": {"running": {}}}]},
        }],
    }))
}

fn events(kind: &str, name: &str) -> String {
    format!(
        "/api/v1/namespaces/risk/events?fieldSelector=involvedObject.kind%3D{kind}%2CinvolvedObject.name%3D{name}"
    )
}

#[tokio::test]
async fn a_diagnostics_step_is_captured_into_a_config_map_owned_by_the_new_incident() {
    let no_events = || Reply::ok(json!({"apiVersion": "v1", "kind": "EventList", "items": []}));
    let (client, server) = mock_client("risk");
    let server = server.run(vec![
        // The incident's first cycle: its resource is written, and its Events
        // sent, before the capture.
        expect(Method::POST, INCIDENTS, Reply::Stored("501")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("502")),
        expect(Method::GET, DEPLOYMENT, super::super::tests::deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("601")),
        expect(Method::POST, EVENTS, Reply::Stored("602")),
        expect(
            Method::GET,
            "/api/v1/namespaces/risk/pods?labelSelector=app%3Dpricer",
            pods(),
        ),
        expect(
            Method::GET,
            format!("/api/v1/namespaces/risk/pods/{POD}/log?container=pricer&tailLines=100&limitBytes=65536"),
            Reply::Text("GC overhead limit exceeded\n".into()),
        ),
        expect(Method::GET, events("Deployment", "pricer"), no_events()),
        expect(Method::GET, events("Pod", POD), no_events()),
        expect(
            Method::PATCH,
            format!("/api/v1/namespaces/risk/configmaps/{CONFIG_MAP}?fieldManager=firebreak&force=true"),
            Reply::Stored("800"),
        ),
        // Then the cycle writes the outcome and the Playbook status.
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("503")),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
    ]);
    let catalog = Catalog::default();
    let entry = entry();
    catalog.upsert(entry.clone());
    // Executing (not dry-run), exec not enabled.
    let mut ev = evaluator(client, &catalog, false);
    let events = ev.cycle(&entry, t(0)).await;
    drop(ev);
    let received = served(server).await;

    assert_eq!(issued(&events), [("diagnostics", Operation::Apply)]);
    let ledger = &body(&received, 1)["status"]["steps"][0];
    assert_eq!(ledger["state"]["state"], "Issued");
    let cm = body(&received, 9);
    assert_eq!(cm["metadata"]["ownerReferences"][0]["kind"], "Incident");
    assert_eq!(cm["metadata"]["ownerReferences"][0]["uid"], INCIDENT_UID);
    let readings: Value =
        serde_json::from_str(cm["data"]["readings.json"].as_str().expect("readings"))
            .expect("json");
    assert_eq!(
        readings,
        json!([{"detector": "memory-pressure", "value": 0.97,
                "thresholds": {"critical": 0.95, "low": 0.7}}])
    );
    let prometheus: Value =
        serde_json::from_str(cm["data"]["prometheus.json"].as_str().expect("snapshot"))
            .expect("json");
    assert_eq!(prometheus["start"], "2026-03-02T09:09:00Z");
    assert_eq!(
        prometheus["series"][0]["samples"],
        json!([[t(0).as_second(), 0.97]])
    );

    let step = &body(&received, 10)["status"]["steps"][0];
    assert_eq!(step["state"]["state"], "Done");
    assert_eq!(step["state"]["dryRun"], false);
    assert_eq!(
        step["note"],
        format!(
            "captured 1 pod (1 log, 0 events) into ConfigMap {CONFIG_MAP}; exec skipped: disabled (enable with --diagnostics-exec, the chart's diagnostics.exec)"
        )
    );
}

#[tokio::test]
async fn an_incident_write_failing_holds_the_capture_for_a_retry_not_a_failure() {
    let (client, server) = mock_client("risk");
    let unavailable = || {
        Reply::Status(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "etcd leader changed".to_owned(),
        )
    };
    let server = server.run(vec![
        // The resource is created, its status write fails; Events go on.
        expect(Method::POST, INCIDENTS, Reply::Stored("501")),
        expect(Method::PUT, INCIDENT_STATUS, unavailable()),
        expect(Method::GET, DEPLOYMENT, super::super::tests::deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("601")),
        expect(Method::POST, EVENTS, Reply::Stored("602")),
        // The write before the capture fails too: no owner uid yet.
        expect(Method::PUT, INCIDENT_STATUS, unavailable()),
        // The cycle's own write fails again; the Playbook status goes on.
        expect(Method::PUT, INCIDENT_STATUS, unavailable()),
        expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({}))),
    ]);
    let catalog = Catalog::default();
    let entry = entry();
    catalog.upsert(entry.clone());
    let mut ev = evaluator(client, &catalog, false);
    let events = ev.cycle(&entry, t(0)).await;
    drop(ev);
    served(server).await;
    let retrying = events
        .iter()
        .any(|e| matches!(e.kind, crate::engine::EventKind::ActionRetrying { .. }));
    let failed = events.iter().any(|e| {
        matches!(
            &e.kind,
            crate::engine::EventKind::ActionFinished {
                outcome: crate::incident::StepState::Failed { .. },
                ..
            }
        )
    });
    assert!(retrying && !failed, "{events:#?}");
}
