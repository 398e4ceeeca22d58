//! Recording rules for a valid playbook, as a prometheus-operator
//! `PrometheusRule` in its namespace (`--recording-rules`): server-side applied
//! by the controller's field manager, owned by the Playbook so that deleting
//! the playbook deletes its rules. What the rules record is what the evaluator
//! reads with `--query-mode recorded`.

use std::collections::BTreeMap;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};

use super::FIELD_MANAGER;
use crate::playbook::model::Playbook as Model;
use crate::playbook::rules;

fn resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule");
    ApiResource::from_gvk_with_plural(&gvk, "prometheusrules")
}

/// Apply the `PrometheusRule` recording `model`, owned by the Playbook `uid`.
pub async fn apply(
    client: &Client,
    model: &Model,
    uid: &str,
    labels: &BTreeMap<String, String>,
) -> Result<(), kube::Error> {
    let mut object = rules::prometheus_rule(model, rules::Layout::Shared, labels);
    object["metadata"]["ownerReferences"] = serde_json::json!([{
        "apiVersion": "firebreak.dev/v1alpha1",
        "kind": "Playbook",
        "name": model.id.name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": false,
    }]);
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &model.id.namespace, &resource());
    api.patch(
        &rules::prometheus_rule_name(model),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .map(drop)
}
