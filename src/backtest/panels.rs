//! The report's content from a finished backtest: the incidents table and one
//! panel per (playbook, detector, target) worth plotting.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::report::{IncidentRow, IncidentWindow, Panel, Report};
use super::{Backtest, Options};
use crate::playbook::model::Playbook;
use crate::runner::schedule;

/// Targets plotted when no incident opened, so the report still shows the signals.
const QUIET_TARGETS: usize = 12;
/// Upper bound on panels: beyond this the page is no longer readable anyway.
const MAX_PANELS: usize = 240;

pub fn build(result: &Backtest, playbooks: &[Playbook], opts: &Options) -> Report {
    let s = &result.summary;
    let std_secs = |secs: i64| std::time::Duration::from_secs(secs.unsigned_abs());
    let incidents: Vec<IncidentRow> = s
        .incidents
        .iter()
        .map(|inc| IncidentRow {
            id: inc.id.clone(),
            playbook: inc.playbook.clone(),
            target: inc.target.clone(),
            opened: inc.opened,
            resolved: inc.resolved,
            peak: inc.peak,
            actions: inc.actions.clone(),
            detection_delay: inc.detection_delay_seconds.map(std_secs),
            lead_time: Some(std_secs(inc.lead_time_seconds)),
        })
        .collect();
    // Targets with incidents first; otherwise a few, so the signals are visible.
    let mut plotted: BTreeSet<(usize, String)> = BTreeSet::new();
    for inc in &s.incidents {
        if let Some(i) = playbooks
            .iter()
            .position(|pb| pb.id.to_string() == inc.playbook)
        {
            let name = inc.target.rsplit('/').next().unwrap_or(&inc.target);
            plotted.insert((i, name.to_owned()));
        }
    }
    if plotted.is_empty() {
        let all: BTreeSet<(usize, String)> = result
            .series
            .keys()
            .map(|(p, _, w)| (*p, w.clone()))
            .collect();
        plotted.extend(all.into_iter().take(QUIET_TARGETS));
    }
    let mut panels = Vec::new();
    for (i, workload) in &plotted {
        let pb = &playbooks[*i];
        let target = format!("{}/{workload}", pb.id.namespace);
        let windows: Vec<IncidentWindow> = s
            .incidents
            .iter()
            .filter(|inc| inc.playbook == pb.id.to_string() && inc.target == target)
            .map(|inc| IncidentWindow {
                id: inc.id.clone(),
                opened: inc.opened,
                resolved: inc.resolved,
                severities: inc.severities.clone(),
            })
            .collect();
        let step_ms = schedule::step_ms(pb, opts.step);
        for (d, det) in pb.detectors.iter().enumerate() {
            let Some(values) = result.series.get(&(*i, d, workload.clone())) else {
                continue;
            };
            panels.push(Panel {
                playbook: pb.id.to_string(),
                detector: det.name.clone(),
                target: target.clone(),
                comparison: det.comparison,
                thresholds: det.thresholds.clone(),
                points: points(opts.from, step_ms, values),
                incidents: windows.clone(),
            });
        }
        if panels.len() >= MAX_PANELS {
            break;
        }
    }
    let summary = vec![
        ("playbooks".to_owned(), s.playbooks.to_string()),
        ("targets".to_owned(), s.targets.to_string()),
        ("evaluations".to_owned(), s.evaluations.to_string()),
        (
            "incidents opened".to_owned(),
            s.incidents_opened.to_string(),
        ),
        (
            "by peak severity".to_owned(),
            s.by_peak_severity
                .iter()
                .rev()
                .map(|(sev, n)| format!("{sev} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "actions applied".to_owned(),
            s.actions_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    Report {
        title: format!(
            "Backtest {} – {}",
            opts.from.strftime("%Y-%m-%dT%H:%MZ"),
            opts.to.strftime("%Y-%m-%dT%H:%MZ")
        ),
        from: opts.from,
        to: opts.to,
        step: std::time::Duration::from_millis(
            u64::try_from(
                playbooks
                    .iter()
                    .map(|pb| schedule::step_ms(pb, opts.step))
                    .min()
                    .unwrap_or(15_000),
            )
            .unwrap_or(15_000),
        ),
        summary,
        incidents,
        panels,
    }
}

fn points(from: Timestamp, step_ms: i64, values: &[f32]) -> Vec<(Timestamp, Option<f64>)> {
    values
        .iter()
        .enumerate()
        .filter_map(|(k, v)| {
            let ms = from.as_millisecond() + step_ms * i64::try_from(k).ok()?;
            let t = Timestamp::from_millisecond(ms).ok()?;
            Some((t, (!v.is_nan()).then_some(f64::from(*v))))
        })
        .collect()
}
