//! `scale`: set the replica count through the `/scale` subresource, which both
//! Deployments and Argo Rollouts serve. Reverted to the count before the apply.

use serde_json::{Value, json};

use super::{MERGE_PATCH, RenderContext, Request, workload_path};
use crate::playbook::model::{Scale, ScaleTo};

pub(super) fn apply(scale: &Scale, ctx: &RenderContext) -> Vec<Request> {
    let (replicas, note) = match (scale.to, ctx.current_replicas) {
        (ScaleTo::Replicas(n), _) => (json!(n.min(scale.max)), None),
        (ScaleTo::Add(n), Some(current)) => (
            json!(current.saturating_add(n).min(scale.max)),
            Some(format!("current {current} + {n}, capped at {}", scale.max)),
        ),
        (ScaleTo::Add(n), None) => (
            json!(format!("<current + {n}, at most {}>", scale.max)),
            Some(format!(
                "current + {n}, capped at {}; resolved at apply time",
                scale.max
            )),
        ),
    };
    let request = scale_patch(ctx, replicas);
    vec![match note {
        Some(note) => request.with_note(note),
        None => request,
    }]
}

pub(super) fn revert(ctx: &RenderContext) -> Vec<Request> {
    let request = match ctx.current_replicas {
        Some(previous) => scale_patch(ctx, json!(previous)),
        None => scale_patch(ctx, json!("<replicas before the apply>")),
    };
    vec![request.with_note("restores the replica count recorded at apply time")]
}

fn scale_patch(ctx: &RenderContext, replicas: Value) -> Request {
    let path = format!("{}/scale", workload_path(ctx));
    Request::patch(
        &path,
        MERGE_PATCH,
        json!({ "spec": { "replicas": replicas } }),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{ctx, pod_labels, target};
    use super::super::{Method, RenderContext, render_apply, render_revert};
    use crate::playbook::model::{ActionKind, Scale, ScaleTo};
    use crate::playbook::spec::WorkloadKind;

    const DEPLOY_SCALE: &str =
        "/apis/apps/v1/namespaces/shop/deployments/checkout/scale?fieldManager=firebreak";

    fn action(to: ScaleTo) -> ActionKind {
        ActionKind::Scale(Scale { to, max: 10 })
    }

    #[test]
    fn absolute_scale_is_a_merge_patch_on_the_scale_subresource() {
        let (t, l) = (target(), pod_labels());
        let requests = render_apply(&action(ScaleTo::Replicas(6)), &ctx(&t, &l)).unwrap();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!((r.method, r.path.as_str()), (Method::Patch, DEPLOY_SCALE));
        assert_eq!(r.content_type, Some("application/merge-patch+json"));
        assert_eq!(r.body, Some(json!({"spec": {"replicas": 6}})));
        assert_eq!(r.note, None);
    }

    #[test]
    fn absolute_scale_is_capped_at_max() {
        let (t, l) = (target(), pod_labels());
        let requests = render_apply(&action(ScaleTo::Replicas(60)), &ctx(&t, &l)).unwrap();
        assert_eq!(requests[0].body, Some(json!({"spec": {"replicas": 10}})));
    }

    #[test]
    fn relative_scale_adds_to_current_and_caps() {
        let (t, l) = (target(), pod_labels());
        let c = RenderContext {
            current_replicas: Some(4),
            ..ctx(&t, &l)
        };
        let r = &render_apply(&action(ScaleTo::Add(3)), &c).unwrap()[0];
        assert_eq!(r.body, Some(json!({"spec": {"replicas": 7}})));
        assert_eq!(r.note.as_deref(), Some("current 4 + 3, capped at 10"));
        let c = RenderContext {
            current_replicas: Some(9),
            ..c
        };
        let r = &render_apply(&action(ScaleTo::Add(3)), &c).unwrap()[0];
        assert_eq!(r.body, Some(json!({"spec": {"replicas": 10}})));
    }

    #[test]
    fn relative_scale_without_current_count_is_a_placeholder() {
        let (t, l) = (target(), pod_labels());
        let r = &render_apply(&action(ScaleTo::Add(2)), &ctx(&t, &l)).unwrap()[0];
        assert_eq!(
            r.body,
            Some(json!({"spec": {"replicas": "<current + 2, at most 10>"}}))
        );
        assert_eq!(
            r.note.as_deref(),
            Some("current + 2, capped at 10; resolved at apply time")
        );
    }

    #[test]
    fn revert_restores_the_recorded_count() {
        let (t, l) = (target(), pod_labels());
        let c = RenderContext {
            current_replicas: Some(4),
            ..ctx(&t, &l)
        };
        let requests = render_revert(&action(ScaleTo::Replicas(6)), &c).unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            (requests[0].method, requests[0].path.as_str()),
            (Method::Patch, DEPLOY_SCALE)
        );
        assert_eq!(requests[0].body, Some(json!({"spec": {"replicas": 4}})));
        let dry = render_revert(&action(ScaleTo::Add(1)), &ctx(&t, &l)).unwrap();
        assert_eq!(
            dry[0].body,
            Some(json!({"spec": {"replicas": "<replicas before the apply>"}}))
        );
        assert!(
            dry[0]
                .note
                .as_deref()
                .unwrap()
                .contains("recorded at apply time")
        );
    }

    #[test]
    fn rollouts_scale_through_their_own_subresource() {
        let (t, l) = (target(), pod_labels());
        let c = RenderContext {
            kind: WorkloadKind::Rollout,
            ..ctx(&t, &l)
        };
        let r = &render_apply(&action(ScaleTo::Replicas(2)), &c).unwrap()[0];
        assert_eq!(
            r.path,
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout/scale?fieldManager=firebreak"
        );
    }
}
