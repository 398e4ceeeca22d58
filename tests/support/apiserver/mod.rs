//! A stand-in for kube-apiserver over HTTP on loopback, for end-to-end tests
//! that run the real `firebreak` binary (so that it can be SIGKILLed and
//! restarted against the same cluster state). No kube-apiserver is installable
//! on the test bed (TESTBED.md); this keeps the parts of its contract that
//! Firebreak relies on (see [`store`]), checks the bearer token like the API
//! server's authenticator, serves discovery for the groups a test declares and
//! list + watch streams, and records every request for the test to assert on.
//! Scripted faults (a status code, or no answer for a while) hit the next
//! matching requests.
//!
//! Unit tests use kube's `tower_test` mock instead (DESIGN.md); this is for
//! what crosses a process boundary.

mod list;
pub mod store;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

use store::{Answer, Store, Target, parse, selector, status};

/// One request as the stand-in received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub at: Instant,
    pub method: Method,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Option<Value>,
    /// What it was answered (0 while a held request waits).
    pub status: u16,
    pub faulted: bool,
}

impl Request {
    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

/// How matching requests are answered instead of being served.
#[derive(Clone, Debug)]
pub enum FaultAnswer {
    /// A `metav1.Status` failure with this code (409, 500, 503, …).
    Status(u16),
    /// No answer for this long, then a 504 (a request the client gives up on first).
    Hang(Duration),
}

/// A scripted fault: the next `times` requests with `method` whose path
/// contains `path` (and whose body contains `body`, when set).
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Method,
    pub path: String,
    pub body: Option<String>,
    pub answer: FaultAnswer,
    pub times: usize,
}

