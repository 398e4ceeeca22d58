//! Table-driven tests of one detector's state machine: thresholds, `for`,
//! hysteresis, `clearFor`, comparison direction and missing data.

use firebreak::detect::{DetectorState, Level, Missing, Observation};
use firebreak::duration::Duration;
use firebreak::playbook::model::{Comparison, Detector, DetectorKind};
use firebreak::severity::Severity::{self, *};

struct Row {
    name: &'static str,
    thresholds: &'static [(Severity, f64)],
    comparison: Comparison,
    for_s: u64,
    hysteresis: f64,
    clear_s: u64,
    /// (seconds, value or None for missing, expected level after it)
    steps: &'static [(i64, Option<f64>, &'static str)],
}

const UP: Comparison = Comparison::Above;
const DOWN: Comparison = Comparison::Below;

fn detector(r: &Row) -> Detector {
    Detector {
        name: "d".into(),
        kind: DetectorKind::PromQl { query: "x".into() },
        thresholds: r.thresholds.to_vec(),
        comparison: r.comparison,
        for_: Duration::from_secs(r.for_s),
        hysteresis: r.hysteresis,
        clear_for: Duration::from_secs(r.clear_s),
    }
}

fn name(l: &Level) -> String {
    match l {
        Level::Ok => "ok".into(),
        Level::Firing { severity } => severity.to_string(),
        Level::NoData { .. } => "nodata".into(),
    }
}

const ROWS: &[Row] = &[
    Row {
        name: "zero for: the highest threshold crossed applies at once",
        thresholds: &[(Medium, 0.8), (High, 0.9)],
        comparison: UP,
        for_s: 0,
        hysteresis: 0.0,
        clear_s: 0,
        steps: &[
            (0, Some(0.5), "ok"),
            (15, Some(0.85), "medium"),
            (30, Some(0.99), "high"),
        ],
    },
    Row {
        name: "for holds escalation until crossed continuously",
        thresholds: &[(High, 0.9)],
        comparison: UP,
        for_s: 30,
        hysteresis: 0.0,
        clear_s: 15,
        steps: &[
            (0, Some(0.95), "ok"),
            (15, Some(0.95), "ok"),
            (30, Some(0.95), "high"),
        ],
    },
    Row {
        name: "a dip restarts the for timer",
        thresholds: &[(High, 0.9)],
        comparison: UP,
        for_s: 30,
        hysteresis: 0.0,
        clear_s: 15,
        steps: &[
            (0, Some(0.95), "ok"),
            (15, Some(0.5), "ok"),
            (30, Some(0.95), "ok"),
            (45, Some(0.95), "ok"),
            (60, Some(0.95), "high"),
        ],
    },
    Row {
        name: "lower severities held for their own for while the higher is pending",
        thresholds: &[(Low, 0.5), (High, 0.9)],
        comparison: UP,
        for_s: 30,
        hysteresis: 0.0,
        clear_s: 15,
        steps: &[
            (0, Some(0.6), "ok"),
            (15, Some(0.95), "ok"),
            (30, Some(0.95), "low"),
            (45, Some(0.95), "high"),
        ],
    },
    Row {
        name: "hysteresis band keeps the severity",
        thresholds: &[(High, 0.9)],
        comparison: UP,
        for_s: 0,
        hysteresis: 0.05,
        clear_s: 0,
        steps: &[
            (0, Some(0.95), "high"),
            (15, Some(0.88), "high"),
            (30, Some(0.86), "high"),
            (45, Some(0.84), "ok"),
        ],
    },
    Row {
        name: "clearFor holds recovery; a bounce restarts it",
        thresholds: &[(High, 0.9)],
        comparison: UP,
        for_s: 0,
        hysteresis: 0.0,
        clear_s: 30,
        steps: &[
            (0, Some(0.95), "high"),
            (15, Some(0.5), "high"),
            (30, Some(0.95), "high"),
            (45, Some(0.5), "high"),
            (60, Some(0.5), "high"),
            (75, Some(0.5), "ok"),
        ],
    },
    Row {
        name: "de-escalation is stepwise to the highest severity still crossed",
        thresholds: &[(Medium, 0.8), (Critical, 0.95)],
        comparison: UP,
        for_s: 0,
        hysteresis: 0.02,
        clear_s: 15,
        steps: &[
            (0, Some(0.99), "critical"),
            (15, Some(0.85), "critical"),
            (30, Some(0.85), "medium"),
            (45, Some(0.7), "medium"),
            (60, Some(0.7), "ok"),
        ],
    },
    Row {
        name: "below: fewer hours to the memory limit is worse",
        thresholds: &[(Low, 48.0), (Medium, 24.0), (High, 12.0)],
        comparison: DOWN,
        for_s: 0,
        hysteresis: 2.0,
        clear_s: 0,
        steps: &[
            (0, Some(60.0), "ok"),
            (60, Some(30.0), "low"),
            (120, Some(10.0), "high"),
            (180, Some(13.0), "high"),
            (240, Some(15.0), "medium"),
            (300, Some(100.0), "ok"),
        ],
    },
    Row {
        name: "missing data keeps the severity and blocks recovery",
        thresholds: &[(High, 0.9)],
        comparison: UP,
        for_s: 0,
        hysteresis: 0.0,
        clear_s: 30,
        steps: &[
            (0, Some(0.95), "high"),
            (15, Some(0.1), "high"),
            (30, None, "nodata"),
            (45, Some(0.1), "high"),
            (60, Some(0.1), "high"),
            (75, Some(0.1), "ok"),
        ],
    },
    Row {
        name: "missing data blocks escalation: the for timer restarts",
        thresholds: &[(High, 0.9)],
        comparison: UP,
        for_s: 30,
        hysteresis: 0.0,
        clear_s: 15,
        steps: &[
            (0, Some(0.95), "ok"),
            (15, None, "nodata"),
            (30, Some(0.95), "ok"),
            (45, Some(0.95), "ok"),
            (60, Some(0.95), "high"),
        ],
    },
];

#[test]
fn detector_state_machine() {
    let t0 = jiff::Timestamp::from_second(1_767_225_600).expect("time");
    for row in ROWS {
        let d = detector(row);
        let mut state = DetectorState::default();
        for (secs, value, expected) in row.steps {
            let obs = match value {
                Some(v) => Observation::Value(*v),
                None => Observation::Missing(Missing::Unreachable("connection refused".into())),
            };
            state.observe(&d, &obs, t0 + jiff::SignedDuration::from_secs(*secs));
            assert_eq!(
                name(&state.level()),
                *expected,
                "{} (at {secs}s, value {value:?})",
                row.name
            );
        }
    }
}

#[test]
fn observe_reports_the_previous_level_only_on_change() {
    let row = &ROWS[0];
    let d = detector(row);
    let mut s = DetectorState::default();
    let t = jiff::Timestamp::from_second(0).expect("time");
    assert_eq!(s.observe(&d, &Observation::Value(0.1), t), None);
    assert_eq!(s.observe(&d, &Observation::Value(0.85), t), Some(Level::Ok));
    assert_eq!(s.observe(&d, &Observation::Value(0.86), t), None);
}
