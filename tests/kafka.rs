//! Incident events on a real Kafka-protocol broker (tansu on loopback), read
//! back by an independent consumer: CloudEvents headers, keys, payloads that
//! validate against the published schema, per-incident order; nothing lost and
//! nothing doubled across a broker outage or a restart of the publisher.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firebreak::notify::kafka::cloudevent::Mode;
use firebreak::notify::kafka::{KafkaArgs, KafkaSink};
use firebreak::notify::{Notice, Notifier, Sink};
use firebreak::playbook::model::Playbook;
use firebreak::replay::{ReplayArgs, replay_scenario_to};
use firebreak::telemetry::Metrics;
use support::kafka::{Broker, Consumed, consume};

const WAIT: Duration = Duration::from_secs(90);

fn args(broker: &str, topic: &str, outbox: Option<&std::path::Path>) -> KafkaArgs {
    KafkaArgs {
        kafka_brokers: broker.to_owned(),
        kafka_topic: topic.to_owned(),
        kafka_create_topic: true,
        kafka_partitions: 3,
        kafka_replication: 1,
        outbox_dir: outbox.map(std::path::Path::to_path_buf),
        outbox_capacity: 100_000,
        ..KafkaArgs::default()
    }
}

/// A sink that keeps what it is given: the notices as published, for comparison.
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

/// Replay the embedded `scenario` through the engine with `sink` as a notice sink;
/// returns the notices published.
async fn replay_into(scenario: &str, sink: KafkaSink) -> Vec<Notice> {
    let playbooks = firebreak::runner::load_playbooks(None).expect("embedded playbooks");
    let text = firebreak::embedded::scenario(scenario).expect("embedded scenario");
    let capture = Capture::default();
    let mut notifier = Notifier::new(vec![Box::new(sink), Box::new(capture.clone())]);
    let replay = ReplayArgs {
        scenarios: Vec::new(),
        playbooks: None,
        output: firebreak::runner::Format::Json,
        out: None,
        step: None,
        kill_switch: false,
    };
    replay_scenario_to(scenario, text, &playbooks, &replay, &mut notifier)
        .await
        .expect("replay");
    notifier.flush().await;
    capture.0.lock().unwrap().clone()
}

/// Per key, the ce_ids in consumed order.
fn by_key(records: &[Consumed]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for r in records {
        m.entry(r.key.clone().unwrap_or_default())
            .or_default()
            .push(r.header("ce_id").to_owned());
    }
    m
}

fn expected_by_key(notices: &[Notice]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for n in notices {
        m.entry(n.incident.clone()).or_default().push(n.id.clone());
    }
    m
}

