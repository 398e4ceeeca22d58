//! `run --standalone` against a real Prometheus scraping a target the test controls:
//! an incident opens and resolves as the data changes, and an outage of Prometheus
//! takes no action and no revert, is reported, and evaluation resumes after it.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use firebreak::detect::prometheus::{PrometheusArgs, PrometheusSource};
use firebreak::engine::EventKind;
use firebreak::incident::{GlobalGuardrails, Operation};
use firebreak::playbook::load::parse_documents;
use firebreak::runner::{Entry, QueryMode};
use firebreak::standalone::Live;
use firebreak::telemetry::Metrics;
use support::prometheus::{Prometheus, ScrapeTarget};

const LIMIT: f64 = 1_073_741_824.0;

/// kube-state-metrics and cAdvisor series of one Deployment pod using `used` of its memory limit.
fn memory_metrics(used: f64) -> String {
    let (ns, w, rs, pod) = ("shop", "api", "api-7d4b9c", "api-7d4b9c-x2x9k");
    format!(
        "# TYPE kube_pod_owner gauge\n\
         kube_pod_owner{{namespace=\"{ns}\",pod=\"{pod}\",uid=\"u1\",owner_kind=\"ReplicaSet\",owner_name=\"{rs}\",owner_is_controller=\"true\"}} 1\n\
         # TYPE kube_replicaset_owner gauge\n\
         kube_replicaset_owner{{namespace=\"{ns}\",replicaset=\"{rs}\",owner_kind=\"Deployment\",owner_name=\"{w}\",owner_is_controller=\"true\"}} 1\n\
         # TYPE kube_pod_container_resource_limits gauge\n\
         kube_pod_container_resource_limits{{namespace=\"{ns}\",pod=\"{pod}\",uid=\"u1\",container=\"app\",node=\"n1\",resource=\"memory\",unit=\"byte\"}} {LIMIT}\n\
         # TYPE container_memory_working_set_bytes gauge\n\
         container_memory_working_set_bytes{{namespace=\"{ns}\",pod=\"{pod}\",container=\"app\",image=\"registry.local/api:1.4.2\",id=\"/kubepods/burstable/pod-u1/c1\",name=\"c1\"}} {}\n",
        (used * LIMIT).round()
    )
}

const PLAYBOOK: &str = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: memory, namespace: shop}
spec:
  target:
    kind: Deployment
    selector: {matchLabels: {app: api}}
  interval: 1s
  detectors:
    - name: memory-pressure
      memoryPressure: {}
      thresholds: {low: 0.7, high: 0.9}
      for: 2s
      hysteresis: 0.05
      clearFor: 2s
  actions:
    low:
      - notify: {}
    high:
      - rateLimit: {requestsPerSecond: 100, burst: 20}
  guardrails: {cooldown: 1s}
"#;

async fn started(used: f64) -> (Prometheus, ScrapeTarget) {
    let target = ScrapeTarget::start(memory_metrics(used)).await;
    let prom = Prometheus::builder()
        .scrape(&target, Duration::from_secs(1))
        .start()
        .await;
    prom.wait_for_data(
        "container_memory_working_set_bytes",
        Duration::from_secs(30),
    )
    .await;
    (prom, target)
}

fn kinds(entries: &[Entry]) -> Vec<&EventKind> {
    entries.iter().map(|e| &e.event.kind).collect()
}

