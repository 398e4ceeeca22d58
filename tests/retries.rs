//! Transient failures through the engine with plain values: a step backing off
//! holds the mitigations after it, the kill switch holds a due retry, and a
//! retry is issued under the same key without spending the budget again.

use std::collections::HashMap;

use firebreak::duration::Duration;
use firebreak::engine::{DetectorResult, Engine, Event, EventKind};
use firebreak::incident::{GlobalGuardrails, Hold, Operation};
use firebreak::playbook::load::parse_documents;
use firebreak::playbook::{TargetRef, ValidPlaybook};
use jiff::{SignedDuration, Timestamp};

fn playbook() -> ValidPlaybook {
    let yaml = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: api, namespace: shop}
spec:
  target: {names: [checkout]}
  detectors:
    - {name: p99, latency: {}, thresholds: {high: 0.8, critical: 2}, clearFor: 0s}
  actions:
    high: [{rateLimit: {requestsPerSecond: 100}}]
    critical: [{circuitBreaker: {}}]
  guardrails: {budget: {maxActions: 2, window: 1h}}
"#;
    match parse_documents(yaml, None).pop() {
        Some(Ok(pb)) => pb,
        other => panic!("test playbook invalid: {other:?}"),
    }
}

/// Issued actions: (kind, attempt).
fn issued(events: &[Event]) -> Vec<(String, u32)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionIssued { key, attempt, .. } => Some((key.kind().to_owned(), *attempt)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_backing_off_step_holds_later_mitigations_and_the_kill_switch_holds_its_retry() {
    let pb = playbook();
    let target = TargetRef {
        namespace: "shop".into(),
        name: "checkout".into(),
    };
    let t0 = Timestamp::from_second(1_767_225_600).expect("time");
    let mut engine = Engine::new(GlobalGuardrails::default());
    let eval = |engine: &mut Engine, secs: i64, value: f64, fail: bool| {
        let now = t0 + SignedDuration::from_secs(secs);
        let result: DetectorResult = Ok(HashMap::from([("checkout".to_owned(), value)]));
        let out = engine.evaluate(&pb, std::slice::from_ref(&target), &[result], now);
        let mut events = out.events;
        for a in &out.actions {
            events.extend(if fail && a.key.kind() == "rateLimit" {
                engine.record_transient_failure(
                    a,
                    "503 ServiceUnavailable".into(),
                    pb.interval,
                    now,
                )
            } else {
                engine.record_outcome(a, Ok(()), now)
            });
        }
        events
    };
    assert_eq!(pb.interval, Duration::from_secs(15));

    let opened = eval(&mut engine, 0, 1.0, true);
    assert_eq!(issued(&opened), [("rateLimit".to_owned(), 1)]);
    assert!(opened.iter().any(|e| matches!(
        &e.kind,
        EventKind::ActionRetrying { attempt: 1, operation: Operation::Apply, retry_at, .. }
            if *retry_at == t0 + SignedDuration::from_secs(15)
    )));

    // Escalated while the rate limit backs off: the circuit breaker waits behind it.
    let escalated = eval(&mut engine, 5, 3.0, false);
    assert!(issued(&escalated).is_empty(), "{escalated:#?}");

    // Due, but the kill switch is on: held, not issued.
    engine.set_kill_switch(true);
    let paused = eval(&mut engine, 15, 3.0, false);
    assert!(issued(&paused).is_empty());
    assert!(paused.iter().any(|e| matches!(
        e.kind,
        EventKind::ActionHeld {
            hold: Hold::KillSwitch,
            ..
        }
    )));

    // Released: the retry (attempt 2, no budget) then the circuit breaker (the
    // second unit of a budget of two) go out in order.
    engine.set_kill_switch(false);
    let resumed = eval(&mut engine, 30, 3.0, false);
    assert_eq!(
        issued(&resumed),
        [
            ("rateLimit".to_owned(), 2),
            ("circuitBreaker".to_owned(), 1)
        ]
    );
    assert!(
        !resumed
            .iter()
            .any(|e| matches!(e.kind, EventKind::ActionHeld { .. })),
        "{resumed:#?}"
    );
}
