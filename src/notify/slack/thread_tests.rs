//! Thread state: one root, replies in order, routing of escalations.

use super::fixtures::{self, action, escalated, notice, queued};
use super::thread::{Restored, Root, Step, Thread};
use crate::incident::resource::SlackThread;
use crate::notify::NoticeKind;
use crate::severity::Severity;

fn steps(t: &Thread) -> Vec<(NoticeKind, Step)> {
    t.queue
        .iter()
        .map(|p| (p.notice.kind, p.step.clone()))
        .collect()
}

#[test]
fn the_opening_is_the_root_and_later_steps_are_replies() {
    let mut t = Thread::new("shop", fixtures::INCIDENT);
    assert_eq!(
        t.accept(queued(notice(NoticeKind::Opened, 0, Severity::Low)), None),
        1
    );
    assert_eq!(
        t.accept(
            queued(action(NoticeKind::ActionApplied, 1, "notify", true)),
            None
        ),
        1
    );
    let quiet_reply = Step::Reply {
        mentions: false,
        broadcast: false,
    };
    assert_eq!(
        steps(&t),
        vec![
            (NoticeKind::Opened, Step::Root),
            (NoticeKind::ActionApplied, quiet_reply)
        ]
    );
    assert_eq!(t.home_channel(None).as_deref(), Some("#shop-alerts"));
    assert!(t.root_mentions().is_empty(), "the low route is quiet");
    assert!(t.has_work());
}

#[test]
fn a_notice_seen_before_is_not_queued_again() {
    let mut t = Thread::new("shop", fixtures::INCIDENT);
    let n = notice(NoticeKind::Opened, 0, Severity::Low);
    assert_eq!(t.accept(queued(n.clone()), None), 1);
    assert_eq!(t.accept(queued(n), None), 0);
    assert_eq!(t.queue.len(), 1);
}

#[test]
fn escalating_into_another_channel_pings_and_cross_posts() {
    let mut t = Thread::new("shop", fixtures::INCIDENT);
    t.accept(queued(notice(NoticeKind::Opened, 0, Severity::Low)), None);
    assert_eq!(
        t.accept(queued(escalated(60, Severity::Low, Severity::High)), None),
        2
    );
    let loud = Step::Reply {
        mentions: true,
        broadcast: true,
    };
    let cross = Step::CrossPost {
        channel: "#incidents".into(),
    };
    assert_eq!(
        steps(&t)[1..],
        [
            (NoticeKind::Escalated, loud),
            (NoticeKind::Escalated, cross)
        ]
    );
    assert!(
        t.queue[1].counted && !t.queue[2].counted,
        "a cross-post is not a notice"
    );
    assert_eq!(t.mentions_for(Severity::High), vec!["@oncall".to_owned()]);
    // The root stays in the opening severity's channel.
    assert_eq!(t.home_channel(None).as_deref(), Some("#shop-alerts"));
}

#[test]
fn an_incident_opened_without_a_route_is_posted_where_it_is_first_routed() {
    let mut t = Thread::new("shop", fixtures::INCIDENT);
    // Medium has no route of its own: the nearest lower (low) applies.
    t.accept(
        queued(notice(NoticeKind::Opened, 0, Severity::Medium)),
        None,
    );
    assert_eq!(t.home_channel(None).as_deref(), Some("#shop-alerts"));
    let mut view = (*fixtures::view()).clone();
    view.routes.low = None;
    let mut t = Thread::new("shop", fixtures::INCIDENT);
    let mut q = queued(notice(NoticeKind::Opened, 0, Severity::Medium));
    q.view = std::sync::Arc::new(view.clone());
    t.accept(q, None);
    assert_eq!(t.home_channel(None), None);
    assert_eq!(
        t.home_channel(Some("#firebreak")).as_deref(),
        Some("#firebreak")
    );
    let mut q = queued(escalated(60, Severity::Medium, Severity::High));
    q.view = std::sync::Arc::new(view);
    t.accept(q, None);
    assert_eq!(t.home_channel(None).as_deref(), Some("#incidents"));
    assert_eq!(t.root_mentions(), vec!["@oncall".to_owned()]);
}

#[test]
fn a_restored_thread_is_posted_and_updated_on_its_next_step() {
    let thread = SlackThread {
        channel: "C0SHOP".into(),
        ts: "1767225600.000100".into(),
    };
    let mut t = Thread::restored(Restored {
        namespace: "shop".into(),
        incident: fixtures::INCIDENT.into(),
        thread: thread.clone(),
        opened: Severity::Low,
        tally: Default::default(),
    });
    assert_eq!(t.root, Root::Posted(thread));
    assert!(!t.has_work());
    t.accept(
        queued(action(NoticeKind::ActionApplied, 1, "rateLimit", false)),
        None,
    );
    assert!(t.dirty && t.has_work());
    assert_eq!(t.tally.applied, 1);
}

#[test]
fn steps_after_the_resolution_keep_the_readings_and_duration_in_the_root() {
    let mut t = Thread::new("shop", fixtures::INCIDENT);
    let mut resolved = notice(NoticeKind::Resolved, 900, Severity::High);
    resolved.phase = "resolved".into();
    resolved.duration_seconds = Some(900);
    t.accept(queued(resolved), None);
    let mut revert = action(NoticeKind::ActionReverted, 930, "rateLimit", false);
    revert.phase = "resolved".into();
    revert.readings.clear();
    t.accept(queued(revert), None);
    let latest = t.latest.as_ref().expect("latest");
    assert_eq!(latest.duration_seconds, Some(900));
    assert_eq!(latest.readings.len(), 1);
}
