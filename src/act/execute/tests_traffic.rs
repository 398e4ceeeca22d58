//! Circuit breaker: Firebreak's own DestinationRule, or its fields merged into
//! someone else's and put back on revert.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Value, json};

use super::tests::{Case, SSA, bodies, sent};
use super::*;
use crate::act::render::{APPLY_PATCH, MERGE_PATCH};
use crate::operator::testing_writers::fixtures::ID;
use crate::operator::testing_writers::{Reply, expect};
use crate::playbook::action::CircuitBreakerSpec;

const RULES: &str = "/apis/networking.istio.io/v1/namespaces/risk/destinationrules";

fn breaker(max_connections: Option<u32>) -> ActionKind {
    ActionKind::CircuitBreaker(CircuitBreakerSpec {
        max_connections,
        ..CircuitBreakerSpec::default()
    })
}

fn outlier_detection() -> Value {
    json!({"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 50})
}

/// A DestinationRule as the API server lists it.
fn rule(name: &str, host: &str, managed_by: &str, traffic_policy: Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {
            "name": name, "namespace": "risk", "resourceVersion": "4410", "generation": 2,
            "uid": format!("0b6f7c2e-{name}"),
            "labels": { "app.kubernetes.io/managed-by": managed_by },
        },
        "spec": {
            "host": host,
            "trafficPolicy": traffic_policy,
            "subsets": [{ "name": "stable", "labels": { "track": "stable" } }],
        },
    })
}

fn list(items: Vec<Value>) -> Reply {
    Reply::ok(json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRuleList",
        "metadata": { "resourceVersion": "4502" },
        "items": items,
    }))
}

#[tokio::test]
async fn without_a_rule_for_the_host_it_creates_its_own_and_revert_deletes_it() {
    let case = Case::apply(breaker(None));
    let own = format!("{RULES}/firebreak-pricer");
    let apply = format!("{own}{SSA}");
    let (out, received) = case
        .run(vec![
            expect(
                Method::GET,
                RULES,
                list(vec![
                    rule(
                        "ledger",
                        "ledger",
                        "Helm",
                        json!({"tls": {"mode": "ISTIO_MUTUAL"}}),
                    ),
                    // Ours from an earlier incident: not someone else's rule to merge into.
                    rule(
                        "firebreak-pricer",
                        "pricer.risk.svc.cluster.local",
                        "firebreak",
                        json!({}),
                    ),
                ]),
            ),
            expect(Method::PATCH, &apply, Reply::Stored("4503")),
        ])
        .await;
    let out = out.expect("applied");
    let body = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {
            "name": "firebreak-pricer", "namespace": "risk",
            "labels": { "app.kubernetes.io/managed-by": "firebreak", "firebreak.dev/incident": ID },
        },
        "spec": {
            "host": "pricer.risk.svc.cluster.local",
            "trafficPolicy": { "outlierDetection": outlier_detection() },
        },
    });
    assert_eq!(
        bodies(&received),
        vec![
            (Method::GET, None, None),
            (Method::PATCH, Some(APPLY_PATCH), Some(&body))
        ]
    );
    assert_eq!(
        out.sent,
        vec![
            sent(Method::GET, RULES, 200),
            sent(Method::PATCH, &apply, 200)
        ]
    );
    let undo = Undo::CreatedDestinationRule {
        name: "firebreak-pricer".into(),
    };
    assert_eq!(out.undo, Some(undo.clone()));

    let (out, received) = Case::revert(case.kind.clone(), Some(undo))
        .run(vec![expect(
            Method::DELETE,
            &own,
            Reply::ok(json!({"kind": "Status", "status": "Success"})),
        )])
        .await;
    assert_eq!(
        out.expect("reverted").sent,
        vec![sent(Method::DELETE, &own, 200)]
    );
    assert_eq!(bodies(&received), vec![(Method::DELETE, None, None)]);
}

