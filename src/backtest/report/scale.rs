//! Axis ranges and ticks: "nice" value ticks (1, 2 or 5 × 10^k) and UTC time
//! ticks on round minutes, hours or days.

use jiff::Timestamp;

use super::format;

/// Values beyond this are clamped so that ranges never overflow to infinity.
const LIMIT: f64 = 1e300;

/// The value axis of one chart: range, ticks and their labels.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ValueAxis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<(f64, String)>,
}

impl ValueAxis {
    /// An axis covering `extent` (lowest and highest value to show) with a
    /// small margin, or 0..1 when there is nothing to show.
    pub fn new(extent: Option<(f64, f64)>, target_ticks: usize) -> ValueAxis {
        let (min, max) = extent.unwrap_or((0.0, 1.0));
        let (min, max) = (min.clamp(-LIMIT, LIMIT), max.clamp(-LIMIT, LIMIT));
        let (lo, hi) = if max - min <= max.abs().max(min.abs()) * 1e-12 {
            // Flat: centre the line instead of collapsing the range to zero.
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
            (min - pad, max + pad)
        } else {
            let margin = (max - min) * 0.06;
            (min - margin, max + margin)
        };
        let step = nice_step((hi - lo) / target_ticks.max(1) as f64);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let values: Vec<f64> = (first..=last)
            .take(4 * target_ticks + 4) // a guard; nice_step keeps it near target
            .map(|k| {
                let v = k as f64 * step;
                if v.abs() < step * 1e-9 { 0.0 } else { v }
            })
            .collect();
        let labels = format::tick_labels(&values, step);
        ValueAxis {
            lo,
            hi,
            ticks: values.into_iter().zip(labels).collect(),
        }
    }

    /// Where `v` sits between the bottom (0) and the top (1) of the axis.
    pub fn fraction(&self, v: f64) -> f64 {
        (v.clamp(-LIMIT, LIMIT) - self.lo) / (self.hi - self.lo)
    }
}

/// The smallest 1, 2 or 5 × 10^k at least `raw` (about).
pub(super) fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.5 {
        2.0
    } else if f < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// One mark on the time axis.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TimeTick {
    pub at: Timestamp,
    /// "14:30", "14:30:15" or "Mar 02".
    pub label: String,
    /// The date under the first tick and wherever the day changes, for
    /// sub-day steps.
    pub date: Option<String>,
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// Round steps in seconds, smallest first.
const STEPS: [i64; 24] = [
    1,
    2,
    5,
    10,
    15,
    30,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    28 * DAY,
    91 * DAY,
    364 * DAY,
];

