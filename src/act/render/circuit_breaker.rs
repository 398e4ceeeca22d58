//! `circuitBreaker`: outlier detection and connection caps, as an Istio
//! `DestinationRule` or an Envoy Gateway `BackendTrafficPolicy`.

use serde_json::{Map, Value, json};

use super::naming::object_name;
use super::{RenderContext, Request, backend_traffic_policy, owned_object};
use crate::duration::Duration;
use crate::playbook::action::{CircuitBreakerSpec, TrafficBackend};

// Defaults documented on `CircuitBreakerSpec`.
const CONSECUTIVE_5XX: u32 = 5;
const INTERVAL: Duration = Duration::from_secs(10);
const BASE_EJECTION: Duration = Duration::from_secs(30);
const MAX_EJECTION_PERCENT: u32 = 50;

pub(super) fn apply(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> Vec<Request> {
    match cb.backend.unwrap_or_default() {
        TrafficBackend::EnvoyGateway => {
            let (path, body) = gateway_policy(cb, ctx);
            vec![Request::apply(&path, body)]
        }
        // No annotation form of a circuit breaker exists; the mesh is the fallback.
        TrafficBackend::Istio | TrafficBackend::Annotation => vec![destination_rule_apply(cb, ctx)],
    }
}

pub(super) fn revert(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> Vec<Request> {
    match cb.backend.unwrap_or_default() {
        TrafficBackend::EnvoyGateway => vec![Request::delete(gateway_policy(cb, ctx).0)],
        TrafficBackend::Istio | TrafficBackend::Annotation => {
            vec![destination_rule_revert(cb, ctx)]
        }
    }
}

/// Istio merges only subsets across DestinationRules for one host, not
/// `trafficPolicy`, so an existing rule is patched in place. SSA lets us own
/// just the fields below and never clobber the rest (DESIGN: never clobber).
fn destination_rule_apply(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> Request {
    let policy = traffic_policy(cb);
    match ctx.existing_destination_rule {
        Some(existing) => {
            // Not host, not labels: those belong to the rule's owner.
            let mut body = rule_skeleton(existing, ctx);
            body["spec"] = json!({ "trafficPolicy": policy });
            Request::apply(&rule_path(existing, ctx), body)
        }
        None => {
            let name = own_rule_name(cb, ctx);
            let mut body = owned_object("networking.istio.io/v1", "DestinationRule", &name, ctx);
            body["spec"] = json!({ "host": fqdn(cb, ctx), "trafficPolicy": policy });
            Request::apply(&rule_path(&name, ctx), body).with_note(format!(
                "applied to the existing DestinationRule for {} instead, if the executor finds one",
                fqdn(cb, ctx)
            ))
        }
    }
}

fn destination_rule_revert(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> Request {
    match ctx.existing_destination_rule {
        // Applying with no fields releases ours; other managers' fields stay.
        Some(existing) => Request::apply(&rule_path(existing, ctx), rule_skeleton(existing, ctx))
            .with_note("releases firebreak's trafficPolicy fields"),
        None => Request::delete(rule_path(&own_rule_name(cb, ctx), ctx))
            .with_note("firebreak created this DestinationRule; if it patched an existing one, it applies without trafficPolicy instead"),
    }
}

fn host(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> String {
    cb.host.clone().unwrap_or_else(|| ctx.target.name.clone())
}

/// Short names are qualified with the workload's namespace; FQDNs are kept.
fn fqdn(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> String {
    let host = host(cb, ctx);
    if host.contains('.') {
        host
    } else {
        format!("{host}.{}.svc.cluster.local", ctx.target.namespace)
    }
}

fn own_rule_name(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> String {
    object_name("firebreak", &host(cb, ctx))
}

fn rule_path(name: &str, ctx: &RenderContext) -> String {
    let ns = &ctx.target.namespace;
    format!("/apis/networking.istio.io/v1/namespaces/{ns}/destinationrules/{name}")
}

fn rule_skeleton(name: &str, ctx: &RenderContext) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": { "name": name, "namespace": ctx.target.namespace },
    })
}

/// istio.io/latest/docs/reference/config/networking/destination-rule/ (OutlierDetection,
/// ConnectionPoolSettings); connection caps only when the playbook sets them.
fn traffic_policy(cb: &CircuitBreakerSpec) -> Value {
    let mut policy = Map::new();
    policy.insert(
        "outlierDetection".into(),
        json!({
            "consecutive5xxErrors": cb.consecutive_5xx_errors.unwrap_or(CONSECUTIVE_5XX),
            "interval": proto_duration(cb.interval.unwrap_or(INTERVAL)),
            "baseEjectionTime": proto_duration(cb.base_ejection_time.unwrap_or(BASE_EJECTION)),
            "maxEjectionPercent": cb.max_ejection_percent.unwrap_or(MAX_EJECTION_PERCENT),
        }),
    );
    let mut pool = Map::new();
    if let Some(max) = cb.max_connections {
        pool.insert("tcp".into(), json!({ "maxConnections": max }));
    }
    if let Some(max) = cb.max_pending_requests {
        pool.insert("http".into(), json!({ "http1MaxPendingRequests": max }));
    }
    if !pool.is_empty() {
        policy.insert("connectionPool".into(), Value::Object(pool));
    }
    Value::Object(policy)
}

/// Envoy Gateway: `circuitBreaker` caps plus `healthCheck.passive`, its outlier
/// detection (api/v1alpha1/circuitbreaker_types.go, healthcheck_types.go).
fn gateway_policy(cb: &CircuitBreakerSpec, ctx: &RenderContext) -> (String, Value) {
    let mut feature = Map::new();
    let mut caps = Map::new();
    if let Some(max) = cb.max_connections {
        caps.insert("maxConnections".into(), json!(max));
    }
    if let Some(max) = cb.max_pending_requests {
        caps.insert("maxPendingRequests".into(), json!(max));
    }
    if !caps.is_empty() {
        feature.insert("circuitBreaker".into(), Value::Object(caps));
    }
    feature.insert(
        "healthCheck".into(),
        json!({ "passive": {
            "consecutive5XxErrors": cb.consecutive_5xx_errors.unwrap_or(CONSECUTIVE_5XX),
            "interval": proto_duration(cb.interval.unwrap_or(INTERVAL)),
            "baseEjectionTime": proto_duration(cb.base_ejection_time.unwrap_or(BASE_EJECTION)),
            "maxEjectionPercent": cb.max_ejection_percent.unwrap_or(MAX_EJECTION_PERCENT),
        } }),
    );
    let name = object_name("firebreak-circuitbreaker", &ctx.target.name);
    backend_traffic_policy(&name, ctx, Value::Object(feature))
}

/// Seconds with an `s` suffix (`90s`, `1.500s`): valid both as a protobuf JSON
/// duration (Istio) and a Go duration (Envoy Gateway); `1m30s` is only the
/// latter and `1d` neither.
fn proto_duration(d: Duration) -> String {
    let ms = d.as_std().as_millis();
    let (secs, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        format!("{secs}s")
    } else {
        format!("{secs}.{frac:03}s")
    }
}

#[cfg(test)]
#[path = "circuit_breaker_tests.rs"]
mod tests;
