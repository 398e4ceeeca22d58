//! Incident manager and guardrails, driven through the engine with plain values.

use std::collections::HashMap;

use firebreak::detect::Missing;
use firebreak::engine::{DetectorResult, Engine, EscalationCause, Event, EventKind};
use firebreak::incident::{GlobalGuardrails, Hold, Operation, Phase};
use firebreak::playbook::TargetRef;
use firebreak::playbook::ValidPlaybook;
use firebreak::playbook::load::parse_documents;
use firebreak::severity::Severity;
use jiff::{SignedDuration, Timestamp};

fn playbook(guardrails: &str) -> ValidPlaybook {
    let yaml = format!(
        r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {{name: api, namespace: shop}}
spec:
  target: {{names: [checkout]}}
  detectors:
    - {{name: p99, latency: {{}}, thresholds: {{low: 0.3, high: 0.8, critical: 2}}, clearFor: 0s}}
  actions:
    low: [{{notify: {{}}}}]
    high: [{{diagnostics: {{}}}}, {{rateLimit: {{requestsPerSecond: 100}}}}, {{scale: {{add: 2}}, keep: true}}]
    critical: [{{circuitBreaker: {{}}}}]
  guardrails: {guardrails}
"#
    );
    match parse_documents(&yaml, None).pop() {
        Some(Ok(pb)) => pb,
        other => panic!("test playbook invalid: {other:?}"),
    }
}

struct Run {
    engine: Engine,
    pb: ValidPlaybook,
    target: TargetRef,
    t0: Timestamp,
    events: Vec<Event>,
}

impl Run {
    fn new(guardrails: &str, global: GlobalGuardrails) -> Self {
        Run {
            engine: Engine::new(global),
            pb: playbook(guardrails),
            target: TargetRef {
                namespace: "shop".into(),
                name: "checkout".into(),
            },
            t0: Timestamp::from_second(1_767_225_600).expect("time"),
            events: Vec::new(),
        }
    }

    /// Evaluate at `secs` with `value` (None = Prometheus unreachable); executor succeeds.
    fn at(&mut self, secs: i64, value: Option<f64>) -> Vec<Event> {
        let now = self.t0 + SignedDuration::from_secs(secs);
        let result: DetectorResult = match value {
            Some(v) => Ok(HashMap::from([("checkout".to_owned(), v)])),
            None => Err(Missing::Unreachable("connection refused".into())),
        };
        let out =
            self.engine
                .evaluate(&self.pb, std::slice::from_ref(&self.target), &[result], now);
        let mut events = out.events;
        for a in &out.actions {
            events.extend(self.engine.record_outcome(a, Ok(()), now));
        }
        self.events.extend(events.clone());
        events
    }
}

fn issued(events: &[Event]) -> Vec<(String, Operation)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionIssued { key, operation, .. } => Some((key.0.clone(), *operation)),
            _ => None,
        })
        .collect()
}

