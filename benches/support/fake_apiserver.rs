//! A stand-in for kube-apiserver in benches: a `kube::Client` whose requests
//! are all answered at once and plausibly (a write is stored and echoed back
//! with a resourceVersion, a GET of a Deployment returns one, a list is empty,
//! a DELETE succeeds), so the evaluator runs its whole cycle as in a cluster.
//! No kube-apiserver is installable on the test bed (TESTBED.md), and a bench
//! measures timing, not API semantics: the test suite checks those.
//!
//! Each write whose path contains `watch` is reported with its arrival instant,
//! which is how a bench sees when an action request left Firebreak.

use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower_test::mock;

/// A write request to a watched path, as the fake API server received it.
#[derive(Debug)]
pub struct Write {
    pub at: Instant,
    pub method: Method,
}

/// A client over the fake API server, and the writes to paths containing `watch`.
pub fn client(watch: &'static str) -> (Client, mpsc::UnboundedReceiver<Write>) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            // Stamped on arrival, before the body is read: the request has left the client.
            let at = Instant::now();
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            if method != Method::GET && path.contains(watch) {
                let _ = tx.send(Write {
                    at,
                    method: method.clone(),
                });
            }
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .unwrap_or_default();
            let body: Option<Value> = serde_json::from_slice(&bytes).ok();
            send.send_response(answer(&method, &path, body));
        }
    });
    (Client::new(service, "default"), rx)
}

fn answer(method: &Method, path: &str, body: Option<Value>) -> Response<Body> {
    let (status, json) = match *method {
        Method::GET if path.ends_with("/incidents") => (
            StatusCode::OK,
            json!({"apiVersion": "firebreak.dev/v1alpha1", "kind": "IncidentList",
                   "metadata": {"resourceVersion": "1"}, "items": []}),
        ),
        Method::GET => (StatusCode::OK, object(path)),
        Method::DELETE => (
            StatusCode::OK,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
        ),
        _ => {
            let mut stored = body.unwrap_or_else(|| json!({}));
            if stored.is_object() {
                stored["metadata"]["resourceVersion"] = json!("1");
                stored["metadata"]["uid"] = json!("5d0c3b7e-2f41-4a8e-9c61-0b7f3e9a2d14");
            }
            let status = if *method == Method::POST {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, stored)
        }
    };
    let bytes = serde_json::to_vec(&json).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The object a GET of `path` names (`…/namespaces/NS/deployments/NAME`).
fn object(path: &str) -> Value {
    let parts: Vec<&str> = path.split('/').collect();
    let (namespace, name) = match parts.iter().position(|p| *p == "namespaces") {
        Some(i) => (parts.get(i + 1), parts.get(i + 3)),
        None => (None, None),
    };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1",
                     "uid": "c2b7e4a1-93f0-4d6e-b1a8-5e0f7c3d9b26"},
        "spec": {"replicas": 2},
        "status": {"replicas": 2}
    })
}
