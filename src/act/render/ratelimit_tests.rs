use serde_json::json;

use super::super::test_support::{ctx, pod_labels, target};
use super::super::{Method, RenderContext, RenderError, render_apply, render_revert};
use super::*;
use crate::playbook::model::ActionKind;
use crate::playbook::spec::WorkloadKind;

const ENVOY_FILTER: &str =
    "/apis/networking.istio.io/v1alpha3/namespaces/shop/envoyfilters/firebreak-ratelimit-checkout";
const BTP: &str = "/apis/gateway.envoyproxy.io/v1alpha1/namespaces/shop/backendtrafficpolicies/firebreak-ratelimit-checkout";
const SSA: &str = "?fieldManager=firebreak&force=true";

fn action(
    limit: RateLimitValue,
    burst: Option<u32>,
    prefix: Option<&str>,
    backend: TrafficBackend,
) -> ActionKind {
    ActionKind::RateLimit(RateLimit {
        limit,
        burst,
        path_prefix: prefix.map(Into::into),
        header: None,
        backend,
    })
}

fn rps(n: u32, backend: TrafficBackend) -> ActionKind {
    action(RateLimitValue::RequestsPerSecond(n), None, None, backend)
}

fn metadata() -> Value {
    json!({"name": "firebreak-ratelimit-checkout", "namespace": "shop", "labels": {
        "app.kubernetes.io/managed-by": "firebreak", "firebreak.dev/incident": "inc-42"
    }})
}

fn local_config(bucket: Value) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        "stat_prefix": "firebreak_rate_limit",
        "token_bucket": bucket,
        "filter_enabled": {"runtime_key": "local_rate_limit_enabled",
            "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        "filter_enforced": {"runtime_key": "local_rate_limit_enforced",
            "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        "response_headers_to_add": [{"append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            "header": {"key": "x-firebreak-rate-limited", "value": "true"}}],
    })
}

fn filter_patch(typed_config: Value) -> Value {
    json!({
        "applyTo": "HTTP_FILTER",
        "match": {"context": "SIDECAR_INBOUND", "listener": {"filterChain": {"filter": {
            "name": "envoy.filters.network.http_connection_manager",
            "subFilter": {"name": "envoy.filters.http.router"}}}}},
        "patch": {"operation": "INSERT_BEFORE", "value": {
            "name": "envoy.filters.http.local_ratelimit", "typed_config": typed_config}},
    })
}

#[test]
fn istio_applies_an_envoy_filter_with_a_local_rate_limit() {
    let (t, l) = (target(), pod_labels());
    let requests = render_apply(
        &action(
            RateLimitValue::RequestsPerSecond(50),
            Some(80),
            None,
            TrafficBackend::Istio,
        ),
        &ctx(&t, &l),
    )
    .unwrap();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method, r.path.clone()),
        (Method::Patch, format!("{ENVOY_FILTER}{SSA}"))
    );
    assert_eq!(r.content_type, Some("application/apply-patch+yaml"));
    let bucket = json!({"max_tokens": 80, "tokens_per_fill": 50, "fill_interval": "1s"});
    let expected = json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": metadata(),
        "spec": {
            "workloadSelector": {"labels": {"app": "checkout", "tier": "web"}},
            "configPatches": [filter_patch(local_config(bucket))],
        },
    });
    assert_eq!(r.body, Some(expected));
    assert_eq!(r.note, None);
}

#[test]
fn istio_path_prefix_scopes_the_bucket_with_a_descriptor() {
    let (t, l) = (target(), pod_labels());
    let a = action(
        RateLimitValue::RequestsPerSecond(5),
        None,
        Some("/api"),
        TrafficBackend::Istio,
    );
    let body = render_apply(&a, &ctx(&t, &l)).unwrap()[0]
        .body
        .clone()
        .unwrap();
    let patches = body["spec"]["configPatches"].as_array().unwrap();
    assert_eq!(patches.len(), 2);
    // The filter alone has no bucket: it only acts where a route configures it.
    assert_eq!(
        patches[0],
        filter_patch(json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "firebreak_rate_limit",
        }))
    );
    let mut per_route = local_config(
        json!({"max_tokens": u32::MAX, "tokens_per_fill": u32::MAX, "fill_interval": "1s"}),
    );
    per_route["descriptors"] = json!([{
        "entries": [{"key": "firebreak_path_prefix", "value": "/api"}],
        "token_bucket": {"max_tokens": 5, "tokens_per_fill": 5, "fill_interval": "1s"},
    }]);
    per_route["always_consume_default_token_bucket"] = json!(false);
    assert_eq!(
        patches[1],
        json!({
            "applyTo": "HTTP_ROUTE",
            "match": {"context": "SIDECAR_INBOUND", "routeConfiguration": {"vhost": {"route": {"action": "ANY"}}}},
            "patch": {"operation": "MERGE", "value": {
                "route": {"rate_limits": [{"actions": [{"header_value_match": {
                    "descriptor_key": "firebreak_path_prefix",
                    "descriptor_value": "/api",
                    "headers": [{"name": ":path", "string_match": {"prefix": "/api"}}],
                }}]}]},
                "typed_per_filter_config": {"envoy.filters.http.local_ratelimit": per_route},
            }},
        })
    );
}

