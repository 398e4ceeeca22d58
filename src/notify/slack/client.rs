//! The Slack calls Firebreak makes: `chat.postMessage`, `chat.update` and
//! `chat.getPermalink` of the Web API with a bot token (scope `chat:write`),
//! or a POST to an incoming webhook. JSON bodies, `Authorization: Bearer`
//! (<https://docs.slack.dev/apis/web-api>); retries as in [`super::retry`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::blocks::Message;
use super::retry::{self, CallError, Pacer, RetryPolicy, Verdict};
use crate::telemetry::Metrics;

/// Slack asks for the charset on JSON bodies (`missing_charset` warning otherwise).
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A string that is a credential: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What `chat.postMessage` answered: the channel ID (even when posted by name) and the `ts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
}

/// Reading of a Web API answer (HTTP status first, then `ok`/`error`).
fn web_api(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Verdict<Answer> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Verdict::RateLimited(retry::retry_after(headers));
    }
    if status.is_server_error() {
        return Verdict::Transient(format!("HTTP {}", status.as_u16()));
    }
    if !status.is_success() {
        return Verdict::Rejected(format!("HTTP {}", status.as_u16()));
    }
    let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
        return Verdict::Ambiguous(format!("HTTP {} with an unreadable body", status.as_u16()));
    };
    if answer.ok {
        return Verdict::Done(answer);
    }
    let error = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
    match error.as_str() {
        "ratelimited" | "rate_limited" => Verdict::RateLimited(retry::retry_after(headers)),
        "service_unavailable" => Verdict::Transient(error),
        // Slack: "it's possible some aspect of the operation succeeded".
        "internal_error" | "fatal_error" | "request_timeout" => Verdict::Ambiguous(error),
        _ => Verdict::Rejected(error),
    }
}

/// The Web API with a bot token.
pub struct SlackApi {
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    pacer: Pacer,
    metrics: Arc<Metrics>,
}

impl SlackApi {
    /// `base` is the API root (`https://slack.com/api`); the token goes into a
    /// sensitive default header and nowhere else.
    pub fn new(
        base: &Url,
        token: &Secret,
        timeout: Duration,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let mut headers = HeaderMap::new();
        // An invalid token (e.g. a newline inside) makes every call fail with invalid_auth.
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(SlackApi {
            http,
            base,
            retry,
            pacer: Pacer::default(),
            metrics,
        })
    }

    /// Until when Slack asked us to wait, if it did.
    pub fn paused_until(&self) -> Option<tokio::time::Instant> {
        self.pacer.paused_until()
    }

    fn url(&self, method: &str) -> Url {
        // The base ends with '/', so joining a plain method name cannot fail.
        self.base.join(method).unwrap_or_else(|_| self.base.clone())
    }

    async fn post(
        &mut self,
        method: &'static str,
        body: Value,
        idempotent: bool,
    ) -> Result<Answer, CallError> {
        let url = self.url(method);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let http = self.http.clone();
        retry::call(
            &self.retry,
            &mut self.pacer,
            &self.metrics,
            method,
            idempotent,
            || {
                http.post(url.clone())
                    .header(CONTENT_TYPE, JSON_UTF8)
                    .body(bytes.clone())
            },
            web_api,
        )
        .await
    }

    /// Post `message` to `channel`; a thread reply when `thread` = `(thread_ts, broadcast)`.
    /// Never repeated once it may have reached Slack.
    pub async fn post_message(
        &mut self,
        channel: &str,
        message: &Message,
        thread: Option<(&str, bool)>,
    ) -> Result<Posted, CallError> {
        let mut body = payload(message);
        body["channel"] = json!(channel);
        body["unfurl_links"] = json!(false);
        if let Some((ts, broadcast)) = thread {
            body["thread_ts"] = json!(ts);
            if broadcast {
                body["reply_broadcast"] = json!(true);
            }
        }
        let a = self.post("chat.postMessage", body, false).await?;
        match (a.channel, a.ts) {
            (Some(channel), Some(ts)) => Ok(Posted { channel, ts }),
            // Posted, but we cannot refer to it: as good as unknown.
            _ => Err(CallError::Unknown("answer without channel or ts".into())),
        }
    }

    /// Replace the message `channel`/`ts` (channel ID, not name) with `message`.
    pub async fn update(
        &mut self,
        channel: &str,
        ts: &str,
        message: &Message,
    ) -> Result<(), CallError> {
        let mut body = payload(message);
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.post("chat.update", body, true).await.map(|_| ())
    }

    /// A link to the message, for cross-posts (no scope needed beyond the token).
    pub async fn permalink(&mut self, channel: &str, ts: &str) -> Result<String, CallError> {
        let mut url = self.url("chat.getPermalink");
        url.query_pairs_mut()
            .append_pair("channel", channel)
            .append_pair("message_ts", ts);
        let http = self.http.clone();
        let a = retry::call(
            &self.retry,
            &mut self.pacer,
            &self.metrics,
            "chat.getPermalink",
            true,
            || http.get(url.clone()),
            web_api,
        )
        .await?;
        a.permalink
            .ok_or_else(|| CallError::Rejected("answer without permalink".into()))
    }
}

/// `text`, `blocks` and `attachments` always present: `chat.update` keeps the
/// previous blocks or attachments when a field is left out.
fn payload(message: &Message) -> Value {
    let mut body = serde_json::to_value(message).unwrap_or_else(|_| json!({}));
    if body.get("attachments").is_none() {
        body["attachments"] = json!([]);
    }
    body
}

/// An incoming webhook: one channel, chosen when the webhook was created.
pub struct Webhook {
    http: reqwest::Client,
    url: Url,
    retry: RetryPolicy,
    pacer: Pacer,
    metrics: Arc<Metrics>,
}

impl Webhook {
    pub fn new(
        url: Url,
        timeout: Duration,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Webhook {
            http,
            url,
            retry,
            pacer: Pacer::default(),
            metrics,
        })
    }

    pub fn paused_until(&self) -> Option<tokio::time::Instant> {
        self.pacer.paused_until()
    }

    /// Post one message. Webhooks answer `200 ok`, or an HTTP error with a short
    /// code in the body (`invalid_payload`, `channel_is_archived`, …).
    pub async fn post(&mut self, message: &Message) -> Result<(), CallError> {
        let bytes = serde_json::to_vec(message).unwrap_or_default();
        let (http, url) = (self.http.clone(), self.url.clone());
        retry::call(
            &self.retry,
            &mut self.pacer,
            &self.metrics,
            "incoming webhook",
            false,
            || {
                http.post(url.clone())
                    .header(CONTENT_TYPE, JSON_UTF8)
                    .body(bytes.clone())
            },
            |status, headers, body| {
                let code = String::from_utf8_lossy(body)
                    .chars()
                    .take(64)
                    .collect::<String>();
                match status {
                    StatusCode::TOO_MANY_REQUESTS => {
                        Verdict::RateLimited(retry::retry_after(headers))
                    }
                    s if s.is_success() => Verdict::Done(()),
                    s if s.is_server_error() => Verdict::Transient(format!("HTTP {}", s.as_u16())),
                    s => Verdict::Rejected(format!("HTTP {} {}", s.as_u16(), code.trim())),
                }
            },
        )
        .await
    }
}
