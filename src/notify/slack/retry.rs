//! When to try a Slack request again, and when never to.
//!
//! - `429`: Slack did not act; wait `Retry-After` seconds (every later request
//!   waits too: the limit is per method and workspace) and retry.
//! - `5xx`, a connection that never opened: Slack did not act; retry with
//!   exponential backoff up to a cap.
//! - No answer after the request left (timeout, connection reset), or Slack's
//!   own `internal_error`/`fatal_error`/`request_timeout` ("some aspect of the
//!   operation may have succeeded"): the message may be posted. Retried only for
//!   idempotent calls (`chat.update`, `chat.getPermalink`); a `chat.postMessage`
//!   is never sent twice, since Slack has no idempotency key for it.
//! - Anything else Slack refuses (`ok:false`, `4xx`): final.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

use crate::telemetry::Metrics;

/// Retry limits within one delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Requests per call, the first included.
    pub attempts: u32,
    /// Backoff after the first transient failure; doubles each time.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` waited for within a call; a longer one ends the
    /// call (the delivery task tries again after it).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Why a call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Slack answered and refused (`channel_not_found`, `invalid_auth`, `msg_too_long`, …).
    #[error("refused by Slack: {0}")]
    Rejected(String),
    /// Slack did not act (rate limited, 5xx, unreachable) and retries ran out.
    #[error("Slack unavailable: {0}")]
    Unavailable(String),
    /// The request may have been acted on, but no answer says so.
    #[error("no answer, it may have been posted (not sent again): {0}")]
    Unknown(String),
}

impl CallError {
    /// Short label for logs and timeline entries.
    pub fn metric_label(&self) -> &'static str {
        match self {
            CallError::Rejected(_) => "rejected",
            CallError::Unavailable(_) => "unavailable",
            CallError::Unknown(_) => "unknown",
        }
    }
}

/// How one answer is read by the caller's interpretation.
pub enum Verdict<T> {
    Done(T),
    RateLimited(Option<Duration>),
    /// Not acted on: retry.
    Transient(String),
    /// Maybe acted on.
    Ambiguous(String),
    Rejected(String),
}

/// `Retry-After` in seconds (Slack sends whole seconds).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Shared pacing of one Slack endpoint family: the time before which nothing is sent.
#[derive(Debug, Default)]
pub struct Pacer {
    paused_until: Option<Instant>,
}

impl Pacer {
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until.filter(|t| *t > Instant::now())
    }

    fn pause(&mut self, d: Duration) {
        let until = Instant::now() + d;
        self.paused_until = Some(self.paused_until.map_or(until, |t| t.max(until)));
    }
}

/// Send what `request` builds until `read` accepts the answer or the policy says stop.
/// `what` names the call in logs (`chat.postMessage`); never a URL (a webhook URL is a secret).
pub async fn call<T>(
    policy: &RetryPolicy,
    pacer: &mut Pacer,
    metrics: &Metrics,
    what: &'static str,
    idempotent: bool,
    request: impl Fn() -> reqwest::RequestBuilder,
    read: impl Fn(StatusCode, &HeaderMap, &[u8]) -> Verdict<T>,
) -> Result<T, CallError> {
    let attempts = policy.attempts.max(1);
    let mut last = String::from("not attempted");
    for attempt in 1..=attempts {
        if let Some(until) = pacer.paused_until() {
            tokio::time::sleep_until(until).await;
        }
        let verdict = match request().send().await {
            Err(e) => transport(e, idempotent),
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(body) => read(status, &headers, &body),
                    Err(e) => transport(e, idempotent),
                }
            }
        };
        let wait = match verdict {
            Verdict::Done(v) => return Ok(v),
            Verdict::Rejected(e) => return Err(CallError::Rejected(e)),
            Verdict::Ambiguous(e) if !idempotent => return Err(CallError::Unknown(e)),
            Verdict::Ambiguous(e) | Verdict::Transient(e) => {
                last = e;
                policy.backoff(attempt)
            }
            Verdict::RateLimited(after) => {
                let after = after.unwrap_or(Duration::from_secs(1));
                pacer.pause(after);
                last = format!("rate limited for {}s", after.as_secs());
                if after > policy.max_wait {
                    return Err(CallError::Unavailable(last));
                }
                Duration::ZERO
            }
        };
        if attempt == attempts {
            break;
        }
        metrics.record_delivery("slack", "retried");
        tracing::debug!(call = what, attempt, reason = %last, "retrying Slack call");
        tokio::time::sleep(wait).await;
    }
    Err(CallError::Unavailable(last))
}

/// A request that got no answer: the connection never opening is safe to retry,
/// anything after the request left is not (unless idempotent).
fn transport<T>(e: reqwest::Error, idempotent: bool) -> Verdict<T> {
    // Without the URL: a webhook URL is a credential.
    let e = e.without_url();
    let kind = if e.is_timeout() {
        "timeout"
    } else {
        "transport error"
    };
    let detail = format!("{kind}: {e}");
    if e.is_connect() || idempotent {
        Verdict::Transient(detail)
    } else {
        Verdict::Ambiguous(detail)
    }
}
