use std::sync::{Arc, Mutex};

use super::*;
use crate::notify::{Notifier, Sink};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Notice>>>);

impl Sink for Capture {
    fn name(&self) -> &'static str {
        "capture"
    }
    fn publish(&mut self, _pb: &Playbook, notices: &[Notice]) {
        self.0.lock().unwrap().extend_from_slice(notices);
    }
}

async fn replayed(scenario: &str) -> Vec<Notice> {
    let playbooks = crate::runner::load_playbooks(None).unwrap();
    let text = crate::embedded::scenario(scenario).unwrap();
    let capture = Capture::default();
    let mut notifier = Notifier::new(vec![Box::new(capture.clone())]);
    let args = crate::replay::ReplayArgs {
        scenarios: Vec::new(),
        playbooks: None,
        output: crate::runner::Format::Json,
        out: None,
        step: None,
        kill_switch: false,
    };
    crate::replay::replay_scenario_to(scenario, text, &playbooks, &args, &mut notifier)
        .await
        .unwrap();
    capture.0.lock().unwrap().clone()
}

#[tokio::test]
async fn an_incident_reads_opened_then_steps_then_resolved() {
    for scenario in [
        "memory-leak",
        "cache-stampede",
        "lock-contention",
        "traffic-surge",
    ] {
        let notices = replayed(scenario).await;
        assert!(!notices.is_empty(), "{scenario}");
        let mut ids = std::collections::HashSet::new();
        for n in &notices {
            assert!(
                ids.insert(n.id.clone()),
                "{scenario}: duplicate id {}",
                n.id
            );
            assert!(n.id.starts_with(&n.incident), "{}", n.id);
        }
        let first = &notices[0];
        assert_eq!(first.kind, NoticeKind::Opened, "{scenario}");
        assert_eq!(first.phase, "open");
        assert!(
            first
                .readings
                .iter()
                .any(|r| r.severity.is_some() && r.threshold.is_some()),
            "{scenario}: the opening notice shows which detector fired: {first:#?}"
        );
        // Resolution comes last but for the reverts it sets off.
        let at = notices
            .iter()
            .position(|n| n.kind == NoticeKind::Resolved)
            .unwrap_or_else(|| panic!("{scenario}: never resolved"));
        let resolved = &notices[at];
        assert_eq!(resolved.phase, "resolved");
        assert!(resolved.duration_seconds.unwrap() > 0);
        for n in &notices[at + 1..] {
            let a = n.action.as_ref().unwrap();
            assert_eq!(a.operation, Operation::Revert, "{scenario}: {n:#?}");
        }
        for n in notices
            .iter()
            .filter(|n| n.kind == NoticeKind::ActionApplied)
        {
            let a = n.action.as_ref().unwrap();
            // Replay never sends: every action is recorded as dry-run.
            assert!(a.dry_run, "{a:?}");
            assert_eq!(a.operation, Operation::Apply);
        }
        for n in notices.iter().filter(|n| n.kind == NoticeKind::Escalated) {
            assert!(n.previous_severity.unwrap() < n.severity);
        }
    }
}

#[tokio::test]
async fn ids_are_the_same_when_the_same_history_is_replayed() {
    let a: Vec<String> = replayed("traffic-surge")
        .await
        .into_iter()
        .map(|n| n.id)
        .collect();
    let b: Vec<String> = replayed("traffic-surge")
        .await
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(a, b);
}
