//! Rollback: abort an Argo Rollout, or put a Deployment's previous revision
//! back as `kubectl rollout undo` does (kubectl pkg/polymorphichelpers/rollback.go).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::send::{send, unexpected};
use super::{ExecError, Outcome, Sent, Undo};
use crate::act::render::{self, JSON_PATCH, RenderContext, Request, label_selector};
use crate::playbook::model::ActionKind;
use crate::playbook::spec::WorkloadKind;

const REVISION: &str = "deployment.kubernetes.io/revision";
/// Set on the Deployment with the rollback, to the action's idempotency key:
/// repeated after a crash, the same action must not "roll back" once more,
/// onto the failing revision it just left.
pub const ROLLED_BACK_BY: &str = "firebreak.dev/rolled-back-by";
/// Added by the Deployment controller to each ReplicaSet's template; not part of
/// the Deployment's own template.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Annotations kubectl neither copies from the ReplicaSet nor drops from the
/// Deployment (kubectl's `annotationsToSkip`): the controller's bookkeeping.
const BOOKKEEPING: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

pub(super) async fn apply(
    client: &kube::Client,
    ctx: &RenderContext<'_>,
    key: &str,
) -> Result<Outcome, ExecError> {
    match ctx.kind {
        // Aborting twice is harmless.
        WorkloadKind::Rollout => rollout_abort(client, ctx).await,
        WorkloadKind::Deployment => deployment_undo(client, ctx, key).await,
    }
}

/// The abort patch on `/status`; clusters whose Rollout CRD has no status
/// subresource answer 404 there, and take it on the object itself
/// (as `kubectl argo rollouts abort` does).
async fn rollout_abort(
    client: &kube::Client,
    ctx: &RenderContext<'_>,
) -> Result<Outcome, ExecError> {
    let mut sent = Vec::new();
    for request in render::render_apply(&ActionKind::Rollback, ctx)? {
        let request = Request {
            note: None,
            ..request
        };
        match send(client, &request).await {
            Ok((_, s)) => sent.push(s),
            Err(e) if e.code() == Some(404) && request.path.contains("/status?") => {
                let main = Request {
                    path: request.path.replacen("/status?", "?", 1),
                    ..request
                };
                sent.push(send(client, &main).await?.1);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome {
        sent,
        note: Some("aborted the rollout".to_owned()),
        ..Outcome::default()
    })
}

async fn deployment_undo(
    client: &kube::Client,
    ctx: &RenderContext<'_>,
    key: &str,
) -> Result<Outcome, ExecError> {
    let TargetNames { ns, name } = TargetNames::of(ctx);
    let deployment_path = format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}");
    let get = Request::get(deployment_path.clone());
    let (deployment, got_deployment) = send(client, &get).await?;
    if deployment["spec"]["paused"] == true {
        return Err(ExecError::DeploymentPaused(name.to_owned()));
    }
    if deployment["metadata"]["annotations"][ROLLED_BACK_BY] == key {
        return Ok(Outcome {
            sent: vec![got_deployment],
            note: Some(format!(
                "already rolled back by this action (now revision {})",
                revision(&deployment["metadata"]).unwrap_or_default()
            )),
            ..Outcome::default()
        });
    }
    let uid = deployment["metadata"]["uid"]
        .as_str()
        .ok_or_else(|| unexpected(&get, "the Deployment has no uid"))?;
    let selector: BTreeMap<String, String> =
        serde_json::from_value(deployment["spec"]["selector"]["matchLabels"].clone())
            .map_err(|e| unexpected(&get, e))?;
    let list = Request::get(format!(
        "/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector={}",
        label_selector(&selector)
    ));
    let (replica_sets, got_list) = send(client, &list).await?;

    // Only ReplicaSets this Deployment controls (a selector may match others').
    let mut owned: Vec<(u64, &Value)> = replica_sets["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rs| {
            rs["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["uid"] == uid && o["controller"] == true)
        })
        .filter_map(|rs| Some((revision(&rs["metadata"])?, rs)))
        .collect();
    owned.sort_by_key(|(revision, _)| *revision);
    let current = revision(&deployment["metadata"])
        .or_else(|| owned.last().map(|(r, _)| *r))
        .unwrap_or(0);
    let Some((previous, rs)) = owned.iter().rev().find(|(r, _)| *r < current) else {
        return Err(ExecError::NoPreviousRevision(name.to_owned()));
    };
    let template = without_hash(&rs["spec"]["template"]);
    if template == without_hash(&deployment["spec"]["template"]) {
        return Err(ExecError::SameTemplate {
            deployment: name.to_owned(),
            revision: *previous,
        });
    }
    let mut annotations = annotations(&deployment["metadata"], &rs["metadata"]);
    annotations[ROLLED_BACK_BY] = json!(key);
    let patch = Request::patch(
        &deployment_path,
        JSON_PATCH,
        json!([
            { "op": "replace", "path": "/spec/template", "value": template },
            { "op": "replace", "path": "/metadata/annotations", "value": annotations },
        ]),
    );
    let (_, patched) = send(client, &patch).await?;
    let sent: Vec<Sent> = vec![got_deployment, got_list, patched];
    Ok(Outcome {
        sent,
        note: Some(format!("restored revision {previous}")),
        undo: Some(Undo::RolledBack {
            revision: *previous,
            template_digest: template_digest(&template),
        }),
        ..Outcome::default()
    })
}

struct TargetNames<'a> {
    ns: &'a str,
    name: &'a str,
}

impl<'a> TargetNames<'a> {
    fn of(ctx: &RenderContext<'a>) -> Self {
        TargetNames {
            ns: &ctx.target.namespace,
            name: &ctx.target.name,
        }
    }
}

fn revision(metadata: &Value) -> Option<u64> {
    metadata["annotations"][REVISION].as_str()?.parse().ok()
}

/// The digest a rollback records of the template it restored, and a drift
/// check computes of the live one (without the ReplicaSet's hash label).
pub(super) fn template_digest(template: &Value) -> String {
    super::undo::digest(&without_hash(template))
}

/// A ReplicaSet's template as the Deployment would hold it.
fn without_hash(template: &Value) -> Value {
    let mut template = template.clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

/// kubectl: the ReplicaSet's annotations minus bookkeeping, plus the
/// Deployment's own bookkeeping ones, so its revision history survives.
fn annotations(deployment: &Value, rs: &Value) -> Value {
    let keep = |key: &str| BOOKKEEPING.contains(&key);
    let mut out = Map::new();
    for (source, bookkeeping) in [(rs, false), (deployment, true)] {
        if let Some(annotations) = source["annotations"].as_object() {
            for (k, v) in annotations {
                if keep(k) == bookkeeping {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Value::Object(out)
}
