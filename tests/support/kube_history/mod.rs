//! A small cluster's metric history: pods with containers (CPU, memory, limits)
//! and HTTP endpoints (request-duration histograms), owned by ReplicaSets or
//! StatefulSets. Every value is a simple function of the step (constant rates,
//! linear growth), so tests compute what a detector should read from the same
//! parameters; [`History::openmetrics`] writes it in the exporters' formats.

mod openmetrics;

/// Seconds between samples, as with a 15 s scrape interval.
pub const STEP: i64 = 15;

/// OpenTelemetry's default `http.server.request.duration` bucket bounds (seconds).
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Counters start as if the process had already run this many steps at its
/// first rate: real counters are far from 0 (and `rate` extrapolation then
/// treats every series alike).
pub const WARM_STEPS: f64 = 1000.0;

/// Samples at `start + i * STEP` for `i` in `0..=steps`.
pub struct History {
    pub start: i64,
    pub steps: usize,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
}

/// A ReplicaSet owned by a Deployment (`kube_replicaset_owner`).
pub struct ReplicaSet {
    pub namespace: &'static str,
    pub name: &'static str,
    pub deployment: &'static str,
}

/// The controller of a pod (`kube_pod_owner`).
pub enum Owner {
    ReplicaSet(&'static str),
    StatefulSet(&'static str),
}

pub struct Pod {
    pub namespace: &'static str,
    pub name: &'static str,
    pub owner: Owner,
    /// Pod labels `app` and `app.kubernetes.io/name` (KSM, with both in
    /// `--metric-labels-allowlist`: `label_app`, `label_app_kubernetes_io_name`);
    /// also the Service that selects the pod.
    pub app: &'static str,
    pub containers: Vec<Container>,
    pub endpoints: Vec<Endpoint>,
}

pub struct Container {
    pub name: &'static str,
    /// CPU used, in cores (the counter grows by this many seconds per second).
    pub cpu: f64,
    pub cpu_limit: Option<f64>,
    /// Working set at step 0, bytes.
    pub memory: f64,
    /// Working-set growth, bytes per second.
    pub growth: f64,
    pub memory_limit: Option<f64>,
}

impl Container {
    /// `cpu` = (cores used, limit); `memory` = (bytes at step 0, growth in
    /// bytes/s, limit).
    pub fn new(
        name: &'static str,
        (cpu, cpu_limit): (f64, Option<f64>),
        (memory, growth, memory_limit): (f64, f64, Option<f64>),
    ) -> Self {
        Container {
            name,
            cpu,
            cpu_limit,
            memory,
            growth,
            memory_limit,
        }
    }

    pub fn cpu_seconds(&self, step: usize) -> f64 {
        self.cpu * STEP as f64 * (WARM_STEPS + step as f64)
    }

    pub fn memory_at(&self, step: usize) -> f64 {
        self.memory + self.growth * (STEP as f64) * step as f64
    }
}

/// One (route, method, status) histogram of an HTTP server.
pub struct Endpoint {
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
    /// `(from step, observations per step as (bucket upper bound, count))`,
    /// in step order; the first phase starts at step 0.
    pub phases: Vec<(usize, Vec<(f64, u64)>)>,
}

impl Endpoint {
    /// `phases`: `(from step, per step [(bucket upper bound, observations)])`.
    pub fn new(
        method: &'static str,
        route: &'static str,
        status: u16,
        phases: &[(usize, &[(f64, u64)])],
    ) -> Self {
        let phases = phases.iter().map(|(from, obs)| (*from, obs.to_vec()));
        Endpoint {
            route,
            method,
            status,
            phases: phases.collect(),
        }
    }

    /// Observations made in the step ending at `step`.
    pub fn observed(&self, step: usize) -> &[(f64, u64)] {
        self.phases
            .iter()
            .rev()
            .find(|(from, _)| *from <= step)
            .map(|(_, obs)| obs.as_slice())
            .unwrap_or(&[])
    }

    /// The `_bucket{le}` counter at `step` (`le = INFINITY` gives `_count`).
    pub fn cumulative(&self, step: usize, le: f64) -> f64 {
        let within = |s: usize| -> f64 {
            let obs = self.observed(s);
            obs.iter()
                .filter(|(b, _)| *b <= le)
                .map(|(_, n)| *n as f64)
                .sum()
        };
        WARM_STEPS * within(0) + (1..=step).map(within).sum::<f64>()
    }

    pub fn count(&self, step: usize) -> f64 {
        self.cumulative(step, f64::INFINITY)
    }

    /// The `_sum` counter, every observation taken at its bucket's upper bound.
    pub fn sum(&self, step: usize) -> f64 {
        let at = |s: usize| -> f64 { self.observed(s).iter().map(|(b, n)| b * *n as f64).sum() };
        WARM_STEPS * at(0) + (1..=step).map(at).sum::<f64>()
    }
}

impl History {
    pub fn time(&self, step: usize) -> i64 {
        self.start + STEP * step as i64
    }
}