#[tokio::test]
async fn an_existing_rule_gets_our_fields_and_has_its_previous_values_restored() {
    let case = Case::apply(breaker(Some(100)));
    let theirs = format!("{RULES}/pricer");
    let apply = format!("{theirs}{SSA}");
    let before = json!({
        "loadBalancer": { "simple": "LEAST_REQUEST" },
        "outlierDetection": { "consecutive5xxErrors": 7, "interval": "30s", "minHealthPercent": 25 },
    });
    let existing = rule("pricer", "pricer.risk.svc.cluster.local", "argocd", before);
    let (out, received) = case
        .run(vec![
            expect(Method::GET, RULES, list(vec![existing.clone()])),
            expect(Method::PATCH, &apply, Reply::ok(existing.clone())),
        ])
        .await;
    let out = out.expect("applied");
    let od = "/spec/trafficPolicy/outlierDetection";
    let previous = BTreeMap::from([
        ("/spec/trafficPolicy/connectionPool".to_owned(), None),
        (format!("{od}/baseEjectionTime"), None),
        (format!("{od}/consecutive5xxErrors"), Some("7".to_owned())),
        (format!("{od}/interval"), Some("\"30s\"".to_owned())),
        (format!("{od}/maxEjectionPercent"), None),
    ]);
    let recorded = serde_json::to_string(&previous).unwrap();
    // Neither host nor labels nor subsets: only the fields we set, and the
    // previous values beside them.
    let body = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {
            "name": "pricer", "namespace": "risk",
            "annotations": { "firebreak.dev/previous-traffic-policy": recorded },
        },
        "spec": { "trafficPolicy": {
            "outlierDetection": outlier_detection(),
            "connectionPool": { "tcp": { "maxConnections": 100 } },
        } },
    });
    assert_eq!(
        bodies(&received),
        vec![
            (Method::GET, None, None),
            (Method::PATCH, Some(APPLY_PATCH), Some(&body))
        ]
    );
    let undo = Undo::PatchedDestinationRule {
        name: "pricer".into(),
        previous,
    };
    assert_eq!(out.undo, Some(undo.clone()));
    assert_eq!(
        out.note.as_deref(),
        Some("merged into DestinationRule pricer")
    );

    // Repeated after a crash: no second read (the rule holds our values now).
    let repeat = Case {
        undo: Some(undo.clone()),
        ..Case::apply(case.kind.clone())
    };
    let (again, received) = repeat
        .run(vec![expect(
            Method::PATCH,
            &apply,
            Reply::ok(existing.clone()),
        )])
        .await;
    assert_eq!(again.expect("repeated").undo, Some(undo.clone()));
    assert_eq!(received[0].body.as_ref(), Some(&body));

    // Repeated after a crash that lost the undo: the rule now holds our values,
    // and the originals are read from the annotation applied with them.
    let mut merged = existing.clone();
    merged["spec"]["trafficPolicy"]["outlierDetection"] = outlier_detection();
    merged["metadata"]["annotations"] = body["metadata"]["annotations"].clone();
    let (again, received) = Case::apply(case.kind.clone())
        .run(vec![
            expect(Method::GET, RULES, list(vec![merged])),
            expect(Method::PATCH, &apply, Reply::ok(existing.clone())),
        ])
        .await;
    assert_eq!(again.expect("repeated").undo, Some(undo.clone()));
    assert_eq!(received[1].body.as_ref(), Some(&body));

    // Revert: release our apply, then put back exactly what we replaced.
    let restore = format!("{theirs}?fieldManager=firebreak");
    let (out, received) = Case::revert(case.kind.clone(), Some(undo))
        .run(vec![
            expect(Method::GET, &theirs, Reply::ok(existing.clone())),
            expect(Method::PATCH, &apply, Reply::ok(existing.clone())),
            expect(Method::PATCH, &restore, Reply::ok(existing)),
        ])
        .await;
    let out = out.expect("reverted");
    let release = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": { "name": "pricer", "namespace": "risk" },
    });
    let patch = json!({ "spec": { "trafficPolicy": {
        "connectionPool": null,
        "outlierDetection": { "baseEjectionTime": null, "consecutive5xxErrors": 7, "interval": "30s", "maxEjectionPercent": null },
    } } });
    assert_eq!(
        bodies(&received),
        vec![
            (Method::GET, None, None),
            (Method::PATCH, Some(APPLY_PATCH), Some(&release)),
            (Method::PATCH, Some(MERGE_PATCH), Some(&patch)),
        ]
    );
    assert_eq!(out.sent.len(), 3);
}

