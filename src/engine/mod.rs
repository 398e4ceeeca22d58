//! The engine: readings and time in, timeline events and cleared actions out.
//! No I/O and no knowledge of where readings come from or where actions go.

mod drift;
mod event;
mod issue;
mod retry;

use std::collections::HashMap;

use jiff::Timestamp;

pub use drift::Applied;
pub use event::{DriftResponse, EscalationCause, Event, EventKind};

use crate::detect::{DetectorState, Level, Missing, Observation};
use crate::incident::guardrails::Budgets;
use crate::incident::{GlobalGuardrails, Incident, Phase, PlannedAction, StepState};
use crate::playbook::model::Playbook;
use crate::playbook::{PlaybookId, TargetRef};
use crate::severity::Severity;

/// One detector's result for a whole playbook: value per workload name, or why none.
pub type DetectorResult = Result<HashMap<String, f64>, Missing>;

/// What one evaluation produced.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub events: Vec<Event>,
    /// Actions cleared by the guardrails, in order; the executor reports back with
    /// [`Engine::record_outcome`].
    pub actions: Vec<PlannedAction>,
    /// Resolved incidents with nothing left to revert, dropped by this evaluation
    /// (their final state, for the Incident resource).
    pub finished: Vec<Incident>,
}

#[derive(Debug, Default)]
struct TargetState {
    detectors: Vec<DetectorState>,
    // Boxed: most targets have no incident, and the map of 10k+ states stays small.
    incident: Option<Box<Incident>>,
    /// A resolved incident whose reverts are not all finished.
    resolved: Option<Box<Incident>>,
    cooldown_until: Option<Timestamp>,
}

/// Holds every (playbook, target) state between evaluations.
#[derive(Debug, Default)]
pub struct Engine {
    global: GlobalGuardrails,
    budgets: Budgets,
    states: HashMap<PlaybookId, HashMap<String, TargetState>>,
}

impl Engine {
    pub fn new(global: GlobalGuardrails) -> Self {
        Engine {
            global,
            ..Default::default()
        }
    }

    pub fn set_kill_switch(&mut self, on: bool) {
        self.global.kill_switch = on;
    }

