//! Kubernetes Events for incident lifecycle, so that `kubectl describe` of the
//! Playbook and of the target workload shows what Firebreak saw. Each opening,
//! escalation, de-escalation, mitigation and resolution is published on both objects, with
//! the Incident as `related`. Publishing is best effort: failures are logged and
//! counted, never returned.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tracing::{debug, instrument, warn};

use super::catalog::Entry;
use crate::detect::Level;
use crate::engine::{Event, EventKind};
use crate::incident::resource::Incident as IncidentResource;
use crate::playbook::TargetRef;
use crate::playbook::spec::{Playbook as PlaybookResource, WorkloadKind};
use crate::severity::Severity;

/// `reportingController` of every Event.
pub const REPORTING_CONTROLLER: &str = "firebreak";

/// events.k8s.io/v1 rejects a `note` longer than 1 kB.
const NOTE_LIMIT: usize = 1024;

/// What failed while publishing; never fatal, counted by [`EventError::metric_label`].
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("looking up {kind} {workload} for its uid: {source}")]
    Lookup {
        kind: &'static str,
        workload: String,
        source: kube::Error,
    },
    #[error("publishing {reason} on {regarding}: {source}")]
    Publish {
        reason: &'static str,
        regarding: String,
        source: kube::Error,
    },
}

