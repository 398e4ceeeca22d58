//! What the Slack sink writes into `Incident` status (operator mode only):
//!
//! - `status.slack = {channel, ts}` as soon as a root is posted, by a JSON merge
//!   patch on the status subresource, so that a new leader continues the thread
//!   instead of opening a second one. The incident writer PUTs the status with
//!   its `resourceVersion` and keeps `slack` when it re-reads after the 409 our
//!   patch causes.
//! - a `slackDeliveryFailed` timeline entry for each message given up, by a JSON
//!   patch that appends to `status.timeline` (no read-modify-write, so no race
//!   with the incident writer, which keeps entries it did not write).
//!
//! The Incident is created at the end of the cycle that opened it, after the
//! notices are handed over: a 404 (or a 422 while it has no timeline yet) is
//! retried on the next rounds, a bounded number of times.

use std::collections::VecDeque;

use http::{Method, Request, StatusCode};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use serde_json::{Value, json};

use crate::incident::resource::{Incident, SlackThread, TimelineEntry};

/// Rounds a write is tried before it is given up.
const ATTEMPTS: u32 = 30;
/// Writes kept waiting; the oldest go first beyond it.
const MAX_PENDING: usize = 1000;
/// Timeline event of a message Firebreak gave up on.
pub const FAILED_EVENT: &str = "slackDeliveryFailed";

#[derive(Clone, Debug, PartialEq)]
enum Change {
    Thread(SlackThread),
    Failure(TimelineEntry),
}

#[derive(Debug)]
struct Write {
    namespace: String,
    incident: String,
    change: Change,
    attempts: u32,
}

/// Status writes waiting for their Incident; a no-op without a client (standalone).
pub struct StatusWriter {
    client: Option<kube::Client>,
    pending: VecDeque<Write>,
}