    /// Open incidents, for status and tests.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.states
            .values()
            .flat_map(|m| m.values())
            .filter_map(|t| t.incident.as_deref())
    }

    /// Mitigations of `pb`'s incidents that are applied for real and not reverted
    /// yet (open incidents, and resolved ones with reverts outstanding): step keys.
    pub fn active_mitigations(&self, pb: &PlaybookId) -> Vec<String> {
        let mut keys: Vec<String> = self
            .states
            .get(pb)
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|t| [t.incident.as_deref(), t.resolved.as_deref()])
            .flatten()
            .flat_map(|inc| inc.steps.iter())
            .filter(|s| {
                s.action.kind.is_mitigation()
                    && s.state == crate::incident::StepState::Done { dry_run: false }
                    && !matches!(s.revert, Some(crate::incident::StepState::Done { .. }))
            })
            .map(|s| s.key.0.clone())
            .collect();
        keys.sort();
        keys
    }

    /// The record of incident `id` on `target`, open or resolved with reverts outstanding.
    pub fn record(
        &self,
        pb: &PlaybookId,
        target: &str,
        id: &crate::incident::IncidentId,
    ) -> Option<&Incident> {
        let state = self.states.get(pb)?.get(target)?;
        [state.incident.as_deref(), state.resolved.as_deref()]
            .into_iter()
            .flatten()
            .find(|i| i.id == *id)
    }

    /// [`Self::record`], else the incident among `finished` (dropped by the last
    /// evaluation: resolved with nothing left to revert).
    pub fn record_or_finished<'a>(
        &'a self,
        pb: &PlaybookId,
        target: &str,
        id: &crate::incident::IncidentId,
        finished: &'a [Incident],
    ) -> Option<&'a Incident> {
        self.record(pb, target, id)
            .or_else(|| finished.iter().find(|i| i.id == *id))
    }

    /// Count guarded actions a previous leader issued at `at` against the budgets.
    pub fn restore_spent(&mut self, pb: &PlaybookId, at: &[Timestamp]) {
        for t in at {
            self.budgets.spend_at(pb, *t);
        }
    }

    /// Forget every state (e.g. on losing leadership: the next leader owns them now).
    pub fn clear(&mut self) {
        self.states.clear();
    }

    /// Continue an incident a previous leader recorded, with each detector's held
    /// severity (`readings`, by detector name). A resolved incident is kept only
    /// while reverts are outstanding.
    pub fn restore(
        &mut self,
        pb: &Playbook,
        incident: Incident,
        readings: &[(String, Option<Severity>)],
    ) {
        let state = self
            .states
            .entry(pb.id.clone())
            .or_default()
            .entry(incident.target.name.clone())
            .or_default();
        state.detectors = pb
            .detectors
            .iter()
            .map(|d| {
                let held = readings
                    .iter()
                    .find(|(n, _)| *n == d.name)
                    .and_then(|(_, s)| *s);
                DetectorState::restored(held)
            })
            .collect();
        if incident.phase == Phase::Resolved {
            if incident.reverts_outstanding() {
                state.resolved = Some(Box::new(incident));
            }
        } else {
            state.incident = Some(Box::new(incident));
        }
    }

    /// Targets without data per (detector index, no-data reason) for `pb`, for metrics and status.
    pub fn missing_counts(&self, pb: &PlaybookId) -> HashMap<(usize, &'static str), usize> {
        let mut counts = HashMap::new();
        for state in self.states.get(pb).into_iter().flat_map(|m| m.values()) {
            for (i, ds) in state.detectors.iter().enumerate() {
                if let Level::NoData { missing } = ds.level() {
                    *counts.entry((i, missing.reason())).or_default() += 1;
                }
            }
        }
        counts
    }

    /// Evaluate one playbook at `now`. `results` is aligned with `pb.detectors`.
    pub fn evaluate(
        &mut self,
        pb: &Playbook,
        targets: &[TargetRef],
        results: &[DetectorResult],
        now: Timestamp,
    ) -> Evaluation {
        let mut out = Evaluation::default();
        let states = self.states.entry(pb.id.clone()).or_default();
        for target in targets {
            let state = states.entry(target.name.clone()).or_default();
            if state.detectors.len() != pb.detectors.len() {
                state.detectors = vec![DetectorState::default(); pb.detectors.len()];
            }
            let ctx = Ctx { pb, target, now };
            observe(&ctx, state, results, &mut out.events);
            decide(&ctx, state, &mut out.events);
            issue::issue(&ctx, state, &self.global, &mut self.budgets, &mut out);
        }
        out
    }
}

/// What every step of one target's evaluation needs.
struct Ctx<'a> {
    pb: &'a Playbook,
    target: &'a TargetRef,
    now: Timestamp,
}

impl Ctx<'_> {
    fn event(&self, incident: Option<&Incident>, kind: EventKind) -> Event {
        Event {
            at: self.now,
            playbook: self.pb.id.clone(),
            target: self.target.clone(),
            incident: incident.map(|i| i.id.clone()),
            kind,
        }
    }
}

fn observe(
    ctx: &Ctx<'_>,
    state: &mut TargetState,
    results: &[DetectorResult],
    events: &mut Vec<Event>,
) {
    for ((d, ds), result) in ctx
        .pb
        .detectors
        .iter()
        .zip(&mut state.detectors)
        .zip(results)
    {
        let obs = match result {
            Ok(values) => match values.get(&ctx.target.name) {
                Some(v) if v.is_nan() => Observation::Missing(Missing::NotANumber),
                Some(v) => Observation::Value(*v),
                None if values.is_empty() => Observation::Missing(Missing::EmptyResult),
                None if ds.last_value().is_some() => Observation::Missing(Missing::Stale),
                None => Observation::Missing(Missing::NoSeries),
            },
            Err(m) => Observation::Missing(m.clone()),
        };
        if let Some(from) = ds.observe(d, &obs, ctx.now) {
            let to = ds.level();
            let shown = match (&to, &from) {
                (Level::Firing { severity }, _) | (_, Level::Firing { severity }) => {
                    Some(*severity)
                }
                _ => None,
            };
            let kind = EventKind::DetectorChanged {
                detector: d.name.clone(),
                from,
                to,
                value: match obs {
                    Observation::Value(v) => Some(v),
                    Observation::Missing(_) => None,
                },
                threshold: shown.and_then(|s| d.threshold(s)),
            };
            events.push(ctx.event(state.incident.as_deref(), kind));
        }
    }
}

