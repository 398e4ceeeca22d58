//! Executor tests against a scripted API server: the shipped memory-leak
//! playbook's `risk/pricer` Deployment, every request checked for method, path,
//! content type and body, answered as kube-apiserver would.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::act::render::{APPLY_PATCH, RenderContext};
use crate::incident::{IdempotencyKey, IncidentId};
use crate::operator::testing_writers::fixtures::{ID, NS, WORKLOAD, entry, t};
use crate::operator::testing_writers::{Exchange, Received, Reply, expect, mock_client, served};
use crate::playbook::action::TrafficBackend;
use crate::playbook::spec::WorkloadKind;
use crate::severity::Severity;

pub(super) const SSA: &str = "?fieldManager=firebreak&force=true";
pub(super) const FM: &str = "?fieldManager=firebreak";
const ENVOY_FILTER: &str =
    "/apis/networking.istio.io/v1alpha3/namespaces/risk/envoyfilters/firebreak-ratelimit-pricer";
pub(super) const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/risk/deployments/pricer";

/// One execution: its inputs, beside the action.
pub(super) struct Case {
    pub kind: ActionKind,
    pub operation: Operation,
    pub workload: WorkloadKind,
    pub current_rps: Option<f64>,
    pub undo: Option<Undo>,
    pub dry_run: bool,
}

impl Case {
    pub fn apply(kind: ActionKind) -> Self {
        Case {
            kind,
            operation: Operation::Apply,
            workload: WorkloadKind::Deployment,
            current_rps: None,
            undo: None,
            dry_run: false,
        }
    }

    pub fn revert(kind: ActionKind, undo: Option<Undo>) -> Self {
        Case {
            operation: Operation::Revert,
            undo,
            ..Case::apply(kind)
        }
    }

    pub(super) fn planned(&self) -> PlannedAction {
        let incident = IncidentId(ID.to_owned());
        let key = IdempotencyKey::apply(&incident, Severity::High, 0, self.kind.as_str());
        let pb = entry().playbook;
        PlannedAction {
            key: match self.operation {
                Operation::Apply => key,
                Operation::Revert => key.revert(),
            },
            incident,
            playbook: pb.id.clone(),
            target: crate::operator::testing_writers::fixtures::target(),
            severity: Severity::High,
            operation: self.operation,
            action: crate::playbook::model::Action {
                kind: self.kind.clone(),
                keep: false,
                dry_run: false,
            },
            dry_run: self.dry_run,
        }
    }

    pub(super) fn playbook(&self) -> Playbook {
        let mut pb = (*entry().playbook).clone();
        pb.target.kind = self.workload;
        pb
    }

    /// Executes against `script`; the result and what the server received.
    pub async fn run(&self, script: Vec<Exchange>) -> (Result<Outcome, ExecError>, Vec<Received>) {
        self.call(script, false).await
    }

    /// [`Executor::prepare`] against `script`.
    pub async fn prepare(
        &self,
        script: Vec<Exchange>,
    ) -> (Result<Outcome, ExecError>, Vec<Received>) {
        self.call(script, true).await
    }

    async fn call(
        &self,
        script: Vec<Exchange>,
        prepare: bool,
    ) -> (Result<Outcome, ExecError>, Vec<Received>) {
        let (client, server) = mock_client(NS);
        let server = server.run(script);
        let (planned, pb) = (self.planned(), self.playbook());
        let input = ExecInput {
            action: &planned,
            pb: &pb,
            current_rps: self.current_rps,
            undo: self.undo.as_ref(),
            now: t(60),
        };
        let executor = Executor::new(client);
        let result = if prepare {
            executor.prepare(input).await
        } else {
            executor.execute(input).await
        };
        drop(executor);
        (result, served(server).await)
    }

    /// What the renderer makes of this case's apply, with `rps` fixed.
    pub(super) fn rendered_apply(&self, kind: &ActionKind) -> Vec<Request> {
        self.rendered(kind, Operation::Apply)
    }

    /// What the renderer makes of `kind`'s apply or revert.
    pub(super) fn rendered(&self, kind: &ActionKind, operation: Operation) -> Vec<Request> {
        let (planned, pb) = (self.planned(), self.playbook());
        let ctx = RenderContext {
            incident_id: ID,
            target: &planned.target,
            kind: pb.target.kind,
            match_labels: &pb.target.match_labels,
            current_rps: None,
            current_replicas: None,
            existing_destination_rule: None,
            now: t(60),
        };
        match operation {
            Operation::Apply => render::render_apply(kind, &ctx),
            Operation::Revert => render::render_revert(kind, &ctx),
        }
        .expect("renders")
    }
}

