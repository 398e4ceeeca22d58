//! Drift checks against a scripted API server: one GET, compared with what the
//! apply set; a Deployment rollback by its restored template's digest.

use http::Method;
use serde_json::json;

use super::tests::{Case, DEPLOYMENT};
use super::tests_workload::{deployment, template};
use super::*;
use crate::operator::testing_writers::fixtures::t;
use crate::operator::testing_writers::{Exchange, Reply, expect, mock_client, served};
use crate::playbook::model::{Scale, ScaleTo};

const SCALE: &str = "/apis/apps/v1/namespaces/risk/deployments/pricer/scale";

async fn check(case: &Case, script: Vec<Exchange>) -> Option<Drift> {
    let (client, server) = mock_client("risk");
    let server = server.run(script);
    let (planned, pb) = (case.planned(), case.playbook());
    let input = ExecInput {
        action: &planned,
        pb: &pb,
        current_rps: None,
        undo: case.undo.as_ref(),
        now: t(60),
    };
    let executor = Executor::new(client);
    let found = executor.check_drift(input).await.expect("checked");
    drop(executor);
    let received = served(server).await;
    assert_eq!(received.len(), 1, "one GET");
    found
}

fn rolled_back() -> Case {
    Case {
        undo: Some(Undo::RolledBack {
            revision: 6,
            template_digest: super::rollback::template_digest(&template("2.3.1", Some("7c4b8d"))),
        }),
        ..Case::apply(ActionKind::Rollback)
    }
}

#[tokio::test]
async fn a_rollback_holds_while_the_deployment_keeps_the_restored_template() {
    let found = check(
        &rolled_back(),
        vec![expect(
            Method::GET,
            DEPLOYMENT,
            Reply::ok(deployment(8, "2.3.1", false)),
        )],
    )
    .await;
    assert_eq!(found, None);
}

#[tokio::test]
async fn a_redeployed_template_is_drift_that_no_second_rollback_answers() {
    let found = check(
        &rolled_back(),
        vec![expect(
            Method::GET,
            DEPLOYMENT,
            Reply::ok(deployment(9, "2.4.0", false)),
        )],
    )
    .await;
    assert_eq!(
        found,
        Some(Drift {
            detail: "Deployment pricer: the pod template is no longer that of revision 6, which the rollback restored (now revision 9); a rollback is not repeated".into(),
            reapplicable: false,
        })
    );
}

#[tokio::test]
async fn a_scale_changed_since_is_drift_to_reapply() {
    let case = Case {
        undo: Some(Undo::Scale {
            previous: 3,
            target: 5,
        }),
        ..Case::apply(ActionKind::Scale(Scale {
            to: ScaleTo::Add(2),
            max: 10,
        }))
    };
    let scale = |n: u32| {
        Reply::ok(json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": n}}))
    };
    assert_eq!(
        check(&case, vec![expect(Method::GET, SCALE, scale(5))]).await,
        None
    );
    assert_eq!(
        check(&case, vec![expect(Method::GET, SCALE, scale(2))]).await,
        Some(Drift {
            detail: "the scale /spec/replicas is 2, Firebreak set 5".into(),
            reapplicable: true,
        })
    );
}