#[test]
fn istio_revert_deletes_the_envoy_filter() {
    let (t, l) = (target(), pod_labels());
    let requests = render_revert(&rps(10, TrafficBackend::Istio), &ctx(&t, &l)).unwrap();
    assert_eq!(requests, vec![Request::delete(ENVOY_FILTER.into())]);
}

#[test]
fn envoy_gateway_applies_a_backend_traffic_policy() {
    let (t, l) = (target(), pod_labels());
    let a = action(
        RateLimitValue::RequestsPerSecond(20),
        None,
        Some("/api"),
        TrafficBackend::EnvoyGateway,
    );
    let r = &render_apply(&a, &ctx(&t, &l)).unwrap()[0];
    assert_eq!(
        (r.method, r.path.clone()),
        (Method::Patch, format!("{BTP}{SSA}"))
    );
    assert_eq!(r.content_type, Some("application/apply-patch+yaml"));
    assert_eq!(
        r.body,
        Some(json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "BackendTrafficPolicy",
            "metadata": metadata(),
            "spec": {
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "checkout"}],
                "rateLimit": {"type": "Local", "local": {"rules": [{
                    "clientSelectors": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                    "limit": {"requests": 20, "unit": "Second"},
                }]}},
            },
        }))
    );
    let with_burst = action(
        RateLimitValue::RequestsPerSecond(20),
        Some(40),
        None,
        TrafficBackend::EnvoyGateway,
    );
    let r = &render_apply(&with_burst, &ctx(&t, &l)).unwrap()[0];
    assert!(r.note.as_deref().unwrap().contains("no burst"));
    let revert = render_revert(&with_burst, &ctx(&t, &l)).unwrap();
    assert_eq!(revert, vec![Request::delete(BTP.into())]);
}

#[test]
fn annotation_backend_applies_and_releases_pod_template_annotations() {
    let (t, l) = (target(), pod_labels());
    let a = action(
        RateLimitValue::RequestsPerSecond(7),
        Some(9),
        Some("/api"),
        TrafficBackend::Annotation,
    );
    let c = RenderContext {
        kind: WorkloadKind::Rollout,
        ..ctx(&t, &l)
    };
    let path = format!("/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout{SSA}");
    let identity = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"}});
    let r = &render_apply(&a, &c).unwrap()[0];
    assert_eq!(
        (r.method, &r.path, r.content_type),
        (Method::Patch, &path, Some("application/apply-patch+yaml"))
    );
    let mut expected = identity.clone();
    expected["spec"] = json!({"template": {"metadata": {"annotations": {
        "firebreak.dev/rate-limit-rps": "7",
        "firebreak.dev/rate-limit-burst": "9",
        "firebreak.dev/rate-limit-path-prefix": "/api",
    }}}});
    assert_eq!(r.body, Some(expected));
    let revert = render_revert(&a, &c).unwrap();
    assert_eq!(revert.len(), 1);
    assert_eq!((revert[0].method, &revert[0].path), (Method::Patch, &path));
    assert_eq!(revert[0].body, Some(identity));
}

