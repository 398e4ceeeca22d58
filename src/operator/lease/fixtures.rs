//! The Lease scripts for the operator's shared scripted API server
//! ([`crate::operator::testing`]): Lease objects and the answers
//! kube-apiserver gives to reads and writes of them.

use http::{Method, StatusCode};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{LeaderElector, LeaseConfig};
use crate::operator::testing::{self, Exchange};

pub use crate::operator::testing::{served, t};

pub const NS: &str = "firebreak-system";
pub const NAME: &str = "firebreak";
pub const ME: &str = "firebreak-6d4f9c7b8-2xkqp";
pub const OTHER: &str = "firebreak-6d4f9c7b8-9wzrt";
pub const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/firebreak-system/leases/firebreak";
/// kube builds write URIs as `path?` + pairs, hence the `?&`.
pub const CREATE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/firebreak-system/leases?&fieldManager=firebreak";
pub const UPDATE: &str = "/apis/coordination.k8s.io/v1/namespaces/firebreak-system/leases/firebreak?&fieldManager=firebreak";

/// `t(secs)` the way a Lease carries it (MicroTime wire format).
pub fn wire(secs: i64) -> String {
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S%.6fZ", t(secs)).expect("formattable")
}

/// An elector with client-go's default timings behind a mock client.
pub fn elector() -> (LeaderElector, ApiServerVerifier) {
    elector_with(LeaseConfig::new(NAME, NS, ME))
}

pub fn elector_with(config: LeaseConfig) -> (LeaderElector, ApiServerVerifier) {
    let (client, server) = testing::client(NS);
    let elector = LeaderElector::new(client, config).expect("valid config");
    (elector, ApiServerVerifier(server))
}

/// Drop the elector (closing the mock) and return what the server received,
/// re-raising the verifier's own assertion failure if it had one.
pub async fn finish(elector: LeaderElector, server: JoinHandle<Vec<Value>>) -> Vec<Value> {
    drop(elector);
    served(server).await
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

pub fn get(reply: Reply) -> Exchange {
    Exchange::new(Method::GET, LEASE, reply.into())
}

pub fn create(reply: Reply) -> Exchange {
    Exchange::new(Method::POST, CREATE, reply.into())
}

pub fn update(reply: Reply) -> Exchange {
    Exchange::new(Method::PUT, UPDATE, reply.into())
}

/// The shared verifier, resolving to the JSON bodies of the writes.
pub struct ApiServerVerifier(testing::ApiServerVerifier);

impl ApiServerVerifier {
    /// Serve `script` in order, then fail on any further request. Resolves to
    /// the JSON bodies of the write requests once the client is dropped.
    pub fn run(self, script: Vec<Exchange>) -> JoinHandle<Vec<Value>> {
        let server = self.0.run(script);
        tokio::spawn(async move {
            let received = served(server).await;
            received.into_iter().filter_map(|r| r.body).collect()
        })
    }
}

impl From<Reply> for testing::Reply {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Object(lease) => {
                testing::Reply::json(StatusCode::OK, serde_json::to_value(*lease).expect("lease"))
            }
            Reply::Stored(resource_version) => {
                testing::Reply::with(move |body| stored(body, resource_version))
            }
            Reply::Status(status, reason, message) => testing::Reply::json(
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
        }
    }
}

/// The written Lease as stored under a new `resourceVersion` (201 for create).
fn stored(body: Option<&Value>, resource_version: &str) -> (StatusCode, Value) {
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
