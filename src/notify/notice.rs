//! Notices: the incident lifecycle steps that leave Firebreak (Kafka events,
//! Slack messages), built from the engine's timeline. One notice is
//! self-contained: a subscriber needs nothing else to act on it.

use std::collections::HashMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::detect::Level;
use crate::engine::{Event, EventKind};
use crate::incident::{Incident, IncidentId, Operation, Phase, StepState};
use crate::playbook::model::Playbook;
use crate::severity::Severity;

/// Version of the notice payload; bumped on any incompatible change
/// (`schemas/incident-event.v1.json`).
pub const SCHEMA_VERSION: u32 = 1;

/// What happened to the incident; the CloudEvents `type` is
/// `dev.firebreak.incident.<kind>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NoticeKind {
    Opened,
    Escalated,
    Deescalated,
    /// Applied, or recorded in dry-run (`action.dryRun`).
    #[serde(rename = "action.applied")]
    ActionApplied,
    /// An apply or a revert failed (`action.operation`).
    #[serde(rename = "action.failed")]
    ActionFailed,
    #[serde(rename = "action.reverted")]
    ActionReverted,
    Mitigated,
    Resolved,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 8] = [
        NoticeKind::Opened,
        NoticeKind::Escalated,
        NoticeKind::Deescalated,
        NoticeKind::ActionApplied,
        NoticeKind::ActionFailed,
        NoticeKind::ActionReverted,
        NoticeKind::Mitigated,
        NoticeKind::Resolved,
    ];

    /// The CloudEvents `type` suffix after `dev.firebreak.incident.`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Opened => "opened",
            NoticeKind::Escalated => "escalated",
            NoticeKind::Deescalated => "deescalated",
            NoticeKind::ActionApplied => "action.applied",
            NoticeKind::ActionFailed => "action.failed",
            NoticeKind::ActionReverted => "action.reverted",
            NoticeKind::Mitigated => "mitigated",
            NoticeKind::Resolved => "resolved",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

/// The workload the incident is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkloadRef {
    pub namespace: String,
    /// `Deployment` or `Rollout`.
    pub kind: String,
    pub name: String,
}

/// A detector's latest reading for the target, against the threshold it crossed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoticeReading {
    pub detector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The threshold of the severity it holds (or last left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The severity it holds; none when below every threshold or without data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Why there is no value, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data: Option<String>,
    pub at: Timestamp,
}

/// The action an `action.*` notice is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoticeAction {
    /// Idempotency key of the step.
    pub key: String,
    /// `rateLimit`, `circuitBreaker`, `rollback`, `diagnostics`, `notify`, …
    pub action: String,
    pub operation: Operation,
    /// The severity whose action list the step comes from.
    pub severity: Severity,
    pub dry_run: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it did, e.g. "restored revision 7", or where diagnostics were stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Extra text from a `notify` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One incident lifecycle step, as published (the `data` of a Firebreak CloudEvent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub schema_version: u32,
    /// Unique and deterministic: the same step gives the same id after a retry
    /// or a restart, so subscribers can deduplicate on it.
    pub id: String,
    pub kind: NoticeKind,
    pub at: Timestamp,
    pub incident: String,
    pub playbook: ObjectRef,
    pub target: WorkloadRef,
    /// The incident's severity after this step.
    pub severity: Severity,
    /// The severity before, for escalations and de-escalations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
    /// `open`, `mitigated` or `resolved`.
    #[schemars(extend("enum" = ["open", "mitigated", "resolved"]))]
    pub phase: String,
    pub opened_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// Each detector's latest reading for the target.
    pub readings: Vec<NoticeReading>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<NoticeAction>,
}

impl Notice {
    /// `namespace/workload`: the CloudEvents `subject`.
    pub fn subject(&self) -> String {
        format!("{}/{}", self.target.namespace, self.target.name)
    }
}

/// Turns engine events into notices; remembers each target's latest readings,
/// which arrive in earlier cycles than the steps they explain.
#[derive(Debug, Default)]
pub struct Notices {
    readings: HashMap<(String, String), Vec<NoticeReading>>,
}

impl Notices {
    /// Start from readings a previous process recorded (a continued incident).
    pub fn seed(&mut self, pb: &Playbook, target: &str, readings: Vec<NoticeReading>) {
        self.readings
            .insert((pb.id.to_string(), target.to_owned()), readings);
    }

    /// The notices for `events` of `pb`; `record` finds an incident by target and id
    /// (open, or resolved this cycle).
    pub fn build<'a>(
        &mut self,
        pb: &Playbook,
        events: &[Event],
        record: impl Fn(&str, &IncidentId) -> Option<&'a Incident>,
    ) -> Vec<Notice> {
        let mut out = Vec::new();
        for e in events {
            let key = (pb.id.to_string(), e.target.name.clone());
            if let EventKind::DetectorChanged {
                detector,
                to,
                value,
                threshold,
                ..
            } = &e.kind
            {
                let readings = self.readings.entry(key.clone()).or_default();
                update_reading(readings, detector, to, *value, *threshold, e.at);
                continue;
            }
            let Some(id) = &e.incident else { continue };
            let Some(inc) = record(&e.target.name, id) else {
                tracing::warn!(incident = %id, "no record for a notice; skipped");
                continue;
            };
            let readings = self.readings.get(&key).cloned().unwrap_or_default();
            if let Some(n) = notice(pb, e, inc, readings) {
                out.push(n);
            }
            if matches!(e.kind, EventKind::IncidentResolved { .. }) {
                self.readings.remove(&key);
            }
        }
        out
    }
}

