//! Rollback (Argo Rollout abort, Deployment undo) and scale.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::tests::{Case, DEPLOYMENT, FM, bodies, sent};
use super::*;
use crate::act::render::{JSON_PATCH, MERGE_PATCH};
use crate::operator::testing_writers::{Reply, expect};
use crate::playbook::model::{Scale, ScaleTo};
use crate::playbook::spec::WorkloadKind;

const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/risk/rollouts/pricer";
const DEPLOYMENT_UID: &str = "3f1d7a52-8c0e-4b9a-a6d4-5e2c9b7f1a03";
const REPLICA_SETS: &str = "/apis/apps/v1/namespaces/risk/replicasets?labelSelector=app%3Dpricer";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const KEY: &str = "memory-leak-pricer-1772443440/high/0/rollback";

pub(super) fn template(image: &str, hash: Option<&str>) -> Value {
    let mut labels = json!({ "app": "pricer" });
    if let Some(hash) = hash {
        labels["pod-template-hash"] = json!(hash);
    }
    json!({
        "metadata": { "labels": labels, "annotations": { "prometheus.io/scrape": "true" } },
        "spec": { "containers": [{
            "name": "pricer", "image": format!("registry.example.com/risk/pricer:{image}"),
            "resources": { "limits": { "memory": "2Gi" } },
        }] },
    })
}

pub(super) fn deployment(revision: u64, image: &str, paused: bool) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "pricer", "namespace": "risk", "uid": DEPLOYMENT_UID, "resourceVersion": "88120", "generation": 9,
            "annotations": { "deployment.kubernetes.io/revision": revision.to_string(), LAST_APPLIED: "{}" },
        },
        "spec": {
            "replicas": 3, "paused": paused,
            "selector": { "matchLabels": { "app": "pricer" } },
            "template": template(image, None),
        },
    })
}

fn replica_set(hash: &str, revision: u64, image: &str, owner_uid: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("pricer-{hash}"), "namespace": "risk",
            "labels": { "app": "pricer", "pod-template-hash": hash },
            "annotations": {
                "deployment.kubernetes.io/revision": revision.to_string(),
                "deployment.kubernetes.io/desired-replicas": "3",
                "team": "risk",
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": "pricer",
                "uid": owner_uid, "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": { "replicas": 0, "template": template(image, Some(hash)) },
    })
}

fn replica_sets(items: Vec<Value>) -> Reply {
    Reply::ok(
        json!({ "apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": items }),
    )
}

fn rollout_case() -> Case {
    Case {
        workload: WorkloadKind::Rollout,
        ..Case::apply(ActionKind::Rollback)
    }
}

#[tokio::test]
async fn rollout_is_aborted_on_its_status() {
    let path = format!("{ROLLOUT}/status{FM}");
    let (out, received) = rollout_case()
        .run(vec![expect(
            Method::PATCH,
            &path,
            Reply::ok(json!({"kind": "Rollout"})),
        )])
        .await;
    assert_eq!(
        out.expect("aborted").sent,
        vec![sent(Method::PATCH, &path, 200)]
    );
    let body = json!({"status": {"abort": true}});
    assert_eq!(
        bodies(&received),
        vec![(Method::PATCH, Some(MERGE_PATCH), Some(&body))]
    );
}

#[tokio::test]
async fn rollout_without_a_status_subresource_is_aborted_on_the_object() {
    let status = format!("{ROLLOUT}/status{FM}");
    let main = format!("{ROLLOUT}{FM}");
    let (out, received) = rollout_case()
        .run(vec![
            expect(
                Method::PATCH,
                &status,
                Reply::Status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource".into(),
                ),
            ),
            expect(Method::PATCH, &main, Reply::ok(json!({"kind": "Rollout"}))),
        ])
        .await;
    assert_eq!(
        out.expect("aborted").sent,
        vec![sent(Method::PATCH, &main, 200)]
    );
    let body = json!({"status": {"abort": true}});
    assert_eq!(
        bodies(&received),
        vec![
            (Method::PATCH, Some(MERGE_PATCH), Some(&body)),
            (Method::PATCH, Some(MERGE_PATCH), Some(&body))
        ]
    );
}

