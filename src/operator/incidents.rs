//! Keeps each `Incident` resource in step with the engine's record of it.
//!
//! The first sync of an incident creates its resource, owned by the Playbook so
//! that deleting the Playbook garbage-collects its Incidents; a resource that
//! already exists (a new leader) is adopted. Status goes to the `/status`
//! subresource with a PUT carrying the last seen `resourceVersion`: others write
//! `slack` and `eventsPublished` into the same status, so on a 409 the status is
//! recomputed from the latest object (keeping their fields) and written again.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Error as KubeError, Resource};
use tracing::{debug, info, instrument, warn};

use super::catalog::Entry;
use crate::engine::{Event, EventKind};
use crate::incident::persist::{spec_of, status_of, timeline_entry};
use crate::incident::resource::{
    Incident as IncidentResource, IncidentSpec, IncidentStatus, TIMELINE_LIMIT,
};
use crate::incident::{Incident, IncidentId, Phase};
use crate::notify::Notice;
use crate::playbook::spec::Playbook as PlaybookResource;

mod listing;

pub use listing::open_incidents;

/// `fieldManager` of our writes, as shown in `managedFields`.
pub const FIELD_MANAGER: &str = "firebreak";
/// Label with the Playbook's name, for `kubectl get incidents -l`.
pub const PLAYBOOK_LABEL: &str = "firebreak.dev/playbook";
/// Label with the target workload's name.
pub const TARGET_LABEL: &str = "firebreak.dev/target";

/// What failed while writing an Incident; the caller logs it and syncs again next cycle.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("creating incident {incident}: {source}")]
    Create { incident: String, source: KubeError },
    #[error("reading incident {incident}: {source}")]
    Get { incident: String, source: KubeError },
    #[error("writing the status of incident {incident}: {source}")]
    Status { incident: String, source: KubeError },
    #[error(
        "writing the status of incident {incident}: still conflicting after {attempts} attempts"
    )]
    Conflict { incident: String, attempts: u32 },
    /// Deleted behind our back; the next sync creates it again.
    #[error("incident {incident} no longer exists")]
    Gone { incident: String },
    #[error("incident {incident} came back without a resourceVersion")]
    NoResourceVersion { incident: String },
    #[error("listing incidents in {scope}: {source}")]
    List { scope: String, source: KubeError },
}

impl WriteError {
    /// Short label for failure metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            WriteError::Create { .. } => "create",
            WriteError::Get { .. } => "get",
            WriteError::Status { .. } => "status",
            WriteError::Conflict { .. } => "conflict",
            WriteError::Gone { .. } => "gone",
            WriteError::NoResourceVersion { .. } => "no_resource_version",
            WriteError::List { .. } => "list",
        }
    }
}

/// How often a conflicting status write is retried within one sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Status writes per sync, the first included.
    pub attempts: u32,
    /// Wait before the first re-read; doubles after each conflict.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five writes within about 1.5 s, well inside an evaluation interval
    /// (client-go's `retry.DefaultRetry` also makes five).
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(100),
        }
    }
}

/// The resource as last seen on the server.
#[derive(Debug)]
struct Stored {
    resource_version: String,
    /// The owner of what an incident's actions create (diagnostics ConfigMaps).
    uid: Option<String>,
    spec: IncidentSpec,
    status: IncidentStatus,
}

impl Stored {
    fn from_object(incident: &IncidentId, obj: IncidentResource) -> Result<Self, WriteError> {
        let resource_version =
            obj.metadata
                .resource_version
                .ok_or_else(|| WriteError::NoResourceVersion {
                    incident: incident.0.clone(),
                })?;
        Ok(Stored {
            resource_version,
            uid: obj.metadata.uid,
            spec: obj.spec,
            status: obj.status.unwrap_or_default(),
        })
    }
}

#[derive(Debug, Default)]
struct Tracked {
    /// `None` until created or adopted.
    stored: Option<Stored>,
    /// This incident's events not yet in a written status: kept across failed
    /// syncs so that a failed write does not lose timeline entries.
    pending: Vec<Event>,
}

/// Writes `Incident` resources; one per operator, used by the leader only.
pub struct IncidentWriter {
    client: Client,
    retry: RetryPolicy,
    tracked: HashMap<IncidentId, Tracked>,
}

