//! The workloads playbooks select: Deployments and Argo Rollouts, watched
//! (metadata only) in the operator's scope, so each cycle reads its targets from
//! memory instead of listing them. A metadata watch asks the API server for
//! `PartialObjectMetadata`: neither specs nor statuses cross the wire or are
//! parsed, which is most of a Deployment's size.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use crate::playbook::TargetRef;
use crate::playbook::model::Playbook;
use crate::playbook::spec::WorkloadKind;

type DeploymentMeta = PartialObjectMeta<Deployment>;
type RolloutMeta = PartialObjectMeta<DynamicObject>;

fn rollout_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout");
    ApiResource::from_gvk_with_plural(&gvk, "rollouts")
}

/// In-memory views of the selectable workloads, one store per watched scope.
#[derive(Clone, Default)]
pub struct Workloads {
    deployments: Vec<Store<DeploymentMeta>>,
    rollouts: Vec<Store<RolloutMeta>>,
}

impl Workloads {
    /// Watch Deployments, and Rollouts when Argo Rollouts is installed, in every
    /// namespace (`namespaces` empty) or in each of `namespaces`.
    pub async fn watch(client: &Client, namespaces: &[String]) -> Self {
        let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().map(|n| Some(n.as_str())).collect()
        };
        let rollouts_served = kube::discovery::oneshot::group(client, "argoproj.io")
            .await
            .is_ok_and(|g| {
                g.recommended_resources()
                    .iter()
                    .any(|(r, _)| r.kind == "Rollout")
            });
        if !rollouts_served {
            tracing::info!("argoproj.io Rollouts not served: watching Deployments only");
        }
        let mut w = Workloads::default();
        for ns in scopes {
            let api: Api<DeploymentMeta> = match ns {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            w.deployments.push(spawn_watch(api, ()));
            if rollouts_served {
                let ar = rollout_resource();
                let api: Api<RolloutMeta> = match ns {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                w.rollouts.push(spawn_watch(api, ar));
            }
        }
        w
    }

    /// Stores filled by the caller (tests).
    pub fn from_stores(
        deployments: Vec<Store<DeploymentMeta>>,
        rollouts: Vec<Store<RolloutMeta>>,
    ) -> Self {
        Workloads {
            deployments,
            rollouts,
        }
    }

    /// Wait until every store has had its first list.
    pub async fn ready(&self) {
        for s in &self.deployments {
            let _ = s.wait_until_ready().await;
        }
        for s in &self.rollouts {
            let _ = s.wait_until_ready().await;
        }
    }

    /// `pb`'s workloads: its kind in its namespace, matching its `matchLabels`,
    /// narrowed to `names` if given; sorted by name.
    pub fn targets(&self, pb: &Playbook) -> Vec<TargetRef> {
        let mut names: Vec<String> = match pb.target.kind {
            WorkloadKind::Deployment => selected(&self.deployments, pb),
            WorkloadKind::Rollout => selected(&self.rollouts, pb),
        };
        if !pb.target.names.is_empty() {
            names.retain(|n| pb.target.names.contains(n));
        }
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| TargetRef {
                namespace: pb.id.namespace.clone(),
                name,
            })
            .collect()
    }
}

fn selected<K: Resource + Clone>(stores: &[Store<K>], pb: &Playbook) -> Vec<String>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    stores
        .iter()
        .flat_map(Store::state)
        .filter(|o| o.namespace().as_deref() == Some(pb.id.namespace.as_str()))
        .filter(|o| matches(o.labels(), &pb.target.match_labels))
        .map(|o| o.name_any())
        .collect()
}

fn matches(labels: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn spawn_watch<K>(api: Api<K>, dyntype: K::DynamicType) -> Store<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    let writer = reflector::store::Writer::new(dyntype);
    let store = writer.as_reader();
    // `Api<PartialObjectMeta<_>>`: kube sends the metadata-only Accept header.
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .for_each(|event| async move {
            if let Err(e) = event {
                tracing::warn!(error = %e, "workload watch failed; retrying");
            }
        });
    tokio::spawn(stream);
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_when_every_wanted_pair_is_present() {
        let have: BTreeMap<String, String> = [
            ("app".into(), "pricer".into()),
            ("tier".into(), "web".into()),
        ]
        .into();
        let want: BTreeMap<String, String> = [("app".into(), "pricer".into())].into();
        assert!(matches(&have, &want));
        assert!(matches(&have, &BTreeMap::new()));
        let other: BTreeMap<String, String> = [("app".into(), "cart".into())].into();
        assert!(!matches(&have, &other));
    }
}
