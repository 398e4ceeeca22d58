//! Every action and backend that writes without reading first, through the same
//! paths: apply, repeated apply, revert, revert of an object already gone, and an
//! apply answered 409 (conflict, transient) or 404 (the kind is not installed,
//! permanent). Each request is checked for method, path, content type and body
//! against what the renderer shows in dry-run.

use http::Method;

use super::tests::{Case, sent};
use super::*;
use crate::operator::testing_writers::{Exchange, Received, Reply, expect};
use crate::playbook::action::{CircuitBreakerSpec, TrafficBackend};

fn rate_limit(backend: TrafficBackend) -> ActionKind {
    ActionKind::RateLimit(RateLimit {
        limit: RateLimitValue::RequestsPerSecond(40),
        burst: Some(80),
        path_prefix: Some("/api/".to_owned()),
        header: None,
        backend,
    })
}

/// `(label, action, undo its apply records)`.
fn cases() -> Vec<(&'static str, ActionKind, Option<Undo>)> {
    let rps = Some(Undo::RateLimit {
        requests_per_second: 40,
    });
    vec![
        (
            "rateLimit/istio",
            rate_limit(TrafficBackend::Istio),
            rps.clone(),
        ),
        (
            "rateLimit/envoyGateway",
            rate_limit(TrafficBackend::EnvoyGateway),
            rps.clone(),
        ),
        (
            "rateLimit/annotation",
            rate_limit(TrafficBackend::Annotation),
            rps,
        ),
        (
            "circuitBreaker/envoyGateway",
            ActionKind::CircuitBreaker(CircuitBreakerSpec {
                backend: Some(TrafficBackend::EnvoyGateway),
                max_connections: Some(200),
                ..CircuitBreakerSpec::default()
            }),
            None,
        ),
        ("restart", ActionKind::Restart, None),
    ]
}

fn method(m: render::Method) -> Method {
    match m {
        render::Method::Get => Method::GET,
        render::Method::Post => Method::POST,
        render::Method::Patch => Method::PATCH,
        render::Method::Put => Method::PUT,
        render::Method::Delete => Method::DELETE,
    }
}

/// Each request answered by `reply`.
fn script(requests: &[Request], reply: impl Fn(&Request) -> Reply) -> Vec<Exchange> {
    requests
        .iter()
        .map(|r| expect(method(r.method), &r.path, reply(r)))
        .collect()
}

fn assert_sent_as_rendered(label: &str, received: &[Received], rendered: &[Request]) {
    assert_eq!(received.len(), rendered.len(), "{label}: request count");
    for (got, want) in received.iter().zip(rendered) {
        assert_eq!(got.method, method(want.method), "{label}: {}", want.path);
        assert_eq!(
            got.content_type.as_deref(),
            want.content_type,
            "{label}: {}",
            want.path
        );
        assert_eq!(
            got.body.as_ref(),
            want.body.as_ref(),
            "{label}: {}",
            want.path
        );
    }
}

/// What the API server answers a successful request with.
fn stored(r: &Request) -> Reply {
    match r.method {
        render::Method::Delete => {
            Reply::ok(serde_json::json!({"kind": "Status", "status": "Success"}))
        }
        _ => Reply::Stored("9001"),
    }
}

#[tokio::test]
async fn apply_repeat_revert_and_gone_send_exactly_what_dry_run_shows() {
    for (label, kind, undo) in cases() {
        let apply = Case::apply(kind.clone());
        let rendered = apply.rendered(&kind, Operation::Apply);
        assert!(!rendered.is_empty(), "{label}");
        let (out, received) = apply.run(script(&rendered, stored)).await;
        let out = out.unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_sent_as_rendered(label, &received, &rendered);
        assert_eq!(out.undo, undo, "{label}: undo record");
        let sent_paths: Vec<Sent> = rendered
            .iter()
            .map(|r| sent(method(r.method), &r.path, 200))
            .collect();
        assert_eq!(out.sent, sent_paths, "{label}");

        // After a crash the step is applied again with its undo: the very same
        // idempotent requests (server-side apply, or a patch to the same value),
        // nothing more.
        let repeat = Case {
            undo: out.undo.clone(),
            ..Case::apply(kind.clone())
        };
        let (again, received) = repeat.run(script(&rendered, stored)).await;
        again.unwrap_or_else(|e| panic!("{label}: repeat: {e}"));
        assert_sent_as_rendered(label, &received, &rendered);

        if !kind.is_reversible() {
            continue;
        }
        let revert = Case::revert(kind.clone(), out.undo.clone());
        let rendered = revert.rendered(&kind, Operation::Revert);
        let (done, received) = revert.run(script(&rendered, stored)).await;
        let done = done.unwrap_or_else(|e| panic!("{label}: revert: {e}"));
        assert_sent_as_rendered(label, &received, &rendered);
        assert_eq!(done.sent.len(), rendered.len(), "{label}");

        // Reverting what someone already removed is done, with nothing changed.
        let gone = |_: &Request| Reply::not_found("objects", "firebreak-pricer");
        let (done, received) = revert.run(script(&rendered, gone)).await;
        let done = done.unwrap_or_else(|e| panic!("{label}: revert of a gone object: {e}"));
        assert_eq!(received.len(), rendered.len(), "{label}");
        assert!(done.sent.is_empty(), "{label}: {:?}", done.sent);
    }
}

#[tokio::test]
async fn a_conflict_is_transient_and_a_missing_kind_is_not() {
    for (label, kind, _) in cases() {
        let apply = Case::apply(kind.clone());
        let rendered = apply.rendered(&kind, Operation::Apply);
        let first = &rendered[..1];

        let conflict = |_: &Request| Reply::conflict("objects", "firebreak-pricer");
        let (out, received) = apply.run(script(first, conflict)).await;
        let err = out.expect_err(label);
        assert!(err.is_transient(), "{label}: {err}");
        assert_eq!(err.code(), Some(409), "{label}");
        assert_eq!(received.len(), 1, "{label}: stops at the first refusal");

        // e.g. Istio or Envoy Gateway not installed: the API has no such resource.
        let missing = |_: &Request| Reply::not_found("objects", "firebreak-pricer");
        let (out, _) = apply.run(script(first, missing)).await;
        let err = out.expect_err(label);
        assert!(!err.is_transient(), "{label}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("404") || text.contains("not found"),
            "{label}: {text}"
        );
    }
}
