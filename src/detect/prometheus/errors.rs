//! Map failed queries to the distinct no-data reasons the engine and status report.
//!
//! Answers are read here rather than by `prometheus-http-query`, which drops the
//! HTTP status when a JSON body is not Prometheus' envelope: a gateway's JSON 502
//! (`{"message": …}`, as API gateways send) would otherwise read as a bad query.

use serde::de::DeserializeOwned;

use crate::detect::SourceError;

/// Prometheus' response envelope (HTTP API, "Format overview"); other fields
/// (`warnings`, `infos`) are ignored. A struct rather than an enum tagged by
/// `status`: serde buffers the whole body of an internally tagged enum before
/// decoding it, which for a range answer is megabytes.
#[derive(serde::Deserialize)]
struct Envelope<D> {
    status: Status,
    data: Option<D>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Success,
    Error,
}

/// Read an answer: Prometheus' own errors by their `errorType`; any other body
/// with a failed status (a proxy's HTML or JSON page) by its HTTP status.
pub(super) async fn read<D: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<D, SourceError> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| from_reqwest(&e))?;
    match serde_json::from_slice::<Envelope<D>>(&body) {
        Ok(Envelope {
            status: Status::Success,
            data: Some(data),
            ..
        }) => Ok(data),
        Ok(Envelope {
            status: Status::Error,
            error_type,
            error,
            ..
        }) => {
            let (error_type, error) = (error_type.unwrap_or_default(), error.unwrap_or_default());
            Err(match error_type.as_str() {
                "timeout" | "canceled" => SourceError::Timeout(error),
                _ => SourceError::Query(format!("{error_type}: {error}")),
            })
        }
        _ if !status.is_success() => Err(SourceError::Http {
            status: status.as_u16(),
            message: status.canonical_reason().unwrap_or("error").to_owned(),
        }),
        Ok(_) => Err(SourceError::Query(format!(
            "HTTP {status}: a success answer without data"
        ))),
        Err(e) => Err(SourceError::Query(format!(
            "HTTP {status} without a Prometheus API answer: {e}"
        ))),
    }
}

/// Classify a request that got no answer: unreachable or timed out.
pub(super) fn classify(e: prometheus_http_query::Error) -> SourceError {
    match &e {
        prometheus_http_query::Error::Client(c) => match c.inner() {
            Some(r) => from_reqwest(r),
            None => SourceError::Query(c.to_string()),
        },
        _ => SourceError::Query(e.to_string()),
    }
}

fn from_reqwest(r: &reqwest::Error) -> SourceError {
    if r.is_timeout() {
        SourceError::Timeout(chain(r))
    } else if let Some(status) = r.status() {
        SourceError::Http {
            status: status.as_u16(),
            message: status.canonical_reason().unwrap_or("error").to_owned(),
        }
    } else if r.is_connect() || r.is_request() || r.is_body() {
        // Not connected, or sent without a usable answer (reset, truncated body).
        SourceError::Unreachable(chain(r))
    } else {
        SourceError::Query(chain(r))
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