fn update_reading(
    readings: &mut Vec<NoticeReading>,
    detector: &str,
    to: &Level,
    value: Option<f64>,
    threshold: Option<f64>,
    at: Timestamp,
) {
    let reading = NoticeReading {
        detector: detector.to_owned(),
        value,
        threshold,
        severity: match to {
            Level::Firing { severity } => Some(*severity),
            _ => None,
        },
        no_data: match to {
            Level::NoData { missing } => Some(missing.reason().to_owned()),
            _ => None,
        },
        at,
    };
    match readings.iter_mut().find(|r| r.detector == detector) {
        Some(r) => *r = reading,
        None => readings.push(reading),
    }
}

fn phase_str(p: Phase) -> &'static str {
    match p {
        Phase::Open => "open",
        Phase::Mitigated => "mitigated",
        Phase::Resolved => "resolved",
    }
}

/// The notice for one event, or none for events subscribers don't see (holds, issues).
fn notice(
    pb: &Playbook,
    e: &Event,
    inc: &Incident,
    readings: Vec<NoticeReading>,
) -> Option<Notice> {
    let ms = e.at.as_millisecond();
    let mut severity = inc.severity;
    let mut previous = None;
    let mut phase = inc.phase;
    let mut duration = None;
    let mut action = None;
    let (kind, discriminator) = match &e.kind {
        EventKind::IncidentOpened { severity: s } => {
            severity = *s;
            phase = Phase::Open;
            (NoticeKind::Opened, String::new())
        }
        EventKind::IncidentEscalated { from, to, .. } => {
            (severity, previous) = (*to, Some(*from));
            (NoticeKind::Escalated, format!("/{to}/{ms}"))
        }
        EventKind::IncidentDeescalated { from, to } => {
            (severity, previous) = (*to, Some(*from));
            (NoticeKind::Deescalated, format!("/{to}/{ms}"))
        }
        EventKind::IncidentMitigated => {
            phase = Phase::Mitigated;
            (NoticeKind::Mitigated, format!("/{ms}"))
        }
        EventKind::IncidentResolved { duration_seconds } => {
            phase = Phase::Resolved;
            duration = Some(*duration_seconds);
            (NoticeKind::Resolved, String::new())
        }
        EventKind::ActionFinished {
            key,
            operation,
            outcome,
        } => {
            let step = inc
                .steps
                .iter()
                .find(|s| s.key == *key || s.key.revert() == *key);
            let (kind, dry_run, error) = match (operation, outcome) {
                (_, StepState::Failed { reason }) => {
                    (NoticeKind::ActionFailed, false, Some(reason.clone()))
                }
                (Operation::Apply, StepState::Done { dry_run }) => {
                    (NoticeKind::ActionApplied, *dry_run, None)
                }
                (Operation::Revert, StepState::Done { dry_run }) => {
                    (NoticeKind::ActionReverted, *dry_run, None)
                }
                _ => return None,
            };
            action = Some(NoticeAction {
                key: key.0.clone(),
                action: key.kind().to_owned(),
                operation: *operation,
                severity: step.map_or(inc.severity, |s| s.severity),
                dry_run,
                error,
                note: step.and_then(|s| s.note.clone()),
                message: step.and_then(|s| match &s.action.kind {
                    crate::playbook::model::ActionKind::Notify { message } => message.clone(),
                    _ => None,
                }),
            });
            // The key without the incident prefix; a failure carries its time, as a
            // failed step may be tried again.
            let step_key = key.0.strip_prefix(inc.id.0.as_str()).unwrap_or(&key.0);
            let discriminator = match kind {
                NoticeKind::ActionFailed => format!("{step_key}/{ms}"),
                _ => step_key.to_owned(),
            };
            (kind, discriminator)
        }
        // An attempt that will be retried is not a failure yet: only the last one
        // (an `ActionFinished` with a failed outcome) is `action.failed`. Drift is
        // in the timeline; a re-apply it causes finishes like any apply.
        EventKind::ActionRetrying { .. } | EventKind::MitigationDrifted { .. } => return None,
        _ => return None,
    };
    Some(Notice {
        schema_version: SCHEMA_VERSION,
        id: format!("{}/{}{discriminator}", inc.id, kind.as_str()),
        kind,
        at: e.at,
        incident: inc.id.0.clone(),
        playbook: ObjectRef {
            namespace: pb.id.namespace.clone(),
            name: pb.id.name.clone(),
        },
        target: WorkloadRef {
            namespace: e.target.namespace.clone(),
            kind: pb.target.kind.as_str().to_owned(),
            name: e.target.name.clone(),
        },
        severity,
        previous_severity: previous,
        phase: phase_str(phase).to_owned(),
        opened_at: inc.opened_at,
        duration_seconds: duration,
        readings,
        action,
    })
}

/// A notice for tests: `<incident>/n<n>` as its id.
#[cfg(test)]
pub fn sample(incident: &str, severity: Severity, n: u64) -> Notice {
    Notice {
        schema_version: SCHEMA_VERSION,
        id: format!("{incident}/n{n}"),
        kind: NoticeKind::Opened,
        at: Timestamp::UNIX_EPOCH,
        incident: incident.to_owned(),
        playbook: ObjectRef {
            namespace: "shop".into(),
            name: "pb".into(),
        },
        target: WorkloadRef {
            namespace: "shop".into(),
            kind: "Deployment".into(),
            name: "api".into(),
        },
        severity,
        previous_severity: None,
        phase: "open".into(),
        opened_at: Timestamp::UNIX_EPOCH,
        duration_seconds: None,
        readings: Vec::new(),
        action: None,
    }
}

/// The JSON Schema of the notice payload, as checked in under `schemas/`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Notice).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            serde_json::Value::String(crate::notify::kafka::cloudevent::DATA_SCHEMA.into()),
        );
    }
    schema
}

#[cfg(test)]
#[path = "notice_tests.rs"]
mod tests;
