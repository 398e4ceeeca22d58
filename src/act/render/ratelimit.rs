//! `rateLimit`: Envoy's local rate limit filter via an Istio `EnvoyFilter`, an
//! Envoy Gateway `BackendTrafficPolicy`, or pod-template annotations.

use serde_json::{Value, json};

use super::naming::object_name;
use super::{
    RenderContext, RenderError, Request, backend_traffic_policy, owned_object, workload_path,
    workload_type,
};
use crate::playbook::action::TrafficBackend;
use crate::playbook::model::{RateLimit, RateLimitValue};

/// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/local_rate_limit_filter
const FILTER: &str = "envoy.filters.http.local_ratelimit";
const TYPE_URL: &str =
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const STAT_PREFIX: &str = "firebreak_rate_limit";
/// Descriptor entry keys for scoped limits (route `rate_limits` → filter `descriptors`).
const PATH_DESCRIPTOR: &str = "firebreak_path_prefix";
const HEADER_DESCRIPTOR: &str = "firebreak_header";
pub const RPS_ANNOTATION: &str = "firebreak.dev/rate-limit-rps";
pub const BURST_ANNOTATION: &str = "firebreak.dev/rate-limit-burst";
pub const PATH_ANNOTATION: &str = "firebreak.dev/rate-limit-path-prefix";
/// `name=value` of the header a scoped limit applies to.
pub const HEADER_ANNOTATION: &str = "firebreak.dev/rate-limit-header";

/// Which requests a limit applies to (all when `None`).
#[derive(Clone, Copy)]
enum Scope<'a> {
    PathPrefix(&'a str),
    Header(&'a str, &'a str),
}

impl Scope<'_> {
    fn of(rl: &RateLimit) -> Option<Scope<'_>> {
        match (&rl.path_prefix, &rl.header) {
            (Some(prefix), _) => Some(Scope::PathPrefix(prefix)),
            (None, Some((name, value))) => Some(Scope::Header(name, value)),
            (None, None) => None,
        }
    }

    /// `(descriptor key, descriptor value, Envoy HeaderMatcher)` for the route action.
    fn descriptor(self) -> (&'static str, String, Value) {
        match self {
            Scope::PathPrefix(prefix) => (
                PATH_DESCRIPTOR,
                prefix.to_owned(),
                json!({ "name": ":path", "string_match": { "prefix": prefix } }),
            ),
            Scope::Header(name, value) => (
                HEADER_DESCRIPTOR,
                format!("{name}={value}"),
                json!({ "name": name, "string_match": { "exact": value } }),
            ),
        }
    }
}

/// Requests per second for `limit`: relative limits are `floor(current * pct / 100)`, at least 1.
pub fn resolve_rps(limit: RateLimitValue, current_rps: Option<f64>) -> Result<u32, RenderError> {
    match limit {
        RateLimitValue::RequestsPerSecond(rps) => Ok(rps),
        RateLimitValue::PercentOfCurrent(pct) => {
            let current = current_rps.ok_or(RenderError::MissingCurrentRate)?;
            if !current.is_finite() || current < 0.0 {
                return Err(RenderError::InvalidCurrentRate(current));
            }
            // `as` saturates at u32::MAX, which is the cap we want.
            Ok(((current * pct / 100.0).floor() as u32).max(1))
        }
    }
}

pub(super) fn apply(rl: &RateLimit, ctx: &RenderContext) -> Result<Vec<Request>, RenderError> {
    let rps = resolve_rps(rl.limit, ctx.current_rps)?;
    let burst = rl.burst.unwrap_or(rps);
    let scope = Scope::of(rl);
    let (request, backend_note) = match rl.backend {
        TrafficBackend::Istio => {
            let (path, body) = envoy_filter(ctx, rps, burst, scope);
            (Request::apply(&path, body), None)
        }
        TrafficBackend::EnvoyGateway => {
            let (path, body) = gateway_policy(ctx, rps, scope);
            let note = (burst != rps).then_some(
                "Envoy Gateway local limits have no burst: bucket = requests per second",
            );
            (Request::apply(&path, body), note)
        }
        TrafficBackend::Annotation => {
            let mut annotations =
                json!({ RPS_ANNOTATION: rps.to_string(), BURST_ANNOTATION: burst.to_string() });
            match scope {
                Some(Scope::PathPrefix(prefix)) => annotations[PATH_ANNOTATION] = json!(prefix),
                Some(Scope::Header(name, value)) => {
                    annotations[HEADER_ANNOTATION] = json!(format!("{name}={value}"));
                }
                None => {}
            }
            let mut body = workload_skeleton(ctx);
            body["spec"] = json!({ "template": { "metadata": { "annotations": annotations } } });
            let note = Some("changing the pod template rolls the pods");
            (Request::apply(&workload_path(ctx), body), note)
        }
    };
    let resolved = match (rl.limit, ctx.current_rps) {
        (RateLimitValue::PercentOfCurrent(pct), Some(current)) => Some(format!(
            "{rps} rps = {pct}% of the current {current:.1} rps"
        )),
        _ => None,
    };
    let notes: Vec<String> = resolved
        .into_iter()
        .chain(backend_note.map(Into::into))
        .collect();
    Ok(vec![if notes.is_empty() {
        request
    } else {
        request.with_note(notes.join("; "))
    }])
}

