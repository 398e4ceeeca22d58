//! Per (playbook, target, detector) evaluation: value → severity, held for `for`,
//! left after `clearFor` past the hysteresis margin; missing data is its own state.

use jiff::Timestamp;
use serde::Serialize;

use crate::playbook::model::Detector;
use crate::severity::Severity;

/// Why a detector has no value for a target. Each reason is its own state so that
/// the status, logs and metrics can say exactly what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "camelCase")]
pub enum Missing {
    /// The metric source could not be reached (connection refused, DNS, TLS).
    Unreachable(String),
    /// The source did not answer within the query timeout.
    Timeout(String),
    /// The source answered with an HTTP error and no API error body (e.g. a proxy's 502).
    HttpStatus { status: u16, message: String },
    /// The source rejected or failed the query (bad PromQL, execution error).
    QueryFailed(String),
    /// The query succeeded but returned no series at all.
    EmptyResult,
    /// The query returned series, none for this workload, and it never had one.
    NoSeries,
    /// This workload had a series before and has none now (stale: its scrape stopped).
    Stale,
    /// The value is NaN, e.g. a ratio over zero requests.
    NotANumber,
}

impl Missing {
    /// Every [`Missing::reason`], for metrics that list them all.
    pub const REASONS: [&'static str; 8] = [
        "unreachable",
        "timeout",
        "http_status",
        "query_failed",
        "empty_result",
        "no_series",
        "stale",
        "nan",
    ];

    /// Short, stable label for metrics and status reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Missing::Unreachable(_) => "unreachable",
            Missing::Timeout(_) => "timeout",
            Missing::HttpStatus { .. } => "http_status",
            Missing::QueryFailed(_) => "query_failed",
            Missing::EmptyResult => "empty_result",
            Missing::NoSeries => "no_series",
            Missing::Stale => "stale",
            Missing::NotANumber => "nan",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Unreachable(e) => write!(f, "source unreachable: {e}"),
            Missing::Timeout(e) => write!(f, "query timed out: {e}"),
            Missing::HttpStatus { status, message } => write!(f, "HTTP {status}: {message}"),
            Missing::QueryFailed(e) => write!(f, "query failed: {e}"),
            Missing::EmptyResult => f.write_str("query returned no series"),
            Missing::NoSeries => f.write_str("no series for this workload"),
            Missing::Stale => f.write_str("series went stale"),
            Missing::NotANumber => f.write_str("value is NaN"),
        }
    }
}

/// What one evaluation saw for one detector and target.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    Value(f64),
    Missing(Missing),
}

/// A detector's judgement of one target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Level {
    Ok,
    Firing { severity: Severity },
    NoData { missing: Missing },
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Level::Ok => f.write_str("ok"),
            Level::Firing { severity } => write!(f, "{severity}"),
            Level::NoData { missing } => write!(f, "no data ({missing})"),
        }
    }
}

/// Timers of one detector for one target.
#[derive(Clone, Debug, Default)]
pub struct DetectorState {
    severity: Option<Severity>,
    missing: Option<Missing>,
    /// Since when the value has crossed each severity's threshold, uninterrupted.
    crossed_since: [Option<Timestamp>; 4],
    /// Since when the value has been past each threshold's hysteresis margin, uninterrupted.
    cleared_since: [Option<Timestamp>; 4],
    last_value: Option<f64>,
}

fn idx(s: Severity) -> usize {
    s as usize
}

impl DetectorState {
    /// A state continued after a restart: it holds `severity` until the value clears
    /// for `clearFor`, as it would have without the restart; timers start afresh.
    pub fn restored(severity: Option<Severity>) -> Self {
        DetectorState {
            severity,
            ..Default::default()
        }
    }

    /// The severity held, kept through missing data.
    pub fn severity(&self) -> Option<Severity> {
        self.severity
    }

    pub fn is_missing(&self) -> bool {
        self.missing.is_some()
    }

    pub fn last_value(&self) -> Option<f64> {
        self.last_value
    }

    pub fn level(&self) -> Level {
        match (&self.missing, self.severity) {
            (Some(m), _) => Level::NoData { missing: m.clone() },
            (None, Some(s)) => Level::Firing { severity: s },
            (None, None) => Level::Ok,
        }
    }

    /// Feed one observation; returns the previous level when the level changed.
    pub fn observe(&mut self, d: &Detector, obs: &Observation, now: Timestamp) -> Option<Level> {
        let before = self.level();
        match obs {
            Observation::Missing(m) => {
                // A gap breaks continuity: neither escalation nor recovery may count it.
                self.missing = Some(m.clone());
                self.crossed_since = [None; 4];
                self.cleared_since = [None; 4];
            }
            Observation::Value(v) => {
                self.missing = None;
                self.last_value = Some(*v);
                self.severity = self.judge(d, *v, now);
            }
        }
        let after = self.level();
        (after != before).then_some(before)
    }

    fn judge(&mut self, d: &Detector, v: f64, now: Timestamp) -> Option<Severity> {
        for (s, threshold) in &d.thresholds {
            let i = idx(*s);
            if d.crosses(v, *threshold) {
                self.crossed_since[i].get_or_insert(now);
            } else {
                self.crossed_since[i] = None;
            }
            if d.clears(v, *threshold) {
                self.cleared_since[i].get_or_insert(now);
            } else {
                self.cleared_since[i] = None;
            }
        }
        let held = |since: Option<Timestamp>, need: crate::duration::Duration| {
            since.is_some_and(|t| now.duration_since(t) >= need.signed())
        };
        let reached = d
            .thresholds
            .iter()
            .rev()
            .map(|(s, _)| *s)
            .find(|s| held(self.crossed_since[idx(*s)], d.for_));
        // Keep the current severity, or the highest lower one, that has not cleared for `clearFor`.
        let retained = self.severity.and_then(|current| {
            d.thresholds
                .iter()
                .rev()
                .map(|(s, _)| *s)
                .filter(|s| *s <= current)
                .find(|s| !held(self.cleared_since[idx(*s)], d.clear_for))
        });
        reached.max(retained)
    }
}
