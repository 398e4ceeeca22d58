//! An apply sent again after a lost answer or a crash: a restart stamps the
//! time recorded before the first attempt (so it rolls the pods once), and an
//! apply found in place is not sent again.

use http::Method;
use serde_json::json;

use super::tests::{Case, DEPLOYMENT, FM};
use super::*;
use crate::operator::testing_writers::fixtures::{NS, t};
use crate::operator::testing_writers::{Reply, expect, mock_client, served};

const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

#[tokio::test]
async fn a_restart_records_its_stamp_first_and_a_repeat_sends_the_same() {
    let prepared = Case::apply(ActionKind::Restart).prepare(vec![]).await;
    assert_eq!(
        prepared.0.expect("prepared").undo,
        Some(Undo::Restarted { at: t(60) })
    );
    // Sent again later (after a crash), with the stamp of the first attempt.
    let case = Case {
        undo: Some(Undo::Restarted { at: t(0) }),
        ..Case::apply(ActionKind::Restart)
    };
    let path = format!("{DEPLOYMENT}{FM}");
    let (_, received) = case
        .run(vec![expect(Method::PATCH, &path, Reply::ok(json!({})))])
        .await;
    let body = received[0].body.as_ref().expect("a body");
    assert_eq!(
        body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT],
        t(0).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
}

async fn landed(case: &Case, live: serde_json::Value) -> bool {
    let (client, server) = mock_client(NS);
    let server = server.run(vec![expect(Method::GET, DEPLOYMENT, Reply::ok(live))]);
    let (planned, pb) = (case.planned(), case.playbook());
    let input = ExecInput {
        action: &planned,
        pb: &pb,
        current_rps: None,
        undo: case.undo.as_ref(),
        now: t(60),
    };
    let landed = Executor::new(client)
        .already_applied(input)
        .await
        .expect("read");
    served(server).await;
    landed
}

#[tokio::test]
async fn a_restart_whose_stamp_is_on_the_template_has_landed() {
    let case = Case {
        undo: Some(Undo::Restarted { at: t(0) }),
        ..Case::apply(ActionKind::Restart)
    };
    let stamped = |at: &str| json!({"kind": "Deployment", "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}});
    let ours = t(0).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert!(landed(&case, stamped(&ours)).await);
    // An older restart's stamp (someone's kubectl): ours has not landed.
    assert!(!landed(&case, stamped("2020-01-01T00:00:00Z")).await);
}