fn schema_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/incident-event.v1.json"),
    )
    .expect("schemas/incident-event.v1.json");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    assert!(
        schema == firebreak::notify::notice::json_schema(),
        "the checked-in schema differs from the types: run `firebreak events schema > schemas/incident-event.v1.json`"
    );
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_s_events_arrive_as_cloudevents_keyed_and_ordered_per_incident() {
    let broker = Broker::start().await;
    let metrics = Arc::new(Metrics::default());
    let sink = KafkaSink::start(
        &args(&broker.bootstrap(), "incidents", None),
        "prod-eu",
        metrics.clone(),
        None,
    )
    .expect("sink");
    let published = replay_into("cache-stampede", sink).await;
    assert!(published.len() >= 6, "too few notices: {published:#?}");
    let kinds: HashSet<&str> = published.iter().map(|n| n.kind.as_str()).collect();
    for k in ["opened", "escalated", "action.applied", "resolved"] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }

    let got = consume(&broker.bootstrap(), "incidents", published.len(), WAIT).await;
    assert_eq!(got.len(), published.len(), "broker log:\n{}", broker.log());
    let validator = schema_validator();
    let by_id: HashMap<&str, &Notice> = published.iter().map(|n| (n.id.as_str(), n)).collect();
    for r in &got {
        let n = by_id[r.header("ce_id")];
        assert_eq!(r.header("ce_specversion"), "1.0");
        assert_eq!(
            r.header("ce_type"),
            format!("dev.firebreak.incident.{}", n.kind.as_str())
        );
        assert_eq!(
            r.header("ce_source"),
            format!(
                "/clusters/prod-eu/namespaces/{}/playbooks/{}",
                n.playbook.namespace, n.playbook.name
            )
        );
        assert_eq!(
            r.header("ce_subject"),
            format!("{}/{}", n.target.namespace, n.target.name)
        );
        assert_eq!(r.header("ce_time"), n.at.to_string());
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.key.as_deref(), Some(n.incident.as_str()));
        assert_eq!(r.value, serde_json::to_value(n).unwrap());
        if let Err(e) = validator.validate(&r.value) {
            panic!("event {} does not validate: {e}", n.id);
        }
    }
    // One incident's events share a partition, so they arrive in the order published.
    assert_eq!(by_key(&got), expected_by_key(&published));
    let partitions: HashMap<&str, HashSet<i32>> = got.iter().fold(HashMap::new(), |mut m, r| {
        m.entry(r.header("ce_id").split('/').next().unwrap_or(""))
            .or_default()
            .insert(r.partition);
        m
    });
    assert!(partitions.values().all(|p| p.len() == 1), "{partitions:?}");
    let text = metrics.encode();
    let line = format!(
        "firebreak_deliveries_total{{sink=\"kafka\",result=\"delivered\"}} {}",
        published.len()
    );
    assert!(text.contains(&line), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topic_is_created_at_start_before_any_event() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let broker = Broker::start().await;
    let _sink = KafkaSink::start(
        &args(&broker.bootstrap(), "created-at-start", None),
        "c",
        Arc::new(Metrics::default()),
        None,
    )
    .expect("sink");
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("client");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = tokio::task::block_in_place(|| {
            consumer
                .fetch_metadata(Some("created-at-start"), Duration::from_secs(5))
                .map(|m| {
                    m.topics()
                        .iter()
                        .any(|t| t.error().is_none() && t.partitions().len() == 3)
                })
                .unwrap_or(false)
        });
        if found {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "topic not created");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_mode_puts_attributes_and_data_in_one_document() {
    let broker = Broker::start().await;
    let mut a = args(&broker.bootstrap(), "structured", None);
    a.kafka_mode = Mode::Structured;
    let sink = KafkaSink::start(&a, "c1", Arc::new(Metrics::default()), None).expect("sink");
    let published = replay_into("memory-leak", sink).await;
    let got = consume(&broker.bootstrap(), "structured", published.len(), WAIT).await;
    assert_eq!(got.len(), published.len());
    let validator = schema_validator();
    for (r, n) in got
        .iter()
        .zip(&published)
        .filter(|(r, _)| r.key.as_deref() == Some(published[0].incident.as_str()))
    {
        assert_eq!(
            r.header("content-type"),
            "application/cloudevents+json; charset=UTF-8"
        );
        assert!(!r.headers.contains_key("ce_id"));
        assert_eq!(r.value["specversion"], "1.0");
        assert_eq!(r.value["id"], n.id.as_str());
        assert_eq!(
            r.value["type"],
            format!("dev.firebreak.incident.{}", n.kind.as_str())
        );
        assert_eq!(r.value["datacontenttype"], "application/json");
        assert!(validator.validate(&r.value["data"]).is_ok());
    }
}

/// `n` notices over `incidents` incidents, ids unique, built from a real one.
fn many(template: &Notice, n: usize, incidents: usize) -> Vec<Notice> {
    (0..n)
        .map(|i| {
            let mut x = template.clone();
            x.incident = format!("incident-{}", i % incidents);
            x.id = format!("{}/n{i}", x.incident);
            x
        })
        .collect()
}

async fn template() -> Notice {
    let broker = Broker::start().await;
    let sink = KafkaSink::start(
        &args(&broker.bootstrap(), "t", None),
        "c",
        Arc::new(Metrics::default()),
        None,
    )
    .expect("sink");
    replay_into("traffic-surge", sink).await.remove(0)
}

fn assert_exactly_once_in_order(got: &[Consumed], sent: &[Notice]) {
    let ids: Vec<&str> = got.iter().map(|r| r.header("ce_id")).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates by ce_id");
    assert_eq!(ids.len(), sent.len(), "lost events");
    assert_eq!(by_key(got), expected_by_key(sent), "per-incident order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_while_1000_events_are_produced_loses_and_doubles_nothing() {
    let sent = many(&template().await, 1000, 25);
    let mut broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sink = KafkaSink::start(
        &args(&broker.bootstrap(), "outage", Some(dir.path())),
        "c",
        Arc::new(Metrics::default()),
        None,
    )
    .expect("sink");
    sink.enqueue(&sent[..300]);
    assert!(sink.drain(WAIT).await, "first 300 not delivered");
    broker.stop();
    for chunk in sent[300..].chunks(50) {
        sink.enqueue(chunk);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sink.pending(),
        700,
        "events acknowledged by a stopped broker"
    );
    broker.start_again().await;
    assert!(
        sink.drain(WAIT).await,
        "{} left after the broker returned",
        sink.pending()
    );
    let got = consume(&broker.bootstrap(), "outage", 1001, Duration::from_secs(20)).await;
    assert_exactly_once_in_order(&got, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_left_in_the_outbox_are_delivered_after_a_restart() {
    let sent = many(&template().await, 200, 7);
    let mut broker = Broker::start().await;
    broker.stop();
    let dir = tempfile::tempdir().unwrap();
    let a = args(&broker.bootstrap(), "restart", Some(dir.path()));
    {
        let sink = KafkaSink::start(&a, "c", Arc::new(Metrics::default()), None).expect("sink");
        sink.enqueue(&sent);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(sink.pending(), 200);
        // Dropped without a flush: the process dies with everything undelivered.
    }
    broker.start_again().await;
    let sink =
        KafkaSink::start(&a, "c", Arc::new(Metrics::default()), None).expect("sink after restart");
    assert_eq!(sink.pending(), 200, "outbox not reloaded");
    assert!(sink.drain(WAIT).await, "{} left", sink.pending());
    let got = consume(&broker.bootstrap(), "restart", 201, Duration::from_secs(20)).await;
    assert_exactly_once_in_order(&got, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_prints_what_subscribers_receive() {
    let broker = Broker::start().await;
    let sink = KafkaSink::start(
        &args(&broker.bootstrap(), "tail", None),
        "c",
        Arc::new(Metrics::default()),
        None,
    )
    .expect("sink");
    let published = replay_into("lock-contention", sink).await;
    let bootstrap = broker.bootstrap();
    let max = format!("--max={}", published.len());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
            .args([
                "events",
                "tail",
                "--kafka-brokers",
                &bootstrap,
                "--kafka-topic",
                "tail",
            ])
            .args([
                "--from-beginning",
                "--output",
                "json",
                "--idle-timeout",
                "20s",
                &max,
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("run firebreak events tail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), published.len());
    let mut seen: Vec<&str> = lines
        .iter()
        .map(|l| l["attributes"]["id"].as_str().unwrap())
        .collect();
    let mut want: Vec<&str> = published.iter().map(|n| n.id.as_str()).collect();
    seen.sort_unstable();
    want.sort_unstable();
    assert_eq!(seen, want);
    assert!(lines.iter().all(|l| l["data"]["schemaVersion"] == 1));
}
