use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::*;
use crate::operator::testing::t;
use crate::playbook::validate::validate;

fn problems(pb: &Playbook) -> Vec<Problem> {
    validate(pb).err().unwrap_or_default()
}

#[test]
fn a_valid_playbook_is_ready_not_paused_and_lists_its_detectors() {
    let pb = Playbook::test();
    let want = desired(&pb, &problems(&pb), t(0));
    assert_eq!(
        want.to_patch(),
        json!({"status": {
            "observedGeneration": 3,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Valid",
                    "message": "the playbook is valid and evaluated",
                    "observedGeneration": 3,
                    "lastTransitionTime": "2025-06-02T09:00:00Z",
                },
                {
                    "type": "Paused",
                    "status": "False",
                    "reason": "ActionsEnabled",
                    "message": "actions are enabled; set firebreak.dev/kill-switch=true to pause them",
                    "observedGeneration": 3,
                    "lastTransitionTime": "2025-06-02T09:00:00Z",
                },
            ],
            "detectors": "latency-p99,error-rate",
        }})
    );
}

#[test]
fn an_invalid_playbook_is_not_ready_with_every_problem_by_field_path() {
    let pb = Playbook::test().invalid();
    let ready = &desired(&pb, &problems(&pb), t(0)).conditions[0];
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Invalid")
    );
    assert!(
        ready
            .message
            .contains("spec.detectors[0].thresholds.high: must be greater than low"),
        "{}",
        ready.message
    );
    assert!(
        ready.message.contains("spec.detectors[1]: "),
        "{}",
        ready.message
    );
    assert_eq!(ready.message.matches("; ").count(), 1, "{}", ready.message);
}

#[test]
fn unchanged_status_keeps_its_transition_time_and_needs_no_patch() {
    let pb = Playbook::test();
    let first = desired(&pb, &[], t(0));
    let current = PlaybookStatus {
        observed_generation: first.observed_generation,
        conditions: first.conditions.clone(),
        detectors: first.detectors.clone(),
        targets: Some(4),
        ..PlaybookStatus::default()
    };
    let pb = pb.with_status(current);

    let later = desired(&pb, &[], t(600));
    assert_eq!(later, first, "same status, same lastTransitionTime");
    assert_eq!(patch(&pb, &[], t(600)), None);
}

#[test]
fn a_status_change_moves_only_that_conditions_transition_time() {
    let pb = Playbook::test();
    let first = desired(&pb, &[], t(0));
    let pb = pb
        .with_status(PlaybookStatus {
            observed_generation: first.observed_generation,
            conditions: first.conditions,
            detectors: first.detectors,
            ..PlaybookStatus::default()
        })
        .kill_switch("true");

    let patch = patch(&pb, &[], t(600)).expect("Paused changed");
    let conditions = &patch["status"]["conditions"];
    assert_eq!(conditions[0]["lastTransitionTime"], "2025-06-02T09:00:00Z");
    assert_eq!(conditions[1]["status"], "True");
    assert_eq!(conditions[1]["reason"], "KillSwitch");
    assert_eq!(conditions[1]["lastTransitionTime"], "2025-06-02T09:10:00Z");
}

#[test]
fn a_new_generation_is_a_change_even_with_the_same_conditions() {
    let pb = Playbook::test();
    let first = desired(&pb, &[], t(0));
    let mut pb = pb.with_status(PlaybookStatus {
        observed_generation: first.observed_generation,
        conditions: first.conditions,
        detectors: first.detectors,
        ..PlaybookStatus::default()
    });
    pb.metadata.generation = Some(4);
    let patch = patch(&pb, &[], t(60)).expect("generation changed");
    assert_eq!(patch["status"]["observedGeneration"], 4);
    assert_eq!(
        patch["status"]["conditions"][0]["lastTransitionTime"],
        "2025-06-02T09:00:00Z"
    );
}

#[test]
fn no_detectors_is_written_as_null_to_clear_a_stale_value() {
    let mut pb = Playbook::test();
    pb.spec.detectors.clear();
    assert_eq!(
        desired(&pb, &[], t(0)).to_patch()["status"]["detectors"],
        json!(null)
    );
}

#[test]
fn the_kill_switch_reads_true_in_any_case_and_nothing_else() {
    assert!(is_paused(&Playbook::test().kill_switch("true")));
    assert!(is_paused(&Playbook::test().kill_switch(" True ")));
    assert!(!is_paused(&Playbook::test().kill_switch("false")));
    assert!(!is_paused(&Playbook::test().kill_switch("yes")));
    assert!(!is_paused(&Playbook::test()));
}

#[test]
fn a_long_problem_list_is_cut_near_1000_bytes_with_a_count_of_the_rest() {
    let many: Vec<Problem> = (0..100)
        .map(|i| {
            Problem::new(
                format!("spec.detectors[{i}].name"),
                "is not a DNS-1123 label",
            )
        })
        .collect();
    let message = problems_message(&many);
    assert!(message.len() <= MAX_MESSAGE_BYTES + 20, "{}", message.len());
    let listed = message.matches("is not a DNS-1123 label").count();
    assert!(listed > 10, "{message}");
    assert!(
        message.ends_with(&format!("; and {} more", 100 - listed)),
        "{message}"
    );
}

#[test]
fn one_huge_problem_is_cut_on_a_character_boundary() {
    let huge = vec![
        // Built literally: `Problem::new` would already shorten the reason.
        Problem {
            reason: "é".repeat(800),
            ..Problem::new("spec.target.names[0]", "")
        },
        Problem::new("spec.interval", "must be at least 1s"),
    ];
    let message = problems_message(&huge);
    assert!(message.len() <= MAX_MESSAGE_BYTES + 20);
    assert!(message.ends_with("…; and 1 more"), "{message}");
}

#[test]
fn a_document_level_problem_has_no_path_prefix() {
    let message = problems_message(&[Problem::new("", "expected a mapping")]);
    assert_eq!(message, "expected a mapping");
}

#[test]
fn truncate_never_splits_a_character() {
    assert_eq!(truncate("aé", 2), "a");
    assert_eq!(truncate("aé", 3), "aé");
    assert_eq!(truncate("abc", 10), "abc");
}

#[test]
fn conditions_keep_a_previous_time_only_for_the_same_type_and_status() {
    let old = condition(
        READY,
        true,
        reason::VALID,
        String::new(),
        Some(1),
        t(0),
        &[],
    );
    let same = condition(
        READY,
        true,
        reason::VALID,
        "x".into(),
        Some(2),
        t(60),
        std::slice::from_ref(&old),
    );
    assert_eq!(same.last_transition_time, Time(t(0)));
    let flipped = condition(
        READY,
        false,
        reason::INVALID,
        "x".into(),
        Some(2),
        t(60),
        std::slice::from_ref(&old),
    );
    assert_eq!(flipped.last_transition_time, Time(t(60)));
    let other = condition(
        PAUSED,
        true,
        reason::KILL_SWITCH,
        "x".into(),
        Some(2),
        t(60),
        &[old],
    );
    assert_eq!(other.last_transition_time, Time(t(60)));
}
