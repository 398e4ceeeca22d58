//! The workloads a playbook selects in the cluster: Deployments or Argo Rollouts
//! matching its label selector in its namespace, narrowed to `names` if given.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, Client, ResourceExt};

use crate::playbook::TargetRef;
use crate::playbook::model::Playbook;
use crate::playbook::spec::WorkloadKind;

/// `matchLabels` as a label selector query (`a=b,c=d`); keys and values were validated.
pub fn selector(pb: &Playbook) -> String {
    pb.target
        .match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn rollouts(client: Client, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "rollouts");
    Api::namespaced_with(client, namespace, &ar)
}

/// List the playbook's workloads, sorted by name.
pub async fn list(client: &Client, pb: &Playbook) -> Result<Vec<TargetRef>, kube::Error> {
    let ns = &pb.id.namespace;
    let lp = ListParams::default().labels(&selector(pb));
    let mut names: Vec<String> = match pb.target.kind {
        WorkloadKind::Deployment => Api::<Deployment>::namespaced(client.clone(), ns)
            .list_metadata(&lp)
            .await?
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect(),
        WorkloadKind::Rollout => rollouts(client.clone(), ns)
            .list(&lp)
            .await?
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect(),
    };
    if !pb.target.names.is_empty() {
        names.retain(|n| pb.target.names.contains(n));
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| TargetRef {
            namespace: ns.clone(),
            name,
        })
        .collect())
}
