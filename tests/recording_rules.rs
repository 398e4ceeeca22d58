//! The recording rules `firebreak rules` prints record what the detectors read:
//! promtool accepts them; evaluated by Prometheus itself (the mapping recorded
//! first in the group, the detectors joining against it), and backfilled over
//! exporter-shaped history by `promtool tsdb create-blocks-from rules` (`--backfill`,
//! what a user runs for new rules), the recorded `firebreak_signal` read by
//! `--query-mode recorded` gives, at every instant, the value of each
//! detector's own query; a backtest over either finds the same timeline.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use firebreak::backtest::{self, Options};
use firebreak::detect::prometheus::{PrometheusArgs, PrometheusSource};
use firebreak::playbook::load::parse_documents;
use firebreak::playbook::model::Playbook;
use firebreak::playbook::rules::recorded_selector;
use firebreak::runner::QueryMode;
use firebreak::runner::query::detector_query;
use indicatif::ProgressBar;
use support::kube_history::{Container, Endpoint, History, Owner, Pod, ReplicaSet, STEP};
use support::prometheus::{Prometheus, create_blocks_from_rules};

/// 2025-11-03T08:00:00Z; two hours of history.
const START: i64 = 1_762_156_800;
const STEPS: usize = 480;
const MIB: f64 = 1024.0 * 1024.0;

const PLAYBOOK: &str = r#"apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: checkout, namespace: shop}
spec:
  target:
    kind: Deployment
    selector: {matchLabels: {app: checkout}}
  interval: 15s
  detectors:
    - name: cpu
      cpuSaturation: {window: 2m}
      thresholds: {low: 0.7, high: 0.9}
    - name: memory
      memoryPressure: {}
      thresholds: {low: 0.6, critical: 0.9}
    - name: leak
      memoryLeak: {window: 10m}
      comparison: below
      thresholds: {low: 48, critical: 4}
    - name: p99
      latency: {quantile: 0.99, window: 2m}
      thresholds: {low: 0.25, high: 1}
    - name: errors
      errorRate: {window: 2m}
      thresholds: {low: 0.02, high: 0.1}
      for: 1m
      clearFor: 2m
    - name: burn
      sloBurnRate:
        objective: 0.99
        windows:
          high: {long: 10m, short: 2m, factor: 6}
          critical: {long: 5m, short: 1m, factor: 14.4}
  actions:
    low: [{notify: {}}]
    high: [{rateLimit: {requestsPerSecond: 100}}]
"#;

/// checkout (2 pods; errors from 1 % to 19 % for the 25 minutes from the hour,
/// a slow leak in one pod) and cart (flat); both Deployments.
fn cluster() -> History {
    cluster_from(START)
}

/// [`cluster`] with its history starting at `start`.
fn cluster_from(start: i64) -> History {
    let gib = 1024.0 * MIB;
    let checkout = |name: &'static str, growth: f64| Pod {
        namespace: "shop",
        name,
        owner: Owner::ReplicaSet("checkout-6d8f7b9c5"),
        app: "checkout",
        containers: vec![Container::new(
            "app",
            (0.7, Some(1.0)),
            (400.0 * MIB, growth, Some(gib)),
        )],
        endpoints: vec![
            Endpoint::new(
                "POST",
                "/api/checkout",
                200,
                &[(0, &[(0.1, 300), (0.5, 30), (2.5, 3)])],
            ),
            Endpoint::new(
                "POST",
                "/api/checkout",
                503,
                &[(0, &[(0.01, 3)]), (240, &[(0.01, 80)]), (340, &[(0.01, 3)])],
            ),
        ],
    };
    History {
        start,
        steps: STEPS,
        replica_sets: vec![
            ReplicaSet {
                namespace: "shop",
                name: "checkout-6d8f7b9c5",
                deployment: "checkout",
            },
            ReplicaSet {
                namespace: "shop",
                name: "cart-84c9d6f7b8",
                deployment: "cart",
            },
        ],
        pods: vec![
            checkout("checkout-6d8f7b9c5-x2k4p", 1_000.0),
            checkout("checkout-6d8f7b9c5-q7m3n", 0.0),
            Pod {
                namespace: "shop",
                name: "cart-84c9d6f7b8-t5w9z",
                owner: Owner::ReplicaSet("cart-84c9d6f7b8"),
                app: "cart",
                containers: vec![Container::new(
                    "app",
                    (0.2, Some(0.5)),
                    (200.0 * MIB, 0.0, Some(512.0 * MIB)),
                )],
                endpoints: vec![Endpoint::new(
                    "POST",
                    "/api/cart",
                    200,
                    &[(0, &[(0.025, 150)])],
                )],
            },
        ],
    }
}