/// `(method, content type, body)` of each request received.
pub(super) fn bodies(received: &[Received]) -> Vec<(Method, Option<&str>, Option<&Value>)> {
    received
        .iter()
        .map(|r| (r.method.clone(), r.content_type.as_deref(), r.body.as_ref()))
        .collect()
}

pub(super) fn sent(method: Method, path: &str, code: u16) -> Sent {
    let method = match method {
        Method::GET => render::Method::Get,
        Method::POST => render::Method::Post,
        Method::DELETE => render::Method::Delete,
        Method::PUT => render::Method::Put,
        _ => render::Method::Patch,
    };
    Sent {
        method,
        path: path.to_owned(),
        code,
    }
}

fn rate_limit(limit: RateLimitValue) -> ActionKind {
    ActionKind::RateLimit(RateLimit {
        limit,
        burst: Some(80),
        path_prefix: None,
        header: None,
        backend: TrafficBackend::Istio,
    })
}

#[tokio::test]
async fn rate_limit_applies_an_envoy_filter_and_reverts_by_deleting_it() {
    let case = Case::apply(rate_limit(RateLimitValue::RequestsPerSecond(40)));
    let path = format!("{ENVOY_FILTER}{SSA}");
    let (out, received) = case
        .run(vec![expect(Method::PATCH, &path, Reply::Stored("7001"))])
        .await;
    let out = out.expect("applied");
    let expected = case.rendered_apply(&case.kind)[0].body.clone();
    assert_eq!(
        bodies(&received),
        vec![(Method::PATCH, Some(APPLY_PATCH), expected.as_ref())]
    );
    let body = expected.expect("a body");
    assert_eq!(body["kind"], "EnvoyFilter");
    assert_eq!(
        body["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["token_bucket"],
        json!({"max_tokens": 80, "tokens_per_fill": 40, "fill_interval": "1s"})
    );
    assert_eq!(out.sent, vec![sent(Method::PATCH, &path, 200)]);
    assert_eq!(
        out.undo,
        Some(Undo::RateLimit {
            requests_per_second: 40
        })
    );

    // Revert deletes it; a second revert finds it gone and is still done.
    let revert = Case::revert(case.kind.clone(), out.undo);
    for reply in [
        Reply::ok(json!({"kind": "Status", "status": "Success"})),
        Reply::not_found(
            "envoyfilters.networking.istio.io",
            "firebreak-ratelimit-pricer",
        ),
    ] {
        let gone = matches!(reply, Reply::Status(..));
        let (out, received) = revert
            .run(vec![expect(Method::DELETE, ENVOY_FILTER, reply)])
            .await;
        let out = out.expect("reverted");
        assert_eq!(bodies(&received), vec![(Method::DELETE, None, None)]);
        assert_eq!(out.sent.len(), usize::from(!gone));
    }
}

#[tokio::test]
async fn relative_rate_limit_is_resolved_from_the_current_rate_and_reused_on_repeat() {
    let kind = rate_limit(RateLimitValue::PercentOfCurrent(80.0));
    let case = Case {
        current_rps: Some(125.0),
        ..Case::apply(kind.clone())
    };
    let path = format!("{ENVOY_FILTER}{SSA}");
    let (out, received) = case
        .run(vec![expect(Method::PATCH, &path, Reply::Stored("7001"))])
        .await;
    let out = out.expect("applied");
    let fixed = rate_limit(RateLimitValue::RequestsPerSecond(100));
    let expected = case.rendered_apply(&fixed)[0].body.clone();
    assert_eq!(
        bodies(&received),
        vec![(Method::PATCH, Some(APPLY_PATCH), expected.as_ref())]
    );
    assert_eq!(
        out.undo,
        Some(Undo::RateLimit {
            requests_per_second: 100
        })
    );

    // After a crash the apply is repeated with what was recorded: same limit,
    // though traffic has since dropped (and the rate is unknown now).
    let repeat = Case {
        undo: out.undo,
        ..Case::apply(kind.clone())
    };
    let (again, received) = repeat
        .run(vec![expect(Method::PATCH, &path, Reply::Stored("7002"))])
        .await;
    assert_eq!(
        again.expect("repeated").undo,
        Some(Undo::RateLimit {
            requests_per_second: 100
        })
    );
    assert_eq!(received[0].body, expected);
}

#[tokio::test]
async fn relative_rate_limit_without_a_current_rate_sends_nothing() {
    let case = Case::apply(rate_limit(RateLimitValue::PercentOfCurrent(80.0)));
    let (out, received) = case.run(vec![]).await;
    let err = out.expect_err("no rate");
    assert_eq!(err.metric_label(), "missing_current_rate");
    assert!(!err.is_transient());
    assert!(received.is_empty());
}

#[tokio::test]
async fn restart_patches_the_restarted_at_annotation() {
    let case = Case::apply(ActionKind::Restart);
    let path = format!("{DEPLOYMENT}{FM}");
    let (out, received) = case
        .run(vec![expect(
            Method::PATCH,
            &path,
            Reply::ok(json!({"kind": "Deployment"})),
        )])
        .await;
    assert_eq!(
        out.expect("restarted").sent,
        vec![sent(Method::PATCH, &path, 200)]
    );
    let body = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-03-02T09:25:00Z"
    }}}}});
    assert_eq!(
        bodies(&received),
        vec![(
            Method::PATCH,
            Some("application/strategic-merge-patch+json"),
            Some(&body)
        )]
    );
}

