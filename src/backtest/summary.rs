//! What a backtest found: incidents with their severities, actions, detection
//! delay and lead time, counted by severity and action; data gaps by reason.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::engine::{DetectorResult, EventKind};
use crate::incident::Operation;
use crate::playbook::model::Playbook;
use crate::playbook::{PlaybookId, TargetRef};
use crate::runner::Entry;
use crate::severity::Severity;

/// One incident the playbooks would have opened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentSummary {
    pub id: String,
    pub playbook: String,
    pub target: String,
    pub opened: Timestamp,
    pub resolved: Option<Timestamp>,
    pub opened_severity: Severity,
    pub peak: Severity,
    /// Severity changes, the first at `opened`.
    pub severities: Vec<(Timestamp, Severity)>,
    /// Applied actions as `kind (severity)`, in order; reverts are not listed.
    pub actions: Vec<String>,
    /// From the first sample past a lowest threshold to the incident opening.
    pub detection_delay_seconds: Option<i64>,
    /// From the opening to the first time the peak severity was reached: the warning
    /// the on-call had before the incident was at its worst.
    pub lead_time_seconds: i64,
}

/// Steps without data for one detector, by reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gap {
    pub playbook: String,
    pub detector: String,
    pub reason: &'static str,
    pub steps: u64,
}

/// The result of a backtest, as `--output json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub from: Timestamp,
    pub to: Timestamp,
    pub playbooks: usize,
    pub targets: usize,
    pub evaluations: u64,
    pub incidents_opened: usize,
    pub by_peak_severity: BTreeMap<Severity, usize>,
    pub actions_by_kind: BTreeMap<String, usize>,
    pub incidents: Vec<IncidentSummary>,
    pub gaps: Vec<Gap>,
}

/// Builds a [`Summary`] while the backtest runs.
#[derive(Debug, Default)]
pub struct Tally {
    incidents: Vec<IncidentSummary>,
    open: HashMap<String, usize>,
    /// Keyed by playbook, then target: every step looks up every target, and a
    /// nested lookup by `&str` allocates nothing.
    per_playbook: HashMap<PlaybookId, Watched>,
    gaps: BTreeMap<(String, String, &'static str), u64>,
    evaluations: u64,
}

/// One playbook's targets as the tally has seen them.
#[derive(Debug, Default)]
struct Watched {
    targets: HashSet<String>,
    /// Since when any detector of a target is past its lowest threshold.
    crossing_since: HashMap<String, Timestamp>,
}

impl Tally {
    /// Note the readings of one evaluation, before the engine sees them.
    pub fn observe(
        &mut self,
        pb: &Playbook,
        targets: &[TargetRef],
        results: &[DetectorResult],
        now: Timestamp,
    ) {
        self.evaluations += 1;
        for (d, r) in pb.detectors.iter().zip(results) {
            if let Err(m) = r {
                *self
                    .gaps
                    .entry((pb.id.to_string(), d.name.clone(), m.reason()))
                    .or_default() += 1;
            }
        }
        if !self.per_playbook.contains_key(&pb.id) {
            self.per_playbook.insert(pb.id.clone(), Watched::default());
        }
        let Some(Watched {
            targets: seen,
            crossing_since: since,
        }) = self.per_playbook.get_mut(&pb.id)
        else {
            return;
        };
        for t in targets {
            let crossing = pb.detectors.iter().zip(results).any(|(d, r)| {
                let v = r.as_ref().ok().and_then(|m| m.get(&t.name));
                match (v, d.thresholds.first()) {
                    (Some(v), Some((_, lowest))) => d.crosses(*v, *lowest),
                    _ => false,
                }
            });
            if !crossing {
                since.remove(&t.name);
            } else if !since.contains_key(&t.name) {
                since.insert(t.name.clone(), now);
            }
            if !seen.contains(&t.name) {
                seen.insert(t.name.clone());
            }
        }
    }

    /// Note the timeline entries of one evaluation.
    pub fn record(&mut self, entries: &[Entry]) {
        for e in entries {
            let ev = &e.event;
            let Some(id) = ev.incident.as_ref().map(|i| i.0.clone()) else {
                continue;
            };
            match &ev.kind {
                EventKind::IncidentOpened { severity } => {
                    let onset = self
                        .per_playbook
                        .get(&ev.playbook)
                        .and_then(|w| w.crossing_since.get(&ev.target.name));
                    self.open.insert(id.clone(), self.incidents.len());
                    self.incidents.push(IncidentSummary {
                        id,
                        playbook: ev.playbook.to_string(),
                        target: ev.target.to_string(),
                        opened: ev.at,
                        resolved: None,
                        opened_severity: *severity,
                        peak: *severity,
                        severities: vec![(ev.at, *severity)],
                        actions: Vec::new(),
                        detection_delay_seconds: onset.map(|t| seconds(ev.at.duration_since(*t))),
                        lead_time_seconds: 0,
                    });
                }
                EventKind::IncidentEscalated { to, .. }
                | EventKind::IncidentDeescalated { to, .. } => {
                    if let Some(inc) = self.find(&id) {
                        inc.severities.push((ev.at, *to));
                        if *to > inc.peak {
                            inc.peak = *to;
                            inc.lead_time_seconds = seconds(ev.at.duration_since(inc.opened));
                        }
                    }
                }
                EventKind::IncidentResolved { .. } => {
                    if let Some(inc) = self.find(&id) {
                        inc.resolved = Some(ev.at);
                    }
                    self.open.remove(&id);
                }
                EventKind::ActionIssued {
                    action,
                    severity,
                    operation: Operation::Apply,
                    ..
                } => {
                    if let Some(inc) = self.find(&id) {
                        inc.actions.push(format!("{action} ({severity})"));
                    }
                }
                _ => {}
            }
        }
    }

    fn find(&mut self, id: &str) -> Option<&mut IncidentSummary> {
        let i = *self.open.get(id)?;
        self.incidents.get_mut(i)
    }

    pub fn finish(self, from: Timestamp, to: Timestamp, playbooks: usize) -> Summary {
        let mut by_peak_severity = BTreeMap::new();
        let mut actions_by_kind = BTreeMap::new();
        for inc in &self.incidents {
            *by_peak_severity.entry(inc.peak).or_default() += 1;
            for a in &inc.actions {
                let kind = a.split(' ').next().unwrap_or(a).to_owned();
                *actions_by_kind.entry(kind).or_default() += 1;
            }
        }
        Summary {
            from,
            to,
            playbooks,
            targets: self.per_playbook.values().map(|w| w.targets.len()).sum(),
            evaluations: self.evaluations,
            incidents_opened: self.incidents.len(),
            by_peak_severity,
            actions_by_kind,
            incidents: self.incidents,
            gaps: self
                .gaps
                .into_iter()
                .map(|((playbook, detector, reason), steps)| Gap {
                    playbook,
                    detector,
                    reason,
                    steps,
                })
                .collect(),
        }
    }
}

fn seconds(d: SignedDuration) -> i64 {
    d.as_secs()
}