/// Open, escalate, de-escalate or resolve the target's incident.
fn decide(ctx: &Ctx<'_>, state: &mut TargetState, events: &mut Vec<Event>) {
    let severity = state
        .detectors
        .iter()
        .filter_map(DetectorState::severity)
        .max();
    let any_missing = state.detectors.iter().any(DetectorState::is_missing);
    let Some(incident) = state.incident.as_mut() else {
        if let Some(s) = severity {
            // A reopened incident takes over: the mitigations stay, the new plan re-applies them.
            state.resolved = None;
            let mut inc = Incident::open(&ctx.pb.id, ctx.target, s, ctx.now);
            inc.plan_up_to(s, &ctx.pb.actions);
            events.push(ctx.event(Some(&inc), EventKind::IncidentOpened { severity: s }));
            state.incident = Some(Box::new(inc));
        }
        return;
    };
    // Missing data never counts as recovery.
    if severity.is_none() && !any_missing {
        resolve(ctx, state, events);
        return;
    }
    if let Some(after) = ctx.pb.guardrails.escalate_after
        && ctx.now.duration_since(incident.severity_since) >= after.signed()
        && let Some(next) = incident.severity.next()
    {
        incident.floor = Some(next);
        escalate(ctx, incident, next, EscalationCause::Unresolved, events);
    }
    let effective = severity.max(incident.floor).unwrap_or(incident.severity);
    if effective > incident.severity {
        escalate(ctx, incident, effective, EscalationCause::Detectors, events);
    } else if effective < incident.severity && !any_missing {
        let from = incident.severity;
        incident.severity = effective;
        incident.severity_since = ctx.now;
        events.push(ctx.event(
            Some(incident),
            EventKind::IncidentDeescalated {
                from,
                to: effective,
            },
        ));
    }
}

fn escalate(
    ctx: &Ctx<'_>,
    inc: &mut Incident,
    to: Severity,
    cause: EscalationCause,
    events: &mut Vec<Event>,
) {
    let from = inc.severity;
    inc.severity = to;
    inc.severity_since = ctx.now;
    let before = inc.steps.len();
    inc.plan_up_to(to, &ctx.pb.actions);
    if inc.steps.len() > before {
        inc.phase = Phase::Open;
    }
    events.push(ctx.event(Some(inc), EventKind::IncidentEscalated { from, to, cause }));
}

fn resolve(ctx: &Ctx<'_>, state: &mut TargetState, events: &mut Vec<Event>) {
    let Some(mut inc) = state.incident.take() else {
        return;
    };
    inc.phase = Phase::Resolved;
    inc.resolved_at = Some(ctx.now);
    let duration_seconds = ctx.now.duration_since(inc.opened_at).as_secs();
    events.push(ctx.event(Some(&inc), EventKind::IncidentResolved { duration_seconds }));
    for i in 0..inc.steps.len() {
        let step = &mut inc.steps[i];
        let revert = step.needs_revert();
        // An apply waiting for its retry is not retried any more: it failed for good.
        if step.state == StepState::Pending
            && let Some(retry) = step.retry.take()
        {
            let outcome = StepState::Failed {
                reason: format!("{}; not retried: the incident resolved", retry.reason),
            };
            step.state = outcome.clone();
            let key = step.key.clone();
            events.push(ctx.event(
                Some(&inc),
                EventKind::ActionFinished {
                    key,
                    operation: crate::incident::Operation::Apply,
                    outcome,
                },
            ));
        }
        if revert {
            inc.steps[i].revert = Some(StepState::Pending);
        }
    }
    state.cooldown_until = Some(ctx.now + ctx.pb.guardrails.cooldown.signed());
    state.resolved = Some(inc);
}
