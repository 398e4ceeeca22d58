//! Synthetic workloads whose metrics a real Prometheus scrapes, in the
//! exporters' formats: kube-state-metrics ownership and limits, cAdvisor
//! working set, an OpenTelemetry HTTP server histogram and Istio's request
//! counter. Each workload follows a [`Signal`] the test changes as the
//! incident plays out; counters integrate it every tick, so rates, quantiles
//! and growth are what Prometheus computes from real counters.

use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::support::prometheus::ScrapeTarget;

/// Histogram bucket bounds (seconds).
const LE: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Share of requests answered at once; the rest falls in the bucket holding p99.
const FAST_SHARE: f64 = 0.985;
const PODS: [&str; 2] = ["x2k4p", "q7m3n"];
pub const MEMORY_LIMIT: f64 = 1024.0 * 1024.0 * 1024.0;
const TICK: Duration = Duration::from_millis(250);

/// What a workload does now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signal {
    /// Requests per second, all pods together.
    pub rps: f64,
    /// Share of requests answered 5xx.
    pub errors: f64,
    /// The p99 latency (seconds): the slowest 1.5 % of requests fall in the
    /// histogram bucket that holds it.
    pub p99: f64,
    /// Working-set growth, share of the memory limit per second.
    pub growth: f64,
}

impl Signal {
    pub const HEALTHY: Signal = Signal {
        rps: 400.0,
        errors: 0.001,
        p99: 0.004,
        growth: 0.0,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    Rollout,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::Rollout => "Rollout",
        }
    }
}

/// One workload, its pods and its counters.
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub kind: Kind,
    /// The main container's name (playbooks match on it).
    pub container: String,
    pub signal: Signal,
    /// Working set, share of the limit (each pod alike).
    pub memory: f64,
    /// Requests per (status class: 0 = 2xx, 1 = 5xx, bucket index, +Inf last), all pods.
    requests: [[f64; LE.len() + 1]; 2],
}

impl Workload {
    pub fn new(namespace: &str, name: &str, kind: Kind, container: &str) -> Self {
        Workload {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            kind,
            container: container.to_owned(),
            signal: Signal::HEALTHY,
            memory: 0.4,
            // Real counters are far from zero.
            requests: [[1.0e6; LE.len() + 1], [1.0e3; LE.len() + 1]],
        }
    }

    pub fn replica_set(&self) -> String {
        format!("{}-7d9f8c6b5", self.name)
    }

    pub fn pods(&self) -> Vec<String> {
        PODS.iter()
            .map(|p| format!("{}-{p}", self.replica_set()))
            .collect()
    }

    fn advance(&mut self, dt: f64) {
        let s = self.signal;
        let slow = LE.iter().position(|le| s.p99 <= *le).unwrap_or(LE.len());
        for (class, share) in [(0, 1.0 - s.errors), (1, s.errors)] {
            let n = s.rps * share * dt;
            let counts = &mut self.requests[class];
            if slow == 0 {
                counts[0] += n;
            } else {
                counts[0] += n * FAST_SHARE;
                counts[slow] += n * (1.0 - FAST_SHARE);
            }
        }
        self.memory = (self.memory + s.growth * dt).clamp(0.0, 1.0);
    }

    fn write(&self, out: &mut String) {
        let (ns, name) = (&self.namespace, &self.name);
        let rs = self.replica_set();
        let _ = writeln!(
            out,
            "kube_replicaset_owner{{namespace=\"{ns}\",replicaset=\"{rs}\",owner_kind=\"{}\",owner_name=\"{name}\",owner_is_controller=\"true\"}} 1",
            self.kind.as_str()
        );
        let per_pod = 1.0 / PODS.len() as f64;
        for pod in self.pods() {
            let p = format!("namespace=\"{ns}\",pod=\"{pod}\"");
            let c = &self.container;
            let _ = writeln!(
                out,
                "kube_pod_owner{{{p},owner_kind=\"ReplicaSet\",owner_name=\"{rs}\",owner_is_controller=\"true\"}} 1"
            );
            let _ = writeln!(
                out,
                "kube_pod_container_resource_limits{{{p},container=\"{c}\",resource=\"memory\",unit=\"byte\"}} {MEMORY_LIMIT}"
            );
            let _ = writeln!(
                out,
                "container_memory_working_set_bytes{{{p},container=\"{c}\",image=\"registry.local/{name}:1.4\"}} {:.0}",
                self.memory * MEMORY_LIMIT
            );
            for (class, code) in [(0, "200"), (1, "503")] {
                let labels = format!(
                    "{p},http_route=\"/api/{name}\",http_request_method=\"POST\",http_response_status_code=\"{code}\""
                );
                let mut cumulative = 0.0;
                for (i, le) in LE.iter().enumerate() {
                    cumulative += self.requests[class][i] * per_pod;
                    let _ = writeln!(
                        out,
                        "http_server_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative:.0}"
                    );
                }
                cumulative += self.requests[class][LE.len()] * per_pod;
                let _ = writeln!(
                    out,
                    "http_server_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative:.0}"
                );
                let _ = writeln!(
                    out,
                    "http_server_request_duration_seconds_count{{{labels}}} {cumulative:.0}"
                );
                let _ = writeln!(
                    out,
                    "istio_requests_total{{{p},reporter=\"destination\",response_code=\"{code}\"}} {cumulative:.0}"
                );
            }
        }
    }
}

/// The workloads and the scrape target serving them, updated every tick.
pub struct Synth {
    pub target: ScrapeTarget,
    workloads: Arc<Mutex<Vec<Workload>>>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Synth {
    pub async fn start(workloads: Vec<Workload>) -> Synth {
        let target = ScrapeTarget::start(render(&workloads)).await;
        let workloads = Arc::new(Mutex::new(workloads));
        let (shared, text) = (Arc::clone(&workloads), target.text());
        let ticker = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(TICK).await;
                let dt = last.elapsed().as_secs_f64();
                last = Instant::now();
                let fresh = {
                    let mut all = shared.lock().unwrap_or_else(|e| e.into_inner());
                    for w in all.iter_mut() {
                        w.advance(dt);
                    }
                    render(&all)
                };
                *text.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
            }
        });
        Synth {
            target,
            workloads,
            ticker,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Workload>> {
        self.workloads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Change workload `namespace/name` (its signal, its memory).
    pub fn update(&self, namespace: &str, name: &str, f: impl FnOnce(&mut Workload)) {
        let mut all = self.lock();
        let w = all
            .iter_mut()
            .find(|w| w.namespace == namespace && w.name == name)
            .unwrap_or_else(|| panic!("no workload {namespace}/{name}"));
        f(w);
    }

    pub fn set(&self, namespace: &str, name: &str, signal: Signal) {
        self.update(namespace, name, |w| w.signal = signal);
    }
}

impl Drop for Synth {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

fn render(workloads: &[Workload]) -> String {
    let mut out = String::new();
    for w in workloads {
        w.write(&mut out);
    }
    out
}
