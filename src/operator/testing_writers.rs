//! A scripted API server for the Incident and Event writers' tests, in the style
//! of controller-rs `fixtures.rs` (and of `lease/fixtures.rs`, generalised to any
//! resource): each expected request is checked for method and URI, answered the
//! way kube-apiserver would, and recorded for the test to assert its body.

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

/// A client whose requests go to the returned verifier.
pub fn mock_client(default_namespace: &str) -> (Client, ApiServerVerifier) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (
        Client::new(service, default_namespace),
        ApiServerVerifier(handle),
    )
}

/// How the scripted server answers one request.
pub enum Reply {
    /// This object (or list), with this status code.
    Json(StatusCode, Value),
    /// The request body stored under this `resourceVersion`: 201 with a fresh
    /// uid and creationTimestamp for a POST, 200 otherwise.
    Stored(&'static str),
    /// A `metav1.Status` failure: code, reason, message.
    Status(StatusCode, &'static str, String),
    /// A `text/plain` answer, as pod logs come.
    Text(String),
}

impl Reply {
    pub fn ok(object: Value) -> Self {
        Reply::Json(StatusCode::OK, object)
    }

    pub fn conflict(resource: &str, name: &str) -> Self {
        Reply::Status(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    }

    pub fn already_exists(resource: &str, name: &str) -> Self {
        Reply::Status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
    }

    pub fn not_found(resource: &str, name: &str) -> Self {
        Reply::Status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{resource} \"{name}\" not found"),
        )
    }

    pub fn forbidden(message: &str) -> Self {
        Reply::Status(StatusCode::FORBIDDEN, "Forbidden", message.to_owned())
    }
}

/// One expected request and its answer.
pub struct Exchange {
    method: Method,
    uri: String,
    reply: Reply,
}

pub fn expect(method: Method, uri: impl Into<String>, reply: Reply) -> Exchange {
    Exchange {
        method,
        uri: uri.into(),
        reply,
    }
}

/// A request the server received.
#[derive(Debug)]
pub struct Received {
    pub method: Method,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

pub struct ApiServerVerifier(Handle<Request<Body>, Response<Body>>);

impl ApiServerVerifier {
    /// Serve `script` in order, then fail on any further request. Resolves to
    /// every request received, once the client is dropped.
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
                let (method, uri) = (request.method().clone(), request.uri().to_string());
                let content_type = request
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                assert_eq!(method, expected.method, "step {step} method ({uri})");
                assert_eq!(uri, expected.uri, "step {step} uri");
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body");
                let body: Option<Value> = (!bytes.is_empty())
                    .then(|| serde_json::from_slice(&bytes).expect("request body is JSON"));
                send.send_response(answer(expected.reply, &method, body.as_ref()));
                received.push(Received {
                    method,
                    content_type,
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
pub async fn served(server: JoinHandle<Vec<Received>>) -> Vec<Received> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
        Ok(Ok(received)) => received,
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the API server script did not finish"),
    }
}

fn answer(reply: Reply, method: &Method, body: Option<&Value>) -> Response<Body> {
    let (status, json) = match reply {
        Reply::Text(text) => {
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "text/plain")
                .body(Body::from(text.into_bytes()))
                .expect("response");
        }
        Reply::Json(status, object) => (status, object),
        Reply::Stored(resource_version) => {
            let mut stored = body.cloned().expect("a write has a body");
            stored["metadata"]["resourceVersion"] = json!(resource_version);
            if *method == Method::POST {
                stored["metadata"]["uid"] = json!("5d0c3b7e-2f41-4a8e-9c61-0b7f3e9a2d14");
                stored["metadata"]["creationTimestamp"] = json!("2026-03-02T09:24:01Z");
                (StatusCode::CREATED, stored)
            } else {
                (StatusCode::OK, stored)
            }
        }
        Reply::Status(status, reason, message) => (
            status,
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": status.as_u16(),
            }),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&json).expect("json")))
        .expect("response")
}

/// Builders for the writers' tests: the shipped memory-leak playbook, as the
/// catalog holds it, and incidents of its `pricer` Deployment.
pub mod fixtures {
    use std::sync::Arc;

