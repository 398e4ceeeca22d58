//! Rendering of actions to the exact Kubernetes requests they send (apply and revert).
//!
//! Pure data: the dry-run replay prints these, the executor sends them, and
//! `tower_test` mocks assert them. Whatever is only known at apply time (a pod
//! name, a previous revision's template) is a `<placeholder>` with a `note`.

mod circuit_breaker;
pub mod diagnostics;
mod naming;
mod ratelimit;
mod request;
mod restart;
mod rollback;
mod scale;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::playbook::model::{ActionKind, TargetRef};
use crate::playbook::spec::WorkloadKind;

pub use naming::{
    MANAGED_BY_LABEL, MANAGER, incident_label_value, label_selector, labels, object_name,
};
pub use ratelimit::resolve_rps;
pub use request::{
    APPLY_PATCH, JSON, JSON_PATCH, MERGE_PATCH, Method, Request, STRATEGIC_MERGE_PATCH,
};

/// What a render needs besides the action itself.
#[derive(Clone, Copy, Debug)]
pub struct RenderContext<'a> {
    /// Names the diagnostics ConfigMap and fills the `firebreak.dev/incident` label.
    pub incident_id: &'a str,
    /// The workload acted on.
    pub target: &'a TargetRef,
    pub kind: WorkloadKind,
    /// Pod labels of the workload (Istio `workloadSelector`, diagnostics).
    pub match_labels: &'a BTreeMap<String, String>,
    /// Current request rate, for relative rate limits.
    pub current_rps: Option<f64>,
    /// Replicas before the action: the live count when applying `scale.add`, the
    /// count recorded at apply time when reverting; `None` in dry-run.
    pub current_replicas: Option<u32>,
    /// Name of a DestinationRule someone else owns for the circuit breaker's host,
    /// found by the executor; `None` means Firebreak creates its own.
    pub existing_destination_rule: Option<&'a str>,
    /// Time of the apply (restart timestamps).
    pub now: jiff::Timestamp,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("rate limit is relative to the current request rate, but no current rate is known")]
    MissingCurrentRate,
    #[error("current request rate {0} is not a finite, non-negative number")]
    InvalidCurrentRate(f64),
}

impl RenderError {
    /// Short label for failure metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RenderError::MissingCurrentRate => "missing_current_rate",
            RenderError::InvalidCurrentRate(_) => "invalid_current_rate",
        }
    }
}

/// The requests that apply `action`. `Notify` is empty: Slack is not the Kubernetes API.
pub fn render_apply(action: &ActionKind, ctx: &RenderContext) -> Result<Vec<Request>, RenderError> {
    Ok(match action {
        ActionKind::Notify { .. } => Vec::new(),
        ActionKind::Diagnostics(spec) => diagnostics::apply(spec, ctx),
        ActionKind::RateLimit(rl) => ratelimit::apply(rl, ctx)?,
        ActionKind::CircuitBreaker(cb) => circuit_breaker::apply(cb, ctx),
        ActionKind::Rollback => rollback::apply(ctx),
        ActionKind::Scale(scale) => scale::apply(scale, ctx),
        ActionKind::Restart => restart::apply(ctx),
    })
}

/// The requests that undo `action`; empty for actions that are not reversible.
pub fn render_revert(
    action: &ActionKind,
    ctx: &RenderContext,
) -> Result<Vec<Request>, RenderError> {
    Ok(match action {
        ActionKind::RateLimit(rl) => ratelimit::revert(rl, ctx),
        ActionKind::CircuitBreaker(cb) => circuit_breaker::revert(cb, ctx),
        ActionKind::Scale(_) => scale::revert(ctx),
        ActionKind::Notify { .. }
        | ActionKind::Diagnostics(_)
        | ActionKind::Rollback
        | ActionKind::Restart => Vec::new(),
    })
}

/// Path of the workload object itself.
fn workload_path(ctx: &RenderContext) -> String {
    let TargetRef { namespace, name } = ctx.target;
    match ctx.kind {
        WorkloadKind::Deployment => {
            format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        }
        WorkloadKind::Rollout => {
            format!("/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}")
        }
    }
}

/// `apiVersion` and `kind` of the workload, for apply bodies.
fn workload_type(kind: WorkloadKind) -> (&'static str, &'static str) {
    match kind {
        WorkloadKind::Deployment => ("apps/v1", "Deployment"),
        WorkloadKind::Rollout => ("argoproj.io/v1alpha1", "Rollout"),
    }
}

/// Skeleton of an object Firebreak owns: type, name, namespace and our labels.
fn owned_object(api_version: &str, kind: &str, name: &str, ctx: &RenderContext) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": ctx.target.namespace,
            "labels": labels(ctx.incident_id),
        },
    })
}

/// Envoy Gateway `BackendTrafficPolicy` attached to the HTTPRoute named like the
/// workload (`spec.targetRefs`, gateway.envoyproxy.io/docs/api/extension_types/).
fn backend_traffic_policy(name: &str, ctx: &RenderContext, feature: Value) -> (String, Value) {
    let ns = &ctx.target.namespace;
    let path = format!(
        "/apis/gateway.envoyproxy.io/v1alpha1/namespaces/{ns}/backendtrafficpolicies/{name}"
    );
    let mut spec = json!({
        "targetRefs": [{ "group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": ctx.target.name }],
    });
    if let (Some(spec), Value::Object(feature)) = (spec.as_object_mut(), feature) {
        spec.extend(feature);
    }
    let mut body = owned_object(
        "gateway.envoyproxy.io/v1alpha1",
        "BackendTrafficPolicy",
        name,
        ctx,
    );
    body["spec"] = spec;
    (path, body)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn target() -> TargetRef {
        TargetRef {
            namespace: "shop".into(),
            name: "checkout".into(),
        }
    }

    pub fn pod_labels() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app".into(), "checkout".into()),
            ("tier".into(), "web".into()),
        ])
    }

    pub fn ctx<'a>(
        target: &'a TargetRef,
        labels: &'a BTreeMap<String, String>,
    ) -> RenderContext<'a> {
        RenderContext {
            incident_id: "inc-42",
            target,
            kind: WorkloadKind::Deployment,
            match_labels: labels,
            current_rps: None,
            current_replicas: None,
            existing_destination_rule: None,
            now: "2025-03-01T12:00:00Z"
                .parse()
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn notify_renders_nothing_and_only_mitigations_revert() {
        let (t, l) = (target(), pod_labels());
        let c = ctx(&t, &l);
        let notify = ActionKind::Notify { message: None };
        assert_eq!(render_apply(&notify, &c), Ok(vec![]));
        for action in [notify, ActionKind::Rollback, ActionKind::Restart] {
            assert_eq!(
                render_revert(&action, &c),
                Ok(vec![]),
                "{}",
                action.as_str()
            );
        }
    }

    #[test]
    fn rollout_workload_path_and_type() {
        let (t, l) = (target(), pod_labels());
        let c = RenderContext {
            kind: WorkloadKind::Rollout,
            ..ctx(&t, &l)
        };
        assert_eq!(
            workload_path(&c),
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout"
        );
        assert_eq!(workload_type(c.kind), ("argoproj.io/v1alpha1", "Rollout"));
    }

    #[test]
    fn error_labels() {
        assert_eq!(
            RenderError::MissingCurrentRate.metric_label(),
            "missing_current_rate"
        );
        assert_eq!(
            RenderError::InvalidCurrentRate(-1.0).metric_label(),
            "invalid_current_rate"
        );
    }
}