pub(super) fn revert(rl: &RateLimit, ctx: &RenderContext) -> Vec<Request> {
    match rl.backend {
        TrafficBackend::Istio => vec![Request::delete(envoy_filter_path(ctx))],
        TrafficBackend::EnvoyGateway => {
            vec![Request::delete(gateway_policy(ctx, 1, None).0)]
        }
        // Applying without the annotations releases them (SSA removes fields a
        // manager stops applying, unless another manager also owns them).
        TrafficBackend::Annotation => vec![
            Request::apply(&workload_path(ctx), workload_skeleton(ctx))
                .with_note("releases firebreak's rate-limit annotations; rolls the pods"),
        ],
    }
}

fn name(ctx: &RenderContext) -> String {
    object_name("firebreak-ratelimit", &ctx.target.name)
}

fn envoy_filter_path(ctx: &RenderContext) -> String {
    let ns = &ctx.target.namespace;
    format!(
        "/apis/networking.istio.io/v1alpha3/namespaces/{ns}/envoyfilters/{}",
        name(ctx)
    )
}

/// Follows Istio's "Enabling Rate Limits using Envoy" local rate limit task
/// (istio.io/latest/docs/tasks/policy-enforcement/rate-limit/): the filter goes into
/// the inbound HTTP connection manager, just before the router.
fn envoy_filter(
    ctx: &RenderContext,
    rps: u32,
    burst: u32,
    scope: Option<Scope<'_>>,
) -> (String, Value) {
    let filter_patch = |typed_config: Value| {
        json!({
            "applyTo": "HTTP_FILTER",
            "match": {
                "context": "SIDECAR_INBOUND",
                "listener": { "filterChain": { "filter": {
                    "name": "envoy.filters.network.http_connection_manager",
                    "subFilter": { "name": "envoy.filters.http.router" },
                } } },
            },
            "patch": { "operation": "INSERT_BEFORE", "value": { "name": FILTER, "typed_config": typed_config } },
        })
    };
    let bucket = token_bucket(burst, rps);
    let patches = match scope {
        None => vec![filter_patch(local_rate_limit(Some(bucket)))],
        // The task's per-route variant: the filter alone has no bucket (disabled),
        // the inbound routes get one. Routes cannot be matched by path or header,
        // so the scope selects a descriptor (LocalRateLimit.descriptors); other
        // requests fall to a default bucket too large to bind.
        Some(scope) => {
            let (key, value, matcher) = scope.descriptor();
            let mut per_route = local_rate_limit(Some(token_bucket(u32::MAX, u32::MAX)));
            per_route["descriptors"] = json!([{
                "entries": [{ "key": key, "value": value }],
                "token_bucket": bucket,
            }]);
            // Only the descriptor's bucket is consumed for matching requests.
            per_route["always_consume_default_token_bucket"] = json!(false);
            vec![
                filter_patch(json!({ "@type": TYPE_URL, "stat_prefix": STAT_PREFIX })),
                json!({
                    "applyTo": "HTTP_ROUTE",
                    "match": { "context": "SIDECAR_INBOUND", "routeConfiguration": { "vhost": { "route": { "action": "ANY" } } } },
                    "patch": { "operation": "MERGE", "value": {
                        "route": { "rate_limits": [{ "actions": [{ "header_value_match": {
                            "descriptor_key": key,
                            "descriptor_value": value,
                            "headers": [matcher],
                        } }] }] },
                        "typed_per_filter_config": { FILTER: per_route },
                    } },
                }),
            ]
        }
    };
    let mut body = owned_object(
        "networking.istio.io/v1alpha3",
        "EnvoyFilter",
        &name(ctx),
        ctx,
    );
    body["spec"] = json!({
        "workloadSelector": { "labels": ctx.match_labels },
        "configPatches": patches,
    });
    (envoy_filter_path(ctx), body)
}

fn token_bucket(max_tokens: u32, tokens_per_fill: u32) -> Value {
    json!({ "max_tokens": max_tokens, "tokens_per_fill": tokens_per_fill, "fill_interval": "1s" })
}

/// `LocalRateLimit` enabled and enforced for 100% of requests (both default to 0%).
fn local_rate_limit(bucket: Option<Value>) -> Value {
    let all = |key: &str| json!({ "runtime_key": key, "default_value": { "numerator": 100, "denominator": "HUNDRED" } });
    let mut config = json!({
        "@type": TYPE_URL,
        "stat_prefix": STAT_PREFIX,
        "filter_enabled": all("local_rate_limit_enabled"),
        "filter_enforced": all("local_rate_limit_enforced"),
        "response_headers_to_add": [{
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            "header": { "key": "x-firebreak-rate-limited", "value": "true" },
        }],
    });
    if let Some(bucket) = bucket {
        config["token_bucket"] = bucket;
    }
    config
}

/// Envoy Gateway local rate limit (gateway.envoyproxy.io/docs/tasks/traffic/local-rate-limit/).
fn gateway_policy(ctx: &RenderContext, rps: u32, scope: Option<Scope<'_>>) -> (String, Value) {
    let mut rule = json!({ "limit": { "requests": rps, "unit": "Second" } });
    match scope {
        Some(Scope::PathPrefix(prefix)) => {
            rule["clientSelectors"] =
                json!([{ "path": { "type": "PathPrefix", "value": prefix } }]);
        }
        Some(Scope::Header(name, value)) => {
            rule["clientSelectors"] =
                json!([{ "headers": [{ "name": name, "type": "Exact", "value": value }] }]);
        }
        None => {}
    }
    let feature = json!({ "rateLimit": { "type": "Local", "local": { "rules": [rule] } } });
    backend_traffic_policy(&name(ctx), ctx, feature)
}

/// The workload with nothing but its identity: what SSA needs to address it.
fn workload_skeleton(ctx: &RenderContext) -> Value {
    let (api_version, kind) = workload_type(ctx.kind);
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": { "name": ctx.target.name, "namespace": ctx.target.namespace },
    })
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;
