use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::fixtures::*;
use super::{Clock, LeaseConfig, LeaseError};

/// The spec we expect a write of ours to carry.
fn spec(holder: &str, duration: i32, acquired: i64, renewed: i64, transitions: i32) -> Value {
    json!({
        "holderIdentity": holder,
        "leaseDurationSeconds": duration,
        "acquireTime": wire(acquired),
        "renewTime": wire(renewed),
        "leaseTransitions": transitions,
    })
}

#[tokio::test]
async fn acquires_an_absent_lease_by_creating_it() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![get(Reply::not_found()), create(Reply::Stored("1001"))]);

    let acquired = elector.try_acquire_or_renew(t(0)).await;
    let (leader, holder) = (elector.is_leader(t(0)), elector.holder().map(str::to_owned));
    let bodies = finish(elector, server).await;

    assert!(acquired.expect("acquire"));
    assert!(leader);
    assert_eq!(holder.as_deref(), Some(ME));
    assert_eq!(
        bodies,
        vec![json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": { "name": NAME, "namespace": NS },
            "spec": spec(ME, 15, 0, 0, 0),
        })]
    );
}

#[tokio::test]
async fn renews_its_own_lease_keeping_acquire_time_and_transitions() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(Reply::object(lease("2001", ME, -30, -2, 3))),
        update(Reply::Stored("2002")),
    ]);

    let renewed = elector.try_acquire_or_renew(t(0)).await;
    let leader = elector.is_leader(t(0));
    let bodies = finish(elector, server).await;

    assert!(renewed.expect("renew"));
    assert!(leader);
    let [put] = bodies.as_slice() else {
        panic!("one write, got {bodies:?}")
    };
    assert_eq!(
        put["metadata"]["resourceVersion"], "2001",
        "compare-and-swap on what was read"
    );
    assert_eq!(
        put["metadata"]["uid"],
        "3f1c2e8a-5b7d-4c1e-9a0f-6d2b8e4c7a91"
    );
    assert_eq!(put["spec"], spec(ME, 15, -30, 0, 3));
}

#[tokio::test]
async fn follows_while_another_holder_is_fresh() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![get(Reply::object(lease("3001", OTHER, -60, -1, 2)))]);

    let acquired = elector.try_acquire_or_renew(t(0)).await;
    let (leader, holder) = (elector.is_leader(t(0)), elector.holder().map(str::to_owned));
    let bodies = finish(elector, server).await;

    assert!(!acquired.expect("no error"));
    assert!(!leader);
    assert_eq!(holder.as_deref(), Some(OTHER));
    assert_eq!(bodies, Vec::<Value>::new(), "a follower writes nothing");
}

#[tokio::test]
async fn takes_over_a_lease_unchanged_for_a_full_duration_of_local_time() {
    // renewTime is an hour old by our clock, but that may be skew: only the
    // local observation of no change for leaseDurationSeconds counts.
    let stale = || Reply::object(lease("4001", OTHER, -3600, -3000, 2));
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(stale()),
        get(stale()),
        get(stale()),
        update(Reply::Stored("4002")),
    ]);

    let first = elector.try_acquire_or_renew(t(0)).await;
    let almost = elector.try_acquire_or_renew(t(14)).await;
    let expired = elector.try_acquire_or_renew(t(15)).await;
    let leader = elector.is_leader(t(15));
    let bodies = finish(elector, server).await;

    assert!(!first.expect("first sight"));
    assert!(!almost.expect("14 s unchanged"));
    assert!(expired.expect("15 s unchanged"));
    assert!(leader);
    let [put] = bodies.as_slice() else {
        panic!("one write, got {bodies:?}")
    };
    assert_eq!(put["metadata"]["resourceVersion"], "4001");
    assert_eq!(put["spec"], spec(ME, 15, 15, 15, 3));
}

