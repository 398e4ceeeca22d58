//! Running the controller: one watch per scope (the cluster, or each watched
//! namespace under namespaced RBAC), its reflector store the source of truth
//! for which playbooks exist.
//!
//! A deleted playbook is never reconciled again, so the catalog is pruned
//! against the store instead: after a watch deletion, after each (re)list, and
//! after each reconcile (which may have re-added an entry deleted meanwhile).

use std::future::{Future, ready};
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, TryStreamExt};
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};

use super::{Context, error_policy, reconcile};
use crate::operator::catalog::Catalog;
use crate::playbook::PlaybookId;
use crate::playbook::spec::Playbook;

/// Which Playbooks the controller watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchScope {
    /// Every namespace (needs a ClusterRole).
    Cluster,
    /// Only these namespaces, one watch each (a Role per namespace suffices).
    Namespaces(Vec<String>),
}

/// Reconcile Playbooks in `scope` until `shutdown` completes, then let
/// in-flight reconciles finish and return.
pub async fn run(
    ctx: Arc<Context>,
    scope: WatchScope,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = shutdown.boxed().shared();
    let client = ctx.client.clone();
    let watches: Vec<(Api<Playbook>, Option<String>)> = match scope {
        WatchScope::Cluster => vec![(Api::all(client), None)],
        WatchScope::Namespaces(namespaces) => namespaces
            .into_iter()
            .map(|ns| (Api::namespaced(client.clone(), &ns), Some(ns)))
            .collect(),
    };
    if watches.is_empty() {
        tracing::warn!("no namespaces to watch: the playbook controller has nothing to do");
    }
    let controllers = watches
        .into_iter()
        .map(|(api, namespace)| watch(api, namespace, ctx.clone(), shutdown.clone()));
    futures::future::join_all(controllers).await;
    tracing::info!("playbook controller stopped");
}

/// Remove catalog entries in `namespace` (all when `None`) whose Playbook is
/// no longer in `store`; returns their ids. Call only once the store has
/// been listed: an empty store before that would prune everything.
pub fn prune(
    catalog: &Catalog,
    store: &Store<Playbook>,
    namespace: Option<&str>,
) -> Vec<PlaybookId> {
    let gone: Vec<PlaybookId> = catalog
        .snapshot()
        .into_iter()
        .map(|entry| entry.playbook.id.clone())
        .filter(|id| namespace.is_none_or(|ns| ns == id.namespace))
        .filter(|id| {
            let key = ObjectRef::<Playbook>::new(&id.name).within(&id.namespace);
            store.get(&key).is_none()
        })
        .collect();
    for id in &gone {
        catalog.remove(id);
    }
    gone
}

async fn watch(
    api: Api<Playbook>,
    namespace: Option<String>,
    ctx: Arc<Context>,
    shutdown: Shared<BoxFuture<'static, ()>>,
) {
    let (store, writer) = reflector::store();
    let on_event = {
        let (ctx, store, namespace) = (ctx.clone(), store.clone(), namespace.clone());
        move |event: &watcher::Event<Playbook>| {
            // Both happen only after the first list, when the store is complete.
            if matches!(event, watcher::Event::Delete(_) | watcher::Event::InitDone) {
                forget_deleted(&ctx, &store, namespace.as_deref());
            }
        }
    };
    // Status writes (ours and the evaluator's) do not change the generation;
    // reconciling on them would only re-validate the same spec.
    let changes = predicates::generation.combine(predicates::annotations);
    let trigger = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .inspect_ok(on_event)
        .applied_objects()
        .predicate_filter(changes, Default::default());
    tracing::info!(
        namespace = namespace.as_deref().unwrap_or("*"),
        "watching playbooks"
    );
    Controller::for_stream(trigger, store.clone())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|item| {
            forget_deleted(&ctx, &store, namespace.as_deref());
            match item {
                Ok(_) | Err(controller::Error::ReconcilerFailed(..)) => {} // error_policy logged it
                Err(controller::Error::ObjectNotFound(obj)) => {
                    tracing::debug!(object = %obj, "playbook deleted before its reconcile");
                }
                Err(error) => tracing::warn!(error = %error, "playbook watch failed"),
            }
            ready(())
        })
        .await;
}

fn forget_deleted(ctx: &Context, store: &Store<Playbook>, namespace: Option<&str>) {
    for id in prune(&ctx.catalog, store, namespace) {
        ctx.backoff.reset(&id.to_string());
        tracing::info!(playbook = %id, "playbook deleted; removed from the catalog");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::operator::catalog::Entry;
    use crate::operator::testing::UID;
    use crate::playbook::validate::validate;

    fn playbook(namespace: &str, name: &str) -> Playbook {
        let mut pb = Playbook::test();
        pb.metadata.namespace = Some(namespace.to_owned());
        pb.metadata.name = Some(name.to_owned());
        pb
    }

    fn listed(playbooks: &[(&str, &str)]) -> Store<Playbook> {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for (namespace, name) in playbooks {
            writer.apply_watcher_event(&watcher::Event::InitApply(playbook(namespace, name)));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        store
    }

    fn catalog_of(playbooks: &[(&str, &str)]) -> Catalog {
        let catalog = Catalog::default();
        for (namespace, name) in playbooks {
            let model = validate(&playbook(namespace, name)).expect("valid");
            catalog.upsert(Entry {
                playbook: Arc::new(model),
                uid: UID.to_owned(),
                generation: Some(3),
                paused: false,
            });
        }
        catalog
    }

    fn ids(catalog: &Catalog) -> Vec<String> {
        catalog
            .snapshot()
            .iter()
            .map(|e| e.playbook.id.to_string())
            .collect()
    }

    #[test]
    fn prune_drops_catalog_entries_the_store_no_longer_has() {
        let catalog = catalog_of(&[("shop", "checkout"), ("shop", "cart"), ("trading", "surge")]);
        let store = listed(&[("shop", "checkout"), ("trading", "surge")]);

        let gone = prune(&catalog, &store, None);

        assert_eq!(
            gone.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["shop/cart"]
        );
        assert_eq!(ids(&catalog), ["shop/checkout", "trading/surge"]);
    }

    #[test]
    fn prune_in_a_namespace_leaves_other_namespaces_alone() {
        // One watch per namespace: the `shop` store knows nothing of `trading`.
        let catalog = catalog_of(&[("shop", "checkout"), ("shop", "cart"), ("trading", "surge")]);
        let shop = listed(&[("shop", "checkout")]);

        prune(&catalog, &shop, Some("shop"));

        assert_eq!(ids(&catalog), ["shop/checkout", "trading/surge"]);
    }
}