impl EventError {
    /// Short label for failure metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            EventError::Lookup { .. } => "lookup",
            EventError::Publish { .. } => "publish",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventFailureLabels {
    /// An [`EventError::metric_label`].
    pub kind: String,
}

/// One lifecycle transition as an Event: everything but the objects it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

/// The Event for an engine event, if it is a lifecycle transition. Opening or
/// escalating to high or critical is a Warning: it is what someone should look at.
pub fn transition(event: &Event, readings: &str) -> Option<Transition> {
    let incident = event.incident.as_ref()?;
    let warn_at = |s: Severity| {
        if s >= Severity::High {
            EventType::Warning
        } else {
            EventType::Normal
        }
    };
    let with_readings = |note: String| {
        if readings.is_empty() {
            note
        } else {
            format!("{note}; {readings}")
        }
    };
    let (type_, reason, action, note) = match &event.kind {
        EventKind::IncidentOpened { severity } => (
            warn_at(*severity),
            "IncidentOpened",
            "Detect",
            with_readings(format!("Incident {incident} opened at {severity}")),
        ),
        EventKind::IncidentEscalated { from, to, cause } => (
            warn_at(*to),
            "IncidentEscalated",
            "Detect",
            with_readings(format!(
                "Incident {incident} escalated from {from} to {to} ({})",
                match cause {
                    crate::engine::EscalationCause::Detectors => "detectors",
                    crate::engine::EscalationCause::Unresolved => "unresolved too long",
                }
            )),
        ),
        EventKind::IncidentDeescalated { from, to } => (
            EventType::Normal,
            "IncidentDeescalated",
            "Detect",
            with_readings(format!(
                "Incident {incident} de-escalated from {from} to {to}"
            )),
        ),
        EventKind::IncidentMitigated => (
            EventType::Normal,
            "IncidentMitigated",
            "Mitigate",
            format!("Incident {incident} mitigated: every step of its plan is done"),
        ),
        EventKind::IncidentResolved { duration_seconds } => (
            EventType::Normal,
            "IncidentResolved",
            "Resolve",
            with_readings(format!(
                "Incident {incident} resolved after {:#}",
                jiff::SignedDuration::from_secs(*duration_seconds)
            )),
        ),
        EventKind::MitigationDrifted {
            key,
            detail,
            response,
        } => (
            EventType::Warning,
            "MitigationDrifted",
            "Mitigate",
            format!(
                "Incident {incident}: {} changed by someone else: {detail}; {response}",
                key.kind()
            ),
        ),
        _ => return None,
    };
    Some(Transition {
        type_,
        reason,
        action,
        note: truncate(note, NOTE_LIMIT),
    })
}

/// The detector readings of this cycle for the event's target, e.g.
/// `memory-pressure=0.962 (critical, threshold 0.95)`. Readings that opened an
/// incident carry no incident id yet, so they are matched by target and time.
pub fn readings_of(event: &Event, events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| {
            e.at == event.at
                && e.playbook == event.playbook
                && e.target == event.target
                && (e.incident.is_none() || e.incident == event.incident)
        })
        .filter_map(|e| match &e.kind {
            EventKind::DetectorChanged {
                detector,
                to,
                value,
                threshold,
                ..
            } => {
                let mut s = match value {
                    Some(v) => format!("{detector}={} ({to}", number(*v)),
                    None => format!("{detector} ({to}"),
                };
                if let (Level::Firing { .. }, Some(t)) = (to, threshold) {
                    s.push_str(&format!(", threshold {}", number(*t)));
                }
                s.push(')');
                Some(s)
            }
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Three decimals at most, without trailing zeros: readable, and enough for thresholds.
fn number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

fn truncate(mut s: String, limit: usize) -> String {
    if s.len() > limit {
        let mut end = limit - '…'.len_utf8();
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Publishes lifecycle Events; one per operator, used by the leader only.
pub struct IncidentEvents {
    client: Client,
    reporter: Reporter,
    /// Workload uids: `kubectl describe` finds Events by the object's uid.
    uids: HashMap<(WorkloadKind, TargetRef), String>,
    failures: Family<EventFailureLabels, Counter>,
}

impl IncidentEvents {
    /// `instance` is the pod name (`reportingInstance`).
    pub fn new(client: Client, instance: impl Into<String>) -> Self {
        IncidentEvents {
            client,
            reporter: Reporter {
                controller: REPORTING_CONTROLLER.to_owned(),
                instance: Some(instance.into()),
            },
            uids: HashMap::new(),
            failures: Family::default(),
        }
    }

    /// Failures by kind, for the metrics registry (`firebreak_event_failures`).
    pub fn failures(&self) -> &Family<EventFailureLabels, Counter> {
        &self.failures
    }

    /// Publish an Event on the Playbook and on the workload for each lifecycle
    /// transition of `entry`'s incidents among this cycle's `events`.
    pub async fn publish(&mut self, entry: &Entry, events: &[Event]) {
        for event in events.iter().filter(|e| e.playbook == entry.playbook.id) {
            let Some(t) = transition(event, &readings_of(event, events)) else {
                continue;
            };
            self.publish_one(entry, event, &t).await;
            if matches!(event.kind, EventKind::IncidentResolved { .. }) {
                // A workload replaced meanwhile has a new uid; look it up afresh next time.
                self.uids
                    .remove(&(entry.playbook.target.kind, event.target.clone()));
            }
        }
    }

    #[instrument(skip_all, fields(playbook = %entry.playbook.id, target = %event.target, incident = ?event.incident.as_ref().map(|i| &i.0), reason = t.reason))]
    async fn publish_one(&mut self, entry: &Entry, event: &Event, t: &Transition) {
        let workload = self
            .workload_ref(entry.playbook.target.kind, &event.target)
            .await;
        let related = event.incident.as_ref().map(|id| ObjectReference {
            api_version: Some(IncidentResource::api_version(&()).into_owned()),
            kind: Some(IncidentResource::kind(&()).into_owned()),
            namespace: Some(event.target.namespace.clone()),
            name: Some(id.0.clone()),
            ..ObjectReference::default()
        });
        let kube_event = KubeEvent {
            type_: t.type_,
            reason: t.reason.to_owned(),
            note: Some(t.note.clone()),
            action: t.action.to_owned(),
            secondary: related,
        };
        // A recorder per transition: kube's Recorder folds Events with the same
        // reason and objects within minutes into a series that keeps the first
        // note, which would hide a second escalation's severity.
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        for regarding in [playbook_ref(entry), workload] {
            let result = recorder.publish(&kube_event, &regarding).await;
            if let Err(source) = result {
                self.failed(EventError::Publish {
                    reason: t.reason,
                    regarding: format!(
                        "{} {}",
                        regarding.kind.as_deref().unwrap_or_default(),
                        regarding.name.as_deref().unwrap_or_default()
                    ),
                    source,
                });
            }
        }
        debug!("published incident events");
    }

    /// The workload's reference, with its uid when it can be read.
    async fn workload_ref(&mut self, kind: WorkloadKind, target: &TargetRef) -> ObjectReference {
        let resource = workload_resource(kind);
        let key = (kind, target.clone());
        if !self.uids.contains_key(&key) {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), &target.namespace, &resource);
            match api.get_metadata(&target.name).await {
                Ok(meta) => {
                    if let Some(uid) = meta.metadata.uid {
                        self.uids.insert(key.clone(), uid);
                    }
                }
                // Still worth publishing: `kubectl get events` shows it by name.
                Err(source) => self.failed(EventError::Lookup {
                    kind: kind.as_str(),
                    workload: target.to_string(),
                    source,
                }),
            }
        }
        ObjectReference {
            api_version: Some(resource.api_version),
            kind: Some(resource.kind),
            namespace: Some(target.namespace.clone()),
            name: Some(target.name.clone()),
            uid: self.uids.get(&key).cloned(),
            ..ObjectReference::default()
        }
    }

    fn failed(&self, error: EventError) {
        warn!(error = %error, "incident event not published");
        self.failures
            .get_or_create(&EventFailureLabels {
                kind: error.metric_label().to_owned(),
            })
            .inc();
    }
}

fn playbook_ref(entry: &Entry) -> ObjectReference {
    ObjectReference {
        api_version: Some(PlaybookResource::api_version(&()).into_owned()),
        kind: Some(PlaybookResource::kind(&()).into_owned()),
        namespace: Some(entry.playbook.id.namespace.clone()),
        name: Some(entry.playbook.id.name.clone()),
        uid: Some(entry.uid.clone()),
        ..ObjectReference::default()
    }
}

/// Deployments (apps/v1) or Argo Rollouts (argoproj.io/v1alpha1).
fn workload_resource(kind: WorkloadKind) -> ApiResource {
    match kind {
        WorkloadKind::Deployment => ApiResource::erase::<Deployment>(&()),
        WorkloadKind::Rollout => ApiResource {
            group: "argoproj.io".to_owned(),
            version: "v1alpha1".to_owned(),
            api_version: "argoproj.io/v1alpha1".to_owned(),
            kind: "Rollout".to_owned(),
            plural: "rollouts".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests;
