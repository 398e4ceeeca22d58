//! The built-in detectors' PromQL, evaluated by a real Prometheus on history in
//! the exporters' own formats (cAdvisor, kube-state-metrics, OpenTelemetry HTTP
//! histograms), reads what each detector's definition says, per workload, for
//! exactly the playbook's workloads. Expected values are computed here from the
//! parameters that generated the history, not from PromQL.

mod support;

use std::collections::BTreeMap;

use firebreak::detect::prometheus::{PrometheusArgs, PrometheusSource};
use firebreak::playbook::load::parse_documents;
use firebreak::playbook::model::Playbook;
use firebreak::playbook::promql::render;
use support::kube_history::{BUCKETS, Container, Endpoint, History, Owner, Pod, ReplicaSet, STEP};
use support::prometheus::Prometheus;

/// 2024-05-01T10:00:00Z; 30 minutes of history, evaluated at its last sample.
const START: i64 = 1_714_557_600;
const STEPS: usize = 120;
const MIB: f64 = 1024.0 * 1024.0;
const OBJECTIVE: f64 = 0.999;
/// sloBurnRate pairs (severity rank, long, short, factor), all within the history.
const BURN: [(f64, usize, usize, f64); 4] = [
    (1.0, 30, 15, 1.0),
    (2.0, 20, 10, 3.0),
    (3.0, 30, 10, 6.0),
    (4.0, 30, 5, 14.4),
];
/// Below this growth (bytes/s) memoryLeak treats memory as flat (promql.rs).
const MIN_GROWTH: f64 = 1e-6;

fn healthz() -> Endpoint {
    Endpoint::new("GET", "/healthz", 200, &[(0, &[(0.005, 15)])])
}

fn checkout_pod(name: &'static str, app: Container, proxy: Container) -> Pod {
    Pod {
        namespace: "shop",
        name,
        owner: Owner::ReplicaSet("checkout-6d8f7b9c5"),
        app: "checkout",
        containers: vec![app, proxy],
        endpoints: vec![
            Endpoint::new(
                "POST",
                "/api/checkout",
                200,
                &[(0, &[(0.1, 300), (0.25, 60), (0.5, 15), (1.0, 5)])],
            ),
            // 0.5% errors, then 5% over the last 5 minutes.
            Endpoint::new(
                "POST",
                "/api/checkout",
                503,
                &[(0, &[(0.01, 2)]), (STEPS - 19, &[(0.01, 20)])],
            ),
            healthz(),
        ],
    }
}

/// shop: Deployment checkout (2 pods, an app and a proxy container each),
/// Deployment cart, StatefulSet search (a workload only by pod label);
/// payments: another Deployment checkout that must never show up.
fn cluster() -> History {
    let gib = 1024.0 * MIB;
    let pods = vec![
        checkout_pod(
            "checkout-6d8f7b9c5-x2k4p",
            Container::new("app", (0.8, Some(1.0)), (400.0 * MIB, 50_000.0, Some(gib))),
            Container::new(
                "proxy",
                (0.1, None),
                (100.0 * MIB, 1_000.0, Some(256.0 * MIB)),
            ),
        ),
        checkout_pod(
            "checkout-6d8f7b9c5-q7m3n",
            Container::new("app", (0.6, Some(1.0)), (500.0 * MIB, 0.0, Some(gib))),
            Container::new("proxy", (0.05, None), (90.0 * MIB, 0.0, Some(256.0 * MIB))),
        ),
        Pod {
            namespace: "shop",
            name: "cart-84c9d6f7b8-t5w9z",
            owner: Owner::ReplicaSet("cart-84c9d6f7b8"),
            app: "cart",
            containers: vec![Container::new(
                "app",
                (0.3, Some(0.5)),
                (200.0 * MIB, 0.0, Some(512.0 * MIB)),
            )],
            endpoints: vec![
                Endpoint::new(
                    "POST",
                    "/api/cart",
                    200,
                    &[(0, &[(0.025, 150), (0.05, 44)])],
                ),
                // 3% errors for 20 minutes, none in the last 10.
                Endpoint::new(
                    "POST",
                    "/api/cart",
                    503,
                    &[(0, &[(0.01, 6)]), (STEPS - 39, &[(0.01, 0)])],
                ),
                healthz(),
            ],
        },
        Pod {
            namespace: "shop",
            name: "search-0",
            owner: Owner::StatefulSet("search"),
            app: "search",
            containers: vec![Container::new(
                "app",
                (1.5, Some(2.0)),
                (3.0 * gib, 100_000.0, Some(4.0 * gib)),
            )],
            // Never failed: no 5xx series at all.
            endpoints: vec![
                Endpoint::new("POST", "/api/search", 200, &[(0, &[(0.25, 90), (0.5, 10)])]),
                healthz(),
            ],
        },
        Pod {
            namespace: "payments",
            name: "checkout-7f6c5d4b3-h8j2k",
            owner: Owner::ReplicaSet("checkout-7f6c5d4b3"),
            app: "checkout",
            containers: vec![Container::new(
                "app",
                (0.95, Some(1.0)),
                (900.0 * MIB, 20_000.0, Some(gib)),
            )],
            endpoints: vec![
                Endpoint::new("POST", "/api/pay", 200, &[(0, &[(2.5, 100)])]),
                Endpoint::new("POST", "/api/pay", 503, &[(0, &[(0.01, 100)])]),
                healthz(),
            ],
        },
    ];
    let rs = |namespace, name, deployment| ReplicaSet {
        namespace,
        name,
        deployment,
    };
    History {
        start: START,
        steps: STEPS,
        replica_sets: vec![
            rs("shop", "checkout-6d8f7b9c5", "checkout"),
            rs("shop", "checkout-5b7c9d8e6", "checkout"), // the previous rollout, scaled to 0
            rs("shop", "cart-84c9d6f7b8", "cart"),
            rs("payments", "checkout-7f6c5d4b3", "checkout"),
        ],
        pods,
    }
}

