//! Test support for the operator: a scripted API server behind `kube::Client`
//! (controller-rs `ApiServerVerifier` style) and Playbook fixtures.
//!
//! Each expected request is checked for method, URI and (when given) content
//! type, its JSON body kept for the test to assert, and answered the way
//! kube-apiserver would.

use http::{Method, Request, Response, StatusCode};
use jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

use crate::operator::catalog::KILL_SWITCH_ANNOTATION;
use crate::operator::lease::Clock;
use crate::playbook::spec::{Playbook, PlaybookStatus};

/// Test time: `secs` after a fixed instant.
pub fn t(secs: i64) -> Timestamp {
    let t0: Timestamp = "2025-06-02T09:00:00Z".parse().expect("valid timestamp");
    t0 + SignedDuration::from_secs(secs)
}

/// A clock that always says `t(secs)`.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

type Answer = Box<dyn FnOnce(Option<&Value>) -> (StatusCode, Value) + Send>;

/// How the scripted server answers one request.
pub struct Reply(Answer);

impl Reply {
    /// A fixed answer.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Reply(Box::new(move |_| (status, body)))
    }

    /// An answer computed from the request body.
    pub fn with(f: impl FnOnce(Option<&Value>) -> (StatusCode, Value) + Send + 'static) -> Self {
        Reply(Box::new(f))
    }

    /// A `metav1.Status` failure, as the API server sends for any error.
    pub fn status(code: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        let body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message.into(),
            "reason": reason,
            "code": code.as_u16(),
        });
        Reply::json(code, body)
    }

    pub fn internal_error() -> Self {
        Reply::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
        )
    }
}

/// One expected request.
pub struct Exchange {
    pub method: Method,
    pub uri: String,
    /// Checked when set.
    pub content_type: Option<&'static str>,
    pub reply: Reply,
}

impl Exchange {
    pub fn new(method: Method, uri: impl Into<String>, reply: Reply) -> Self {
        Exchange {
            method,
            uri: uri.into(),
            content_type: None,
            reply,
        }
    }

    pub fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = Some(content_type);
        self
    }
}

/// What the server received.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    pub method: Method,
    pub uri: String,
    pub body: Option<Value>,
}

/// A mock client and the server end that serves a script to it.
pub fn client(default_namespace: &str) -> (Client, ApiServerVerifier) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (
        Client::new(service, default_namespace),
        ApiServerVerifier(handle),
    )
}

pub struct ApiServerVerifier(pub Handle<Request<Body>, Response<Body>>);

impl ApiServerVerifier {
    /// Serve `script` in order, then fail on any further request. Resolves to
    /// what was received once every client is dropped.
    pub fn run(self, script: Vec<Exchange>) -> JoinHandle<Vec<Received>> {
        let mut handle = self.0;
        tokio::spawn(async move {
            let mut received = Vec::new();
            for (step, expected) in script.into_iter().enumerate() {
                let Some((request, send)) = handle.next_request().await else {
                    panic!(
                        "step {step}: expected {} {}, but the client closed",
                        expected.method, expected.uri
                    );
                };
                assert_eq!(request.method(), expected.method, "step {step} method");
                assert_eq!(request.uri().to_string(), expected.uri, "step {step} uri");
                if let Some(want) = expected.content_type {
                    let got = request
                        .headers()
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok());
                    assert_eq!(got, Some(want), "step {step} content-type");
                }
                let method = request.method().clone();
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body");
                let body: Option<Value> = (!bytes.is_empty())
                    .then(|| serde_json::from_slice(&bytes).expect("request body is JSON"));
                let (status, answer) = (expected.reply.0)(body.as_ref());
                send.send_response(response(status, &answer));
                received.push(Received {
                    method,
                    uri: expected.uri,
                    body,
                });
            }
            if let Some((request, _)) = handle.next_request().await {
                panic!("unexpected request {} {}", request.method(), request.uri());
            }
            received
        })
    }
}

/// What the server received once every client is gone, re-raising the
/// verifier's own assertion failure if it had one.
pub async fn served<T>(server: JoinHandle<T>) -> T {
    match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the API server script did not finish"),
    }
}

fn response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("response")
}

/// RFC 7386 JSON merge patch, as the API server applies `application/merge-patch+json`.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(fields) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            fields.remove(key);
        } else {
            merge(fields.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

pub const NS: &str = "shop";
pub const NAME: &str = "checkout";
pub const UID: &str = "6f0c1b7e-2d4a-4e8b-9c3f-1a5d7e9b2c40";

/// Builder-style Playbook fixtures (controller-rs `Document::test()`).
impl Playbook {
    /// A valid playbook in `shop` with detectors `latency-p99` and `error-rate`,
    /// at generation 3, without status.
    pub fn test() -> Self {
        serde_json::from_value(json!({
            "apiVersion": "firebreak.dev/v1alpha1",
            "kind": "Playbook",
            "metadata": {
                "name": NAME,
                "namespace": NS,
                "uid": UID,
                "generation": 3,
                "resourceVersion": "4101",
            },
            "spec": {
                "target": { "selector": { "matchLabels": { "app": "checkout" } } },
                "detectors": [
                    {
                        "name": "latency-p99",
                        "latency": { "quantile": 0.99 },
                        "thresholds": { "low": 0.25, "high": 1.0 },
                    },
                    {
                        "name": "error-rate",
                        "errorRate": {},
                        "thresholds": { "medium": 0.02, "critical": 0.1 },
                    },
                ],
                "actions": { "low": [{ "notify": {} }] },
            },
        }))
        .expect("fixture playbook")
    }

    /// Thresholds of `latency-p99` decreasing (high below low) and
    /// `error-rate` without a detector kind.
    pub fn invalid(mut self) -> Self {
        let detectors = &mut self.spec.detectors;
        detectors[0].thresholds.high = Some(0.1);
        detectors[1].error_rate = None;
        self
    }

    pub fn kill_switch(mut self, value: &str) -> Self {
        self.metadata
            .annotations
            .get_or_insert_default()
            .insert(KILL_SWITCH_ANNOTATION.to_owned(), value.to_owned());
        self
    }

    pub fn with_status(mut self, status: PlaybookStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// The status subresource answer to a merge patch of this playbook.
    pub fn patched(&self, patch: Option<&Value>) -> (StatusCode, Value) {
        let mut stored = serde_json::to_value(self).expect("playbook");
        merge(&mut stored, patch.expect("a patch has a body"));
        stored["metadata"]["resourceVersion"] = json!("4102");
        (StatusCode::OK, stored)
    }
}
