//! The workloads playbooks select: Deployments and Argo Rollouts, watched
//! (metadata only) in the operator's scope and indexed by name and labels, so
//! each cycle reads its targets from memory instead of listing them. A metadata
//! watch asks the API server for `PartialObjectMetadata`: neither specs nor
//! statuses cross the wire or are parsed, which is most of a Deployment's size.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};

pub use super::workload_index::Index;
use crate::playbook::TargetRef;
use crate::playbook::model::Playbook;
use crate::playbook::spec::WorkloadKind;

type DeploymentMeta = PartialObjectMeta<Deployment>;
type RolloutMeta = PartialObjectMeta<DynamicObject>;

fn rollout_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout");
    ApiResource::from_gvk_with_plural(&gvk, "rollouts")
}

/// In-memory views of the selectable workloads, one index per watched scope.
#[derive(Clone, Default)]
pub struct Workloads {
    deployments: Vec<Index>,
    rollouts: Vec<Index>,
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
            w.deployments.push(spawn_watch(api));
            if rollouts_served {
                let ar = rollout_resource();
                let api: Api<RolloutMeta> = match ns {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                w.rollouts.push(spawn_watch(api));
            }
        }
        w
    }

    /// Indexes filled by the caller (tests).
    pub fn from_indexes(deployments: Vec<Index>, rollouts: Vec<Index>) -> Self {
        Workloads {
            deployments,
            rollouts,
        }
    }

    /// Wait until every index has had its first list.
    pub async fn ready(&self) {
        for i in self.deployments.iter().chain(&self.rollouts) {
            i.ready().await;
        }
    }

    /// `pb`'s workloads: its kind in its namespace, matching its `matchLabels`,
    /// narrowed to `names` if given; sorted by name.
    pub fn targets(&self, pb: &Playbook) -> Vec<TargetRef> {
        let indexes = match pb.target.kind {
            WorkloadKind::Deployment => &self.deployments,
            WorkloadKind::Rollout => &self.rollouts,
        };
        let mut names: Vec<String> = indexes
            .iter()
            .flat_map(|i| i.select(&pb.id.namespace, &pb.target.match_labels))
            .collect();
        if !pb.target.names.is_empty() {
            names.retain(|n| pb.target.names.contains(n));
        }
        // Scopes are disjoint namespaces, but a playbook's namespace may be
        // listed twice in the operator's configuration.
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

fn spawn_watch<K>(api: Api<K>) -> Index
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let index = Index::default();
    let writer = index.clone();
    // `Api<PartialObjectMeta<_>>`: kube sends the metadata-only Accept header.
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .for_each(move |event| {
            match event {
                Ok(e) => writer.apply(&e),
                Err(e) => tracing::warn!(error = %e, "workload watch failed; retrying"),
            }
            std::future::ready(())
        });
    tokio::spawn(stream);
    index
}
