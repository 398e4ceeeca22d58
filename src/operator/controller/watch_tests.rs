//! `run` end to end against a mock API server that lists, watches and takes
//! status patches the way kube-apiserver does, in whatever order they come.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower_test::mock::Handle;

use super::*;
use crate::operator::testing::*;

/// What the mock server was asked, as `METHOD path`.
type Log = Vec<String>;

/// Serve one namespace: the list answers `listed`; the first watch is held
/// until every listed playbook's status was patched, then delivers `events`
/// and ends (the watcher watches again); later watches stay open.
async fn serve(
    mut handle: Handle<Request<Body>, Response<Body>>,
    listed: Vec<Playbook>,
    events: Vec<Value>,
    delivered: Arc<AtomicBool>,
) -> Log {
    let mut events = Some(events);
    let (mut first_watch, mut open) = (None, Vec::new());
    let mut patched = std::collections::BTreeSet::new();
    let mut log = Log::new();
    while let Some((request, send)) = handle.next_request().await {
        let mut send = Some(send);
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let watching = request
            .uri()
            .query()
            .unwrap_or_default()
            .contains("watch=true");
        log.push(format!(
            "{method} {path}{}",
            if watching { " (watch)" } else { "" }
        ));
        let body = request.into_body().collect_bytes().await.expect("body");
        let body: Option<Value> =
            (!body.is_empty()).then(|| serde_json::from_slice(&body).expect("json"));
        let (status, answer) = match method {
            Method::GET if watching => {
                if first_watch.is_none() && events.is_some() {
                    first_watch = send.take();
                } else {
                    open.extend(send.take());
                }
                (StatusCode::OK, Value::Null)
            }
            Method::GET => (
                StatusCode::OK,
                json!({
                    "apiVersion": "firebreak.dev/v1alpha1",
                    "kind": "PlaybookList",
                    "metadata": { "resourceVersion": "5000" },
                    "items": listed,
                }),
            ),
            Method::PATCH => {
                let name = path
                    .trim_end_matches("/status")
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                patched.insert(name.to_owned());
                let pb = listed
                    .iter()
                    .find(|pb| pb.metadata.name.as_deref() == Some(name));
                pb.expect("a listed playbook").patched(body.as_ref())
            }
            Method::POST => (StatusCode::CREATED, body.expect("event")),
            method => panic!("unexpected {method} {path}"),
        };
        if let Some(send) = send {
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).expect("json")))
                .expect("response");
            send.send_response(response);
        }
        if patched.len() == listed.len() && first_watch.is_some() {
            let (Some(watch), Some(events)) = (first_watch.take(), events.take()) else {
                continue;
            };
            let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
            watch.send_response(Response::new(Body::from(lines.into_bytes())));
            delivered.store(true, Ordering::SeqCst);
        }
    }
    log
}

fn cart() -> Playbook {
    let mut pb = Playbook::test();
    pb.metadata.name = Some("cart".to_owned());
    pb.metadata.uid = Some("0b7c5e1a-93d2-4f6b-8e4a-2c9d1f3a5b70".to_owned());
    pb
}

#[tokio::test]
async fn run_catalogs_listed_playbooks_and_forgets_one_deleted_by_the_watch() {
    let (client, server) = client(NS);
    let delivered = Arc::new(AtomicBool::new(false));
    let mut gone = serde_json::to_value(cart()).expect("json");
    gone["metadata"]["resourceVersion"] = json!("5001");
    let server = tokio::spawn(serve(
        server.0,
        vec![Playbook::test(), cart()],
        vec![json!({ "type": "DELETED", "object": gone })],
        delivered.clone(),
    ));
    let reporter = Reporter::from("firebreak".to_owned());
    let metrics = Arc::new(Metrics::default());
    let ctx = Context::new(
        client,
        Catalog::default(),
        reporter,
        Arc::new(FixedClock(t(0))),
        metrics,
    );
    let catalog = ctx.catalog().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let scope = WatchScope::Namespaces(vec![NS.to_owned()]);
    let running = tokio::spawn(run(Arc::new(ctx), scope, async {
        let _ = stopped.await;
    }));

    let names = || -> Vec<String> {
        let entries = catalog.snapshot();
        entries.iter().map(|e| e.playbook.id.to_string()).collect()
    };
    // Both were reconciled (the server held the deletion until both statuses
    // were patched); then the watch deleted `cart`.
    let settled = async {
        while !(delivered.load(Ordering::SeqCst) && names() == ["shop/checkout"]) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let caught_up = tokio::time::timeout(Duration::from_secs(10), settled).await;
    assert!(caught_up.is_ok(), "catalog {:?}", names());
    stop.send(()).expect("running");
    // Graceful: in-flight reconciles finish, each followed by a prune.
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stopped")
        .expect("no panic");
    let log = served(server).await;

    let names: Vec<String> = catalog
        .snapshot()
        .iter()
        .map(|e| e.playbook.id.to_string())
        .collect();
    assert_eq!(names, ["shop/checkout"]);
    let base = "/apis/firebreak.dev/v1alpha1/namespaces/shop/playbooks";
    assert_eq!(
        log[0],
        format!("GET {base}"),
        "a namespaced list first: {log:?}"
    );
    assert!(
        log.contains(&format!("PATCH {base}/checkout/status")),
        "{log:?}"
    );
    assert!(log.contains(&format!("GET {base} (watch)")), "{log:?}");
}
