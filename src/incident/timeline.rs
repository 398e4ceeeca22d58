//! Timeline entries of the `Incident` status: one line per engine event.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::persist::step_status;
use super::resource::{StepPhase, StepStatus, TimelineEntry};
use super::retry::MAX_ATTEMPTS;
use crate::engine::{Event, EventKind};

pub fn timeline_entry(e: &Event) -> TimelineEntry {
    let mut t = TimelineEntry {
        at: Time(e.at),
        event: event_name(&e.kind).to_owned(),
        message: String::new(),
        detector: None,
        value: None,
        threshold: None,
        key: None,
    };
    t.message = match &e.kind {
        EventKind::DetectorChanged {
            detector,
            from,
            to,
            value,
            threshold,
        } => {
            t.detector = Some(detector.clone());
            t.value = *value;
            t.threshold = *threshold;
            format!("{detector}: {from} -> {to}")
        }
        EventKind::IncidentOpened { severity } => format!("opened at {severity}"),
        EventKind::IncidentEscalated { from, to, cause } => {
            format!("escalated {from} -> {to} ({cause:?})")
        }
        EventKind::IncidentDeescalated { from, to } => format!("de-escalated {from} -> {to}"),
        EventKind::IncidentMitigated => "mitigated".to_owned(),
        EventKind::IncidentResolved { duration_seconds } => {
            format!("resolved after {duration_seconds}s")
        }
        EventKind::ActionIssued {
            key,
            action,
            severity,
            operation,
            dry_run,
            attempt,
        } => {
            t.key = Some(key.0.clone());
            let mode = if *dry_run { " (dry-run)" } else { "" };
            if *attempt > 1 {
                format!(
                    "{action} {operation:?} retried at {severity}{mode} (attempt {attempt} of {MAX_ATTEMPTS})"
                )
            } else {
                format!("{action} {operation:?} issued at {severity}{mode}")
            }
        }
        EventKind::ActionHeld { key, hold } => {
            t.key = Some(key.0.clone());
            format!("held: {hold}")
        }
        EventKind::ActionFinished {
            key,
            operation,
            outcome,
        } => {
            t.key = Some(key.0.clone());
            format!("{operation:?}: {}", step_status(outcome).state_name())
        }
        EventKind::ActionRetrying {
            key,
            operation,
            attempt,
            max_attempts,
            reason,
            retry_at,
        } => {
            t.key = Some(key.0.clone());
            format!(
                "{operation:?}: attempt {attempt} of {max_attempts} failed: {reason}; will retry at {retry_at}"
            )
        }
        EventKind::MitigationDrifted {
            key,
            detail,
            response,
        } => {
            t.key = Some(key.0.clone());
            format!("changed by someone else: {detail}; {response}")
        }
    };
    t
}

impl StepStatus {
    fn state_name(&self) -> String {
        match (&self.state, &self.reason) {
            (StepPhase::Failed, Some(r)) => format!("failed: {r}"),
            (s, _) => format!("{s:?}").to_lowercase(),
        }
    }
}

fn event_name(k: &EventKind) -> &'static str {
    match k {
        EventKind::DetectorChanged { .. } => "detectorChanged",
        EventKind::IncidentOpened { .. } => "incidentOpened",
        EventKind::IncidentEscalated { .. } => "incidentEscalated",
        EventKind::IncidentDeescalated { .. } => "incidentDeescalated",
        EventKind::IncidentMitigated => "incidentMitigated",
        EventKind::IncidentResolved { .. } => "incidentResolved",
        // A retry is told apart: it spends no budget (see `persist::spent`).
        EventKind::ActionIssued { attempt, .. } if *attempt > 1 => "actionRetried",
        EventKind::ActionIssued { .. } => "actionIssued",
        EventKind::ActionHeld { .. } => "actionHeld",
        EventKind::ActionFinished { .. } => "actionFinished",
        EventKind::ActionRetrying { .. } => "actionRetrying",
        EventKind::MitigationDrifted { .. } => "mitigationDrifted",
    }
}
