//! Per-object retry delays for failed reconciles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// First retry delay after a transient failure.
pub const BASE: Duration = Duration::from_secs(5);
/// Longest delay, and the delay for failures that retrying will not fix soon.
pub const MAX: Duration = Duration::from_secs(300);

/// Consecutive failures per object (`namespace/name`); a success resets it.
#[derive(Debug, Default)]
pub struct Backoff(Mutex<HashMap<String, u32>>);

impl Backoff {
    /// Count one more failure of `key` and return how long to wait: 5 s,
    /// 10 s, 20 s, … up to 5 min for transient failures, 5 min for others.
    pub fn next_delay(&self, key: &str, transient: bool) -> Duration {
        let mut failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        if !transient {
            return MAX;
        }
        // 2^6 × 5 s already exceeds the cap; clamping the shift avoids overflow.
        let factor = 1u32 << (*n - 1).min(6);
        (BASE * factor).min(MAX)
    }

    /// Forget the failures of `key` (it succeeded, or is gone).
    pub fn reset(&self, key: &str) {
        let mut failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_delays_double_from_5s_to_a_5min_cap_and_reset() {
        let b = Backoff::default();
        let delays: Vec<u64> = (0..9)
            .map(|_| b.next_delay("shop/checkout", true).as_secs())
            .collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(b.next_delay("shop/other", true), BASE, "per object");
        b.reset("shop/checkout");
        assert_eq!(b.next_delay("shop/checkout", true), BASE);
    }

    #[test]
    fn permanent_failures_wait_the_maximum() {
        let b = Backoff::default();
        assert_eq!(b.next_delay("shop/checkout", false), MAX);
    }
}
