//! A compact in-memory index of watched workloads: per namespace, each name and
//! its labels, which is all target selection reads. A kube reflector would keep
//! every object's whole `ObjectMeta` (uid, resourceVersion, timestamps, owner
//! references, annotations and the often larger `managedFields`) behind an
//! `ObjectRef` key (README, Performance: the operator's RSS at 10,000 Deployments).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use kube::ResourceExt;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

/// Labels sorted by key, boxed: no spare capacity, no tree nodes.
type Labels = Box<[(Box<str>, Box<str>)]>;
/// Namespace → name → labels.
type Objects = HashMap<Box<str>, BTreeMap<Box<str>, Labels>>;

#[derive(Default)]
struct State {
    objects: Objects,
    /// Filled between `Init` and `InitDone`, then swapped in whole, so that a
    /// relist never shows a half-listed scope.
    relisting: Option<Objects>,
}

/// The index of one watched scope; clones share it.
#[derive(Clone)]
pub struct Index {
    state: Arc<RwLock<State>>,
    ready: watch::Sender<bool>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            state: Arc::default(),
            ready: watch::Sender::new(false),
        }
    }
}

impl Index {
    /// Apply one watcher event, as a reflector's writer would.
    pub fn apply<K: ResourceExt>(&self, event: &Event<K>) {
        // A poisoned lock only means a reader panicked; the data is whole.
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Apply(o) => insert(&mut s.objects, o),
            Event::Delete(o) => {
                if let Some(names) = s
                    .objects
                    .get_mut(o.namespace().unwrap_or_default().as_str())
                {
                    names.remove(o.name_any().as_str());
                }
            }
            Event::Init => s.relisting = Some(Objects::new()),
            Event::InitApply(o) => {
                if let Some(buf) = s.relisting.as_mut() {
                    insert(buf, o);
                }
            }
            Event::InitDone => {
                if let Some(buf) = s.relisting.take() {
                    s.objects = buf;
                }
                drop(s);
                self.ready.send_replace(true);
            }
        }
    }

    /// Wait until the first list is complete.
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Names in `namespace` whose labels include every pair of `want`, sorted.
    pub fn select(&self, namespace: &str, want: &BTreeMap<String, String>) -> Vec<String> {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.objects.get(namespace).map_or_else(Vec::new, |names| {
            names
                .iter()
                .filter(|(_, labels)| matches(labels, want))
                .map(|(name, _)| name.to_string())
                .collect()
        })
    }
}

fn insert<K: ResourceExt>(objects: &mut Objects, o: &K) {
    // A BTreeMap iterates in key order: sorted, as `matches` needs.
    let labels: Labels = o
        .labels()
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let ns: Box<str> = o.namespace().unwrap_or_default().into();
    objects
        .entry(ns)
        .or_default()
        .insert(o.name_any().into(), labels);
}

fn matches(labels: &[(Box<str>, Box<str>)], want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| {
        labels
            .binary_search_by(|(lk, _)| (**lk).cmp(k.as_str()))
            .is_ok_and(|i| *labels[i].1 == **v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::core::PartialObjectMeta;

    fn meta(ns: &str, name: &str, labels: &[(&str, &str)]) -> Meta {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": name, "namespace": ns, "labels": labels}
        }))
        .expect("metadata")
    }

    type Meta = PartialObjectMeta<Deployment>;

    fn want(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn selects_by_namespace_and_every_wanted_label() {
        let idx = Index::default();
        idx.apply(&Event::<Meta>::Init);
        for (ns, name, app) in [("a", "web", "web"), ("a", "db", "db"), ("b", "web", "web")] {
            idx.apply(&Event::InitApply(meta(
                ns,
                name,
                &[("app", app), ("tier", "x")],
            )));
        }
        idx.apply(&Event::<Meta>::InitDone);
        assert_eq!(idx.select("a", &want(&[("app", "web")])), ["web"]);
        assert_eq!(idx.select("a", &BTreeMap::new()), ["db", "web"]);
        assert!(
            idx.select("a", &want(&[("app", "web"), ("tier", "y")]))
                .is_empty()
        );
        assert!(idx.select("a", &want(&[("zone", "x")])).is_empty());
        assert_eq!(idx.select("b", &BTreeMap::new()), ["web"]);
        assert!(idx.select("c", &BTreeMap::new()).is_empty());
    }

    #[test]
    fn applies_and_deletes_and_a_relist_replaces_the_whole_scope() {
        let idx = Index::default();
        idx.apply(&Event::Apply(meta("a", "web", &[("app", "web")])));
        idx.apply(&Event::Apply(meta("a", "web", &[("app", "other")])));
        assert!(idx.select("a", &want(&[("app", "web")])).is_empty());
        idx.apply(&Event::Apply(meta("a", "db", &[])));
        idx.apply(&Event::Delete(meta("a", "web", &[])));
        assert_eq!(idx.select("a", &BTreeMap::new()), ["db"]);
        // Mid-relist the old view stays whole; `InitDone` swaps in the new one.
        idx.apply(&Event::<Meta>::Init);
        idx.apply(&Event::InitApply(meta("a", "cache", &[])));
        assert_eq!(idx.select("a", &BTreeMap::new()), ["db"]);
        idx.apply(&Event::<Meta>::InitDone);
        assert_eq!(idx.select("a", &BTreeMap::new()), ["cache"]);
    }

    #[tokio::test]
    async fn ready_after_the_first_complete_list() {
        let idx = Index::default();
        let waiting = tokio::spawn({
            let idx = idx.clone();
            async move { idx.ready().await }
        });
        idx.apply(&Event::<Meta>::Init);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        idx.apply(&Event::<Meta>::InitDone);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("ready")
            .expect("task");
    }
}
