use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use serde_json::json;

use super::*;
use crate::operator::status::desired;
use crate::operator::testing::*;
use crate::playbook::PlaybookId;
use crate::playbook::spec::PlaybookStatus;

const MERGE_PATCH: &str = "application/merge-patch+json";
/// kube builds write URIs as `path?` + pairs, hence the `?&`.
const PATCH_URI: &str = "/apis/firebreak.dev/v1alpha1/namespaces/shop/playbooks/checkout/status?&fieldManager=firebreak-controller";
const EVENTS_URI: &str = "/apis/events.k8s.io/v1/namespaces/shop/events?";

fn context() -> (Arc<Context>, ApiServerVerifier) {
    let (client, server) = client(NS);
    let reporter = Reporter {
        controller: "firebreak".to_owned(),
        instance: Some("firebreak-6d4f9c7b8-2xkqp".to_owned()),
    };
    let ctx = Context::new(
        client,
        Catalog::default(),
        reporter,
        Arc::new(FixedClock(t(0))),
        Arc::new(Metrics::default()),
    );
    (Arc::new(ctx), server)
}

fn patch_status(pb: &Playbook, reply: Option<Reply>) -> Exchange {
    let pb = pb.clone();
    let reply = reply.unwrap_or_else(|| Reply::with(move |body| pb.patched(body)));
    Exchange::new(Method::PATCH, PATCH_URI, reply).content_type(MERGE_PATCH)
}

fn create_event() -> Exchange {
    let reply = Reply::with(|body| (StatusCode::CREATED, body.cloned().expect("event")));
    Exchange::new(Method::POST, EVENTS_URI, reply).content_type("application/json")
}

fn id() -> PlaybookId {
    PlaybookId {
        namespace: NS.to_owned(),
        name: NAME.to_owned(),
    }
}

/// The playbook as it stands once the controller's status for it is stored.
fn settled(pb: Playbook) -> Playbook {
    let problems = crate::playbook::validate::validate(&pb)
        .err()
        .unwrap_or_default();
    let own = desired(&pb, &problems, t(-60));
    pb.with_status(PlaybookStatus {
        observed_generation: own.observed_generation,
        conditions: own.conditions,
        detectors: own.detectors,
        targets: Some(2),
        ..PlaybookStatus::default()
    })
}

/// What one reconcile did: its result, the requests, the catalog and metrics after.
struct Outcome {
    result: Result<Action, Error>,
    received: Vec<Received>,
    catalog: Catalog,
    metrics: String,
}

/// Run one reconcile of `pb` against `script`.
async fn reconcile_with(pb: Playbook, script: Vec<Exchange>) -> Outcome {
    let (ctx, server) = context();
    let server = server.run(script);
    let result = reconcile(Arc::new(pb), ctx.clone()).await;
    let (catalog, metrics) = (ctx.catalog().clone(), ctx.metrics.encode());
    Outcome {
        result,
        received: finish(ctx, server).await,
        catalog,
        metrics,
    }
}

/// Drop the context (the mock's only client) so the script can end.
async fn finish(
    ctx: Arc<Context>,
    server: tokio::task::JoinHandle<Vec<Received>>,
) -> Vec<Received> {
    assert_eq!(
        Arc::strong_count(&ctx),
        1,
        "the test holds the last context"
    );
    drop(ctx);
    served(server).await
}