#[derive(Default)]
struct Inner {
    store: Store,
    requests: Vec<Request>,
    faults: Vec<Fault>,
    /// (API group, version) → [(plural, kind)], served by discovery.
    groups: BTreeMap<(String, String), Vec<(String, String)>>,
    /// Pod logs by (namespace, pod).
    logs: BTreeMap<(String, String), String>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    token: Arc<str>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct ApiServer {
    addr: std::net::SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Listen on a free loopback port; requests must carry `Bearer <token>`.
    pub async fn start(token: &str) -> ApiServer {
        let shared = Shared {
            inner: Arc::default(),
            changed: Arc::default(),
            token: token.into(),
        };
        for (group, version, resources) in [
            (
                "apps",
                "v1",
                &[("deployments", "Deployment"), ("replicasets", "ReplicaSet")][..],
            ),
            (
                "firebreak.dev",
                "v1alpha1",
                &[("playbooks", "Playbook"), ("incidents", "Incident")],
            ),
            ("coordination.k8s.io", "v1", &[("leases", "Lease")]),
            ("events.k8s.io", "v1", &[("events", "Event")]),
        ] {
            let list = resources
                .iter()
                .map(|(p, k)| ((*p).to_owned(), (*k).to_owned()))
                .collect();
            shared
                .lock()
                .groups
                .insert((group.to_owned(), version.to_owned()), list);
        }
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the API server stand-in");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ApiServer {
            addr,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Write a kubeconfig for this server (context `stand-in`) under `dir`.
    pub fn kubeconfig(&self, dir: &Path, namespace: &str) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: stand-in\n\
             clusters:\n- name: stand-in\n  cluster:\n    server: {}\n\
             users:\n- name: firebreak\n  user:\n    token: {}\n\
             contexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: firebreak\n    namespace: {namespace}\n",
            self.url(),
            self.shared.token
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Serve an extra API group in discovery (e.g. `argoproj.io` Rollouts).
    pub fn serve_group(&self, group: &str, version: &str, resources: &[(&str, &str)]) {
        let list = resources
            .iter()
            .map(|(p, k)| ((*p).to_owned(), (*k).to_owned()))
            .collect();
        self.shared
            .lock()
            .groups
            .insert((group.to_owned(), version.to_owned()), list);
    }

    /// Store an object as if applied with kubectl (watchers see it).
    pub fn apply(&self, collection: &str, object: Value) -> Value {
        let stored = self.shared.lock().store.put(collection, object);
        self.shared.changed.notify_waiters();
        stored
    }

    /// Change an object with a merge patch, as `kubectl patch --type merge` would.
    pub fn patch(&self, collection: &str, namespace: &str, name: &str, patch: Value) -> Value {
        let target = Target {
            collection: collection.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: Some(name.to_owned()),
            subresource: None,
        };
        let (code, body) =
            self.shared
                .lock()
                .store
                .patch(&target, "application/merge-patch+json", patch);
        assert!(code.is_success(), "patch {collection}/{name}: {body}");
        self.shared.changed.notify_waiters();
        body
    }

    /// The stored object, if any.
    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        let target = Target {
            collection: collection.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: Some(name.to_owned()),
            subresource: None,
        };
        self.shared.lock().store.get(&target).cloned()
    }

    /// Every stored object of a collection, in all namespaces.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        let target = Target {
            collection: collection.to_owned(),
            namespace: None,
            name: None,
            subresource: None,
        };
        self.shared.lock().store.list(&target, &[], &[])
    }

    /// What `GET …/pods/NAME/log` answers for this pod.
    pub fn set_log(&self, namespace: &str, pod: &str, text: &str) {
        self.shared
            .lock()
            .logs
            .insert((namespace.to_owned(), pod.to_owned()), text.to_owned());
    }

    pub fn fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let metadata = list::metadata_only(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let json_body = serde_json::from_slice::<Value>(&body).ok();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let index = {
        let mut inner = shared.lock();
        inner.requests.push(Request {
            at: Instant::now(),
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type: content_type.clone(),
            body: json_body.clone(),
            status: 0,
            faulted: false,
        });
        inner.requests.len() - 1
    };
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.strip_prefix("Bearer ") == Some(&shared.token));
    let params: BTreeMap<String, String> = url_params(&query);
    let text = String::from_utf8_lossy(&body);
    let fault = if authorized {
        take_fault(&shared, &method, &path, &text)
    } else {
        None
    };
    if fault.is_some() {
        // Marked at once: a held request is visible while it is held.
        record(&shared, index, 0, true);
    }
    let (code, answer) = match (&fault, authorized) {
        (_, false) => status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"),
        (Some(FaultAnswer::Status(c)), _) => {
            let code = StatusCode::from_u16(*c).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = match c {
                409 => "Conflict",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                _ => "InternalError",
            };
            status(code, reason, format!("injected fault {c}"))
        }
        (Some(FaultAnswer::Hang(d)), _) => {
            tokio::time::sleep(*d).await;
            status(
                StatusCode::GATEWAY_TIMEOUT,
                "Timeout",
                "injected fault: no answer in time",
            )
        }
        (None, true) => {
            if params.get("watch").is_some_and(|w| w == "true" || w == "1")
                && let Some(t) = parse(&path)
            {
                record(&shared, index, 200, false);
                return watch::stream(shared.clone(), t, &params, metadata);
            }
            let request = Incoming {
                method: &method,
                path: &path,
                params: &params,
                content_type: content_type.as_deref(),
                metadata,
            };
            match serve(&shared, &request, json_body, &body) {
                Served::Json(a) => a,
                Served::Text(text) => {
                    record(&shared, index, 200, false);
                    return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text)
                        .into_response();
                }
            }
        }
    };
    record(&shared, index, code.as_u16(), fault.is_some());
    if code.is_success() && method != Method::GET {
        shared.changed.notify_waiters();
    }
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

fn record(shared: &Shared, index: usize, status: u16, faulted: bool) {
    if let Some(r) = shared.lock().requests.get_mut(index) {
        r.status = status;
        r.faulted = faulted;
    }
}

fn take_fault(shared: &Shared, method: &Method, path: &str, body: &str) -> Option<FaultAnswer> {
    let mut inner = shared.lock();
    let i = inner.faults.iter().position(|f| {
        f.times > 0
            && f.method == *method
            && path.contains(&f.path)
            && f.body.as_ref().is_none_or(|b| body.contains(b))
    })?;
    inner.faults[i].times -= 1;
    Some(inner.faults[i].answer.clone())
}

enum Served {
    Json(Answer),
    Text(String),
}

/// What [`serve`] needs of a request besides its body.
struct Incoming<'a> {
    method: &'a Method,
    path: &'a str,
    params: &'a BTreeMap<String, String>,
    content_type: Option<&'a str>,
    /// `Accept: …;as=PartialObjectMetadata[List]`.
    metadata: bool,
}