/// The first line for which `pred` holds, within `timeout`; panics with what was seen.
fn wait_line(
    rx: &mpsc::Receiver<serde_json::Value>,
    seen: &mut Vec<serde_json::Value>,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(v) => {
                seen.push(v.clone());
                if pred(&v) {
                    return v;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no {what} within {timeout:?}; timeline so far:\n{seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_command_opens_and_resolves_an_incident_as_the_data_changes() {
    let (prom, target) = started(0.5).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("memory.yaml"), PLAYBOOK).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["run", "--standalone", "--output", "json", "--prometheus"])
        .arg(prom.url())
        .arg("--playbooks")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // Healthy: a few cycles and no incident.
    std::thread::sleep(Duration::from_secs(3));
    while let Ok(v) = rx.try_recv() {
        seen.push(v);
    }
    assert!(
        seen.iter().all(|v| v["event"] != "incidentOpened"),
        "an incident opened on healthy data: {seen:#?}"
    );

    target.set(memory_metrics(0.95));
    let opened = wait_line(&rx, &mut seen, Duration::from_secs(20), "incident", |v| {
        v["event"] == "incidentOpened" || v["event"] == "incidentEscalated"
    });
    assert_eq!(opened["target"], "shop/api");
    let applied = wait_line(&rx, &mut seen, Duration::from_secs(10), "rate limit", |v| {
        v["event"] == "actionIssued" && v["action"] == "rateLimit" && v["operation"] == "apply"
    });
    assert_eq!(applied["dryRun"], true);
    let request = &applied["requests"][0];
    assert_eq!(request["method"], "PATCH", "{applied:#}");

    target.set(memory_metrics(0.5));
    wait_line(&rx, &mut seen, Duration::from_secs(20), "resolution", |v| {
        v["event"] == "incidentResolved"
    });
    wait_line(&rx, &mut seen, Duration::from_secs(5), "revert", |v| {
        v["event"] == "actionIssued" && v["action"] == "rateLimit" && v["operation"] == "revert"
    });
    child.kill().unwrap();
    child.wait().unwrap();
    drop(prom);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_mid_incident_takes_no_action_and_no_revert_and_is_reported() {
    let (mut prom, target) = started(0.95).await;
    let playbooks: Vec<_> = parse_documents(PLAYBOOK, None)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let source = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).unwrap();
    let metrics = Arc::new(Metrics::default());
    let mut live = Live::new(
        source,
        playbooks,
        GlobalGuardrails::default(),
        QueryMode::Detector,
        metrics.clone(),
    );
    let ready = live.readiness();
    let cycle = async |live: &mut Live<PrometheusSource>| {
        tokio::time::sleep(Duration::from_secs(1)).await;
        live.cycle(0, jiff::Timestamp::now()).await
    };

    // The incident opens and the rate limit is applied.
    let mut before = Vec::new();
    for _ in 0..10 {
        before.extend(cycle(&mut live).await);
    }
    let applies = |entries: &[Entry]| {
        kinds(entries)
            .into_iter()
            .filter(|k| matches!(k, EventKind::ActionIssued { .. }))
            .count()
    };
    assert!(
        kinds(&before).iter().any(|k| matches!(
            k,
            EventKind::ActionIssued {
                action: "rateLimit",
                operation: Operation::Apply,
                ..
            }
        )),
        "{before:#?}"
    );
    assert!(ready.get(), "ready after good queries");

    // Prometheus goes away while the workload recovers: nothing may be reverted.
    prom.stop().await;
    target.set(memory_metrics(0.5));
    let mut during = Vec::new();
    for _ in 0..5 {
        during.extend(cycle(&mut live).await);
    }
    assert_eq!(
        applies(&during),
        0,
        "actions during the outage: {during:#?}"
    );
    assert!(
        during.iter().any(|e| matches!(
            &e.event.kind,
            EventKind::DetectorChanged {
                to: firebreak::detect::Level::NoData {
                    missing: firebreak::detect::Missing::Unreachable(_)
                },
                ..
            }
        )),
        "the outage is not in the timeline: {during:#?}"
    );
    assert!(
        !during
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::IncidentResolved { .. })),
        "resolved on missing data"
    );
    let exposed = metrics.encode();
    assert!(
        exposed.contains(r#"firebreak_queries_total{playbook="shop/memory",detector="memory-pressure",result="unreachable"} 5"#),
        "{exposed}"
    );
    assert!(
        exposed.contains(r#"firebreak_targets_without_data{playbook="shop/memory",detector="memory-pressure",reason="unreachable"} 1"#),
        "{exposed}"
    );

    // Back: the healthy data is seen, the incident resolves and the rate limit is reverted once.
    prom.restart().await;
    prom.wait_for_data(
        "container_memory_working_set_bytes < 0.6 * 1073741824",
        Duration::from_secs(30),
    )
    .await;
    let mut after = Vec::new();
    for _ in 0..8 {
        after.extend(cycle(&mut live).await);
    }
    let reverts: Vec<_> = kinds(&after)
        .into_iter()
        .filter(|k| {
            matches!(
                k,
                EventKind::ActionIssued {
                    operation: Operation::Revert,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(reverts.len(), 1, "{after:#?}");
    assert!(
        kinds(&after)
            .iter()
            .any(|k| matches!(k, EventKind::IncidentResolved { .. })),
        "{after:#?}"
    );
}
