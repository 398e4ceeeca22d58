//! Sending one rendered [`Request`] through the kube client, and classifying failures.

use serde_json::Value;

use super::Sent;
use crate::act::render::{Method, RenderError, Request};

/// Why an action could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The API server refused the request (a `metav1.Status` failure).
    #[error("{method} {path}: {code} {reason}: {message}")]
    Api {
        method: Method,
        path: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// The request did not get an answer (connection, TLS, timeout).
    #[error("{method} {path}: {message}")]
    Transport {
        method: Method,
        path: String,
        message: String,
    },
    /// The answer was not the object we asked for.
    #[error("{path}: unexpected response: {message}")]
    Unexpected { path: String, message: String },
    #[error("deployment {0} is paused; a paused Deployment is not rolled back")]
    DeploymentPaused(String),
    #[error("deployment {0} has no revision older than the current one to roll back to")]
    NoPreviousRevision(String),
    #[error(
        "deployment {deployment}: revision {revision} has the same pod template as the current (failing) one"
    )]
    SameTemplate { deployment: String, revision: u64 },
    /// Notify goes to Slack; diagnostics need the Incident and the readings
    /// ([`super::Executor::capture_diagnostics`]).
    #[error("{0} is not executed by Executor::execute")]
    NotExecutable(&'static str),
    /// A bug: the renderer gave no request (or no body) where one is expected.
    #[error("{0}: nothing rendered to send")]
    NothingRendered(&'static str),
    /// The Incident could not be written before the action (its ledger, or the
    /// owner its diagnostics need): nothing is sent until it can be.
    #[error("writing the Incident first: {0}")]
    Ledger(String),
}

impl ExecError {
    /// Short label for failure metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ExecError::Render(e) => e.metric_label(),
            ExecError::Api { code, .. } => match code {
                401 | 403 => "api_forbidden",
                404 => "api_not_found",
                408 | 504 => "api_timeout",
                409 => "api_conflict",
                429 => "api_throttled",
                500..=599 => "api_server_error",
                _ => "api_rejected",
            },
            ExecError::Transport { .. } => "transport",
            ExecError::Unexpected { .. } => "unexpected_response",
            ExecError::DeploymentPaused(_) => "deployment_paused",
            ExecError::NoPreviousRevision(_) => "no_previous_revision",
            ExecError::SameTemplate { .. } => "same_template",
            ExecError::NotExecutable(_) => "not_executable",
            ExecError::NothingRendered(_) => "nothing_rendered",
            ExecError::Ledger(_) => "ledger_write",
        }
    }

    /// Worth retrying as is: server errors, conflicts, throttling and timeouts.
    /// Everything else (validation, RBAC, missing objects, refusals) needs a change first.
    pub fn is_transient(&self) -> bool {
        match self {
            ExecError::Api { code, .. } => matches!(code, 408 | 409 | 429 | 500..=599),
            ExecError::Transport { .. } | ExecError::Ledger(_) => true,
            _ => false,
        }
    }

    /// The HTTP status of an API refusal.
    pub fn code(&self) -> Option<u16> {
        match self {
            ExecError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Sends `request`; the answer's JSON body (`Value::Null` when empty) and what was sent.
pub(super) async fn send(
    client: &kube::Client,
    request: &Request,
) -> Result<(Value, Sent), ExecError> {
    let (bytes, sent) = send_bytes(client, request).await?;
    let answer = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(|e| unexpected(request, e))?
    };
    Ok((answer, sent))
}

/// Sends `request`; the answer's body as it came (pod logs are plain text) and
/// what was sent. Failures are classified as for [`send`].
pub(super) async fn send_bytes(
    client: &kube::Client,
    request: &Request,
) -> Result<(Vec<u8>, Sent), ExecError> {
    let mut builder = http::Request::builder()
        .method(http_method(request.method))
        .uri(&request.path);
    if let Some(content_type) = request.content_type {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    let body = match &request.body {
        Some(body) => serde_json::to_vec(body).map_err(|e| unexpected(request, e))?,
        None => Vec::new(),
    };
    let http_request = builder
        .body(kube::client::Body::from(body))
        .map_err(|e| unexpected(request, e))?;
    let response = client
        .send(http_request)
        .await
        .map_err(|e| transport(request, e))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .map_err(|e| transport(request, e))?;
    if status.is_client_error() || status.is_server_error() {
        // Not every failure is a `metav1.Status` (a proxy's HTML page, a missing CRD).
        let failure: kube::core::Status = serde_json::from_slice(&bytes).unwrap_or_default();
        return Err(ExecError::Api {
            method: request.method,
            path: request.path.clone(),
            code: status.as_u16(),
            reason: failure.reason,
            message: if failure.message.is_empty() {
                String::from_utf8_lossy(&bytes).trim().to_owned()
            } else {
                failure.message
            },
        });
    }
    let sent = Sent {
        method: request.method,
        path: request.path.clone(),
        code: status.as_u16(),
    };
    Ok((bytes.to_vec(), sent))
}

/// Like [`send`], but a 404 on DELETE counts as done: reverts are repeated
/// after crashes, and the object may already be gone.
pub(super) async fn send_idempotent(
    client: &kube::Client,
    request: &Request,
) -> Result<Option<Sent>, ExecError> {
    match send(client, request).await {
        Ok((_, sent)) => Ok(Some(sent)),
        Err(e) if request.method == Method::Delete && e.code() == Some(404) => {
            tracing::debug!(path = %request.path, "already deleted");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// For reverts: a 404 on any request counts as done. The object carrying the
/// mitigation is gone (deleted by someone, or the workload itself), and with it
/// what was to be undone.
pub(super) async fn send_revert(
    client: &kube::Client,
    request: &Request,
) -> Result<Option<Sent>, ExecError> {
    match send(client, request).await {
        Ok((_, sent)) => Ok(Some(sent)),
        Err(e) if e.code() == Some(404) => {
            tracing::info!(path = %request.path, "object gone; nothing left to revert");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn http_method(method: Method) -> http::Method {
    match method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Patch => http::Method::PATCH,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
    }
}

fn transport(request: &Request, e: kube::Error) -> ExecError {
    ExecError::Transport {
        method: request.method,
        path: request.path.clone(),
        message: e.to_string(),
    }
}

pub(super) fn unexpected(request: &Request, e: impl std::fmt::Display) -> ExecError {
    ExecError::Unexpected {
        path: request.path.clone(),
        message: e.to_string(),
    }
}
