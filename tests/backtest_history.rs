//! A backtest over backfilled history in the real metric formats finds exactly
//! the incidents the data contains, at the right severities and times, and the
//! chunking of range queries does not change the result.

mod support;

use firebreak::backtest::{self, Options};
use firebreak::detect::prometheus::{PrometheusArgs, PrometheusSource};
use firebreak::playbook::load::parse_documents;
use firebreak::runner::QueryMode;
use firebreak::severity::Severity;
use indicatif::ProgressBar;
use jiff::Timestamp;
use support::prometheus::Prometheus;

/// 2026-03-10T00:00:00Z; the history spans 6 hours from here.
const T0: i64 = 1_773_100_800;
const HOURS: i64 = 6;
const SAMPLE: i64 = 15;

/// A CPU burst: (start offset s, end offset s, usage in cores of a 1-core limit).
type Burst = (i64, i64, f64);

/// CPU bursts per workload.
const WORKLOADS: [(&str, &[Burst]); 3] = [
    ("quiet", &[]),
    ("one-burst", &[(3_600, 5_400, 0.97)]),
    (
        "two-bursts",
        &[(7_200, 8_400, 0.85), (14_400, 15_000, 0.93)],
    ),
];
const BASE_USAGE: f64 = 0.3;

fn usage(bursts: &[Burst], offset: i64) -> f64 {
    bursts
        .iter()
        .find(|(a, b, _)| (*a..*b).contains(&offset))
        .map_or(BASE_USAGE, |(_, _, u)| *u)
}

/// kube-state-metrics ownership and limits plus cAdvisor CPU counters, every 15 s.
fn history() -> String {
    let mut out = String::new();
    let mut counters = vec![0.0_f64; WORKLOADS.len()];
    for offset in (0..=HOURS * 3_600).step_by(SAMPLE as usize) {
        let t = T0 + offset;
        for (i, (w, bursts)) in WORKLOADS.iter().enumerate() {
            let (rs, pod) = (format!("{w}-5c7f"), format!("{w}-5c7f-q8z2"));
            let p = format!("namespace=\"batch\",pod=\"{pod}\"");
            out.push_str(&format!(
                "kube_pod_owner{{{p},uid=\"u{i}\",owner_kind=\"ReplicaSet\",owner_name=\"{rs}\",owner_is_controller=\"true\"}} 1 {t}\n\
                 kube_replicaset_owner{{namespace=\"batch\",replicaset=\"{rs}\",owner_kind=\"Deployment\",owner_name=\"{w}\",owner_is_controller=\"true\"}} 1 {t}\n\
                 kube_pod_container_resource_limits{{{p},uid=\"u{i}\",container=\"app\",node=\"n1\",resource=\"cpu\",unit=\"core\"}} 1 {t}\n\
                 container_cpu_usage_seconds_total{{{p},container=\"app\",image=\"registry.local/{w}:2.1\",id=\"/kubepods/pod-u{i}/c-{i}\",name=\"c-{i}\",cpu=\"total\"}} {:.3} {t}\n",
                counters[i]
            ));
            counters[i] += usage(bursts, offset) * SAMPLE as f64;
        }
    }
    out
}

const PLAYBOOK: &str = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: cpu, namespace: batch}
spec:
  target:
    kind: Deployment
    selector: {matchLabels: {team: batch}}
  interval: 30s
  detectors:
    - name: cpu
      cpuSaturation: {window: 1m}
      thresholds: {low: 0.7, medium: 0.8, high: 0.9, critical: 0.95}
      for: 1m
      hysteresis: 0.02
      clearFor: 2m
  actions:
    low:
      - notify: {}
    high:
      - rateLimit: {requestsPerSecond: 50}
"#;

fn at(offset: i64) -> Timestamp {
    Timestamp::from_second(T0 + offset).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_finds_exactly_the_incidents_in_the_history() {
    let prom = Prometheus::builder().backfill(history()).start().await;
    let source = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).unwrap();
    let playbooks: Vec<_> = parse_documents(PLAYBOOK, None)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let opts = |max_points| Options {
        from: at(120),
        to: at(HOURS * 3_600),
        step: None,
        mode: QueryMode::Detector,
        max_points,
        keep_series: true,
    };
    let result = backtest::backtest(
        &source,
        &playbooks,
        &opts(backtest::DEFAULT_MAX_POINTS),
        &ProgressBar::hidden(),
    )
    .await;
    let s = &result.summary;
    assert!(s.gaps.is_empty(), "no data: {:?}", s.gaps);
    assert_eq!(s.targets, 3);

    // One incident per burst, none for the quiet workload.
    let expected = [
        ("batch/one-burst", WORKLOADS[1].1[0], Severity::Critical),
        ("batch/two-bursts", WORKLOADS[2].1[0], Severity::Medium),
        ("batch/two-bursts", WORKLOADS[2].1[1], Severity::High),
    ];
    let mut found: Vec<_> = s.incidents.iter().collect();
    found.sort_by_key(|i| (i.target.clone(), i.opened));
    assert_eq!(found.len(), expected.len(), "{:#?}", s.incidents);
    // Rate window 1m + `for` 1m + one 30 s step of alignment; leaving needs the
    // window to drain, then `clearFor` 2m.
    for (inc, (target, (start, end, _), peak)) in found.iter().zip(expected) {
        assert_eq!(inc.target, target);
        assert_eq!(inc.peak, peak, "{inc:#?}");
        assert!(
            inc.opened >= at(start) && inc.opened <= at(start + 150),
            "{target} opened at {} for a burst at {}",
            inc.opened,
            at(start)
        );
        let resolved = inc.resolved.expect("resolved before the end of history");
        assert!(
            resolved >= at(end + 120) && resolved <= at(end + 60 + 120 + 60),
            "{target} resolved at {resolved} for a burst ending at {}",
            at(end)
        );
        let delay = inc
            .detection_delay_seconds
            .expect("a threshold crossing before opening");
        assert!((60..=150).contains(&delay), "detection delay {delay}s");
        assert_eq!(
            inc.actions.first().map(String::as_str),
            Some("notify (low)")
        );
        let rate_limited = inc.actions.iter().any(|a| a.starts_with("rateLimit"));
        assert_eq!(rate_limited, peak >= Severity::High, "{:?}", inc.actions);
    }
    assert_eq!(s.by_peak_severity.values().sum::<usize>(), 3);

    // The report has the series of the two workloads with incidents, one value per step.
    let steps = usize::try_from(s.evaluations).unwrap();
    for w in ["one-burst", "two-bursts"] {
        let series = result
            .series
            .get(&(0, 0, w.to_owned()))
            .expect("kept series");
        assert_eq!(series.len(), steps, "{w}");
    }

    // Tiny chunks (boundaries inside every incident) give the same timeline.
    let chunked = backtest::backtest(&source, &playbooks, &opts(7), &ProgressBar::hidden()).await;
    assert_eq!(chunked.entries, result.entries);
}