const PLAYBOOK: &str = r#"apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: shop, namespace: shop}
spec:
  target:
    selector: {matchLabels: {app.kubernetes.io/part-of: shop}}
    WORKLOAD_LABEL
  detectors:
    - {name: cpu, cpuSaturation: {window: 5m}, thresholds: {high: 0.9}}
    - {name: memory, memoryPressure: {}, thresholds: {high: 0.9}}
    - {name: leak, memoryLeak: {window: 30m}, comparison: below, thresholds: {high: 12}}
    - name: p99
      latency: {quantile: 0.99, window: 5m, matchers: 'http_route!="/healthz"'}
      thresholds: {high: 0.5}
    - name: errors
      errorRate: {window: 5m, requests: {matchers: 'http_route!="/healthz"'}}
      thresholds: {high: 0.02}
    - {name: traffic, requestRate: {window: 1m}, thresholds: {high: 100}}
    - name: slo
      sloBurnRate:
        objective: 0.999
        requests: {matchers: 'http_route!="/healthz"'}
        windows:
          low: {long: 30m, short: 15m, factor: 1}
          medium: {long: 20m, short: 10m, factor: 3}
          high: {long: 30m, short: 10m, factor: 6}
          critical: {long: 30m, short: 5m, factor: 14.4}
    - name: per-service
      promql: >-
        sum by (namespace, workload) (label_replace(rate(http_server_request_duration_seconds_count{namespace="$namespace", http_route!="/healthz"}[5m]), "workload", "$1", "service", "(.*)"))
      thresholds: {high: 100}
  actions:
    high: [{notify: {}}]
"#;

fn playbook(workload_label: Option<&str>) -> Playbook {
    let line = workload_label.map_or(String::new(), |l| format!("workloadLabel: {l}"));
    let yaml = PLAYBOOK.replace("WORKLOAD_LABEL", &line);
    let mut docs = parse_documents(&yaml, None);
    assert_eq!(docs.len(), 1);
    docs.remove(0)
        .unwrap_or_else(|p| panic!("test playbook is invalid: {p:?}"))
}

type Values = BTreeMap<String, f64>;

/// The pods of one workload, and what each detector should read for them by
/// its definition, computed from the generating parameters.
struct Workload<'a>(Vec<&'a Pod>);

impl Workload<'_> {
    fn containers(&self) -> impl Iterator<Item = &Container> {
        self.0.iter().flat_map(|p| &p.containers)
    }

    /// Requests per second over the last `minutes`, `/healthz` only if `healthz`,
    /// only errors (5xx) if `errors`.
    fn rate(&self, minutes: usize, healthz: bool, errors: bool) -> f64 {
        let from = STEPS - minutes * 60 / STEP as usize;
        let n: f64 = (self.0.iter().flat_map(|p| &p.endpoints))
            .filter(|e| (healthz || e.route != "/healthz") && (!errors || e.status >= 500))
            .map(|e| e.count(STEPS) - e.count(from))
            .sum();
        n / (minutes * 60) as f64
    }

    fn expected(&self, detector: &str) -> f64 {
        match detector {
            // Usage / limit, over the containers that have a limit.
            "cpu" => {
                let limited = || self.containers().filter(|c| c.cpu_limit.is_some());
                limited().map(|c| c.cpu).sum::<f64>()
                    / limited().filter_map(|c| c.cpu_limit).sum::<f64>()
            }
            "memory" => {
                let limited = || self.containers().filter(|c| c.memory_limit.is_some());
                limited().map(|c| c.memory_at(STEPS)).sum::<f64>()
                    / limited().filter_map(|c| c.memory_limit).sum::<f64>()
            }
            // Hours until the first container reaches its limit at its growth rate.
            "leak" => self
                .containers()
                .filter_map(|c| {
                    Some((c.memory_limit? - c.memory_at(STEPS)) / c.growth.max(MIN_GROWTH) / 3600.0)
                })
                .fold(f64::INFINITY, f64::min),
            "p99" => {
                let from = STEPS - 5 * 60 / STEP as usize;
                let api: Vec<&Endpoint> = (self.0.iter().flat_map(|p| &p.endpoints))
                    .filter(|e| e.route != "/healthz")
                    .collect();
                let increase = |le| {
                    api.iter()
                        .map(|e| e.cumulative(STEPS, le) - e.cumulative(from, le))
                        .sum()
                };
                let buckets: Vec<(f64, f64)> = BUCKETS
                    .iter()
                    .copied()
                    .chain([f64::INFINITY])
                    .map(|le| (le, increase(le)))
                    .collect();
                histogram_quantile(0.99, &buckets)
            }
            "errors" => self.rate(5, false, true) / self.rate(5, false, false),
            "traffic" => self.rate(1, true, false),
            // The rank of the most severe pair whose windows both burn the error
            // budget at least `factor` times faster than sustainable.
            "slo" => {
                let ratio =
                    |minutes| self.rate(minutes, false, true) / self.rate(minutes, false, false);
                let fires = |long, short, factor: f64| {
                    let threshold = factor * (1.0 - OBJECTIVE);
                    ratio(long) >= threshold && ratio(short) >= threshold
                };
                (BURN
                    .iter()
                    .filter(|(_, long, short, factor)| fires(*long, *short, *factor)))
                .map(|(rank, ..)| *rank)
                .fold(0.0, f64::max)
            }
            // The user's query: API requests per second over 5m, per Service.
            "per-service" => self.rate(5, false, false),
            other => panic!("no expectation for detector {other}"),
        }
    }
}