    use jiff::{SignedDuration, Timestamp};
    use serde_json::{Value, json};

    use crate::detect::Level;
    use crate::engine::{Event, EventKind};
    use crate::incident::Incident;
    use crate::incident::persist::spec_of;
    use crate::operator::catalog::Entry;
    use crate::playbook::TargetRef;
    use crate::severity::Severity;

    pub const NS: &str = "risk";
    pub const PLAYBOOK: &str = "memory-leak";
    pub const WORKLOAD: &str = "pricer";
    pub const PLAYBOOK_UID: &str = "9a4e1f0c-7b2d-4c5e-8f13-2d6b0a9c4e71";
    /// Opening time of the incidents below (2026-03-02T09:24:00Z).
    pub const OPENED: i64 = 1_772_443_440;
    pub const ID: &str = "memory-leak-pricer-1772443440";

    /// `secs` after the opening.
    pub fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(OPENED).expect("valid") + SignedDuration::from_secs(secs)
    }

    pub fn entry() -> Entry {
        let (_, yaml) = crate::embedded::PLAYBOOKS
            .iter()
            .find(|(file, _)| file.ends_with("memory-leak.yaml"))
            .expect("shipped playbook");
        let playbook = crate::playbook::load::parse_documents(yaml, None)
            .into_iter()
            .next()
            .expect("one document")
            .expect("valid playbook");
        Entry {
            playbook: Arc::new(playbook),
            uid: PLAYBOOK_UID.to_owned(),
            generation: Some(3),
            paused: false,
        }
    }

    pub fn target() -> TargetRef {
        TargetRef {
            namespace: NS.to_owned(),
            name: WORKLOAD.to_owned(),
        }
    }

    /// The record of an incident opened at `severity` at `t(0)`, its plan made.
    pub fn opened(entry: &Entry, severity: Severity) -> Incident {
        let pb = &entry.playbook;
        let mut inc = Incident::open(&pb.id, &target(), severity, t(0));
        inc.plan_up_to(severity, &pb.actions);
        inc
    }

    /// An engine event about the target at `t(secs)`.
    pub fn event(entry: &Entry, secs: i64, incident: bool, kind: EventKind) -> Event {
        Event {
            at: t(secs),
            playbook: entry.playbook.id.clone(),
            target: target(),
            incident: incident.then(|| crate::incident::IncidentId(ID.to_owned())),
            kind,
        }
    }

    /// What the engine emits in the opening cycle: the detector reading that
    /// fired (no incident id yet), then the opening.
    pub fn opening_events(entry: &Entry, severity: Severity) -> Vec<Event> {
        vec![
            event(
                entry,
                0,
                false,
                EventKind::DetectorChanged {
                    detector: "memory-pressure".to_owned(),
                    from: Level::Ok,
                    to: Level::Firing { severity },
                    value: Some(0.962),
                    threshold: Some(0.95),
                },
            ),
            event(entry, 0, true, EventKind::IncidentOpened { severity }),
        ]
    }

    /// The `event` field of each timeline entry.
    pub fn timeline(status: &Value) -> Vec<&str> {
        status["timeline"]
            .as_array()
            .expect("a timeline")
            .iter()
            .map(|t| t["event"].as_str().expect("event name"))
            .collect()
    }

    /// The Incident as the API server stores it, with `status` as given.
    pub fn stored(entry: &Entry, inc: &Incident, resource_version: &str, status: Value) -> Value {
        json!({
            "apiVersion": "firebreak.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {
                "name": ID,
                "namespace": NS,
                "uid": "5d0c3b7e-2f41-4a8e-9c61-0b7f3e9a2d14",
                "resourceVersion": resource_version,
                "generation": 1,
                "creationTimestamp": "2026-03-02T09:24:01Z",
                "labels": { "firebreak.dev/playbook": PLAYBOOK, "firebreak.dev/target": WORKLOAD },
                "ownerReferences": [{
                    "apiVersion": "firebreak.dev/v1alpha1", "kind": "Playbook", "name": PLAYBOOK,
                    "uid": PLAYBOOK_UID, "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": spec_of(inc, &entry.playbook),
            "status": status,
        })
    }
}
