//! A revert after a leader takeover, for real (not in dry-run): leader A scales
//! the workload out and records the replica counts in the Incident's ledger;
//! leader B restores from that resource, checks the scale is still as applied,
//! and on resolution sends exactly one revert, built from A's record, and no
//! second apply.

use http::Method;
use serde_json::{Value, json};

use super::tests::{
    DEPLOYMENT, EVENTS, INCIDENT, INCIDENT_STATUS, INCIDENTS, LIST_INCIDENTS, PLAYBOOK_STATUS,
    body, deployment, entry_of, evaluator_with, incident_list, issued, source_high_until,
};
use crate::incident::Operation;
use crate::operator::catalog::Catalog;
use crate::operator::testing_writers::fixtures::t;
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
      clearFor: 15s
  actions:
    low:
      - notify: {}
    critical:
      - scale: {add: 2, max: 10}
"#;

const SCALE: &str = "/apis/apps/v1/namespaces/risk/deployments/pricer/scale";

fn scale_patch() -> String {
    format!("{SCALE}?fieldManager=firebreak")
}

/// The `/scale` subresource at `replicas`.
fn scale(replicas: u32) -> Reply {
    Reply::ok(json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "pricer", "namespace": "risk", "resourceVersion": "812"},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "selector": "app=pricer"},
    }))
}

fn quiet() -> crate::operator::testing_writers::Exchange {
    expect(Method::PATCH, PLAYBOOK_STATUS, Reply::ok(json!({})))
}

#[tokio::test]
async fn a_new_leader_reverts_with_the_previous_leaders_ledger_exactly_once() {
    let catalog = Catalog::default();
    let entry = entry_of(PLAYBOOK);
    catalog.upsert(entry.clone());

    // Leader A: records the opening, reads 3 replicas, records 3 -> 5 in the
    // ledger, then scales.
    let (client, server) = mock_client("risk");
    let server = server.run(vec![
        expect(Method::POST, INCIDENTS, Reply::Stored("501")),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("502")),
        expect(Method::GET, DEPLOYMENT, deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("601")),
        expect(Method::POST, EVENTS, Reply::Stored("602")),
        expect(Method::GET, SCALE, scale(3)),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("503")),
        expect(Method::PATCH, scale_patch(), scale(5)),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("504")),
        expect(Method::POST, EVENTS, Reply::Stored("603")),
        expect(Method::POST, EVENTS, Reply::Stored("604")),
        quiet(),
    ]);
    let mut a = evaluator_with(client, &catalog, false, source_high_until(15));
    let opened = a.cycle(&entry, t(0)).await;
    drop(a);
    let received = served(server).await;
    assert_eq!(
        issued(&opened),
        [("notify", Operation::Apply), ("scale", Operation::Apply)]
    );
    assert_eq!(body(&received, 7), &json!({"spec": {"replicas": 5}}));
    let mut stored: Value = body(&received, 0).clone();
    stored["metadata"]["resourceVersion"] = json!("504");
    stored["status"] = body(&received, 8)["status"].clone();
    assert_eq!(
        stored["status"]["steps"][1]["undo"],
        json!({"scale": {"previous": 3, "target": 5}})
    );

    // Leader B: continues from the resource.
    let (client, server) = mock_client("risk");
    let list = incident_list(&stored);
    let server = server.run(vec![
        expect(Method::GET, LIST_INCIDENTS, Reply::ok(list)),
        // t(15), t(30): the scale is still as A set it: read, nothing written.
        expect(Method::GET, SCALE, scale(5)),
        quiet(),
        expect(Method::GET, SCALE, scale(5)),
        quiet(),
        // t(45): resolved (recorded, adopting A's Incident, and told); one
        // revert to A's recorded count.
        expect(
            Method::POST,
            INCIDENTS,
            Reply::already_exists("incidents.firebreak.dev", "memory-leak-pricer-1772443440"),
        ),
        expect(Method::GET, INCIDENT, Reply::ok(stored)),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("505")),
        expect(Method::GET, DEPLOYMENT, deployment()),
        expect(Method::POST, EVENTS, Reply::Stored("611")),
        expect(Method::POST, EVENTS, Reply::Stored("612")),
        expect(Method::GET, SCALE, scale(5)),
        expect(Method::PATCH, scale_patch(), scale(3)),
        expect(Method::PUT, INCIDENT_STATUS, Reply::Stored("506")),
        quiet(),
    ]);
    let mut b = evaluator_with(client, &catalog, false, source_high_until(15));
    assert!(b.list_open().await);
    b.restore(&entry);
    let mut cycles = Vec::new();
    for secs in [15, 30, 45] {
        cycles.push(b.cycle(&entry, t(secs)).await);
    }
    drop(b);
    let received = served(server).await;

    assert!(issued(&cycles[0]).is_empty() && issued(&cycles[1]).is_empty());
    assert_eq!(issued(&cycles[2]), [("scale", Operation::Revert)]);
    assert_eq!(body(&received, 9)["reason"], "IncidentResolved");
    assert_eq!(received[12].method, Method::PATCH);
    assert_eq!(body(&received, 12), &json!({"spec": {"replicas": 3}}));
    assert_eq!(
        received[12].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let status = &body(&received, 13)["status"];
    assert_eq!(status["phase"], "Resolved");
    assert_eq!(status["steps"][1]["state"]["state"], "Done");
    assert_eq!(status["steps"][1]["revert"]["state"], "Done");
    assert_eq!(
        status["steps"][1]["note"],
        "scaled back from 5 to 3 replicas"
    );
}