fn serve(shared: &Shared, request: &Incoming<'_>, body: Option<Value>, raw: &Bytes) -> Served {
    let Incoming {
        method,
        path,
        params,
        content_type,
        metadata,
    } = *request;
    if let Some(answer) = discovery(shared, path) {
        return Served::Json(answer);
    }
    let Some(t) = parse(path) else {
        return Served::Json(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{path}: not served"),
        ));
    };
    let served = {
        let inner = shared.lock();
        let mut parts = t.collection.split('/').skip(2);
        let (group, version) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        t.collection.starts_with("/api/")
            || inner
                .groups
                .contains_key(&(group.to_owned(), version.to_owned()))
    };
    if !served {
        return Served::Json(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    if t.subresource.as_deref() == Some("log") && *method == Method::GET {
        let inner = shared.lock();
        let key = (
            t.namespace.clone().unwrap_or_default(),
            t.name.clone().unwrap_or_default(),
        );
        return match inner.logs.get(&key) {
            Some(text) => Served::Text(text.clone()),
            None if inner
                .store
                .get(&Target {
                    subresource: None,
                    ..t.clone()
                })
                .is_some() =>
            {
                Served::Text(String::new())
            }
            None => Served::Json(status(StatusCode::NOT_FOUND, "NotFound", "pod not found")),
        };
    }
    let mut inner = shared.lock();
    let store = &mut inner.store;
    let body = body.unwrap_or(Value::Null);
    let answer = match (method.clone(), &t.name) {
        (Method::GET, None) => {
            let labels = selector(params.get("labelSelector").map(String::as_str));
            let fields = selector(params.get("fieldSelector").map(String::as_str));
            let items = store.list(&t, &labels, &fields);
            let kind = list_kind(&t, &items);
            list::page(
                &kind,
                &api_version(&t.collection),
                items,
                store.resource_version(),
                params,
                metadata,
            )
        }
        (Method::GET, Some(_)) => store.read(&t),
        (Method::POST, None) => store.create(&t, body),
        (Method::PUT, Some(_)) => store.replace(&t, body),
        (Method::PATCH, Some(_)) => {
            let ct = content_type.unwrap_or("application/merge-patch+json");
            // An apply patch is YAML; kube sends JSON, which is YAML too.
            let body = if body.is_null() && !raw.is_empty() {
                serde_saphyr::from_slice(raw).unwrap_or(Value::Null)
            } else {
                body
            };
            store.patch(&t, ct, body)
        }
        (Method::DELETE, Some(_)) => store.delete(&t),
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} {path}"),
        ),
    };
    Served::Json(answer)
}

fn api_version(collection: &str) -> String {
    let parts: Vec<&str> = collection.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", v, ..] => (*v).to_owned(),
        ["apis", g, v, ..] => format!("{g}/{v}"),
        _ => String::new(),
    }
}

fn list_kind(_t: &Target, items: &[Value]) -> String {
    let kind = items
        .first()
        .and_then(|o| o["kind"].as_str())
        .unwrap_or("Object");
    format!("{kind}List")
}

/// `/api`, `/apis` and `/apis/GROUP/VERSION`, for the groups served.
fn discovery(shared: &Shared, path: &str) -> Option<Answer> {
    let inner = shared.lock();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api"] => Some((
            StatusCode::OK,
            json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": []}),
        )),
        ["apis"] => {
            let mut by_group: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for (g, v) in inner.groups.keys() {
                by_group
                    .entry(g)
                    .or_default()
                    .push(json!({"groupVersion": format!("{g}/{v}"), "version": v}));
            }
            let groups: Vec<Value> = by_group
                .into_iter()
                .map(|(g, versions)| {
                    let preferred = versions.last().cloned();
                    json!({"name": g, "versions": versions, "preferredVersion": preferred})
                })
                .collect();
            Some((
                StatusCode::OK,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            ))
        }
        ["apis", g, v] => {
            let resources = inner.groups.get(&((*g).to_owned(), (*v).to_owned()))?;
            let list: Vec<Value> = resources
                .iter()
                .flat_map(|(plural, kind)| {
                    let verbs = json!(["get", "list", "watch", "create", "update", "patch", "delete"]);
                    [
                        json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": true,
                               "kind": kind, "verbs": verbs}),
                        json!({"name": format!("{plural}/status"), "singularName": "", "namespaced": true,
                               "kind": kind, "verbs": ["get", "patch", "update"]}),
                    ]
                })
                .collect();
            Some((
                StatusCode::OK,
                json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": format!("{g}/{v}"), "resources": list}),
            ))
        }
        _ => None,
    }
}

fn url_params(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
