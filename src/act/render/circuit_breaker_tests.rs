use serde_json::json;

use super::super::test_support::{ctx, pod_labels, target};
use super::super::{Method, RenderContext, render_apply, render_revert};
use super::*;
use crate::playbook::model::ActionKind;

const OWN_RULE: &str =
    "/apis/networking.istio.io/v1/namespaces/shop/destinationrules/firebreak-checkout";
const SSA: &str = "?fieldManager=firebreak&force=true";

fn action(cb: CircuitBreakerSpec) -> ActionKind {
    ActionKind::CircuitBreaker(cb)
}

fn default_outlier() -> Value {
    json!({"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 50})
}

#[test]
fn istio_creates_its_own_destination_rule_with_defaults() {
    let (t, l) = (target(), pod_labels());
    let requests = render_apply(&action(CircuitBreakerSpec::default()), &ctx(&t, &l)).unwrap();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method, r.path.clone()),
        (Method::Patch, format!("{OWN_RULE}{SSA}"))
    );
    assert_eq!(r.content_type, Some("application/apply-patch+yaml"));
    assert_eq!(
        r.body,
        Some(json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "firebreak-checkout", "namespace": "shop", "labels": {
                "app.kubernetes.io/managed-by": "firebreak", "firebreak.dev/incident": "inc-42"}},
            "spec": {
                "host": "checkout.shop.svc.cluster.local",
                "trafficPolicy": {"outlierDetection": default_outlier()},
            },
        }))
    );
    assert!(
        r.note
            .as_deref()
            .unwrap()
            .contains("existing DestinationRule for checkout.shop.svc.cluster.local")
    );
    let revert = render_revert(&action(CircuitBreakerSpec::default()), &ctx(&t, &l)).unwrap();
    assert_eq!(revert.len(), 1);
    assert_eq!(
        (revert[0].method, revert[0].path.as_str(), &revert[0].body),
        (Method::Delete, OWN_RULE, &None)
    );
}

#[test]
fn istio_merges_only_our_fields_into_an_existing_rule() {
    let (t, l) = (target(), pod_labels());
    let cb = CircuitBreakerSpec {
        host: Some("payments.other.svc.cluster.local".into()),
        consecutive_5xx_errors: Some(3),
        interval: Some(Duration::from_millis(1500)),
        base_ejection_time: Some(Duration::from_secs(90)),
        max_ejection_percent: Some(20),
        max_connections: Some(100),
        max_pending_requests: Some(10),
        backend: Some(TrafficBackend::Istio),
    };
    let c = RenderContext {
        existing_destination_rule: Some("payments"),
        ..ctx(&t, &l)
    };
    let path = "/apis/networking.istio.io/v1/namespaces/shop/destinationrules/payments";
    let identity = json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": "payments", "namespace": "shop"}});
    let r = &render_apply(&action(cb.clone()), &c).unwrap()[0];
    assert_eq!(r.path, format!("{path}{SSA}"));
    let mut expected = identity.clone();
    expected["spec"] = json!({"trafficPolicy": {
        "outlierDetection": {"consecutive5xxErrors": 3, "interval": "1.500s", "baseEjectionTime": "90s", "maxEjectionPercent": 20},
        "connectionPool": {"tcp": {"maxConnections": 100}, "http": {"http1MaxPendingRequests": 10}},
    }});
    assert_eq!(r.body, Some(expected));
    assert_eq!(r.note, None);

    let revert = render_revert(&action(cb), &c).unwrap();
    assert_eq!(revert.len(), 1);
    assert_eq!(
        (revert[0].method, revert[0].path.clone()),
        (Method::Patch, format!("{path}{SSA}"))
    );
    assert_eq!(revert[0].content_type, Some("application/apply-patch+yaml"));
    assert_eq!(revert[0].body, Some(identity));
}

#[test]
fn custom_short_host_is_qualified_and_names_the_rule() {
    let (t, l) = (target(), pod_labels());
    let cb = CircuitBreakerSpec {
        host: Some("payments".into()),
        ..Default::default()
    };
    let r = &render_apply(&action(cb), &ctx(&t, &l)).unwrap()[0];
    let body = r.body.as_ref().unwrap();
    assert_eq!(body["metadata"]["name"], "firebreak-payments");
    assert_eq!(body["spec"]["host"], "payments.shop.svc.cluster.local");
}

#[test]
fn envoy_gateway_uses_circuit_breaker_and_passive_health_check() {
    let (t, l) = (target(), pod_labels());
    let cb = CircuitBreakerSpec {
        max_connections: Some(100),
        max_pending_requests: Some(10),
        backend: Some(TrafficBackend::EnvoyGateway),
        ..Default::default()
    };
    let path = "/apis/gateway.envoyproxy.io/v1alpha1/namespaces/shop/backendtrafficpolicies/firebreak-circuitbreaker-checkout";
    let r = &render_apply(&action(cb.clone()), &ctx(&t, &l)).unwrap()[0];
    assert_eq!(
        (r.method, r.path.clone()),
        (Method::Patch, format!("{path}{SSA}"))
    );
    assert_eq!(
        r.body,
        Some(json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "BackendTrafficPolicy",
            "metadata": {"name": "firebreak-circuitbreaker-checkout", "namespace": "shop", "labels": {
                "app.kubernetes.io/managed-by": "firebreak", "firebreak.dev/incident": "inc-42"}},
            "spec": {
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "checkout"}],
                "circuitBreaker": {"maxConnections": 100, "maxPendingRequests": 10},
                "healthCheck": {"passive": {
                    "consecutive5XxErrors": 5, "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 50}},
            },
        }))
    );
    assert_eq!(
        render_revert(&action(cb), &ctx(&t, &l)).unwrap(),
        vec![Request::delete(path.into())]
    );
}

#[test]
fn envoy_gateway_without_caps_sets_only_outlier_detection() {
    let (t, l) = (target(), pod_labels());
    let cb = CircuitBreakerSpec {
        backend: Some(TrafficBackend::EnvoyGateway),
        ..Default::default()
    };
    let body = render_apply(&action(cb), &ctx(&t, &l)).unwrap()[0]
        .body
        .clone()
        .unwrap();
    assert!(body["spec"].get("circuitBreaker").is_none());
    assert_eq!(
        body["spec"]["healthCheck"]["passive"]["consecutive5XxErrors"],
        5
    );
}

#[test]
fn durations_are_seconds() {
    assert_eq!(proto_duration(Duration::from_secs(90)), "90s");
    assert_eq!(proto_duration(Duration::from_millis(250)), "0.250s");
    assert_eq!(proto_duration(Duration::from_secs(86_400)), "86400s");
}