/// Prometheus' `histogram_quantile` on cumulative (upper bound, count) pairs,
/// `+Inf` last: linear interpolation inside the bucket that holds the rank.
fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    let rank = q * total;
    let i = buckets
        .iter()
        .position(|(_, n)| *n >= rank)
        .unwrap_or(buckets.len() - 1);
    if i == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { buckets[i - 1] };
    let (upper, upto) = buckets[i];
    lower + (upper - lower) * (rank - below) / (upto - below)
}

/// `shop/<workload>` → its pods, as the playbook's mapping should see them.
fn workloads(h: &History, by_label: bool) -> BTreeMap<String, Workload<'_>> {
    let mut out: BTreeMap<String, Workload> = BTreeMap::new();
    for pod in h.pods.iter().filter(|p| p.namespace == "shop") {
        let workload = match (&pod.owner, by_label) {
            (_, true) => Some(pod.app),
            (Owner::ReplicaSet(rs), false) => h
                .replica_sets
                .iter()
                .find(|r| r.namespace == pod.namespace && r.name == *rs)
                .map(|r| r.deployment),
            (Owner::StatefulSet(_), false) => None,
        };
        if let Some(w) = workload {
            out.entry(format!("shop/{w}"))
                .or_insert(Workload(Vec::new()))
                .0
                .push(pod);
        }
    }
    out
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1e-3)
}

#[tokio::test]
async fn every_built_in_detector_reads_its_definition_on_exporter_shaped_history() {
    let history = cluster();
    let prom = Prometheus::builder()
        .backfill(history.openmetrics())
        .start()
        .await;
    let source = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).expect("source");
    let at = jiff::Timestamp::from_second(history.time(STEPS)).expect("time");

    // The scenario exercises what it claims: checkout's 5m spike fires the
    // critical short window but not its long one; cart's early errors fire the
    // long critical window but not its short one.
    let owned = workloads(&history, false);
    let slo = |w: &str| owned[w].expected("slo");
    assert_eq!(
        (slo("shop/checkout"), slo("shop/cart")),
        (3.0, 1.0),
        "scenario drifted"
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    // Both mappings: the same detectors, over the workloads each one sees.
    for (mode, label) in [("owner references", None), ("pod label", Some("app"))] {
        let pb = playbook(label);
        let pods = workloads(&history, label.is_some());
        let per_service = workloads(&history, true);
        assert_eq!(pb.detectors.len(), 8, "one detector of every kind");
        for detector in &pb.detectors {
            checked += 1;
            let name = detector.name.as_str();
            // The user's query ignores the mapping: one value per Service of shop.
            let by = if name == "per-service" {
                &per_service
            } else {
                &pods
            };
            let want: Values = by
                .iter()
                .map(|(w, pods)| (w.clone(), pods.expected(name)))
                .collect();
            let query = render(detector, &pb.target, &pb.id.namespace);
            let got: Values = match source.instant(&query, at).await {
                Ok(values) => values
                    .into_iter()
                    .map(|v| (format!("{}/{}", v.namespace, v.workload), v.value))
                    .collect(),
                Err(e) => {
                    failures.push(format!("{mode} / {name}: {e}\n  query: {query}"));
                    continue;
                }
            };
            let wrong = got.keys().ne(want.keys()) || want.iter().any(|(w, v)| !close(got[w], *v));
            if wrong {
                failures.push(format!(
                    "{mode} / {name}: want {want:?}\n  got {got:?}\n  query: {query}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} detector queries read wrong values:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
