//! `restart`: roll the pods the way the vendors' own CLIs do. Not reversible.

use serde_json::json;

use super::{MERGE_PATCH, RenderContext, Request, STRATEGIC_MERGE_PATCH, workload_path};
use crate::playbook::spec::WorkloadKind;

/// The pod-template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

pub(super) fn apply(ctx: &RenderContext) -> Vec<Request> {
    // RFC 3339 in UTC, whole seconds, as kubectl's time.RFC3339 format writes it.
    let at = ctx.now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let path = workload_path(ctx);
    vec![match ctx.kind {
        // A new template annotation makes the Deployment controller roll the pods.
        WorkloadKind::Deployment => Request::patch(
            &path,
            STRATEGIC_MERGE_PATCH,
            json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT_ANNOTATION: at } } } } }),
        ),
        // Argo's `spec.restartAt` (kubectl argo rollouts restart: cmd/restart/restart.go);
        // a CRD takes no strategic merge patch.
        WorkloadKind::Rollout => {
            Request::patch(&path, MERGE_PATCH, json!({ "spec": { "restartAt": at } }))
        }
    }]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{ctx, pod_labels, target};
    use super::super::{Method, RenderContext, render_apply, render_revert};
    use crate::playbook::model::ActionKind;
    use crate::playbook::spec::WorkloadKind;

    #[test]
    fn deployment_gets_the_kubectl_restarted_at_annotation() {
        let (t, l) = (target(), pod_labels());
        let requests = render_apply(&ActionKind::Restart, &ctx(&t, &l)).unwrap();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.method, Method::Patch);
        assert_eq!(
            r.path,
            "/apis/apps/v1/namespaces/shop/deployments/checkout?fieldManager=firebreak"
        );
        assert_eq!(
            r.content_type,
            Some("application/strategic-merge-patch+json")
        );
        assert_eq!(
            r.body,
            Some(json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2025-03-01T12:00:00Z"
            }}}}}))
        );
    }

    #[test]
    fn rollout_gets_restart_at() {
        let (t, l) = (target(), pod_labels());
        let mut c = RenderContext {
            kind: WorkloadKind::Rollout,
            ..ctx(&t, &l)
        };
        // Sub-second precision is dropped, as kubectl does.
        c.now = "2025-03-01T12:00:00.75Z".parse().unwrap();
        let r = &render_apply(&ActionKind::Restart, &c).unwrap()[0];
        assert_eq!(
            r.path,
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout?fieldManager=firebreak"
        );
        assert_eq!(r.content_type, Some("application/merge-patch+json"));
        assert_eq!(
            r.body,
            Some(json!({"spec": {"restartAt": "2025-03-01T12:00:00Z"}}))
        );
    }

    #[test]
    fn restart_is_not_reversible() {
        let (t, l) = (target(), pod_labels());
        assert_eq!(
            render_revert(&ActionKind::Restart, &ctx(&t, &l)),
            Ok(vec![])
        );
    }
}
