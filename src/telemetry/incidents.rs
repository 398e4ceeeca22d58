//! Incident gauges and counters after an evaluation, the same in the operator
//! and the standalone mode.

use crate::engine::{Engine, Event, EventKind};
use crate::playbook::model::Playbook;
use crate::severity::Severity;

use super::Metrics;
use super::metrics::{NoDataLabels, SeverityLabels};

/// Record `pb`'s evaluation: incidents opened (from `events`), and the open
/// incidents and targets without data as the engine now holds them.
pub fn record_evaluation(m: &Metrics, pb: &Playbook, engine: &Engine, events: &[Event]) {
    let playbook = pb.id.to_string();
    for e in events {
        if let EventKind::IncidentOpened { severity } = &e.kind {
            m.incidents_opened
                .get_or_create(&SeverityLabels {
                    playbook: playbook.clone(),
                    severity: severity.as_str().to_owned(),
                })
                .inc();
        }
    }
    let counts = engine.missing_counts(&pb.id);
    for (j, d) in pb.detectors.iter().enumerate() {
        for reason in crate::detect::Missing::REASONS {
            let n = counts.get(&(j, reason)).copied().unwrap_or(0);
            m.targets_without_data
                .get_or_create(&NoDataLabels {
                    playbook: playbook.clone(),
                    detector: d.name.clone(),
                    reason: reason.to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    for sev in Severity::ALL {
        let n = engine
            .incidents()
            .filter(|inc| inc.playbook == pb.id && inc.severity == sev)
            .count();
        m.incidents_active
            .get_or_create(&SeverityLabels {
                playbook: playbook.clone(),
                severity: sev.as_str().to_owned(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}
