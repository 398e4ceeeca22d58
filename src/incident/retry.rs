//! Retrying a step whose execution failed transiently (API 5xx, 409, 429,
//! timeouts): exponential backoff counted in playbook intervals, a bounded
//! number of attempts, then failed for good.

use jiff::Timestamp;
use serde::Serialize;

use super::plan::Operation;
use crate::duration::Duration;

/// Attempts in all (the first one included) before a step fails for good.
pub const MAX_ATTEMPTS: u32 = 5;
/// The longest wait between two attempts, in playbook intervals.
const MAX_BACKOFF_INTERVALS: u32 = 8;

/// A step waiting to be tried again after a transient failure.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    /// Which of the step's operations failed (the apply, or the revert).
    pub operation: Operation,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not issued again before this.
    pub next_at: Timestamp,
    /// Why the last attempt failed.
    pub reason: String,
}

impl Retry {
    /// After the `attempts`-th failure at `now`: when to try again (1, 2, 4, 8,
    /// 8… intervals after it), or `None` when the attempts are used up.
    pub fn after_failure(
        operation: Operation,
        attempts: u32,
        reason: String,
        interval: Duration,
        now: Timestamp,
    ) -> Option<Retry> {
        if attempts >= MAX_ATTEMPTS {
            return None;
        }
        let factor = 1u32
            .checked_shl(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(MAX_BACKOFF_INTERVALS);
        let wait = interval
            .signed()
            .saturating_mul(i32::try_from(factor).unwrap_or(i32::MAX));
        Some(Retry {
            operation,
            attempts,
            next_at: now + wait,
            reason,
        })
    }

    pub fn is_due(&self, now: Timestamp) -> bool {
        self.next_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_772_409_600 + secs).expect("valid")
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_a_cap_then_gives_up() {
        let interval = Duration::from_secs(15);
        let waits: Vec<Option<i64>> = (1..=6)
            .map(|n| {
                Retry::after_failure(Operation::Apply, n, "500".into(), interval, at(0))
                    .map(|r| r.next_at.as_second() - at(0).as_second())
            })
            .collect();
        assert_eq!(waits, [Some(15), Some(30), Some(60), Some(120), None, None]);
    }
}
