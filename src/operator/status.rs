//! The part of a Playbook's status the controller owns — `observedGeneration`,
//! `conditions` and `detectors` — as a JSON merge patch (RFC 7386) for the
//! status subresource.
//!
//! The evaluator writes the other fields (`targets`, `activeIncidents`, …) with
//! its own merge patch. A merge patch replaces only the keys it names, so the
//! two writers never overwrite each other. Conditions follow `metav1.Condition`:
//! `lastTransitionTime` moves only when a condition's status changes.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::Serialize;
use serde_json::{Value, json};

use super::catalog::KILL_SWITCH_ANNOTATION;
use crate::playbook::problem::Problem;
use crate::playbook::spec::{Playbook, PlaybookStatus};

/// Condition type: the spec validated and the evaluator runs it.
pub const READY: &str = "Ready";
/// Condition type: the kill switch pauses this playbook's actions.
pub const PAUSED: &str = "Paused";

/// Condition reasons (CamelCase, as `metav1.Condition.reason` requires).
pub mod reason {
    /// `Ready=True`.
    pub const VALID: &str = "Valid";
    /// `Ready=False`: the message lists the problems.
    pub const INVALID: &str = "Invalid";
    /// `Paused=True`.
    pub const KILL_SWITCH: &str = "KillSwitch";
    /// `Paused=False`.
    pub const ACTIONS_ENABLED: &str = "ActionsEnabled";
}

/// Longest problem list put in a condition message before "and N more";
/// with that suffix it still fits an Event note (1 KiB).
pub const MAX_MESSAGE_BYTES: usize = 1000;

/// The status fields the controller owns, in wire form.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnedStatus {
    pub observed_generation: Option<i64>,
    pub conditions: Vec<Condition>,
    /// Serialised as `null` when absent, which deletes a stale value in a merge patch.
    pub detectors: Option<String>,
}

impl OwnedStatus {
    /// True when `current` already holds exactly these fields.
    pub fn matches(&self, current: Option<&PlaybookStatus>) -> bool {
        let Some(current) = current else {
            return false;
        };
        current.observed_generation == self.observed_generation
            && current.conditions == self.conditions
            && current.detectors == self.detectors
    }

    /// `{"status": {…}}`, the body of a merge patch to `…/playbooks/NAME/status`.
    pub fn to_patch(&self) -> Value {
        json!({ "status": self })
    }
}

/// The status the controller wants for `pb`, given its validation problems
/// (empty when valid). Conditions whose status is unchanged keep their
/// `lastTransitionTime` from the current status.
pub fn desired(pb: &Playbook, problems: &[Problem], now: Timestamp) -> OwnedStatus {
    let generation = pb.metadata.generation;
    let previous = pb
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    OwnedStatus {
        observed_generation: generation,
        conditions: vec![
            ready(generation, problems, now, previous),
            paused(generation, is_paused(pb), now, previous),
        ],
        detectors: detector_names(pb),
    }
}

/// The merge patch to send, or `None` when the status already says it all
/// (writing anyway would trigger a watch event and another reconcile).
pub fn patch(pb: &Playbook, problems: &[Problem], now: Timestamp) -> Option<Value> {
    let want = desired(pb, problems, now);
    (!want.matches(pb.status.as_ref())).then(|| want.to_patch())
}

/// The kill-switch annotation is set to `true` (case-insensitive: a person
/// typing `True` in an emergency means it).
pub fn is_paused(pb: &Playbook) -> bool {
    pb.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(KILL_SWITCH_ANNOTATION))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The `Ready` condition.
pub fn ready(
    generation: Option<i64>,
    problems: &[Problem],
    now: Timestamp,
    previous: &[Condition],
) -> Condition {
    if problems.is_empty() {
        condition(
            READY,
            true,
            reason::VALID,
            "the playbook is valid and evaluated".to_owned(),
            generation,
            now,
            previous,
        )
    } else {
        condition(
            READY,
            false,
            reason::INVALID,
            problems_message(problems),
            generation,
            now,
            previous,
        )
    }
}

/// The `Paused` condition.
pub fn paused(
    generation: Option<i64>,
    paused: bool,
    now: Timestamp,
    previous: &[Condition],
) -> Condition {
    let (reason, message) = if paused {
        (
            reason::KILL_SWITCH,
            format!("{KILL_SWITCH_ANNOTATION}=true: actions are paused, detection continues"),
        )
    } else {
        (
            reason::ACTIONS_ENABLED,
            format!("actions are enabled; set {KILL_SWITCH_ANNOTATION}=true to pause them"),
        )
    };
    condition(PAUSED, paused, reason, message, generation, now, previous)
}

/// A condition of `type_`, keeping the previous `lastTransitionTime` when the
/// status is unchanged.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
    previous: &[Condition],
) -> Condition {
    let status = if status { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// Every problem as `field.path: reason`, joined by `"; "`; past
/// [`MAX_MESSAGE_BYTES`] the rest are counted instead of listed.
pub fn problems_message(problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, problem) in problems.iter().enumerate() {
        let item = describe(problem);
        let sep = if out.is_empty() { "" } else { "; " };
        if out.len() + sep.len() + item.len() <= MAX_MESSAGE_BYTES {
            out.push_str(sep);
            out.push_str(&item);
            continue;
        }
        let mut rest = problems.len() - i;
        if out.is_empty() {
            // A single problem longer than the limit: show its start.
            out = truncate(&item, MAX_MESSAGE_BYTES - '…'.len_utf8()).to_owned() + "…";
            rest -= 1;
        }
        if rest > 0 {
            out.push_str(&format!("; and {rest} more"));
        }
        break;
    }
    out
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

/// `path: reason` (Problem's Display also names the file, which a resource has not).
fn describe(p: &Problem) -> String {
    if p.path.is_empty() {
        p.reason.clone()
    } else {
        format!("{}: {}", p.path, p.reason)
    }
}

/// Detector names as `kubectl get` shows them.
fn detector_names(pb: &Playbook) -> Option<String> {
    let names: Vec<&str> = pb
        .spec
        .detectors
        .iter()
        .map(|d| d.name.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