#[tokio::test]
async fn keeps_following_while_the_holder_keeps_renewing() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(Reply::object(lease("5001", OTHER, -60, -1, 1))),
        get(Reply::object(lease("5002", OTHER, -60, 10, 1))),
        get(Reply::object(lease("5002", OTHER, -60, 10, 1))),
        get(Reply::object(lease("5002", OTHER, -60, 10, 1))),
        update(Reply::Stored("5003")),
    ]);

    let mut rounds = Vec::new();
    for now in [0, 10, 20, 25] {
        rounds.push(elector.try_acquire_or_renew(t(now)).await.ok());
    }
    let bodies = finish(elector, server).await;

    // The renewal seen at 10 s restarts the wait: expired only at 25 s.
    assert_eq!(rounds, [Some(false), Some(false), Some(false), Some(true)]);
    let [put] = bodies.as_slice() else {
        panic!("one write, got {bodies:?}")
    };
    assert_eq!(put["spec"], spec(ME, 15, 25, 25, 2));
}

#[tokio::test]
async fn takes_a_released_lease_at_once() {
    let mut released = lease("5101", "", -5, -5, 4);
    if let Some(spec) = released.spec.as_mut() {
        spec.lease_duration_seconds = Some(1);
    }
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(Reply::object(released)),
        update(Reply::Stored("5102")),
    ]);

    let acquired = elector.try_acquire_or_renew(t(0)).await;
    let bodies = finish(elector, server).await;

    assert!(acquired.expect("acquire"));
    let [put] = bodies.as_slice() else {
        panic!("one write, got {bodies:?}")
    };
    assert_eq!(put["spec"], spec(ME, 15, 0, 0, 5));
}

#[tokio::test]
async fn a_conflict_on_renew_means_follower_at_once_without_error() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(Reply::not_found()),
        create(Reply::Stored("6001")),
        get(Reply::object(lease("6001", ME, 0, 0, 0))),
        update(Reply::conflict()),
    ]);

    let acquired = elector.try_acquire_or_renew(t(0)).await;
    let renewed = elector.try_acquire_or_renew(t(2)).await;
    let leader = elector.is_leader(t(2));
    let bodies = finish(elector, server).await;

    assert!(acquired.expect("acquire"));
    assert!(!renewed.expect("a conflict is not an error"));
    assert!(
        !leader,
        "someone else wrote the lease: stop before the renew deadline"
    );
    assert_eq!(bodies[1]["metadata"]["resourceVersion"], "6001");
}

#[tokio::test]
async fn losing_the_create_race_means_follower_without_error() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(Reply::not_found()),
        create(Reply::already_exists()),
    ]);

    let acquired = elector.try_acquire_or_renew(t(0)).await;
    let leader = elector.is_leader(t(0));
    finish(elector, server).await;

    assert!(!acquired.expect("AlreadyExists is not an error"));
    assert!(!leader);
}

#[tokio::test]
async fn a_leader_whose_renewals_fail_stops_leading_at_the_renew_deadline() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(Reply::not_found()),
        create(Reply::Stored("6101")),
        get(Reply::internal_error()),
        get(Reply::object(lease("6101", ME, 0, 0, 0))),
        update(Reply::internal_error()),
    ]);

    let acquired = elector.try_acquire_or_renew(t(0)).await;
    let read_failed = elector.try_acquire_or_renew(t(2)).await;
    let write_failed = elector.try_acquire_or_renew(t(4)).await;
    let leader_at = |secs| elector.is_leader(t(secs));
    let (before, at_deadline) = (leader_at(9), leader_at(10));
    finish(elector, server).await;

    assert!(acquired.expect("acquire"));
    let read_failed = read_failed.expect_err("500 on get");
    assert!(
        matches!(read_failed, LeaseError::Get { .. }),
        "{read_failed}"
    );
    assert_eq!(
        write_failed.expect_err("500 on update").metric_label(),
        "update"
    );
    assert!(before, "still leader within 10 s of the last renewal");
    assert!(
        !at_deadline,
        "no renewal for the renew deadline: leadership lost"
    );
}

