//! Map client errors to the distinct no-data reasons the engine and status report.

use std::error::Error as _;

use prometheus_http_query::Error;

use crate::detect::SourceError;

/// Classify a failed request: unreachable, timed out, HTTP status, or query error.
pub(super) fn classify(e: Error) -> SourceError {
    match &e {
        Error::Prometheus(p) if p.is_timeout() || p.is_canceled() => {
            SourceError::Timeout(p.message().to_owned())
        }
        Error::Prometheus(p) => SourceError::Query(p.to_string()),
        Error::Client(c) => match c.source().and_then(|s| s.downcast_ref::<reqwest::Error>()) {
            Some(r) if r.is_timeout() => SourceError::Timeout(chain(r)),
            Some(r) if r.is_connect() => SourceError::Unreachable(chain(r)),
            Some(r) => match r.status() {
                Some(status) => SourceError::Http {
                    status: status.as_u16(),
                    message: status.canonical_reason().unwrap_or("error").to_owned(),
                },
                // Sent but no usable answer (reset, truncated body, not JSON).
                None if r.is_request() || r.is_body() => SourceError::Unreachable(chain(r)),
                None => SourceError::Query(format!("{c}: {}", chain(r))),
            },
            None => SourceError::Query(c.to_string()),
        },
        _ => SourceError::Query(e.to_string()),
    }
}

/// The error and its causes on one line, innermost last, without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}
