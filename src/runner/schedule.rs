//! When each playbook is evaluated over recorded time: every `interval` (or a
//! forced `--step`), aligned to the start, so replay and backtest see the same instants.

use jiff::Timestamp;

use crate::duration::Duration;
use crate::playbook::model::Playbook;

/// A playbook's evaluation step in milliseconds.
pub fn step_ms(pb: &Playbook, step: Option<Duration>) -> i64 {
    let ms = step.unwrap_or(pb.interval).as_std().as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX).max(1)
}

/// Whether `pb` evaluates at `now` on a grid starting at `start`.
pub fn is_due(pb: &Playbook, step: Option<Duration>, start: Timestamp, now: Timestamp) -> bool {
    (now.as_millisecond() - start.as_millisecond()) % step_ms(pb, step) == 0
}

/// Every evaluation time of any of `playbooks` in `[start, end]`, ascending.
pub fn times<'a>(
    playbooks: impl IntoIterator<Item = &'a Playbook>,
    step: Option<Duration>,
    start: Timestamp,
    end: Timestamp,
) -> Vec<Timestamp> {
    let mut times: Vec<i64> = playbooks
        .into_iter()
        .flat_map(|pb| {
            let s = usize::try_from(step_ms(pb, step)).unwrap_or(usize::MAX);
            (start.as_millisecond()..=end.as_millisecond()).step_by(s)
        })
        .collect();
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .filter_map(|ms| Timestamp::from_millisecond(ms).ok())
        .collect()
}