impl IncidentWriter {
    pub fn new(client: Client) -> Self {
        IncidentWriter {
            client,
            retry: RetryPolicy::default(),
            tracked: HashMap::new(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether the writer holds state for `id` (not yet finished, or not yet written).
    pub fn is_tracked(&self, id: &IncidentId) -> bool {
        self.tracked.contains_key(id)
    }

    /// Drop what is held for `id`, e.g. when its Playbook was deleted.
    pub fn forget(&mut self, id: &IncidentId) {
        self.tracked.remove(id);
    }

    /// Bring the resource of `incident` up to date with the record and this
    /// cycle's `events` (those of other incidents are ignored). Creates or adopts
    /// it on first sight; sends nothing when the status has not changed; forgets
    /// the incident after the write that finishes it (resolved, reverts done).
    /// Returns the resource's uid (`None` only if the server sent none).
    #[instrument(skip_all, fields(playbook = %entry.playbook.id, target = %incident.target, incident = %incident.id))]
    pub async fn sync(
        &mut self,
        entry: &Entry,
        incident: &Incident,
        events: &[Event],
        notices: &[Notice],
    ) -> Result<Option<String>, WriteError> {
        let tracked = self.tracked.entry(incident.id.clone()).or_default();
        tracked.pending.extend(own_events(incident, events));
        // Timeline entries beyond the limit would be trimmed from the status anyway.
        let excess = tracked.pending.len().saturating_sub(TIMELINE_LIMIT);
        tracked.pending.drain(..excess);

        let api: Api<IncidentResource> =
            Api::namespaced(self.client.clone(), &incident.playbook.namespace);
        let mut stored = match tracked.stored.take() {
            Some(stored) => stored,
            None => create_or_adopt(&api, entry, incident).await?,
        };
        let notices: Vec<Notice> = notices
            .iter()
            .filter(|n| n.incident == incident.id.0)
            .cloned()
            .collect();
        let written = write_status(
            &api,
            self.retry,
            incident,
            (&tracked.pending, &notices),
            &mut stored,
        )
        .await
        .map(|()| stored.uid.clone());
        match &written {
            Ok(_) => {
                tracked.pending.clear();
                if is_finished(incident) {
                    debug!("incident finished; forgetting it");
                    self.tracked.remove(&incident.id);
                    return written;
                }
            }
            Err(WriteError::Gone { .. }) => return written,
            Err(_) => {}
        }
        tracked.stored = Some(stored);
        written
    }

    /// Every sink has the notices written with the last change of `incident`
    /// (in `namespace`): clear them from its status, so that a restart does not
    /// publish them again. A failure only means they may be published twice.
    pub async fn clear_pending(&mut self, namespace: &str, incident: &str) {
        let api: Api<IncidentResource> = Api::namespaced(self.client.clone(), namespace);
        let patch = serde_json::json!({"status": {"pendingNotices": null}});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match api
            .patch_status(incident, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(written) => {
                let tracked = self.tracked.get_mut(&IncidentId(incident.to_owned()));
                if let Some(stored) = tracked.and_then(|t| t.stored.as_mut()) {
                    stored.status.pending_notices.clear();
                    if let Some(rv) = written.metadata.resource_version {
                        stored.resource_version = rv;
                    }
                }
            }
            Err(e) => {
                warn!(incident, error = %e, "clearing published notices failed; a restart may publish them again");
            }
        }
    }
}

/// The events that belong in this incident's status. The detector readings that
/// opened it come in the same cycle without an incident id (the detectors change
/// before the incident exists); they are its first readings, and a new leader
/// needs them to restore the detectors' held severities.
fn own_events(incident: &Incident, events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter_map(|e| {
            if e.incident.as_ref() == Some(&incident.id) {
                return Some(e.clone());
            }
            let opening_reading = e.incident.is_none()
                && matches!(e.kind, EventKind::DetectorChanged { .. })
                && e.at == incident.opened_at
                && e.playbook == incident.playbook
                && e.target == incident.target;
            opening_reading.then(|| Event {
                incident: Some(incident.id.clone()),
                ..e.clone()
            })
        })
        .collect()
}

/// Resolved, with no revert left to record.
fn is_finished(incident: &Incident) -> bool {
    incident.phase == Phase::Resolved && !incident.reverts_outstanding()
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    }
}

async fn create_or_adopt(
    api: &Api<IncidentResource>,
    entry: &Entry,
    incident: &Incident,
) -> Result<Stored, WriteError> {
    let name = &incident.id.0;
    let object = IncidentResource {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(incident.playbook.namespace.clone()),
            labels: Some(labels(incident)),
            owner_references: Some(vec![owner(entry)]),
            ..ObjectMeta::default()
        },
        spec: spec_of(incident, &entry.playbook),
        status: None,
    };
    match api.create(&post_params(), &object).await {
        Ok(created) => {
            info!("created incident resource");
            Stored::from_object(&incident.id, created)
        }
        // Another leader created it before us: continue its record.
        Err(KubeError::Api(s)) if s.is_already_exists() => {
            info!("incident resource exists; adopting it");
            let existing = api.get(name).await.map_err(|source| WriteError::Get {
                incident: name.clone(),
                source,
            })?;
            Stored::from_object(&incident.id, existing)
        }
        Err(source) => Err(WriteError::Create {
            incident: name.clone(),
            source,
        }),
    }
}

/// Write the status after `pending` events, with this change's `notices` (the
/// status outbox: see `IncidentStatus::pending_notices`).
async fn write_status(
    api: &Api<IncidentResource>,
    retry: RetryPolicy,
    incident: &Incident,
    (pending, notices): (&[Event], &[Notice]),
    stored: &mut Stored,
) -> Result<(), WriteError> {
    let name = &incident.id.0;
    let mut backoff = retry.backoff;
    for attempt in 1..=retry.attempts.max(1) {
        let events = not_yet_recorded(pending, &stored.status);
        let mut status = status_of(incident, &stored.status, &events);
        if !notices.is_empty() {
            status.pending_notices = notices.to_vec();
        }
        if status == stored.status {
            return Ok(());
        }
        let object = IncidentResource {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(incident.playbook.namespace.clone()),
                resource_version: Some(stored.resource_version.clone()),
                ..ObjectMeta::default()
            },
            spec: stored.spec.clone(),
            status: Some(status),
        };
        match api.replace_status(name, &post_params(), &object).await {
            Ok(written) => {
                stored.resource_version = written.metadata.resource_version.ok_or_else(|| {
                    WriteError::NoResourceVersion {
                        incident: name.clone(),
                    }
                })?;
                // Keep what we sent rather than the echo, so that the next
                // comparison is against our own rendering of the status.
                stored.status = object.status.unwrap_or_default();
                debug!(attempt, resource_version = %stored.resource_version, "status written");
                return Ok(());
            }
            Err(KubeError::Api(s)) if s.code == 409 => {
                debug!(attempt, "status write conflicted; re-reading the incident");
                if attempt == retry.attempts {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
                let latest = api.get(name).await.map_err(|source| WriteError::Get {
                    incident: name.clone(),
                    source,
                })?;
                *stored = Stored::from_object(&incident.id, latest)?;
            }
            Err(KubeError::Api(s)) if s.code == 404 => {
                warn!("incident resource was deleted; it is created again next cycle");
                return Err(WriteError::Gone {
                    incident: name.clone(),
                });
            }
            Err(source) => {
                return Err(WriteError::Status {
                    incident: name.clone(),
                    source,
                });
            }
        }
    }
    Err(WriteError::Conflict {
        incident: name.clone(),
        attempts: retry.attempts,
    })
}

/// Events whose timeline entry the stored status does not have yet: after a
/// conflict the latest object may already hold them (a write whose response was lost).
fn not_yet_recorded(pending: &[Event], status: &IncidentStatus) -> Vec<Event> {
    pending
        .iter()
        .filter(|e| !status.timeline.contains(&timeline_entry(e)))
        .cloned()
        .collect()
}

fn labels(incident: &Incident) -> std::collections::BTreeMap<String, String> {
    [
        (PLAYBOOK_LABEL, &incident.playbook.name),
        (TARGET_LABEL, &incident.target.name),
    ]
    .into_iter()
    // Object names may be up to 253 characters, label values only 63: a longer
    // name goes without its label rather than failing the create.
    .filter(|(_, value)| value.len() <= 63)
    .map(|(key, value)| (key.to_owned(), value.clone()))
    .collect()
}

/// The Playbook as controlling owner: deleting it deletes its Incidents, and
/// foreground deletion of the Playbook waits for them.
fn owner(entry: &Entry) -> OwnerReference {
    OwnerReference {
        api_version: PlaybookResource::api_version(&()).into_owned(),
        kind: PlaybookResource::kind(&()).into_owned(),
        name: entry.playbook.id.name.clone(),
        uid: entry.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[cfg(test)]
mod tests;
