//! `prepare` then `execute`: what the caller records before the first write.

use http::Method;
use serde_json::json;

use super::tests::{Case, DEPLOYMENT, FM, SSA, bodies};
use super::*;
use crate::act::render::MERGE_PATCH;
use crate::operator::testing_writers::{Reply, expect};
use crate::playbook::action::{CircuitBreakerSpec, TrafficBackend};
use crate::playbook::model::{Scale, ScaleTo};

fn scale_object(replicas: u32) -> Reply {
    Reply::ok(json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": { "name": "pricer", "namespace": "risk", "resourceVersion": "88120" },
        "spec": { "replicas": replicas },
        "status": { "replicas": replicas, "selector": "app=pricer" },
    }))
}

#[tokio::test]
async fn scale_is_prepared_by_reading_only_and_executed_by_writing_only() {
    let kind = ActionKind::Scale(Scale {
        to: ScaleTo::Add(2),
        max: 10,
    });
    let scale = format!("{DEPLOYMENT}/scale");
    let (prepared, received) = Case::apply(kind.clone())
        .prepare(vec![expect(Method::GET, &scale, scale_object(3))])
        .await;
    let prepared = prepared.expect("prepared");
    let undo = Undo::Scale {
        previous: 3,
        target: 5,
    };
    assert_eq!(prepared.undo, Some(undo.clone()));
    assert_eq!(bodies(&received), vec![(Method::GET, None, None)]);

    // The caller records the undo, then executes with it (as often as it must).
    let patch = format!("{scale}{FM}");
    let case = Case {
        undo: Some(undo.clone()),
        ..Case::apply(kind)
    };
    for _ in 0..2 {
        let (out, received) = case
            .run(vec![expect(Method::PATCH, &patch, scale_object(5))])
            .await;
        assert_eq!(
            out.expect("scaled").note.as_deref(),
            Some("scaled from 3 to 5 replicas")
        );
        let to5 = json!({"spec": {"replicas": 5}});
        assert_eq!(
            bodies(&received),
            vec![(Method::PATCH, Some(MERGE_PATCH), Some(&to5))]
        );
    }
}

#[tokio::test]
async fn relative_rate_limit_and_breaker_are_prepared_without_writing() {
    let rl = ActionKind::RateLimit(RateLimit {
        limit: RateLimitValue::PercentOfCurrent(50.0),
        burst: None,
        path_prefix: None,
        header: None,
        backend: TrafficBackend::Istio,
    });
    let case = Case {
        current_rps: Some(90.0),
        ..Case::apply(rl)
    };
    let (prepared, received) = case.prepare(vec![]).await;
    assert_eq!(
        prepared.expect("resolved").undo,
        Some(Undo::RateLimit {
            requests_per_second: 45
        })
    );
    assert!(received.is_empty());

    let rules = "/apis/networking.istio.io/v1/namespaces/risk/destinationrules";
    let empty = Reply::ok(
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRuleList", "metadata": {}, "items": []}),
    );
    let cb = ActionKind::CircuitBreaker(CircuitBreakerSpec::default());
    let (prepared, received) = Case::apply(cb.clone())
        .prepare(vec![expect(Method::GET, rules, empty)])
        .await;
    let undo = Undo::CreatedDestinationRule {
        name: "firebreak-pricer".into(),
    };
    assert_eq!(prepared.expect("found none").undo, Some(undo.clone()));
    assert_eq!(received.len(), 1);

    // Executed with it: no second listing.
    let own = format!("{rules}/firebreak-pricer{SSA}");
    let (out, received) = Case {
        undo: Some(undo),
        ..Case::apply(cb.clone())
    }
    .run(vec![expect(Method::PATCH, &own, Reply::Stored("4503"))])
    .await;
    assert_eq!(out.expect("applied").sent.len(), 1);
    assert_eq!(received.len(), 1);

    // Nothing to prepare for a revert.
    let (prepared, received) = Case::revert(cb, None).prepare(vec![]).await;
    assert_eq!(prepared.expect("nothing"), Outcome::default());
    assert!(received.is_empty());
}
