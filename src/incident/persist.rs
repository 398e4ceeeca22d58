//! Between the engine's incident record and the `Incident` resource: the status
//! written after each change, and the record a new leader restores from it.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::IdempotencyKey;
use super::record::{Incident, IncidentId, Phase, Step, StepState};
use super::resource::{
    IncidentPhase, IncidentSpec, IncidentStatus, IncidentTarget, Reading, RetryRecord, StepPhase,
    StepRecord, StepStatus, TIMELINE_LIMIT,
};
pub use super::timeline::timeline_entry;
use crate::engine::{Event, EventKind};
use crate::playbook::TargetRef;
use crate::playbook::model::Playbook;
use crate::severity::Severity;

/// Why an `Incident` resource cannot be continued.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RestoreError {
    #[error("incident {0} belongs to playbook {1}, not {2}")]
    OtherPlaybook(String, String, String),
    #[error("incident {incident}: step {key}: the playbook has no {severity} action #{index}")]
    MissingAction {
        incident: String,
        key: String,
        severity: Severity,
        index: u32,
    },
    #[error(
        "incident {incident}: step {key}: the playbook's {severity} action #{index} is now {now}, was {was}"
    )]
    ChangedAction {
        incident: String,
        key: String,
        severity: Severity,
        index: u32,
        was: String,
        now: String,
    },
}

/// The spec of a new incident's resource (written once, when it opens).
pub fn spec_of(inc: &Incident, pb: &Playbook) -> IncidentSpec {
    IncidentSpec {
        playbook: pb.id.name.clone(),
        target: IncidentTarget {
            kind: pb.target.kind,
            name: inc.target.name.clone(),
        },
        opened_at: Time(inc.opened_at),
        opened_severity: inc.severity,
    }
}

pub(super) fn step_status(s: &StepState) -> StepStatus {
    let (state, dry_run, reason) = match s {
        StepState::Pending => (StepPhase::Pending, None, None),
        StepState::Issued => (StepPhase::Issued, None, None),
        StepState::Done { dry_run } => (StepPhase::Done, Some(*dry_run), None),
        StepState::Failed { reason } => (StepPhase::Failed, None, Some(reason.clone())),
    };
    StepStatus {
        state,
        dry_run,
        reason,
    }
}

/// An action handed out before a restart but never confirmed is issued again under
/// the same idempotency key: applies are idempotent, so the worst case is a no-op.
fn step_state(s: &StepStatus) -> StepState {
    match s.state {
        StepPhase::Pending | StepPhase::Issued => StepState::Pending,
        StepPhase::Done => StepState::Done {
            dry_run: s.dry_run.unwrap_or(false),
        },
        StepPhase::Failed => StepState::Failed {
            reason: s.reason.clone().unwrap_or_default(),
        },
    }
}

/// The status after `events`, keeping the parts the engine does not own (Slack, Kafka).
pub fn status_of(inc: &Incident, previous: &IncidentStatus, events: &[Event]) -> IncidentStatus {
    let mut status = IncidentStatus {
        phase: Some(match inc.phase {
            Phase::Open => IncidentPhase::Open,
            Phase::Mitigated => IncidentPhase::Mitigated,
            Phase::Resolved => IncidentPhase::Resolved,
        }),
        severity: Some(inc.severity),
        floor: inc.floor,
        severity_since: Some(Time(inc.severity_since)),
        resolved_at: inc.resolved_at.map(Time),
        planned_up_to: inc.planned_up_to,
        readings: previous.readings.clone(),
        steps: inc.steps.iter().map(step_record).collect(),
        timeline: previous.timeline.clone(),
        timeline_dropped: previous.timeline_dropped,
        slack: previous.slack.clone(),
        events_published: previous.events_published,
        pending_notices: previous.pending_notices.clone(),
    };
    for e in events
        .iter()
        .filter(|e| e.incident.as_ref() == Some(&inc.id))
    {
        if let EventKind::DetectorChanged {
            detector,
            to,
            value,
            ..
        } = &e.kind
        {
            let reading = Reading {
                detector: detector.clone(),
                severity: match to {
                    crate::detect::Level::Firing { severity } => Some(*severity),
                    _ => None,
                },
                value: *value,
                no_data: match to {
                    crate::detect::Level::NoData { missing } => Some(missing.to_string()),
                    _ => None,
                },
                at: Time(e.at),
            };
            match status.readings.iter_mut().find(|r| r.detector == *detector) {
                Some(r) => *r = reading,
                None => status.readings.push(reading),
            }
        }
        status.timeline.push(timeline_entry(e));
    }
    trim_timeline(&mut status);
    status
}

fn step_record(s: &Step) -> StepRecord {
    StepRecord {
        key: s.key.0.clone(),
        severity: s.severity,
        index: s.key.index().unwrap_or(0),
        action: s.action.kind.as_str().to_owned(),
        state: step_status(&s.state),
        revert: s.revert.as_ref().map(step_status),
        held_by: s.hold.as_ref().map(ToString::to_string),
        undo: s.undo.clone(),
        note: s.note.clone(),
        retry: s.retry.as_ref().map(|r| RetryRecord {
            operation: r.operation,
            attempts: r.attempts,
            next_attempt_at: Time(r.next_at),
            last_error: r.reason.clone(),
        }),
    }
}