fn playbook() -> Playbook {
    parse_documents(PLAYBOOK, None)
        .into_iter()
        .next()
        .and_then(Result::ok)
        .expect("valid playbook")
}

/// `firebreak rules ARGS FILE`, as a user runs it.
fn firebreak_rules(playbook_file: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .arg("rules")
        .args(args)
        .arg(playbook_file)
        .output()
        .expect("run firebreak rules");
    assert!(
        out.status.success(),
        "firebreak rules failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn promtool_check(rules: &Path) {
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(rules)
        .output()
        .expect("run promtool (apt-get install -y prometheus)");
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules_of_every_shipped_playbook_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let shipped = std::fs::read_dir(&playbooks).unwrap().count();
    for layout in [&[][..], &["--backfill"]] {
        let file = dir.path().join("rules.yml");
        std::fs::write(&file, firebreak_rules(&playbooks, layout)).unwrap();
        promtool_check(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.matches("record: firebreak_signal").count() >= shipped);
        let mappings = text.matches("record: firebreak_workload_pod").count();
        // Every shipped playbook has a built-in detector, hence a mapping to share.
        assert_eq!(mappings, if layout.is_empty() { shipped } else { 0 });
    }

    // Each PrometheusRule's spec is a rule file of its own.
    let objects = firebreak_rules(&playbooks, &["--format", "prometheus-rule"]);
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&objects).unwrap();
    assert_eq!(docs.len(), shipped);
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(doc["kind"], "PrometheusRule");
        let spec = dir.path().join(format!("spec-{i}.yml"));
        std::fs::write(&spec, serde_saphyr::to_string(&doc["spec"]).unwrap()).unwrap();
        promtool_check(&spec);
    }
}

