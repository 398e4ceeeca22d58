//! The four seed incidents end to end, at once, through one operator: a real
//! Prometheus scrapes the synthetic workloads, the operator (the real binary)
//! detects, acts through the Kubernetes API stand-in, threads in the Slack
//! stand-in and publishes CloudEvents to a real Kafka-protocol broker; then
//! the workloads recover, mitigations are reverted and the incidents resolve.
//! Every configured secret is then looked for in everything it wrote.

mod e2e;
mod support;

use std::time::Duration;

use e2e::seeds::{self, Seed};
use e2e::world::{self, World};
use e2e::{checks, cluster};

/// Play one seed: the incident starts, the mitigation lands, the workload recovers.
async fn play(world: &World, seed: &Seed) {
    let (ns, name) = (seed.namespace, seed.workload);
    world.synth.update(ns, name, |w| {
        w.memory = seed.memory.0;
        w.signal = seed.incident;
    });
    let last = seed.writes.last().expect("a seed acts");
    let (method, path) = (last.method, last.path);
    let wanted = format!("/namespaces/{ns}/{path}");
    world
        .wait_until(
            &format!("{}: {method} {path}", seed.pattern),
            Duration::from_secs(120),
            |w| {
                w.action_requests(ns)
                    .iter()
                    .any(|r| r.method.as_str() == method && r.path.ends_with(&wanted))
            },
        )
        .await;
    // The mitigation worked (or the fix shipped): the workload is healthy again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.synth.update(ns, name, |w| {
        w.memory = seed.memory.1;
        w.signal = seed.healthy;
    });
    world
        .wait_until(
            &format!("{} resolved", seed.pattern),
            Duration::from_secs(120),
            |w| {
                w.incidents(ns).iter().any(|i| {
                    i["spec"]["target"]["name"] == name && i["status"]["phase"] == "Resolved"
                })
            },
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_incidents_play_out_end_to_end() {
    let seeds = seeds::all();
    let workloads = seeds.iter().flat_map(Seed::workloads).collect();
    let playbooks: Vec<_> = seeds.iter().map(Seed::playbook).collect();
    let mut world = World::start(workloads, &playbooks).await;
    // The strictest logging: every crate at debug, so the secret scan below sees all.
    world.config.log_filter = "debug".to_owned();
    world.start_operator().await;
    world
        .wait_until("every playbook Ready", Duration::from_secs(30), |w| {
            w.api.list(cluster::PLAYBOOKS).iter().all(|pb| {
                pb["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
        })
        .await;
    // Healthy for a while: nothing happens.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        world.api.list(cluster::INCIDENTS).is_empty(),
        "an incident while healthy"
    );

    futures::future::join_all(seeds.iter().map(|s| play(&world, s))).await;
    // Reverts run with the resolution; give the last writes a moment to land.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let events = world.events(10_000, Duration::from_secs(15)).await;
    for seed in &seeds {
        let incident = checks::incident(&world, seed);
        checks::lifecycle(&incident, seed);
        checks::writes(&world, seed);
        checks::slack_thread(&world, &incident, seed);
        checks::kafka_events(&events, &incident, seed);
        checks::slack_replies_match_events(&world, &events, &incident, seed.pattern);
    }
    secrets_never_written(&mut world, &events).await;
}

/// The Kubernetes, Prometheus and Slack tokens appear in nothing Firebreak
/// wrote: its logs (every crate at debug), the objects it stored, the Slack
/// messages and the Kafka events.
async fn secrets_never_written(world: &mut World, events: &[support::kafka::Consumed]) {
    world.operator().stop().await;
    let log = std::fs::read_to_string(world.log_path()).unwrap();
    assert!(
        log.lines().count() > 1_000,
        "debug logging produced {} lines",
        log.lines().count()
    );
    let mut written = vec![("the operator log", log)];
    for r in world.api.requests().iter().filter(|r| r.is_write()) {
        written.push((
            "a request body",
            r.body.as_ref().map(ToString::to_string).unwrap_or_default(),
        ));
    }
    for m in world.slack.messages() {
        written.push(("a Slack message", m.body.to_string()));
    }
    for e in events {
        written.push(("a Kafka event", format!("{:?} {}", e.headers, e.value)));
    }
    for secret in [
        world::KUBE_TOKEN,
        world::PROMETHEUS_TOKEN,
        support::slack_server::TOKEN,
    ] {
        for (what, text) in &written {
            assert!(
                !text.contains(secret),
                "{what} contains the secret {secret}"
            );
        }
    }
}