/// Keep the newest entries; drop the oldest detector readings first, they are the least telling.
fn trim_timeline(status: &mut IncidentStatus) {
    let mut dropped = 0u32;
    while status.timeline.len() > TIMELINE_LIMIT {
        let i = status
            .timeline
            .iter()
            .position(|t| t.event == "detectorChanged")
            .unwrap_or(0);
        status.timeline.remove(i);
        dropped += 1;
    }
    if dropped > 0 {
        status.timeline_dropped = Some(status.timeline_dropped.unwrap_or(0) + dropped);
    }
}

/// When the guarded actions (not notifications, not reverts) of an incident were
/// issued, from its timeline: a new leader counts them against the budgets.
pub fn spent(status: &IncidentStatus) -> Vec<Timestamp> {
    status
        .timeline
        .iter()
        .filter(|t| t.event == "actionIssued")
        .filter_map(|t| {
            let key = IdempotencyKey(t.key.clone()?);
            let guarded = !key.0.ends_with("/revert") && key.kind() != "notify";
            guarded.then_some(t.at.0)
        })
        .collect()
}

/// What a new leader continues from: the record and each detector's held severity.
pub type Restored = (Incident, Vec<(String, Option<Severity>)>);

/// Rebuild the engine's record of incident `name` from its resource, against the
/// playbook as it is now. Each step's action is looked up by severity and index and
/// must still be the same kind, or the restore fails rather than guess.
pub fn restore(
    pb: &Playbook,
    name: &str,
    spec: &IncidentSpec,
    status: &IncidentStatus,
) -> Result<Restored, RestoreError> {
    if spec.playbook != pb.id.name {
        return Err(RestoreError::OtherPlaybook(
            name.to_owned(),
            spec.playbook.clone(),
            pb.id.name.clone(),
        ));
    }
    let mut steps = Vec::with_capacity(status.steps.len());
    for r in &status.steps {
        let action = pb
            .actions
            .get(r.severity)
            .and_then(|list| list.get(r.index as usize))
            .ok_or_else(|| RestoreError::MissingAction {
                incident: name.to_owned(),
                key: r.key.clone(),
                severity: r.severity,
                index: r.index,
            })?;
        if action.kind.as_str() != r.action {
            return Err(RestoreError::ChangedAction {
                incident: name.to_owned(),
                key: r.key.clone(),
                severity: r.severity,
                index: r.index,
                was: r.action.clone(),
                now: action.kind.as_str().to_owned(),
            });
        }
        steps.push(Step {
            key: IdempotencyKey(r.key.clone()),
            severity: r.severity,
            action: action.clone(),
            state: step_state(&r.state),
            revert: r.revert.as_ref().map(step_state),
            hold: None,
            undo: r.undo.clone(),
            note: r.note.clone(),
            retry: r.retry.as_ref().map(|r| super::Retry {
                operation: r.operation,
                attempts: r.attempts,
                next_at: r.next_attempt_at.0,
                reason: r.last_error.clone(),
            }),
            drift: None,
        });
    }
    let opened_at: Timestamp = spec.opened_at.0;
    let incident = Incident {
        id: IncidentId(name.to_owned()),
        playbook: pb.id.clone(),
        target: TargetRef {
            namespace: pb.id.namespace.clone(),
            name: spec.target.name.clone(),
        },
        severity: status.severity.unwrap_or(spec.opened_severity),
        floor: status.floor,
        phase: match status.phase {
            Some(IncidentPhase::Mitigated) => Phase::Mitigated,
            Some(IncidentPhase::Resolved) => Phase::Resolved,
            Some(IncidentPhase::Open) | None => Phase::Open,
        },
        opened_at,
        severity_since: status.severity_since.as_ref().map_or(opened_at, |t| t.0),
        resolved_at: status.resolved_at.as_ref().map(|t| t.0),
        steps,
        planned_up_to: status.planned_up_to,
    };
    let readings = status
        .readings
        .iter()
        .map(|r| (r.detector.clone(), r.severity))
        .collect();
    Ok((incident, readings))
}

#[cfg(test)]
mod tests {
    use super::super::resource::TimelineEntry;
    use super::*;

    fn entry(secs: i64, event: &str, key: Option<&str>) -> TimelineEntry {
        TimelineEntry {
            at: Time(Timestamp::from_second(1_772_409_600 + secs).expect("valid")),
            event: event.to_owned(),
            message: String::new(),
            detector: None,
            value: None,
            threshold: None,
            key: key.map(str::to_owned),
        }
    }

    #[test]
    fn only_guarded_applies_count_against_budgets() {
        let id = "checkout-api-1772409600";
        let status = IncidentStatus {
            timeline: vec![
                entry(0, "incidentOpened", None),
                entry(0, "actionIssued", Some(&format!("{id}/low/0/notify"))),
                entry(15, "actionIssued", Some(&format!("{id}/high/0/rateLimit"))),
                entry(
                    15,
                    "actionFinished",
                    Some(&format!("{id}/high/0/rateLimit")),
                ),
                entry(30, "actionIssued", Some(&format!("{id}/high/1/scale"))),
                entry(
                    900,
                    "actionIssued",
                    Some(&format!("{id}/high/0/rateLimit/revert")),
                ),
            ],
            ..Default::default()
        };
        let seconds: Vec<i64> = spent(&status)
            .iter()
            .map(|t| t.as_second() - 1_772_409_600)
            .collect();
        assert_eq!(seconds, [15, 30]);
    }
}