#[tokio::test]
async fn deployment_is_rolled_back_to_the_newest_older_revision() {
    let patch_path = format!("{DEPLOYMENT}{FM}");
    let (out, received) = Case::apply(ActionKind::Rollback)
        .run(vec![
            expect(
                Method::GET,
                DEPLOYMENT,
                Reply::ok(deployment(7, "2.4.0", false)),
            ),
            expect(
                Method::GET,
                REPLICA_SETS,
                replica_sets(vec![
                    replica_set("85fd9c", 7, "2.4.0", DEPLOYMENT_UID),
                    replica_set("6d9f4b", 5, "2.2.0", DEPLOYMENT_UID),
                    replica_set("7c4b8d", 6, "2.3.1", DEPLOYMENT_UID),
                    // Matches the selector but belongs to another Deployment.
                    replica_set("9a1e2f", 6, "9.9.9", "11111111-other"),
                ]),
            ),
            expect(
                Method::PATCH,
                &patch_path,
                Reply::ok(deployment(8, "2.3.1", false)),
            ),
        ])
        .await;
    let out = out.expect("rolled back");
    assert_eq!(out.note.as_deref(), Some("restored revision 6"));
    assert_eq!(
        out.undo,
        Some(Undo::RolledBack {
            revision: 6,
            template_digest: super::rollback::template_digest(&template("2.3.1", None)),
        })
    );
    let patch = json!([
        { "op": "replace", "path": "/spec/template", "value": template("2.3.1", None) },
        { "op": "replace", "path": "/metadata/annotations", "value": {
            "team": "risk", "deployment.kubernetes.io/revision": "7", LAST_APPLIED: "{}",
            "firebreak.dev/rolled-back-by": KEY,
        } },
    ]);
    assert_eq!(
        bodies(&received),
        vec![
            (Method::GET, None, None),
            (Method::GET, None, None),
            (Method::PATCH, Some(JSON_PATCH), Some(&patch))
        ]
    );
}

#[tokio::test]
async fn deployment_rollback_repeated_after_a_crash_does_not_roll_back_again() {
    // The first run's patch landed: revision 8 is 2.3.1, and 7 (failing) is older.
    let mut rolled_back = deployment(8, "2.3.1", false);
    rolled_back["metadata"]["annotations"]["firebreak.dev/rolled-back-by"] = json!(KEY);
    let (out, received) = Case::apply(ActionKind::Rollback)
        .run(vec![expect(
            Method::GET,
            DEPLOYMENT,
            Reply::ok(rolled_back),
        )])
        .await;
    let out = out.expect("already done");
    assert_eq!(
        out.note.as_deref(),
        Some("already rolled back by this action (now revision 8)")
    );
    assert_eq!(out.sent, vec![sent(Method::GET, DEPLOYMENT, 200)]);
    assert_eq!(received.len(), 1);
}

#[tokio::test]
async fn deployment_without_an_older_revision_is_refused() {
    let (out, received) = Case::apply(ActionKind::Rollback)
        .run(vec![
            expect(
                Method::GET,
                DEPLOYMENT,
                Reply::ok(deployment(1, "2.4.0", false)),
            ),
            expect(
                Method::GET,
                REPLICA_SETS,
                replica_sets(vec![replica_set("85fd9c", 1, "2.4.0", DEPLOYMENT_UID)]),
            ),
        ])
        .await;
    let err = out.expect_err("nothing to restore");
    assert_eq!(err.metric_label(), "no_previous_revision");
    assert!(!err.is_transient());
    assert_eq!(received.len(), 2, "no patch");
}

#[tokio::test]
async fn deployment_whose_previous_template_is_the_failing_one_is_refused() {
    let (out, received) = Case::apply(ActionKind::Rollback)
        .run(vec![
            expect(
                Method::GET,
                DEPLOYMENT,
                Reply::ok(deployment(7, "2.4.0", false)),
            ),
            expect(
                Method::GET,
                REPLICA_SETS,
                replica_sets(vec![
                    replica_set("85fd9c", 7, "2.4.0", DEPLOYMENT_UID),
                    replica_set("4e2a7b", 6, "2.4.0", DEPLOYMENT_UID),
                ]),
            ),
        ])
        .await;
    let err = out.expect_err("same template");
    assert_eq!(err.metric_label(), "same_template");
    assert!(err.to_string().contains("revision 6"), "{err}");
    assert_eq!(received.len(), 2, "no patch");
}