#[tokio::test]
async fn dry_run_sends_nothing_and_returns_the_requests() {
    let case = Case {
        dry_run: true,
        current_rps: Some(125.0),
        ..Case::apply(rate_limit(RateLimitValue::PercentOfCurrent(80.0)))
    };
    let (out, received) = case.run(vec![]).await;
    assert!(received.is_empty());
    let out = out.expect("rendered");
    assert!(out.sent.is_empty());
    assert_eq!(out.dry_run.len(), 1);
    assert_eq!(out.dry_run[0].path, format!("{ENVOY_FILTER}{SSA}"));
    assert_eq!(
        out.dry_run[0].note.as_deref(),
        Some("100 rps = 80% of the current 125.0 rps")
    );

    // A dry-run revert of a scale shows the recorded count.
    let scale = ActionKind::Scale(crate::playbook::model::Scale {
        to: crate::playbook::model::ScaleTo::Add(2),
        max: 10,
    });
    let case = Case {
        dry_run: true,
        ..Case::revert(
            scale,
            Some(Undo::Scale {
                previous: 3,
                target: 5,
            }),
        )
    };
    let (out, received) = case.run(vec![]).await;
    assert!(received.is_empty());
    assert_eq!(
        out.expect("rendered").dry_run[0].body,
        Some(json!({"spec": {"replicas": 3}}))
    );
}

#[tokio::test]
async fn server_errors_are_transient_and_forbidden_is_permanent() {
    let path = format!("{DEPLOYMENT}{FM}");
    let case = Case::apply(ActionKind::Restart);
    let internal = Reply::Status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "Internal error occurred: etcdserver: request timed out".to_owned(),
    );
    let (out, _) = case.run(vec![expect(Method::PATCH, &path, internal)]).await;
    let err = out.expect_err("500");
    assert!(err.is_transient());
    assert_eq!(err.metric_label(), "api_server_error");
    assert!(err.to_string().contains("etcdserver"), "{err}");

    let forbidden = Reply::forbidden(&format!(
        "deployments.apps \"{WORKLOAD}\" is forbidden: User \"system:serviceaccount:firebreak:firebreak\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"{NS}\""
    ));
    let (out, _) = case
        .run(vec![expect(Method::PATCH, &path, forbidden)])
        .await;
    let err = out.expect_err("403");
    assert!(!err.is_transient());
    assert_eq!(
        (err.metric_label(), err.code()),
        ("api_forbidden", Some(403))
    );

    let conflict = Reply::conflict("deployments.apps", WORKLOAD);
    let (out, _) = case.run(vec![expect(Method::PATCH, &path, conflict)]).await;
    let err = out.expect_err("409");
    assert!(err.is_transient());
    assert_eq!(err.metric_label(), "api_conflict");
}

#[tokio::test]
async fn notify_and_diagnostics_are_not_executed_here() {
    for kind in [
        ActionKind::Notify { message: None },
        // Needs the Incident and the readings: `Executor::capture_diagnostics`.
        ActionKind::Diagnostics(Default::default()),
    ] {
        let (out, received) = Case::apply(kind).run(vec![]).await;
        assert_eq!(out.expect_err("refused").metric_label(), "not_executable");
        assert!(received.is_empty());
    }
}

#[tokio::test]
async fn an_unreachable_api_server_is_a_transient_transport_error() {
    let (service, handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    drop(handle);
    let case = Case::apply(ActionKind::Restart);
    let (planned, pb) = (case.planned(), case.playbook());
    let err = Executor::new(kube::Client::new(service, NS))
        .execute(ExecInput {
            action: &planned,
            pb: &pb,
            current_rps: None,
            undo: None,
            now: t(60),
        })
        .await
        .expect_err("no server");
    assert_eq!(err.metric_label(), "transport");
    assert!(err.is_transient());
}
