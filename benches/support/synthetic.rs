//! Synthetic workloads in the real metric formats (kube-state-metrics, cAdvisor,
//! an OpenTelemetry HTTP server histogram), as scrape text or OpenMetrics history.

use std::fmt::Write;

pub const NAMESPACE: &str = "bench";
/// Histogram bucket bounds (seconds) of `http_server_request_duration_seconds`.
const LE: [&str; 4] = ["0.1", "0.5", "1", "+Inf"];

pub const PLAYBOOK: &str = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: bench, namespace: bench}
spec:
  target:
    kind: Deployment
    selector: {matchLabels: {tier: bench}}
  interval: 15s
  detectors:
    - name: cpu
      cpuSaturation: {window: 10m}
      thresholds: {low: 0.7, high: 0.9}
    - name: memory
      memoryPressure: {}
      thresholds: {low: 0.8, critical: 0.95}
    - name: p99
      latency: {quantile: 0.99, window: 10m}
      thresholds: {low: 0.5, high: 1}
    - name: errors
      errorRate: {window: 10m}
      thresholds: {low: 0.05, high: 0.2}
  actions:
    low:
      - notify: {}
    high:
      - rateLimit: {requestsPerSecond: 100}
"#;

/// One workload's shape: busy ones cross thresholds so incidents open.
#[derive(Clone, Copy)]
pub struct Shape {
    pub cpu: f64,
    pub memory: f64,
    pub rps: f64,
    pub error_share: f64,
    pub slow_share: f64,
}

pub fn shape(i: usize) -> Shape {
    let busy = i.is_multiple_of(50);
    Shape {
        cpu: if busy {
            0.95
        } else {
            0.2 + (i % 7) as f64 * 0.05
        },
        memory: 0.4 + (i % 5) as f64 * 0.05,
        rps: 5.0 + (i % 11) as f64,
        error_share: if busy { 0.3 } else { 0.01 },
        slow_share: if busy { 0.05 } else { 0.001 },
    }
}

fn names(i: usize) -> (String, String, String) {
    let w = format!("w{i:05}");
    let rs = format!("{w}-6d5f");
    let pod = format!("{rs}-a1");
    (w, rs, pod)
}

/// Every series of workload `i` at `t` seconds into its life; `ts` appends a
/// timestamp (OpenMetrics history) or nothing (scrape text).
pub fn write_workload(out: &mut String, i: usize, t: f64, ts: &str) {
    let s = shape(i);
    let (w, rs, pod) = names(i);
    let ns = NAMESPACE;
    let p = format!("namespace=\"{ns}\",pod=\"{pod}\"");
    let _ = writeln!(
        out,
        "kube_pod_owner{{{p},owner_kind=\"ReplicaSet\",owner_name=\"{rs}\",owner_is_controller=\"true\"}} 1{ts}"
    );
    // Pod labels as kube-state-metrics exports them (`--metric-labels-allowlist`),
    // for the `workloadLabel` mapping.
    let _ = writeln!(out, "kube_pod_labels{{{p},label_app=\"{w}\"}} 1{ts}");
    let _ = writeln!(
        out,
        "kube_replicaset_owner{{namespace=\"{ns}\",replicaset=\"{rs}\",owner_kind=\"Deployment\",owner_name=\"{w}\",owner_is_controller=\"true\"}} 1{ts}"
    );
    let _ = writeln!(
        out,
        "kube_pod_container_resource_limits{{{p},container=\"app\",resource=\"cpu\",unit=\"core\"}} 1{ts}"
    );
    let _ = writeln!(
        out,
        "kube_pod_container_resource_limits{{{p},container=\"app\",resource=\"memory\",unit=\"byte\"}} 1073741824{ts}"
    );
    let _ = writeln!(
        out,
        "container_cpu_usage_seconds_total{{{p},container=\"app\",image=\"app:1\"}} {:.3}{ts}",
        s.cpu * t
    );
    let _ = writeln!(
        out,
        "container_memory_working_set_bytes{{{p},container=\"app\",image=\"app:1\"}} {:.0}{ts}",
        s.memory * 1_073_741_824.0
    );
    let total = s.rps * t;
    for (code, share) in [("200", 1.0 - s.error_share), ("500", s.error_share)] {
        let n = total * share;
        let cum = [
            n * 0.9,
            n * (1.0 - s.slow_share * 2.0),
            n * (1.0 - s.slow_share),
            n,
        ];
        for (le, c) in LE.iter().zip(cum) {
            let _ = writeln!(
                out,
                "http_server_request_duration_seconds_bucket{{{p},http_response_status_code=\"{code}\",le=\"{le}\"}} {c:.0}{ts}"
            );
        }
        let _ = writeln!(
            out,
            "http_server_request_duration_seconds_count{{{p},http_response_status_code=\"{code}\"}} {n:.0}{ts}"
        );
    }
}

/// Scrape text for `n` workloads at `t` seconds.
pub fn scrape_text(n: usize, t: f64) -> String {
    let mut out = String::with_capacity(n * 2_200);
    for i in 0..n {
        write_workload(&mut out, i, t, "");
    }
    out
}