#[tokio::test]
async fn paused_deployment_is_not_rolled_back() {
    let (out, received) = Case::apply(ActionKind::Rollback)
        .run(vec![expect(
            Method::GET,
            DEPLOYMENT,
            Reply::ok(deployment(7, "2.4.0", true)),
        )])
        .await;
    assert_eq!(out.expect_err("paused").metric_label(), "deployment_paused");
    assert_eq!(received.len(), 1);
}

fn scale_object(replicas: u32) -> Reply {
    Reply::ok(json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": { "name": "pricer", "namespace": "risk", "resourceVersion": "88120" },
        "spec": { "replicas": replicas },
        "status": { "replicas": replicas, "selector": "app=pricer" },
    }))
}

#[tokio::test]
async fn scale_add_stays_within_max_and_revert_restores_the_recorded_count() {
    let kind = ActionKind::Scale(Scale {
        to: ScaleTo::Add(4),
        max: 6,
    });
    let scale = format!("{DEPLOYMENT}/scale");
    let patch = format!("{scale}{FM}");
    let (out, received) = Case::apply(kind.clone())
        .run(vec![
            expect(Method::GET, &scale, scale_object(3)),
            expect(Method::PATCH, &patch, scale_object(6)),
        ])
        .await;
    let out = out.expect("scaled");
    let to6 = json!({"spec": {"replicas": 6}});
    assert_eq!(
        bodies(&received),
        vec![
            (Method::GET, None, None),
            (Method::PATCH, Some(MERGE_PATCH), Some(&to6))
        ]
    );
    let undo = Undo::Scale {
        previous: 3,
        target: 6,
    };
    assert_eq!(out.undo, Some(undo.clone()));
    assert_eq!(
        out.sent,
        vec![
            sent(Method::GET, &scale, 200),
            sent(Method::PATCH, &patch, 200)
        ]
    );

    // Repeated after a crash: the recorded target, not 6 + 4 capped.
    let repeat = Case {
        undo: Some(undo.clone()),
        ..Case::apply(kind.clone())
    };
    let (again, received) = repeat
        .run(vec![expect(Method::PATCH, &patch, scale_object(6))])
        .await;
    assert_eq!(again.expect("repeated").undo, Some(undo.clone()));
    assert_eq!(received[0].body.as_ref(), Some(&to6));

    let (out, received) = Case::revert(kind.clone(), Some(undo.clone()))
        .run(vec![
            expect(Method::GET, &scale, scale_object(6)),
            expect(Method::PATCH, &patch, scale_object(3)),
        ])
        .await;
    assert_eq!(
        out.expect("reverted").note.as_deref(),
        Some("scaled back from 6 to 3 replicas")
    );
    let to3 = json!({"spec": {"replicas": 3}});
    assert_eq!(
        bodies(&received),
        vec![
            (Method::GET, None, None),
            (Method::PATCH, Some(MERGE_PATCH), Some(&to3))
        ]
    );

    // Someone (an HPA) changed the count since: left alone.
    let (out, received) = Case::revert(kind, Some(undo))
        .run(vec![expect(Method::GET, &scale, scale_object(9))])
        .await;
    assert!(
        out.expect("left alone")
            .note
            .unwrap_or_default()
            .contains("left as is")
    );
    assert_eq!(received.len(), 1);
}

#[tokio::test]
async fn scale_add_above_max_never_scales_in() {
    let kind = ActionKind::Scale(Scale {
        to: ScaleTo::Add(2),
        max: 6,
    });
    let scale = format!("{DEPLOYMENT}/scale");
    let (out, received) = Case::apply(kind)
        .run(vec![expect(Method::GET, &scale, scale_object(8))])
        .await;
    let out = out.expect("nothing to do");
    assert_eq!(out.note.as_deref(), Some("already at 8 replicas"));
    assert_eq!(
        out.undo,
        Some(Undo::Scale {
            previous: 8,
            target: 8
        })
    );
    assert_eq!(received.len(), 1);
}