/// `promql` at `time` (Unix seconds, fractions kept: rule evaluations happen
/// at a per-group offset), as workload → value.
async fn instant(prom: &Prometheus, promql: &str, time: f64) -> BTreeMap<String, f64> {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/query", prom.url()))
        .form(&[("query", promql), ("time", &time.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{promql}: {body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let v = s["value"][1].as_str().unwrap().parse::<f64>().unwrap();
            (s["metric"]["workload"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

/// For every detector at each of `instants`: the recorded sample (evaluated at
/// its group's offset before the instant) holds the detector query's value at
/// that sample's time. Returns how many values were compared.
async fn assert_recorded_as_queried(prom: &Prometheus, pb: &Playbook, instants: &[f64]) -> usize {
    let mut compared = 0;
    for &at in instants {
        for d in &pb.detectors {
            let recorded = detector_query(pb, d, QueryMode::Recorded).promql;
            let rec = instant(prom, &recorded, at).await;
            // `timestamp()` of the selector itself: the sample's time, not the query's.
            let selector = recorded_selector(pb, d);
            let stamps = instant(
                prom,
                &format!("max by (namespace, workload) (timestamp({selector}))"),
                at,
            )
            .await;
            assert!(!rec.is_empty(), "{} at {at}: nothing recorded", d.name);
            let raw_query = detector_query(pb, d, QueryMode::Detector).promql;
            for (w, r) in &rec {
                let ts = stamps[w];
                assert!(
                    at - ts < STEP as f64,
                    "{} {w}: sample {ts} too old for {at}",
                    d.name
                );
                let raw = instant(prom, &raw_query, ts).await;
                let v = raw[w];
                let same = (v - r).abs() <= 1e-9 * v.abs().max(1.0) || (v.is_nan() && r.is_nan());
                assert!(same, "{} {w} at {ts}: query {v}, recorded {r}", d.name);
                compared += 1;
            }
        }
    }
    compared
}

/// The rules as Prometheus runs them (`firebreak rules`, no `--backfill`): the
/// group records the pod mapping first and its detectors join against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluated_rules_record_what_each_detector_query_reads() {
    // History up to a second ago, so that the rules Prometheus evaluates over the
    // next half minute find every window fed. (Not later: Prometheus appends
    // nothing older than the newest backfilled block's end, rule output included.)
    let now = jiff::Timestamp::now().as_second();
    let history = cluster_from(now - 1 - STEP * STEPS as i64);
    let dir = tempfile::tempdir().unwrap();
    let playbook_file = dir.path().join("checkout.yaml");
    std::fs::write(&playbook_file, PLAYBOOK).unwrap();
    let rules = firebreak_rules(&playbook_file, &[]);
    let prom = Prometheus::builder()
        .backfill(history.openmetrics())
        .rules(rules)
        .start()
        .await;
    let pb = playbook();
    // checkout and cart, each detector.
    let expected = 2 * pb.detectors.len();
    prom.wait_for_data(
        &format!("count(firebreak_signal) >= {expected}"),
        Duration::from_secs(60),
    )
    .await;
    let mapping = prom
        .query(r#"firebreak_workload_pod{namespace="shop", playbook="checkout"}"#)
        .await;
    let mut pods: Vec<_> = mapping
        .iter()
        .map(|s| (s.metric()["workload"].as_str(), s.metric()["pod"].as_str()))
        .collect();
    pods.sort();
    assert_eq!(
        pods,
        [
            ("cart", "cart-84c9d6f7b8-t5w9z"),
            ("checkout", "checkout-6d8f7b9c5-q7m3n"),
            ("checkout", "checkout-6d8f7b9c5-x2k4p"),
        ]
    );
    let at = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let compared = assert_recorded_as_queried(&prom, &pb, &[at]).await;
    assert_eq!(compared, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfilled_rules_record_what_each_detector_query_reads() {
    let history = cluster();
    let dir = tempfile::tempdir().unwrap();
    let playbook_file = dir.path().join("checkout.yaml");
    std::fs::write(&playbook_file, PLAYBOOK).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, firebreak_rules(&playbook_file, &["--backfill"])).unwrap();

    // Backfill the rules from a Prometheus holding the raw history, then serve both.
    let from = START + 15 * 60;
    let end = history.time(STEPS);
    let recorded = dir.path().join("recorded");
    {
        let raw = Prometheus::builder()
            .backfill(history.openmetrics())
            .start()
            .await;
        let (url, r, out) = (raw.url(), rules.clone(), recorded.clone());
        tokio::task::spawn_blocking(move || {
            create_blocks_from_rules(
                &url,
                &r,
                (from, end),
                Duration::from_secs(STEP as u64),
                &out,
            )
        })
        .await
        .unwrap();
    }
    let prom = Prometheus::builder()
        .backfill(history.openmetrics())
        .blocks(&recorded)
        .start()
        .await;
    let source = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).unwrap();
    let pb = playbook();

    // Every detector, at instants across both phases of the history.
    let instants = [100, 239, 240, 300, 479].map(|step| history.time(step) as f64);
    let compared = assert_recorded_as_queried(&prom, &pb, &instants).await;
    assert!(compared >= 5 * pb.detectors.len(), "compared {compared}");

    // A backtest over either finds the same incidents, the recorded one at
    // most one evaluation offset (under a second here) behind.
    // From one interval after the first recorded sample.
    let opts = |mode| Options {
        from: jiff::Timestamp::from_second(from + 60).unwrap(),
        to: jiff::Timestamp::from_second(end).unwrap(),
        step: None,
        mode,
        max_points: backtest::DEFAULT_MAX_POINTS,
        keep_series: false,
    };
    let playbooks = [pb];
    let run = |mode| {
        let (source, playbooks) = (&source, &playbooks);
        async move { backtest::backtest(source, playbooks, &opts(mode), &ProgressBar::hidden()).await }
    };
    let raw = run(QueryMode::Detector).await;
    let rec = run(QueryMode::Recorded).await;
    assert_eq!(raw.summary.incidents_opened, 1, "{:#?}", raw.summary);
    let brief = |r: &backtest::Backtest| {
        r.summary
            .incidents
            .iter()
            .map(|i| {
                (
                    i.target.clone(),
                    i.opened,
                    i.peak,
                    i.actions.clone(),
                    i.resolved,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(brief(&rec), brief(&raw));
}
