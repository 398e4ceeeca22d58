//! The capture's reads: each GET is sent on its own, and one that fails (a pod
//! gone, a container that never restarted, RBAC) is noted and skipped, not fatal.

use serde_json::Value;

use super::super::send::{send, send_bytes};
use super::super::{ExecError, Sent};
use crate::act::render::Request;

/// One read that failed, for the summary.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Failure {
    pub what: String,
    pub error: String,
}

pub(super) struct Reads<'a> {
    client: &'a kube::Client,
    /// Requests answered, in order.
    pub sent: Vec<Sent>,
    pub failures: Vec<Failure>,
    /// The first failure as it was, returned when nothing could be read at all.
    pub first_error: Option<ExecError>,
}

impl<'a> Reads<'a> {
    pub fn new(client: &'a kube::Client) -> Self {
        Reads {
            client,
            sent: Vec::new(),
            failures: Vec::new(),
            first_error: None,
        }
    }

    /// GET `path` as JSON; `None` (and a noted failure) when it fails.
    pub async fn json(&mut self, what: &str, path: String) -> Option<Value> {
        let request = Request::get(path);
        let result = send(self.client, &request).await;
        self.keep(what, result)
    }

    /// GET `path` as text (pod logs are `text/plain`, not JSON).
    pub async fn text(&mut self, what: &str, path: String) -> Option<String> {
        let request = Request::get(path);
        let result = send_bytes(self.client, &request).await;
        // Logs are bytes: a cut (limitBytes) may split a character, and some
        // applications log binary; both are kept as replacement characters.
        self.keep(what, result)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Whether any read succeeded.
    pub fn any(&self) -> bool {
        !self.sent.is_empty()
    }

    /// Note a failure that did not come from a read (parsing an answer).
    pub fn note(&mut self, what: &str, error: impl std::fmt::Display) {
        self.failures.push(Failure {
            what: what.to_owned(),
            error: error.to_string(),
        });
    }

    fn keep<T>(&mut self, what: &str, result: Result<(T, Sent), ExecError>) -> Option<T> {
        match result {
            Ok((answer, sent)) => {
                self.sent.push(sent);
                Some(answer)
            }
            Err(e) => {
                tracing::debug!(what, error = %e, kind = e.metric_label(), "diagnostics read failed");
                self.note(what, short(&e));
                self.first_error.get_or_insert(e);
                None
            }
        }
    }
}

/// The error without the request path, which the summary line already names.
fn short(e: &ExecError) -> String {
    match e {
        ExecError::Api {
            code,
            reason,
            message,
            ..
        } => format!("{code} {reason}: {message}"),
        ExecError::Transport { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
