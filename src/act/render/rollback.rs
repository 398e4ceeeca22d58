//! `rollback`: abort an Argo Rollout, or restore a Deployment's previous
//! ReplicaSet template as `kubectl rollout undo` does. Not reversible.

use serde_json::json;

use super::naming::label_selector;
use super::{JSON_PATCH, MERGE_PATCH, RenderContext, Request, workload_path};
use crate::playbook::spec::WorkloadKind;

/// Annotation holding a ReplicaSet's revision number.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

pub(super) fn apply(ctx: &RenderContext) -> Vec<Request> {
    match ctx.kind {
        WorkloadKind::Rollout => vec![rollout_abort(ctx)],
        WorkloadKind::Deployment => deployment_undo(ctx),
    }
}

/// What `kubectl argo rollouts abort` sends (pkg/kubectl-argo-rollouts/cmd/abort/abort.go).
fn rollout_abort(ctx: &RenderContext) -> Request {
    let path = format!("{}/status", workload_path(ctx));
    Request::patch(&path, MERGE_PATCH, json!({ "status": { "abort": true } })).with_note(
        "if the status subresource is not found, the same patch goes to the Rollout itself, as kubectl argo rollouts abort does",
    )
}

/// kubectl's `DeploymentRollbacker` (pkg/polymorphichelpers/rollback.go): read the
/// Deployment and its ReplicaSets, pick the second-highest revision, and replace
/// `/spec/template` with that ReplicaSet's template and `/metadata/annotations`
/// with its annotations (keeping the Deployment's revision bookkeeping ones).
fn deployment_undo(ctx: &RenderContext) -> Vec<Request> {
    let ns = &ctx.target.namespace;
    let deployment = workload_path(ctx);
    let replica_sets = format!(
        "/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector={}",
        label_selector(ctx.match_labels)
    );
    let patch = json!([
        { "op": "replace", "path": "/spec/template", "value": "<template of revision N-1>" },
        { "op": "replace", "path": "/metadata/annotations", "value": "<annotations of revision N-1>" },
    ]);
    vec![
        Request::get(deployment.clone())
            .with_note("current template, selector and uid; a paused Deployment is not rolled back"),
        Request::get(replica_sets).with_note(format!(
            "selector resolved from the Deployment's spec.selector; only ReplicaSets it controls, ordered by {REVISION_ANNOTATION}"
        )),
        Request::patch(&deployment, JSON_PATCH, patch).with_note(
            "template of revision N-1 (without pod-template-hash), resolved at apply time; skipped if it equals the current one",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{ctx, pod_labels, target};
    use super::super::{RenderContext, render_apply, render_revert};
    use super::*;
    use crate::playbook::model::ActionKind;

    #[test]
    fn rollout_is_aborted_through_the_status_subresource() {
        let (t, l) = (target(), pod_labels());
        let c = RenderContext {
            kind: WorkloadKind::Rollout,
            ..ctx(&t, &l)
        };
        let requests = render_apply(&ActionKind::Rollback, &c).unwrap();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.method.to_string(), "PATCH");
        assert_eq!(
            r.path,
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout/status?fieldManager=firebreak"
        );
        assert_eq!(r.content_type, Some("application/merge-patch+json"));
        assert_eq!(r.body, Some(json!({"status": {"abort": true}})));
        assert!(r.note.as_deref().unwrap().contains("Rollout itself"));
    }

    #[test]
    fn deployment_restores_the_previous_replica_set_template() {
        let (t, l) = (target(), pod_labels());
        let requests = render_apply(&ActionKind::Rollback, &ctx(&t, &l)).unwrap();
        let summary: Vec<_> = requests
            .iter()
            .map(|r| (r.method.to_string(), r.path.as_str(), r.content_type))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "GET".into(),
                    "/apis/apps/v1/namespaces/shop/deployments/checkout",
                    None
                ),
                (
                    "GET".into(),
                    "/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dcheckout%2Ctier%3Dweb",
                    None
                ),
                (
                    "PATCH".into(),
                    "/apis/apps/v1/namespaces/shop/deployments/checkout?fieldManager=firebreak",
                    Some("application/json-patch+json")
                ),
            ]
        );
        assert_eq!(
            requests[2].body,
            Some(json!([
                {"op": "replace", "path": "/spec/template", "value": "<template of revision N-1>"},
                {"op": "replace", "path": "/metadata/annotations", "value": "<annotations of revision N-1>"},
            ]))
        );
        assert!(
            requests[2]
                .note
                .as_deref()
                .unwrap()
                .contains("revision N-1")
        );
        assert!(requests[0].body.is_none() && requests[1].body.is_none());
    }

    #[test]
    fn rollback_is_not_reversible() {
        let (t, l) = (target(), pod_labels());
        assert_eq!(
            render_revert(&ActionKind::Rollback, &ctx(&t, &l)),
            Ok(vec![])
        );
    }
}