fn held(events: &[Event]) -> Vec<Hold> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionHeld { hold, .. } => Some(hold.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn lifecycle_opens_escalates_mitigates_resolves_and_reverts_in_reverse() {
    let mut r = Run::new("{}", GlobalGuardrails::default());
    assert!(r.at(0, Some(0.1)).is_empty());
    let opened = r.at(15, Some(0.4));
    let id = "api-checkout-1767225615";
    assert!(opened.iter().any(|e| e.kind
        == EventKind::IncidentOpened {
            severity: Severity::Low
        }));
    assert_eq!(
        issued(&opened),
        vec![(format!("{id}/low/0/notify"), Operation::Apply)]
    );
    // Notify alone is not a mitigation.
    assert!(
        !opened
            .iter()
            .any(|e| e.kind == EventKind::IncidentMitigated)
    );

    let escalated = r.at(30, Some(0.9));
    assert!(escalated.iter().any(|e| matches!(
        e.kind,
        EventKind::IncidentEscalated {
            from: Severity::Low,
            to: Severity::High,
            cause: EscalationCause::Detectors
        }
    )));
    assert_eq!(
        issued(&escalated),
        vec![
            (format!("{id}/high/0/diagnostics"), Operation::Apply),
            (format!("{id}/high/1/rateLimit"), Operation::Apply),
            (format!("{id}/high/2/scale"), Operation::Apply),
        ]
    );
    assert!(
        escalated
            .iter()
            .any(|e| e.kind == EventKind::IncidentMitigated)
    );
    assert_eq!(
        r.engine.incidents().next().map(|i| i.phase),
        Some(Phase::Mitigated)
    );

    // Same readings again: nothing is issued twice.
    assert!(issued(&r.at(45, Some(0.9))).is_empty());

    let resolved = r.at(60, Some(0.1));
    assert!(resolved.iter().any(|e| matches!(
        e.kind,
        EventKind::IncidentResolved {
            duration_seconds: 45
        }
    )));
    // Only the rate limit is reverted: scale has keep, diagnostics and notify are not reversible.
    assert_eq!(
        issued(&resolved),
        vec![(format!("{id}/high/1/rateLimit/revert"), Operation::Revert)]
    );
    assert!(r.engine.incidents().next().is_none());
}

#[test]
fn jumping_straight_to_critical_runs_every_lower_severity_first() {
    let mut r = Run::new("{}", GlobalGuardrails::default());
    let events = r.at(0, Some(5.0));
    let keys: Vec<String> = issued(&events).into_iter().map(|(k, _)| k).collect();
    let kinds: Vec<&str> = keys
        .iter()
        .map(|k| k.rsplit('/').next().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        [
            "notify",
            "diagnostics",
            "rateLimit",
            "scale",
            "circuitBreaker"
        ]
    );
}

#[test]
fn missing_data_neither_resolves_nor_deescalates_nor_acts() {
    let mut r = Run::new("{}", GlobalGuardrails::default());
    r.at(0, Some(0.9));
    for t in [15, 30, 45] {
        let events = r.at(t, None);
        assert!(issued(&events).is_empty(), "no action on missing data");
        assert!(!events.iter().any(|e| matches!(
            e.kind,
            EventKind::IncidentResolved { .. } | EventKind::IncidentDeescalated { .. }
        )));
    }
    assert_eq!(
        r.engine.incidents().next().map(|i| i.severity),
        Some(Severity::High)
    );
    // Data back and healthy: now it resolves.
    assert!(
        r.at(60, Some(0.1))
            .iter()
            .any(|e| matches!(e.kind, EventKind::IncidentResolved { .. }))
    );
}

#[test]
fn deescalation_keeps_mitigations_in_place() {
    let mut r = Run::new("{}", GlobalGuardrails::default());
    r.at(0, Some(0.9));
    let events = r.at(15, Some(0.4));
    assert!(events.iter().any(|e| matches!(
        e.kind,
        EventKind::IncidentDeescalated {
            from: Severity::High,
            to: Severity::Low
        }
    )));
    assert!(issued(&events).is_empty());
}

#[test]
fn cooldown_holds_actions_of_a_reopened_incident_then_releases_them() {
    let mut r = Run::new("{cooldown: 5m}", GlobalGuardrails::default());
    r.at(0, Some(0.9));
    r.at(15, Some(0.1)); // resolved at 15s, cooldown until 315s
    let reopened = r.at(30, Some(0.9));
    // The notification still goes out; cluster changes wait.
    assert_eq!(issued(&reopened).len(), 1);
    let until = Timestamp::from_second(1_767_225_600 + 315).expect("time");
    assert_eq!(held(&reopened), vec![Hold::Cooldown { until }]);
    assert!(issued(&r.at(300, Some(0.9))).is_empty());
    assert_eq!(issued(&r.at(315, Some(0.9))).len(), 3);
}

#[test]
fn budget_caps_actions_per_window() {
    let mut r = Run::new(
        "{budget: {maxActions: 2, window: 10m}, cooldown: 0s}",
        GlobalGuardrails::default(),
    );
    let first = r.at(0, Some(0.9));
    // notify is free; diagnostics and rate limit spend the budget; scale waits.
    assert_eq!(issued(&first).len(), 3);
    assert!(matches!(
        held(&first).as_slice(),
        [Hold::Budget { max_actions: 2, .. }]
    ));
    assert!(issued(&r.at(300, Some(0.9))).is_empty());
    let later = r.at(600, Some(0.9));
    assert_eq!(
        issued(&later).len(),
        1,
        "window slid past the first two actions"
    );
}

#[test]
fn namespace_and_cluster_budgets_apply_across_playbooks() {
    let global = GlobalGuardrails {
        cluster_budget: Some(firebreak::playbook::model::Budget {
            max_actions: 1,
            window: firebreak::duration::Duration::from_secs(3600),
        }),
        ..Default::default()
    };
    let mut r = Run::new("{}", global);
    let events = r.at(0, Some(0.9));
    assert!(matches!(held(&events).as_slice(), [Hold::Budget { scope, .. }] if scope == "cluster"));
}

#[test]
fn kill_switch_pauses_cluster_changes_and_reverts_but_not_evaluation() {
    let mut r = Run::new(
        "{}",
        GlobalGuardrails {
            kill_switch: true,
            ..Default::default()
        },
    );
    let events = r.at(0, Some(0.9));
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::IncidentOpened { .. }))
    );
    assert_eq!(issued(&events).len(), 1, "only the notification");
    assert_eq!(held(&events), vec![Hold::KillSwitch]);
    r.engine.set_kill_switch(false);
    assert_eq!(issued(&r.at(15, Some(0.9))).len(), 3);
    r.engine.set_kill_switch(true);
    let resolved = r.at(30, Some(0.1));
    assert!(issued(&resolved).is_empty());
    assert_eq!(held(&resolved), vec![Hold::KillSwitch]);
    r.engine.set_kill_switch(false);
    assert_eq!(
        issued(&r.at(45, Some(0.1))).len(),
        1,
        "the held revert goes out"
    );
}

