//! Drift checks: is what an apply set still there? One GET of the object the
//! apply wrote, compared field by field with what Firebreak sets (its
//! server-side-apply fields), never with the rest of the object.

use serde_json::Value;

use super::send::send;
use super::{ExecError, ExecInput, Executor, Undo, context, fixed_rate};
use crate::act::render::{self, Method, RenderContext, Request};
use crate::playbook::action::TrafficBackend;
use crate::playbook::model::{ActionKind, RateLimit, RateLimitValue};
use crate::playbook::spec::WorkloadKind;

/// What a drift check found changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// What differs, for the timeline, e.g. "EnvoyFilter firebreak-ratelimit-pricer was deleted".
    pub detail: String,
    /// Whether applying the action again restores it (not when what it was
    /// merged into is gone).
    pub reapplicable: bool,
}

impl Drift {
    fn new(detail: String, reapplicable: bool) -> Self {
        Drift {
            detail,
            reapplicable,
        }
    }
}

/// What to read and which part of the answer must match.
struct Check {
    path: String,
    /// What the apply set, as a JSON object the live one must contain.
    ours: Value,
    /// For the timeline: "EnvoyFilter firebreak-ratelimit-pricer".
    object: String,
    /// Whether a missing object can be applied again (ours, not someone else's).
    recreatable: bool,
}

impl Executor {
    /// Whether `input.action`'s applied mitigation is still in place: `None`
    /// when it is (or when the action leaves nothing that can drift: restart,
    /// diagnostics), else what changed. One GET at most.
    #[tracing::instrument(skip_all, fields(
        playbook = %input.action.playbook,
        target = %input.action.target,
        incident = %input.action.incident,
        key = %input.action.key,
    ))]
    pub async fn check_drift(&self, input: ExecInput<'_>) -> Result<Option<Drift>, ExecError> {
        let ctx = context(&input);
        let kind = &input.action.action.kind;
        if let (
            ActionKind::Rollback,
            Some(Undo::RolledBack {
                revision,
                template_digest,
            }),
        ) = (kind, input.undo)
        {
            return self.rollback_drift(&ctx, *revision, template_digest).await;
        }
        let check = match (kind, input.undo) {
            (ActionKind::RateLimit(rl), undo) => {
                let Some(rl) = applied_rate(rl, undo) else {
                    return Ok(None);
                };
                rate_limit_check(&rl, &ctx)?
            }
            (ActionKind::CircuitBreaker(_), Some(Undo::PatchedDestinationRule { name, .. })) => {
                let ctx = RenderContext {
                    existing_destination_rule: Some(name),
                    ..ctx
                };
                let mut check = spec_check(kind, &ctx, format!("DestinationRule {name}"))?;
                check.recreatable = false;
                check
            }
            (ActionKind::CircuitBreaker(_), _) => {
                let request = first(kind, &ctx)?;
                let name = request
                    .body
                    .as_ref()
                    .map_or("", |b| b["metadata"]["name"].as_str().unwrap_or_default());
                let object = format!("{} {name}", kind_of(&request));
                spec_check(kind, &ctx, object)?
            }
            (ActionKind::Scale(_), Some(Undo::Scale { target, .. })) => {
                let request = first(kind, &ctx)?;
                Check {
                    path: without_query(&request.path),
                    ours: serde_json::json!({ "spec": { "replicas": target } }),
                    object: "the scale".to_owned(),
                    recreatable: false,
                }
            }
            (ActionKind::Rollback, _) if ctx.kind == WorkloadKind::Rollout => {
                let request = first(kind, &ctx)?;
                Check {
                    path: without_query(&request.path)
                        .trim_end_matches("/status")
                        .to_owned(),
                    ours: serde_json::json!({ "status": { "abort": true } }),
                    object: format!("Rollout {}", ctx.target.name),
                    recreatable: false,
                }
            }
            // Restart and diagnostics leave nothing to compare (nor does a
            // rollback recorded before its template digest was).
            _ => return Ok(None),
        };
        let get = Request::get(check.path.clone());
        let live = match send(&self.client, &get).await {
            Ok((live, _)) => live,
            Err(e) if e.code() == Some(404) => {
                let detail = format!("{} was deleted", check.object);
                return Ok(Some(Drift::new(detail, check.recreatable)));
            }
            Err(e) => return Err(e),
        };
        Ok(first_difference("", &check.ours, &live).map(|pointer| {
            let detail = format!(
                "{} {pointer} is {}, Firebreak set {}",
                check.object,
                short(live.pointer(&pointer).unwrap_or(&Value::Null)),
                short(check.ours.pointer(&pointer).unwrap_or(&Value::Null)),
            );
            Drift::new(detail, true)
        }))
    }
}