#[tokio::test]
async fn reverting_into_a_rule_deleted_since_sends_nothing_more() {
    let undo = Undo::PatchedDestinationRule {
        name: "pricer".into(),
        previous: BTreeMap::new(),
    };
    let theirs = format!("{RULES}/pricer");
    let (out, received) = Case::revert(breaker(None), Some(undo))
        .run(vec![expect(
            Method::GET,
            &theirs,
            Reply::not_found("destinationrules.networking.istio.io", "pricer"),
        )])
        .await;
    let out = out.expect("nothing to restore");
    assert!(out.sent.is_empty());
    assert_eq!(received.len(), 1);
    assert!(out.note.unwrap_or_default().contains("gone"));
}

#[tokio::test]
async fn dry_run_revert_shows_the_restore_patch() {
    let previous = BTreeMap::from([(
        "/spec/trafficPolicy/outlierDetection/interval".to_owned(),
        Some("\"30s\"".to_owned()),
    )]);
    let undo = Undo::PatchedDestinationRule {
        name: "pricer".into(),
        previous,
    };
    let case = Case {
        dry_run: true,
        ..Case::revert(breaker(None), Some(undo))
    };
    let (out, received) = case.run(vec![]).await;
    assert!(received.is_empty());
    let requests = out.expect("rendered").dry_run;
    let summary: Vec<_> = requests
        .iter()
        .map(|r| (r.path.as_str(), r.content_type))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "/apis/networking.istio.io/v1/namespaces/risk/destinationrules/pricer?fieldManager=firebreak&force=true",
                Some(APPLY_PATCH)
            ),
            (
                "/apis/networking.istio.io/v1/namespaces/risk/destinationrules/pricer?fieldManager=firebreak",
                Some(MERGE_PATCH)
            ),
        ]
    );
    assert_eq!(
        requests[1].body,
        Some(json!({"spec": {"trafficPolicy": {"outlierDetection": {"interval": "30s"}}}}))
    );
}

#[tokio::test]
async fn envoy_gateway_breaker_is_applied_without_looking_for_rules() {
    let kind = ActionKind::CircuitBreaker(CircuitBreakerSpec {
        backend: Some(crate::playbook::action::TrafficBackend::EnvoyGateway),
        ..CircuitBreakerSpec::default()
    });
    let policy = "/apis/gateway.envoyproxy.io/v1alpha1/namespaces/risk/backendtrafficpolicies/firebreak-circuitbreaker-pricer";
    let apply = format!("{policy}{SSA}");
    let case = Case::apply(kind.clone());
    let (out, received) = case
        .run(vec![expect(Method::PATCH, &apply, Reply::Stored("5120"))])
        .await;
    let out = out.expect("applied");
    assert_eq!((out.sent.len(), out.undo), (1, None));
    let body = received[0].body.as_ref().expect("a body");
    assert_eq!(body["kind"], "BackendTrafficPolicy");
    assert_eq!(received[0].content_type.as_deref(), Some(APPLY_PATCH));

    let (out, received) = Case::revert(kind, None)
        .run(vec![expect(
            Method::DELETE,
            policy,
            Reply::not_found(
                "backendtrafficpolicies.gateway.envoyproxy.io",
                "firebreak-circuitbreaker-pricer",
            ),
        )])
        .await;
    assert!(out.expect("already gone").sent.is_empty());
    assert_eq!(bodies(&received), vec![(Method::DELETE, None, None)]);
}