#[test]
fn escalate_after_raises_an_unresolved_incident_one_step() {
    let mut r = Run::new("{escalateAfter: 10m}", GlobalGuardrails::default());
    r.at(0, Some(0.4));
    assert!(
        !r.at(590, Some(0.4))
            .iter()
            .any(|e| matches!(e.kind, EventKind::IncidentEscalated { .. }))
    );
    let events = r.at(600, Some(0.4));
    assert!(events.iter().any(|e| matches!(
        e.kind,
        EventKind::IncidentEscalated {
            from: Severity::Low,
            to: Severity::Medium,
            cause: EscalationCause::Unresolved
        }
    )));
    // The floor holds: readings at low do not de-escalate it.
    assert!(
        !r.at(615, Some(0.4))
            .iter()
            .any(|e| matches!(e.kind, EventKind::IncidentDeescalated { .. }))
    );
}

#[test]
fn dry_run_is_global_per_playbook_or_per_action() {
    let dry = |events: &[Event]| -> Vec<bool> {
        events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::ActionIssued { dry_run, .. } => Some(dry_run),
                _ => None,
            })
            .collect()
    };
    let mut global = Run::new(
        "{}",
        GlobalGuardrails {
            dry_run: true,
            ..Default::default()
        },
    );
    assert!(dry(&global.at(0, Some(0.9))).iter().all(|d| *d));
    let mut per_playbook = Run::new("{dryRun: true}", GlobalGuardrails::default());
    assert!(dry(&per_playbook.at(0, Some(0.9))).iter().all(|d| *d));
    let mut live = Run::new("{}", GlobalGuardrails::default());
    assert!(dry(&live.at(0, Some(0.9))).iter().all(|d| !*d));
}

#[test]
fn failed_action_is_recorded_and_keeps_the_incident_open() {
    let mut r = Run::new("{}", GlobalGuardrails::default());
    let now = r.t0;
    let result: DetectorResult = Ok(HashMap::from([("checkout".to_owned(), 0.9)]));
    let out = r
        .engine
        .evaluate(&r.pb, std::slice::from_ref(&r.target), &[result], now);
    let mut mitigated = false;
    for a in &out.actions {
        let outcome = if a.action.kind.is_mitigation() {
            Err("409 conflict".to_owned())
        } else {
            Ok(())
        };
        mitigated |= r
            .engine
            .record_outcome(a, outcome, now)
            .iter()
            .any(|e| e.kind == EventKind::IncidentMitigated);
    }
    assert!(!mitigated);
    assert_eq!(
        r.engine.incidents().next().map(|i| i.phase),
        Some(Phase::Open)
    );
}

#[test]
fn actions_not_enabled_are_refused_once_and_block_nothing() {
    let mut r = Run::new(
        "{}",
        GlobalGuardrails {
            allowed_actions: Some(["notify", "rateLimit", "scale"].map(str::to_owned).into()),
            ..Default::default()
        },
    );
    let events = r.at(0, Some(0.9));
    let kinds: Vec<String> = issued(&events)
        .iter()
        .map(|(k, _)| k.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["notify", "rateLimit", "scale"],
        "diagnostics refused, the rest goes out"
    );
    let refused: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionFinished {
                key,
                outcome: firebreak::incident::StepState::Failed { reason },
                ..
            } => Some(format!("{key}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("/high/0/diagnostics: action diagnostics is not enabled"),
        "{refused:?}"
    );
    assert!(held(&events).is_empty(), "refused, not held");
    assert!(issued(&r.at(15, Some(0.9))).is_empty(), "never retried");
}
