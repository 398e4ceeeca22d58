//! The controller's `PrometheusRule` per valid playbook (`--recording-rules`).

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Method, StatusCode};
use kube::runtime::events::Reporter;
use serde_json::json;

use super::*;
use crate::operator::testing::*;

const APPLY: &str = "application/apply-patch+yaml";
const RULE_URI: &str = "/apis/monitoring.coreos.com/v1/namespaces/shop/prometheusrules/firebreak-checkout?&force=true&fieldManager=firebreak-controller";
const PATCH_URI: &str = "/apis/firebreak.dev/v1alpha1/namespaces/shop/playbooks/checkout/status?&fieldManager=firebreak-controller";

fn context() -> (Arc<Context>, ApiServerVerifier) {
    let (client, server) = client(NS);
    let ctx = Context::new(
        client,
        Catalog::default(),
        Reporter {
            controller: "firebreak".to_owned(),
            instance: None,
        },
        Arc::new(FixedClock(t(0))),
        Arc::new(Metrics::default()),
    )
    .with_recording_rules(BTreeMap::from([(
        "release".to_owned(),
        "kube-prometheus-stack".to_owned(),
    )]));
    (Arc::new(ctx), server)
}

fn apply_rule(reply: Reply) -> Exchange {
    Exchange::new(Method::PATCH, RULE_URI, reply).content_type(APPLY)
}

fn echo() -> Reply {
    Reply::with(|body| (StatusCode::OK, body.cloned().expect("rule")))
}

#[tokio::test]
async fn a_valid_playbook_gets_its_rules_before_it_is_evaluated() {
    let pb = Playbook::test();
    let (ctx, server) = context();
    let status = pb.clone();
    let server = server.run(vec![
        apply_rule(echo()),
        Exchange::new(
            Method::PATCH,
            PATCH_URI,
            Reply::with(move |body| status.patched(body)),
        ),
    ]);
    reconcile(Arc::new(pb), ctx.clone())
        .await
        .expect("reconcile");
    assert!(
        ctx.catalog()
            .get(&crate::playbook::PlaybookId {
                namespace: NS.to_owned(),
                name: NAME.to_owned(),
            })
            .is_some()
    );
    drop(ctx);
    let received = served(server).await;
    let rule = received[0].body.as_ref().expect("rule body");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        rule["metadata"]["ownerReferences"],
        json!([{"apiVersion": "firebreak.dev/v1alpha1", "kind": "Playbook", "name": NAME,
                "uid": UID, "controller": true, "blockOwnerDeletion": false}])
    );
    let model = crate::playbook::validate::validate(&Playbook::test()).expect("valid");
    assert_eq!(
        rule["spec"],
        serde_json::to_value(crate::playbook::rules::rule_file(
            [&model],
            crate::playbook::rules::Layout::Shared
        ))
        .expect("json")
    );
    let rules = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules");
    assert_eq!(rules[0]["record"], "firebreak_workload_pod");
    assert_eq!(rules.len(), model.detectors.len() + 1);
}

#[tokio::test]
async fn a_failed_rule_write_is_a_transient_error_and_the_playbook_waits() {
    let pb = Playbook::test();
    let (ctx, server) = context();
    let server = server.run(vec![apply_rule(Reply::internal_error())]);
    let err = reconcile(Arc::new(pb), ctx.clone())
        .await
        .expect_err("the rule write failed");
    assert!(matches!(err, Error::ApplyRules { .. }), "{err}");
    assert!(err.is_transient());
    // Not evaluated through recorded series that are not there.
    assert!(ctx.catalog().snapshot().is_empty());
    drop(ctx);
    served(server).await;
}

#[tokio::test]
async fn an_invalid_playbook_gets_no_rules() {
    let pb = Playbook::test().invalid();
    let (ctx, server) = context();
    let status = pb.clone();
    let server = server.run(vec![
        Exchange::new(
            Method::PATCH,
            PATCH_URI,
            Reply::with(move |body| status.patched(body)),
        ),
        Exchange::new(
            Method::POST,
            "/apis/events.k8s.io/v1/namespaces/shop/events?",
            Reply::with(|body| (StatusCode::CREATED, body.cloned().expect("event"))),
        ),
    ]);
    reconcile(Arc::new(pb), ctx.clone())
        .await
        .expect("a verdict");
    drop(ctx);
    let received = served(server).await;
    assert!(received.iter().all(|r| !r.uri.contains("prometheusrules")));
}
