//! The playbooks the operator evaluates, as the controller last validated them.
//! The controller writes it; the evaluator reads a snapshot each cycle.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::playbook::PlaybookId;
use crate::playbook::model::Playbook;

/// Annotation on a Playbook that pauses its actions (evaluation continues).
pub const KILL_SWITCH_ANNOTATION: &str = "firebreak.dev/kill-switch";

/// One valid playbook and what the writers need to reference its resource.
#[derive(Clone, Debug)]
pub struct Entry {
    pub playbook: Arc<Playbook>,
    /// `metadata.uid`, for owner references of its Incidents.
    pub uid: String,
    pub generation: Option<i64>,
    /// The kill-switch annotation is set to `"true"`.
    pub paused: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog(Arc<RwLock<BTreeMap<PlaybookId, Entry>>>);

impl Catalog {
    pub fn upsert(&self, entry: Entry) {
        let id = entry.playbook.id.clone();
        self.write(|m| {
            m.insert(id, entry);
        });
    }

    /// Forget a playbook: deleted, or no longer valid.
    pub fn remove(&self, id: &PlaybookId) {
        self.write(|m| {
            m.remove(id);
        });
    }

    pub fn snapshot(&self) -> Vec<Entry> {
        // A poisoned lock only means a writer panicked mid-insert; the map is still usable.
        let guard = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.values().cloned().collect()
    }

    pub fn get(&self, id: &PlaybookId) -> Option<Entry> {
        let guard = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.get(id).cloned()
    }

    fn write(&self, f: impl FnOnce(&mut BTreeMap<PlaybookId, Entry>)) {
        let mut guard = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard);
    }
}