impl StatusWriter {
    pub fn new(client: Option<kube::Client>) -> Self {
        StatusWriter {
            client,
            pending: VecDeque::new(),
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Record the thread of `incident` now (retried later if it cannot be written yet).
    pub async fn thread(&mut self, namespace: &str, incident: &str, thread: SlackThread) {
        self.push(namespace, incident, Change::Thread(thread));
        self.flush().await;
    }

    /// Queue a timeline entry saying a Slack message was given up (written at the next flush).
    pub fn failure(
        &mut self,
        namespace: &str,
        incident: &str,
        message: String,
        key: Option<String>,
    ) {
        let entry = TimelineEntry {
            at: Time(Timestamp::now()),
            event: FAILED_EVENT.to_owned(),
            message,
            detector: None,
            value: None,
            threshold: None,
            key,
        };
        self.push(namespace, incident, Change::Failure(entry));
    }

    fn push(&mut self, namespace: &str, incident: &str, change: Change) {
        if self.client.is_none() {
            return;
        }
        if self.pending.len() >= MAX_PENDING
            && let Some(w) = self.pending.pop_front()
        {
            tracing::warn!(incident = %w.incident, "too many Incident status writes waiting; dropped the oldest");
        }
        self.pending.push_back(Write {
            namespace: namespace.to_owned(),
            incident: incident.to_owned(),
            change,
            attempts: 0,
        });
    }

    /// Try every waiting write once; keep those whose Incident is not there yet.
    pub async fn flush(&mut self) {
        let Some(client) = self.client.clone() else {
            return;
        };
        for mut w in std::mem::take(&mut self.pending) {
            w.attempts += 1;
            match send(&client, &w).await {
                Ok(()) => {
                    tracing::debug!(incident = %w.incident, namespace = %w.namespace, "Slack state written to the Incident status");
                }
                Err(reason) if w.attempts < ATTEMPTS => {
                    tracing::debug!(incident = %w.incident, %reason, attempt = w.attempts, "Incident status not written yet; will retry");
                    self.pending.push_back(w);
                }
                Err(reason) => {
                    tracing::warn!(incident = %w.incident, namespace = %w.namespace, %reason, "gave up writing Slack state to the Incident status");
                }
            }
        }
    }
}

fn path(namespace: &str, incident: &str) -> String {
    format!(
        "{}/{incident}/status",
        Incident::url_path(&(), Some(namespace))
    )
}

/// The request for one write: a merge patch for the thread, a JSON patch appending the entry.
fn request(w: &Write) -> (&'static str, Value) {
    match &w.change {
        Change::Thread(t) => (
            "application/merge-patch+json",
            json!({ "status": { "slack": t } }),
        ),
        Change::Failure(entry) => (
            "application/json-patch+json",
            json!([{ "op": "add", "path": "/status/timeline/-", "value": entry }]),
        ),
    }
}

async fn send(client: &kube::Client, w: &Write) -> Result<(), String> {
    let (content_type, body) = request(w);
    let req = Request::builder()
        .method(Method::PATCH)
        .uri(path(&w.namespace, &w.incident))
        .header(http::header::CONTENT_TYPE, content_type)
        .body(kube::client::Body::from(
            serde_json::to_vec(&body).unwrap_or_default(),
        ))
        .map_err(|e| e.to_string())?;
    let response = client.send(req).await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    Err(match status {
        StatusCode::NOT_FOUND => "incident not created yet (404)".to_owned(),
        StatusCode::UNPROCESSABLE_ENTITY => "incident has no timeline yet (422)".to_owned(),
        s => format!("HTTP {}", s.as_u16()),
    })
}

#[cfg(test)]
mod tests {
    use http::Method;
    use serde_json::json;

    use super::*;
    use crate::operator::testing::{self, Exchange, Reply};

    const PATH: &str = "/apis/firebreak.dev/v1alpha1/namespaces/shop/incidents/checkout-1/status";

    #[tokio::test]
    async fn the_thread_is_merged_into_the_status_once_the_incident_exists() {
        let (client, server) = testing::client("shop");
        let server = server.run(vec![
            Exchange::new(
                Method::PATCH,
                PATH,
                Reply::status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "incidents \"checkout-1\" not found",
                ),
            )
            .content_type("application/merge-patch+json"),
            Exchange::new(Method::PATCH, PATH, Reply::json(StatusCode::OK, json!({})))
                .content_type("application/merge-patch+json"),
            Exchange::new(Method::PATCH, PATH, Reply::json(StatusCode::OK, json!({})))
                .content_type("application/json-patch+json"),
        ]);
        let mut w = StatusWriter::new(Some(client));
        let thread = SlackThread {
            channel: "C0INCIDENTS".into(),
            ts: "1767225600.000100".into(),
        };
        w.thread("shop", "checkout-1", thread).await;
        assert!(w.has_pending(), "a 404 keeps the write for later");
        w.flush().await;
        assert!(!w.has_pending());
        w.failure(
            "shop",
            "checkout-1",
            "chat.postMessage: channel_not_found".into(),
            None,
        );
        w.flush().await;
        drop(w);
        let received = testing::served(server).await;
        assert_eq!(
            received[1].body,
            Some(
                json!({ "status": { "slack": { "channel": "C0INCIDENTS", "ts": "1767225600.000100" } } })
            )
        );
        let op = &received[2].body.as_ref().map(|b| b[0].clone());
        let op = op.as_ref().expect("json patch");
        assert_eq!(op["op"], "add");
        assert_eq!(op["path"], "/status/timeline/-");
        assert_eq!(op["value"]["event"], FAILED_EVENT);
        assert_eq!(
            op["value"]["message"],
            "chat.postMessage: channel_not_found"
        );
    }

    #[tokio::test]
    async fn without_a_client_nothing_is_kept() {
        let mut w = StatusWriter::new(None);
        w.failure("shop", "x", "m".into(), None);
        assert!(!w.has_pending());
    }
}
