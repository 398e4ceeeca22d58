//! A stand-in for Slack's Web API and an incoming webhook, on loopback.
//!
//! It answers like Slack (`{"ok":true,"channel":…,"ts":…}`, `{"ok":false,"error":…}`)
//! and checks what Slack checks: the bearer token, `Content-Type: application/json;
//! charset=utf-8`, the JSON shape (`channel`, a `text` fallback, Block Kit limits:
//! 50 blocks counting attachments, section text 3,000 characters, header 150,
//! 10 fields of 2,000), that `thread_ts` is a root it issued in that channel,
//! and that `chat.update` names a channel ID and an existing message. Every
//! breach is kept as a violation for the test to assert on.
//! Scripted faults apply to the next calls, whatever the endpoint: `429` with
//! `Retry-After`, `500`, a Slack error code, or an answer held back after the
//! message was accepted (a client timeout on a message that was posted).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use super::slack_blocks::{Msg, shape};

pub const TOKEN: &str = "xoxb-test-token";
const WEBHOOK_PATH: &str = "/services/T000/B000/hook-secret";

/// How the next call is answered.
#[derive(Clone, Debug)]
pub enum Fault {
    RateLimited {
        retry_after: u64,
    },
    ServerError,
    Error(&'static str),
    /// Accept the message, then answer only after this long.
    Hang(Duration),
}

#[derive(Default)]
struct Inner {
    messages: Vec<Msg>,
    webhook: Vec<Value>,
    faults: VecDeque<Fault>,
    calls: Vec<String>,
    violations: Vec<String>,
    next_ts: u64,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

pub struct SlackServer {
    /// Web API root, like `https://slack.com/api`.
    pub api_url: String,
    pub webhook_url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SlackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Channel ID for a name: `#incidents` → `C0INCIDENTS`; names starting with
/// `#missing` do not exist.
pub fn channel_id(name: &str) -> Option<String> {
    if name.starts_with('C')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Some(name.to_owned());
    }
    let bare = name.trim_start_matches('#');
    if bare.starts_with("missing") || bare.is_empty() {
        return None;
    }
    let id: String = bare.chars().filter(char::is_ascii_alphanumeric).collect();
    Some(format!("C0{}", id.to_ascii_uppercase()))
}

impl SlackServer {
    pub async fn start() -> SlackServer {
        let shared = Shared::default();
        let app = Router::new()
            .route("/api/chat.postMessage", post(post_message))
            .route("/api/chat.update", post(update))
            .route("/api/chat.getPermalink", get(permalink))
            .route(WEBHOOK_PATH, post(webhook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SlackServer {
            api_url: format!("http://{addr}/api"),
            webhook_url: format!("http://{addr}{WEBHOOK_PATH}"),
            shared,
            task,
        }
    }

    /// Answer the next calls with these faults, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().faults.extend(faults);
    }

    pub fn messages(&self) -> Vec<Msg> {
        self.shared.lock().messages.clone()
    }

    /// Top-level messages of `channel` (an ID).
    pub fn top_level(&self, channel: &str) -> Vec<Msg> {
        self.messages()
            .into_iter()
            .filter(|m| m.thread_ts.is_none() && m.channel == channel)
            .collect()
    }

    pub fn replies(&self, root_ts: &str) -> Vec<Msg> {
        self.messages()
            .into_iter()
            .filter(|m| m.thread_ts.as_deref() == Some(root_ts))
            .collect()
    }

    pub fn webhook_messages(&self) -> Vec<Value> {
        self.shared.lock().webhook.clone()
    }

    /// Method of every call received, faults included.
    pub fn calls(&self) -> Vec<String> {
        self.shared.lock().calls.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// A root posted by an earlier process; returns its channel ID and ts.
    pub fn seed_root(&self, channel: &str, text: &str) -> (String, String) {
        let mut s = self.shared.lock();
        let channel = channel_id(channel).expect("known channel");
        let ts = next_ts(&mut s);
        s.messages.push(Msg {
            channel: channel.clone(),
            ts: ts.clone(),
            thread_ts: None,
            broadcast: false,
            body: json!({ "text": text, "blocks": [] }),
            updates: 0,
        });
        (channel, ts)
    }
}

fn next_ts(s: &mut Inner) -> String {
    s.next_ts += 1;
    format!("1767225600.{:06}", s.next_ts)
}

fn slack(answer: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

fn error(code: &str) -> Response {
    slack(json!({ "ok": false, "error": code }))
}

/// The fault for this call, if any; `Hang` is returned for the handler to apply after accepting.
/// A refusal, boxed: responses are large.
type Refused = Box<Response>;

fn fault(s: &mut Inner, method: &str) -> Result<Option<Duration>, Refused> {
    s.calls.push(method.to_owned());
    match s.faults.pop_front() {
        None => Ok(None),
        Some(Fault::Hang(d)) => Ok(Some(d)),
        Some(Fault::RateLimited { retry_after }) => Err((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            json!({ "ok": false, "error": "ratelimited" }).to_string(),
        )
            .into_response()
            .into()),
        Some(Fault::ServerError) => Err(Box::new(
            (StatusCode::INTERNAL_SERVER_ERROR, "upstream connect error").into_response(),
        )),
        Some(Fault::Error(code)) => Err(Box::new(error(code))),
    }
}

/// Token, content type and JSON body; a breach is a violation and Slack's error.
fn admit(s: &mut Inner, headers: &HeaderMap, body: &[u8], token: bool) -> Result<Value, Refused> {
    if token
        && headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(&format!("Bearer {TOKEN}"))
    {
        return Err(Box::new(error("invalid_auth")));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct != "application/json; charset=utf-8" {
        s.violations.push(format!("content-type {ct:?}"));
        return Err(Box::new(error("invalid_arguments")));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let problems = shape(&v);
            if problems.is_empty() {
                Ok(v)
            } else {
                s.violations.extend(problems);
                Err(Box::new(error("invalid_blocks")))
            }
        }
        Err(e) => {
            s.violations.push(format!("body is not JSON: {e}"));
            Err(Box::new(error("invalid_json")))
        }
    }
}

async fn post_message(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (hang, answer) = {
        let mut s = shared.lock();
        let hang = match fault(&mut s, "chat.postMessage") {
            Ok(h) => h,
            Err(r) => return *r,
        };
        let v = match admit(&mut s, &headers, &body, true) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        let Some(channel) = v["channel"].as_str().and_then(channel_id) else {
            return error("channel_not_found");
        };
        let thread_ts = v["thread_ts"].as_str().map(str::to_owned);
        if let Some(t) = &thread_ts
            && !s
                .messages
                .iter()
                .any(|m| m.thread_ts.is_none() && &m.ts == t && m.channel == channel)
        {
            s.violations
                .push(format!("thread_ts {t} is not a root in {channel}"));
            return error("thread_not_found");
        }
        let ts = next_ts(&mut s);
        s.messages.push(Msg {
            channel: channel.clone(),
            ts: ts.clone(),
            thread_ts,
            broadcast: v["reply_broadcast"] == json!(true),
            body: v,
            updates: 0,
        });
        (hang, json!({ "ok": true, "channel": channel, "ts": ts }))
    };
    if let Some(d) = hang {
        tokio::time::sleep(d).await;
    }
    slack(answer)
}

async fn update(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let hang = {
        let mut s = shared.lock();
        let hang = match fault(&mut s, "chat.update") {
            Ok(h) => h,
            Err(r) => return *r,
        };
        let v = match admit(&mut s, &headers, &body, true) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        let channel = v["channel"].as_str().unwrap_or_default().to_owned();
        if channel.starts_with('#') || channel_id(&channel).as_deref() != Some(channel.as_str()) {
            // chat.update takes a channel ID only.
            s.violations
                .push(format!("chat.update with channel {channel:?}"));
            return error("channel_not_found");
        }
        let ts = v["ts"].as_str().unwrap_or_default().to_owned();
        let Some(m) = s
            .messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
        else {
            s.violations
                .push(format!("chat.update of unknown message {channel}/{ts}"));
            return error("message_not_found");
        };
        m.body = v;
        m.updates += 1;
        hang
    };
    if let Some(d) = hang {
        tokio::time::sleep(d).await;
    }
    slack(json!({ "ok": true }))
}

async fn permalink(State(shared): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let mut s = shared.lock();
    if let Err(r) = fault(&mut s, "chat.getPermalink") {
        return *r;
    }
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return error("invalid_auth");
    }
    let query = uri.query().unwrap_or_default();
    let arg = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or_default()
            .to_owned()
    };
    let (channel, ts) = (arg("channel"), arg("message_ts"));
    if !s
        .messages
        .iter()
        .any(|m| m.channel == channel && m.ts == ts)
    {
        return error("message_not_found");
    }
    let p = ts.replace('.', "");
    slack(
        json!({ "ok": true, "channel": channel, "permalink": format!("https://firebreak-test.slack.com/archives/{channel}/p{p}") }),
    )
}

async fn webhook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let hang = {
        let mut s = shared.lock();
        let hang = match fault(&mut s, "webhook") {
            Ok(h) => h,
            Err(r) => return *r,
        };
        let v = match admit(&mut s, &headers, &body, false) {
            Ok(v) => v,
            Err(_) => return (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
        };
        if v.get("thread_ts").is_some() || v.get("channel").is_some() {
            s.violations
                .push("webhook payload with thread_ts or channel".to_owned());
        }
        s.webhook.push(v);
        hang
    };
    if let Some(d) = hang {
        tokio::time::sleep(d).await;
    }
    (StatusCode::OK, "ok").into_response()
}
