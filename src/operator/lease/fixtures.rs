//! A scripted API server for the Lease (controller-rs `ApiServerVerifier` style):
//! each expected request is checked for method and URI, its JSON body kept for
//! the test to assert, and answered the way kube-apiserver would.

use http::{Method, Request, Response, StatusCode};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

use super::{LeaderElector, LeaseConfig};

pub const NS: &str = "firebreak-system";
pub const NAME: &str = "firebreak";
pub const ME: &str = "firebreak-6d4f9c7b8-2xkqp";
pub const OTHER: &str = "firebreak-6d4f9c7b8-9wzrt";
pub const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/firebreak-system/leases/firebreak";
/// kube builds write URIs as `path?` + pairs, hence the `?&`.
pub const CREATE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/firebreak-system/leases?&fieldManager=firebreak";
pub const UPDATE: &str = "/apis/coordination.k8s.io/v1/namespaces/firebreak-system/leases/firebreak?&fieldManager=firebreak";

/// Test time: `secs` after a fixed instant.
pub fn t(secs: i64) -> Timestamp {
    let t0: Timestamp = "2025-06-02T09:00:00Z".parse().expect("valid timestamp");
    t0 + SignedDuration::from_secs(secs)
}

/// `t(secs)` the way a Lease carries it (MicroTime wire format).
pub fn wire(secs: i64) -> String {
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S%.6fZ", t(secs)).expect("formattable")
}

/// An elector with client-go's default timings behind a mock client.
pub fn elector() -> (LeaderElector, ApiServerVerifier) {
    elector_with(LeaseConfig::new(NAME, NS, ME))
}

pub fn elector_with(config: LeaseConfig) -> (LeaderElector, ApiServerVerifier) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let elector = LeaderElector::new(client, config).expect("valid config");
    (elector, ApiServerVerifier(handle))
}

/// Drop the elector (closing the mock) and return what the server received,
/// re-raising the verifier's own assertion failure if it had one.
pub async fn finish(elector: LeaderElector, server: JoinHandle<Vec<Value>>) -> Vec<Value> {
    drop(elector);
    served(server).await
}

/// What the server received once every client is gone.
pub async fn served(server: JoinHandle<Vec<Value>>) -> Vec<Value> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
        Ok(Ok(bodies)) => bodies,
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the API server script did not finish"),
    }
}

/// A stored Lease as the API server returns it.
pub fn lease(
    resource_version: &str,
    holder: &str,
    acquired: i64,
    renewed: i64,
    transitions: i32,
) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(NAME.to_owned()),
            namespace: Some(NS.to_owned()),
            uid: Some("3f1c2e8a-5b7d-4c1e-9a0f-6d2b8e4c7a91".to_owned()),
            resource_version: Some(resource_version.to_owned()),
            creation_timestamp: Some(Time(t(-3600))),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(t(acquired))),
            renew_time: Some(MicroTime(t(renewed))),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

/// How the scripted server answers one request.
pub enum Reply {
    /// 200 with this object.
    Object(Box<Lease>),
    /// The written body stored under a new `resourceVersion` (201 for create).
    Stored(&'static str),
    /// A `metav1.Status` failure.
    Status(StatusCode, &'static str, String),
}

impl Reply {
    pub fn object(lease: Lease) -> Self {
        Reply::Object(Box::new(lease))
    }

    pub fn not_found() -> Self {
        Reply::Status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("leases.coordination.k8s.io \"{NAME}\" not found"),
        )
    }

    pub fn conflict() -> Self {
        Reply::Status(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on leases.coordination.k8s.io \"{NAME}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    }

    pub fn already_exists() -> Self {
        Reply::Status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("leases.coordination.k8s.io \"{NAME}\" already exists"),
        )
    }

    pub fn internal_error() -> Self {
        Reply::Status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out".to_owned(),
        )
    }
}

/// One expected request.
pub struct Exchange {
    method: Method,
    uri: &'static str,
    reply: Reply,
}

pub fn get(reply: Reply) -> Exchange {
    Exchange {
        method: Method::GET,
        uri: LEASE,
        reply,
    }
}

pub fn create(reply: Reply) -> Exchange {
    Exchange {
        method: Method::POST,
        uri: CREATE,
        reply,
    }
}

pub fn update(reply: Reply) -> Exchange {
    Exchange {
        method: Method::PUT,
        uri: UPDATE,
        reply,
    }
}

pub struct ApiServerVerifier(Handle<Request<Body>, Response<Body>>);

impl ApiServerVerifier {
    /// Serve `script` in order, then fail on any further request. Resolves to the
    /// JSON bodies of the write requests once the client is dropped.
    pub fn run(self, script: Vec<Exchange>) -> JoinHandle<Vec<Value>> {
        let mut handle = self.0;
        tokio::spawn(async move {
            let mut bodies = Vec::new();
            for (step, expected) in script.into_iter().enumerate() {
                let Some((request, send)) = handle.next_request().await else {
                    panic!(
                        "step {step}: expected {} {}, but the client closed",
                        expected.method, expected.uri
                    );
                };
                assert_eq!(request.method(), expected.method, "step {step} method");
                assert_eq!(request.uri().to_string(), expected.uri, "step {step} uri");
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body");
                let body: Option<Value> = (!bytes.is_empty())
                    .then(|| serde_json::from_slice(&bytes).expect("request body is JSON"));
                send.send_response(answer(expected.reply, body.as_ref()));
                bodies.extend(body);
            }
            if let Some((request, _)) = handle.next_request().await {
                panic!("unexpected request {} {}", request.method(), request.uri());
            }
            bodies
        })
    }
}

fn answer(reply: Reply, body: Option<&Value>) -> Response<Body> {
    let (status, json) = match reply {
        Reply::Object(lease) => (StatusCode::OK, serde_json::to_value(*lease).expect("lease")),
        Reply::Stored(resource_version) => {
            let mut stored = body.cloned().expect("a write has a body");
            let created = stored["metadata"].get("uid").is_none();
            stored["apiVersion"] = json!("coordination.k8s.io/v1");
            stored["kind"] = json!("Lease");
            stored["metadata"]["resourceVersion"] = json!(resource_version);
            if created {
                stored["metadata"]["uid"] = json!("8b0e7f52-0c5d-4f0b-a1e3-2f9d6c4b7e10");
                stored["metadata"]["creationTimestamp"] = json!("2025-06-02T09:00:00Z");
            }
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, stored)
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
                "details": { "name": NAME, "group": "coordination.k8s.io", "kind": "leases" },
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