impl Executor {
    /// A Deployment rollback is in place while the pod template is the one it
    /// restored. Never re-applicable: rolling back again would pick the
    /// revision before whatever is there now.
    async fn rollback_drift(
        &self,
        ctx: &RenderContext<'_>,
        revision: u64,
        recorded: &str,
    ) -> Result<Option<Drift>, ExecError> {
        let name = &ctx.target.name;
        let path = format!(
            "/apis/apps/v1/namespaces/{}/deployments/{name}",
            ctx.target.namespace
        );
        let live = match send(&self.client, &Request::get(path)).await {
            Ok((live, _)) => live,
            Err(e) if e.code() == Some(404) => {
                return Ok(Some(Drift::new(
                    format!("Deployment {name} was deleted"),
                    false,
                )));
            }
            Err(e) => return Err(e),
        };
        if super::rollback::template_digest(&live["spec"]["template"]) == recorded {
            return Ok(None);
        }
        let now = live["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            .as_str()
            .unwrap_or("unknown");
        let detail = format!(
            "Deployment {name}: the pod template is no longer that of revision {revision}, which the rollback restored (now revision {now}); a rollback is not repeated"
        );
        Ok(Some(Drift::new(detail, false)))
    }
}

/// The rate limit as it was applied: the rate the apply resolved.
fn applied_rate(rl: &RateLimit, undo: Option<&Undo>) -> Option<RateLimit> {
    match (undo, rl.limit) {
        (
            Some(Undo::RateLimit {
                requests_per_second,
            }),
            _,
        ) => Some(fixed_rate(rl, *requests_per_second)),
        (_, RateLimitValue::RequestsPerSecond(_)) => Some(rl.clone()),
        // A relative rate that was never recorded: nothing to compare with.
        (_, RateLimitValue::PercentOfCurrent(_)) => None,
    }
}

fn rate_limit_check(rl: &RateLimit, ctx: &RenderContext<'_>) -> Result<Check, ExecError> {
    let kind = ActionKind::RateLimit(rl.clone());
    match rl.backend {
        TrafficBackend::Annotation => {
            let request = first(&kind, ctx)?;
            let annotations = request
                .body
                .as_ref()
                .map(|b| b["spec"]["template"]["metadata"]["annotations"].clone())
                .unwrap_or(Value::Null);
            Ok(Check {
                path: without_query(&request.path),
                ours: serde_json::json!({ "spec": { "template": { "metadata": { "annotations": annotations } } } }),
                object: format!("the pod template of {}", ctx.target.name),
                recreatable: false,
            })
        }
        TrafficBackend::Istio | TrafficBackend::EnvoyGateway => {
            let request = first(&kind, ctx)?;
            let name = request.body.as_ref().map_or(String::new(), |b| {
                b["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            });
            let object = format!("{} {name}", kind_of(&request));
            spec_check(&kind, ctx, object)
        }
    }
}

/// The object's `spec` must hold what the rendered apply sets.
fn spec_check(
    kind: &ActionKind,
    ctx: &RenderContext<'_>,
    object: String,
) -> Result<Check, ExecError> {
    let request = first(kind, ctx)?;
    let spec = request
        .body
        .as_ref()
        .map(|b| b["spec"].clone())
        .ok_or(ExecError::NothingRendered("drift check"))?;
    Ok(Check {
        path: without_query(&request.path),
        ours: serde_json::json!({ "spec": spec }),
        object,
        recreatable: true,
    })
}

/// The apply's write (the request with a body).
fn first(kind: &ActionKind, ctx: &RenderContext<'_>) -> Result<Request, ExecError> {
    render::render_apply(kind, ctx)?
        .into_iter()
        .find(|r| r.method != Method::Get)
        .ok_or(ExecError::NothingRendered("drift check"))
}

fn kind_of(request: &Request) -> String {
    request
        .body
        .as_ref()
        .and_then(|b| b["kind"].as_str())
        .unwrap_or("object")
        .to_owned()
}

pub(super) fn without_query(path: &str) -> String {
    path.split_once('?').map_or(path, |(p, _)| p).to_owned()
}

/// JSON pointer of the first field `ours` sets that `live` lacks or holds
/// differently. Objects: only our keys count (other managers' fields are
/// theirs); lists: same length, element by element; numbers by value.
pub(super) fn first_difference(pointer: &str, ours: &Value, live: &Value) -> Option<String> {
    match (ours, live) {
        (Value::Object(ours), Value::Object(live)) => ours.iter().find_map(|(key, value)| {
            let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            first_difference(&child, value, live.get(key).unwrap_or(&Value::Null))
        }),
        (Value::Array(ours), Value::Array(live)) if ours.len() == live.len() => ours
            .iter()
            .zip(live)
            .enumerate()
            .find_map(|(i, (o, l))| first_difference(&format!("{pointer}/{i}"), o, l)),
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => None,
        _ if ours == live => None,
        _ => Some(pointer.to_owned()),
    }
}

/// A value for the timeline, cut to a readable length.
fn short(value: &Value) -> String {
    let text = match value {
        Value::Null => "absent".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::first_difference;

    #[test]
    fn only_the_fields_we_set_are_compared() {
        let ours = json!({"spec": {"trafficPolicy": {"outlierDetection": {"interval": "10s", "consecutive5xxErrors": 5}}}});
        let live = json!({"spec": {"host": "x", "trafficPolicy": {
            "outlierDetection": {"interval": "10s", "consecutive5xxErrors": 5.0, "minHealthPercent": 20},
            "loadBalancer": {"simple": "ROUND_ROBIN"}}}});
        assert_eq!(first_difference("", &ours, &live), None);
        let edited = json!({"spec": {"trafficPolicy": {"outlierDetection": {"interval": "30s", "consecutive5xxErrors": 5}}}});
        assert_eq!(
            first_difference("", &ours, &edited).as_deref(),
            Some("/spec/trafficPolicy/outlierDetection/interval")
        );
        let removed = json!({"spec": {"trafficPolicy": {}}});
        assert_eq!(
            first_difference("", &ours, &removed).as_deref(),
            Some("/spec/trafficPolicy/outlierDetection")
        );
    }

    #[test]
    fn lists_must_match_element_by_element() {
        let ours = json!({"a": [{"x": 1}, {"y": 2}]});
        assert_eq!(
            first_difference("", &ours, &json!({"a": [{"x": 1, "z": 0}, {"y": 2}]})),
            None
        );
        assert_eq!(
            first_difference("", &ours, &json!({"a": [{"x": 1}]})).as_deref(),
            Some("/a")
        );
        assert_eq!(
            first_difference("", &ours, &json!({"a": [{"x": 1}, {"y": 3}]})).as_deref(),
            Some("/a/1/y")
        );
    }
}