/// Ticks at round UTC times between `from` and `to`, at most `max_ticks`.
pub(super) fn time_ticks(from: Timestamp, to: Timestamp, max_ticks: usize) -> Vec<TimeTick> {
    let (start, end) = (from.as_second(), to.as_second());
    let span = (end - start).max(1);
    let max_ticks = max_ticks.max(1) as i64;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= max_ticks)
        .unwrap_or_else(|| span / max_ticks + 1);
    // Weekly ticks fall on Mondays; the epoch was a Thursday.
    let offset = if step % (7 * DAY) == 0 { 4 * DAY } else { 0 };
    let mut at = (start - offset).div_euclid(step) * step + offset;
    if at < start || (at == start && from.subsec_nanosecond() > 0) {
        at += step;
    }
    let mut ticks = Vec::new();
    let mut last_day = None;
    while at <= end && ticks.len() < 2 * max_ticks as usize {
        let Ok(t) = Timestamp::from_second(at) else {
            break;
        };
        let (label, date) = if step >= DAY {
            let fmt = if span > 300 * DAY { "%Y-%m" } else { "%b %d" };
            (t.strftime(fmt).to_string(), None)
        } else {
            let fmt = if step < MINUTE { "%H:%M:%S" } else { "%H:%M" };
            let day = at.div_euclid(DAY);
            let date = (last_day != Some(day)).then(|| t.strftime("%b %d").to_string());
            last_day = Some(day);
            (t.strftime(fmt).to_string(), date)
        };
        ticks.push(TimeTick { at: t, label, date });
        at += step;
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn tick_values(axis: &ValueAxis) -> Vec<f64> {
        axis.ticks.iter().map(|(v, _)| *v).collect()
    }

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        let cases = [
            (0.013, 0.01),
            (0.03, 0.02),
            (0.07, 0.05),
            (0.08, 0.1),
            (1.0, 1.0),
            (180.0, 200.0),
            (4e9, 5e9),
            (0.0, 1.0),
            (f64::INFINITY, 1.0),
        ];
        for (raw, want) in cases {
            let got = nice_step(raw);
            assert!((got - want).abs() <= want * 1e-12, "{raw}: {got}");
        }
    }

    #[test]
    fn value_axis_covers_extent_with_margin_and_nice_ticks() {
        let axis = ValueAxis::new(Some((0.0, 0.95)), 4);
        assert!(axis.lo < 0.0 && axis.hi > 0.95 && axis.hi < 1.1, "{axis:?}");
        assert_eq!(
            tick_values(&axis),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        for (v, _) in &axis.ticks {
            assert!((axis.lo..=axis.hi).contains(v));
        }
    }

    #[test]
    fn value_axis_handles_flat_negative_huge_and_empty() {
        let flat = ValueAxis::new(Some((5.0, 5.0)), 5);
        assert!(flat.lo < 5.0 && flat.hi > 5.0 && !flat.ticks.is_empty());
        let zero = ValueAxis::new(Some((0.0, 0.0)), 5);
        assert_eq!((zero.lo, zero.hi), (-1.0, 1.0));
        let negative = ValueAxis::new(Some((-30.0, -10.0)), 5);
        assert!(negative.ticks.iter().all(|(v, _)| *v < 0.0));
        assert_eq!(negative.ticks[0].1, "-30");
        let huge = ValueAxis::new(Some((0.0, 4.2e9)), 5);
        assert_eq!(huge.ticks[1].1, "1G");
        let extreme = ValueAxis::new(Some((-f64::MAX, f64::MAX)), 5);
        assert!(extreme.fraction(0.0).is_finite() && extreme.ticks.len() < 30);
        let empty = ValueAxis::new(None, 5);
        assert!(empty.lo < 0.0 && empty.hi > 1.0);
        assert!((empty.fraction(empty.lo)).abs() < 1e-12);
        assert!((empty.fraction(empty.hi) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn time_ticks_pick_spacing_from_the_range() {
        let week = time_ticks(ts("2026-03-01T00:00:00Z"), ts("2026-03-08T00:00:00Z"), 8);
        let labels: Vec<&str> = week.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Mar 01", "Mar 02", "Mar 03", "Mar 04", "Mar 05", "Mar 06", "Mar 07", "Mar 08"
            ]
        );

        let day = time_ticks(ts("2026-03-01T10:17:00Z"), ts("2026-03-02T10:17:00Z"), 8);
        assert_eq!(day[0].label, "12:00");
        assert_eq!(day[0].date.as_deref(), Some("Mar 01"));
        assert_eq!(day[1].label, "15:00");
        assert_eq!(day[1].date, None);
        let midnight = day
            .iter()
            .find(|t| t.label == "00:00")
            .expect("midnight tick");
        assert_eq!(midnight.date.as_deref(), Some("Mar 02"));

        let hour = time_ticks(ts("2026-03-01T10:00:00Z"), ts("2026-03-01T11:00:00Z"), 8);
        let labels: Vec<&str> = hour.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "10:00", "10:10", "10:20", "10:30", "10:40", "10:50", "11:00"
            ]
        );

        let minute = time_ticks(ts("2026-03-01T10:00:00Z"), ts("2026-03-01T10:01:00Z"), 8);
        assert_eq!(minute[1].label, "10:00:10");

        let months = time_ticks(ts("2026-01-01T00:00:00Z"), ts("2026-04-01T00:00:00Z"), 8);
        assert!(months.len() <= 8 && months.len() >= 4, "{months:?}");
        assert!(
            months
                .iter()
                .all(|t| t.at.strftime("%a").to_string() == "Mon")
        );

        let empty = time_ticks(ts("2026-03-01T10:00:00Z"), ts("2026-03-01T10:00:00Z"), 8);
        assert_eq!(empty.len(), 1);
    }
}