#[test]
fn relative_limits_resolve_against_the_current_rate() {
    assert_eq!(
        resolve_rps(RateLimitValue::PercentOfCurrent(50.0), Some(205.0)),
        Ok(102)
    );
    assert_eq!(
        resolve_rps(RateLimitValue::PercentOfCurrent(10.0), Some(3.0)),
        Ok(1)
    );
    assert_eq!(
        resolve_rps(RateLimitValue::PercentOfCurrent(10.0), Some(0.0)),
        Ok(1)
    );
    assert_eq!(
        resolve_rps(RateLimitValue::RequestsPerSecond(9), None),
        Ok(9)
    );
    assert_eq!(
        resolve_rps(RateLimitValue::PercentOfCurrent(50.0), None),
        Err(RenderError::MissingCurrentRate)
    );
    assert!(matches!(
        resolve_rps(RateLimitValue::PercentOfCurrent(50.0), Some(f64::NAN)),
        Err(RenderError::InvalidCurrentRate(_))
    ));

    let (t, l) = (target(), pod_labels());
    let a = action(
        RateLimitValue::PercentOfCurrent(50.0),
        None,
        None,
        TrafficBackend::Istio,
    );
    assert_eq!(
        render_apply(&a, &ctx(&t, &l)),
        Err(RenderError::MissingCurrentRate)
    );
    let c = RenderContext {
        current_rps: Some(205.0),
        ..ctx(&t, &l)
    };
    let r = &render_apply(&a, &c).unwrap()[0];
    let bucket = &r.body.as_ref().unwrap()["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]
        ["token_bucket"];
    assert_eq!(
        bucket,
        &json!({"max_tokens": 102, "tokens_per_fill": 102, "fill_interval": "1s"})
    );
    assert_eq!(
        r.note.as_deref(),
        Some("102 rps = 50% of the current 205.0 rps")
    );
    let annotated = action(
        RateLimitValue::PercentOfCurrent(50.0),
        None,
        None,
        TrafficBackend::Annotation,
    );
    let note = render_apply(&annotated, &c).unwrap()[0].note.clone();
    assert_eq!(
        note.as_deref(),
        Some("102 rps = 50% of the current 205.0 rps; changing the pod template rolls the pods")
    );
    // Reverting needs no rate.
    assert_eq!(render_revert(&a, &ctx(&t, &l)).unwrap().len(), 1);
}

#[test]
fn names_and_labels_are_deterministic() {
    let (t, l) = (target(), pod_labels());
    let a = rps(10, TrafficBackend::Istio);
    assert_eq!(
        render_apply(&a, &ctx(&t, &l)),
        render_apply(&a, &ctx(&t, &l))
    );
    let other = RenderContext {
        incident_id: "inc-43",
        ..ctx(&t, &l)
    };
    let body = render_apply(&a, &other).unwrap()[0].body.clone().unwrap();
    assert_eq!(body["metadata"]["name"], "firebreak-ratelimit-checkout");
    assert_eq!(
        body["metadata"]["labels"]["firebreak.dev/incident"],
        "inc-43"
    );
}

fn by_header(backend: TrafficBackend) -> ActionKind {
    ActionKind::RateLimit(RateLimit {
        limit: RateLimitValue::RequestsPerSecond(5),
        burst: None,
        path_prefix: None,
        header: Some(("x-tenant-id".into(), "acme".into())),
        backend,
    })
}

#[test]
fn a_header_scopes_the_limit_on_every_backend() {
    let (t, l) = (target(), pod_labels());
    let body = |backend| {
        render_apply(&by_header(backend), &ctx(&t, &l)).unwrap()[0]
            .body
            .clone()
            .unwrap()
    };

    let istio = body(TrafficBackend::Istio);
    let route = &istio["spec"]["configPatches"][1]["patch"]["value"];
    assert_eq!(
        route["route"]["rate_limits"][0]["actions"][0]["header_value_match"],
        json!({
            "descriptor_key": "firebreak_header",
            "descriptor_value": "x-tenant-id=acme",
            "headers": [{"name": "x-tenant-id", "string_match": {"exact": "acme"}}],
        })
    );
    assert_eq!(
        route["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]["descriptors"],
        json!([{
            "entries": [{"key": "firebreak_header", "value": "x-tenant-id=acme"}],
            "token_bucket": {"max_tokens": 5, "tokens_per_fill": 5, "fill_interval": "1s"},
        }])
    );

    let gateway = body(TrafficBackend::EnvoyGateway);
    assert_eq!(
        gateway["spec"]["rateLimit"]["local"]["rules"][0]["clientSelectors"],
        json!([{"headers": [{"name": "x-tenant-id", "type": "Exact", "value": "acme"}]}])
    );

    let annotated = body(TrafficBackend::Annotation);
    assert_eq!(
        annotated["spec"]["template"]["metadata"]["annotations"]["firebreak.dev/rate-limit-header"],
        "x-tenant-id=acme"
    );
}