#[tokio::test]
async fn a_valid_playbook_enters_the_catalog_and_its_status_is_patched() {
    let pb = Playbook::test();
    let (ctx, server) = context();
    let server = server.run(vec![patch_status(&pb, None)]);

    let action = reconcile(Arc::new(pb), ctx.clone())
        .await
        .expect("reconcile");
    let entry = ctx.catalog().get(&id()).expect("in the catalog");
    let metrics = ctx.metrics.encode();
    let received = finish(ctx, server).await;

    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    assert_eq!(
        (entry.uid.as_str(), entry.generation, entry.paused),
        (UID, Some(3), false)
    );
    assert_eq!(entry.playbook.detectors.len(), 2);
    assert_eq!(
        received[0].body,
        Some(json!({"status": {
            "observedGeneration": 3,
            "conditions": [
                {
                    "type": "Ready", "status": "True", "reason": "Valid",
                    "message": "the playbook is valid and evaluated",
                    "observedGeneration": 3, "lastTransitionTime": "2025-06-02T09:00:00Z",
                },
                {
                    "type": "Paused", "status": "False", "reason": "ActionsEnabled",
                    "message": "actions are enabled; set firebreak.dev/kill-switch=true to pause them",
                    "observedGeneration": 3, "lastTransitionTime": "2025-06-02T09:00:00Z",
                },
            ],
            "detectors": "latency-p99,error-rate",
        }}))
    );
    assert!(
        metrics.contains("firebreak_reconciles_total{result=\"valid\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_invalid_playbook_is_not_ready_warned_about_and_leaves_the_catalog() {
    let pb = Playbook::test().invalid();
    let (ctx, server) = context();
    // It was valid before: the catalog must drop it.
    let earlier = crate::playbook::validate::validate(&Playbook::test()).expect("valid");
    ctx.catalog().upsert(Entry {
        playbook: Arc::new(earlier),
        uid: UID.to_owned(),
        generation: Some(2),
        paused: false,
    });
    let server = server.run(vec![patch_status(&pb, None), create_event()]);

    let action = reconcile(Arc::new(pb), ctx.clone())
        .await
        .expect("an invalid spec is no error");
    let in_catalog = ctx.catalog().get(&id()).is_some();
    let received = finish(ctx, server).await;

    assert_eq!(action, Action::await_change());
    assert!(!in_catalog);
    let [patch, event] = received.as_slice() else {
        panic!("a status patch and an event, got {received:?}")
    };
    let ready = &patch.body.as_ref().expect("patch body")["status"]["conditions"][0];
    assert_eq!(
        (&ready["type"], &ready["status"], &ready["reason"]),
        (&json!("Ready"), &json!("False"), &json!("Invalid"))
    );
    let message = ready["message"].as_str().expect("message");
    assert!(
        message.contains("spec.detectors[0].thresholds.high: must be greater than low"),
        "{message}"
    );
    assert!(message.contains("spec.detectors[1]: "), "{message}");

    let event = event.body.as_ref().expect("event body");
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "InvalidPlaybook");
    assert_eq!(event["note"], message);
    assert_eq!(event["reportingController"], "firebreak");
    assert_eq!(
        event["regarding"],
        json!({
            "apiVersion": "firebreak.dev/v1alpha1",
            "kind": "Playbook",
            "name": NAME,
            "namespace": NS,
            "uid": UID,
        })
    );
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    for pb in [
        settled(Playbook::test()),
        settled(Playbook::test().invalid()),
    ] {
        let out = reconcile_with(pb, vec![]).await;
        assert!(out.result.is_ok());
        assert_eq!(out.received, [], "no PATCH and no Event");
    }
}

#[tokio::test]
async fn the_kill_switch_pauses_the_entry_and_sets_paused_true() {
    let pb = settled(Playbook::test()).kill_switch("true");
    let out = reconcile_with(pb.clone(), vec![patch_status(&pb, None)]).await;

    assert!(out.result.is_ok());
    assert!(out.catalog.get(&id()).expect("in the catalog").paused);
    let conditions = &out.received[0].body.as_ref().expect("patch")["status"]["conditions"];
    assert_eq!(
        conditions[0]["lastTransitionTime"], "2025-06-02T08:59:00Z",
        "Ready unchanged"
    );
    assert_eq!(
        conditions[1],
        json!({
            "type": "Paused", "status": "True", "reason": "KillSwitch",
            "message": "firebreak.dev/kill-switch=true: actions are paused, detection continues",
            "observedGeneration": 3, "lastTransitionTime": "2025-06-02T09:00:00Z",
        })
    );
}

#[tokio::test]
async fn a_failed_status_write_is_retried_later_each_time_until_it_succeeds() {
    let pb = Playbook::test();
    let (ctx, server) = context();
    let server = server.run(vec![
        patch_status(&pb, Some(Reply::internal_error())),
        patch_status(&pb, Some(Reply::internal_error())),
        patch_status(&pb, Some(Reply::internal_error())),
        patch_status(&pb, None),
        patch_status(&pb, Some(Reply::internal_error())),
    ]);
    let pb = Arc::new(pb);
    let mut delays = Vec::new();
    for _ in 0..5 {
        match reconcile(pb.clone(), ctx.clone()).await {
            Ok(action) => delays.push((true, action)),
            Err(e) => {
                assert!(e.is_transient(), "{e}");
                delays.push((false, error_policy(pb.clone(), &e, ctx.clone())));
            }
        }
    }
    let metrics = ctx.metrics.encode();
    finish(ctx, server).await;

    let secs = |s| Action::requeue(Duration::from_secs(s));
    assert_eq!(
        delays,
        [
            (false, secs(5)),
            (false, secs(10)),
            (false, secs(20)),
            (true, secs(300)),
            (false, secs(5))
        ]
    );
    assert!(
        metrics.contains("firebreak_reconcile_errors_total{error=\"patch_status\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("firebreak_reconciles_total{result=\"error\"} 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn conflicts_and_5xx_are_transient_forbidden_is_not() {
    let cases = [
        (
            Reply::status(
                StatusCode::CONFLICT,
                "Conflict",
                "the object has been modified",
            ),
            true,
        ),
        (
            Reply::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "apiserver is shutting down",
            ),
            true,
        ),
        (
            Reply::status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "cannot patch resource \"playbooks/status\"",
            ),
            false,
        ),
    ];
    for (reply, transient) in cases {
        let pb = Arc::new(Playbook::test());
        let (ctx, server) = context();
        let server = server.run(vec![patch_status(&pb, Some(reply))]);
        let error = reconcile(pb.clone(), ctx.clone())
            .await
            .expect_err("the patch failed");
        let action = error_policy(pb, &error, ctx.clone());
        finish(ctx, server).await;

        assert_eq!(error.is_transient(), transient, "{error}");
        let want = if transient { 5 } else { 300 };
        assert_eq!(
            action,
            Action::requeue(Duration::from_secs(want)),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_rejected_event_does_not_fail_the_reconcile() {
    let pb = Playbook::test().invalid();
    let forbidden = Reply::status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "cannot create resource \"events\"",
    );
    let event = Exchange::new(Method::POST, EVENTS_URI, forbidden);
    let out = reconcile_with(pb.clone(), vec![patch_status(&pb, None), event]).await;

    assert_eq!(out.result.expect("still a verdict"), Action::await_change());
    let metrics = out.metrics;
    assert!(
        metrics.contains("firebreak_reconcile_errors_total{error=\"publish_event\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_playbook_without_a_namespace_is_an_error_retried_slowly() {
    let mut pb = Playbook::test();
    pb.metadata.namespace = None;
    let pb = Arc::new(pb);
    let (ctx, server) = context();
    let server = server.run(vec![]);

    let error = reconcile(pb.clone(), ctx.clone())
        .await
        .expect_err("no namespace");
    let action = error_policy(pb, &error, ctx.clone());
    finish(ctx, server).await;

    assert!(matches!(error, Error::MissingMetadata), "{error}");
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
}