#[tokio::test]
async fn releases_its_lease_with_no_holder_and_a_one_second_duration() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![
        get(Reply::object(lease("7001", ME, -40, -2, 2))),
        update(Reply::Stored("7002")),
        update(Reply::Stored("7003")),
    ]);

    let renewed = elector.try_acquire_or_renew(t(0)).await;
    let released = elector.release(t(3)).await;
    let (leader, holder) = (elector.is_leader(t(3)), elector.holder().map(str::to_owned));
    let bodies = finish(elector, server).await;

    assert!(renewed.expect("renew"));
    assert!(released.expect("release"));
    assert!(!leader);
    assert_eq!(holder, None);
    let [_, release] = bodies.as_slice() else {
        panic!("two writes, got {bodies:?}")
    };
    assert_eq!(
        release["metadata"]["resourceVersion"], "7002",
        "the version our renewal stored"
    );
    assert_eq!(release["spec"], spec("", 1, 3, 3, 2));
}

#[tokio::test]
async fn release_writes_nothing_when_the_lease_is_not_ours() {
    let (mut elector, verifier) = elector();
    let server = verifier.run(vec![get(Reply::object(lease("7101", OTHER, -40, -1, 2)))]);

    let acquired = elector.try_acquire_or_renew(t(0)).await;
    let released = elector.release(t(1)).await;
    let bodies = finish(elector, server).await;

    assert!(!acquired.expect("follower"));
    assert!(!released.expect("nothing to release"));
    assert_eq!(bodies, Vec::<Value>::new());
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    let limit = Duration::from_secs(10);
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {limit:?}"))
}

struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

#[tokio::test]
async fn runner_publishes_leadership_then_releases_on_shutdown() {
    // A long retry period: nothing but shutdown ends the first wait.
    let config = LeaseConfig {
        lease_duration: Duration::from_secs(90),
        renew_deadline: Duration::from_secs(60),
        retry_period: Duration::from_secs(30),
        ..LeaseConfig::new(NAME, NS, ME)
    };
    let (elector, verifier) = elector_with(config);
    let server = verifier.run(vec![
        get(Reply::not_found()),
        create(Reply::Stored("8001")),
        update(Reply::Stored("8002")),
    ]);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let (mut leader, task) = elector.spawn(FixedClock(t(0)), shutdown);

    assert!(!*leader.borrow(), "starts as follower");
    within("leadership", leader.changed())
        .await
        .expect("sender alive");
    let acquired = *leader.borrow_and_update();
    stop.send(()).expect("runner listening");
    within("step-down", leader.changed())
        .await
        .expect("sender alive");
    let after_shutdown = *leader.borrow_and_update();
    within("runner stop", task).await.expect("runner task");
    let bodies = served(server).await;

    assert!(acquired);
    assert!(!after_shutdown);
    let [created, release] = bodies.as_slice() else {
        panic!("two writes, got {bodies:?}")
    };
    assert_eq!(created["spec"], spec(ME, 90, 0, 0, 0));
    assert_eq!(release["metadata"]["resourceVersion"], "8001");
    assert_eq!(release["spec"], spec("", 1, 0, 0, 0));
}

#[test]
fn rejects_timings_client_go_rejects() {
    let base = LeaseConfig::new(NAME, NS, ME);
    let secs = Duration::from_secs;
    let cases = [
        ("defaults", base.clone(), true),
        (
            "empty identity",
            LeaseConfig {
                identity: String::new(),
                ..base.clone()
            },
            false,
        ),
        (
            "empty name",
            LeaseConfig {
                name: String::new(),
                ..base.clone()
            },
            false,
        ),
        (
            "lease not above renew deadline",
            LeaseConfig {
                lease_duration: secs(10),
                ..base.clone()
            },
            false,
        ),
        (
            "sub-second lease",
            LeaseConfig {
                lease_duration: Duration::from_millis(900),
                renew_deadline: Duration::from_millis(500),
                retry_period: Duration::from_millis(100),
                ..base.clone()
            },
            false,
        ),
        (
            "renew deadline within 1.2 retries",
            LeaseConfig {
                retry_period: secs(9),
                ..base.clone()
            },
            false,
        ),
        (
            "zero retry period",
            LeaseConfig {
                retry_period: Duration::ZERO,
                ..base.clone()
            },
            false,
        ),
    ];
    for (name, config, valid) in cases {
        assert_eq!(config.validate().is_ok(), valid, "{name}");
    }
}
