//! RSS of the real operator (`firebreak run`, leader, dry-run) against the API
//! server stand-in of the end-to-end tests and the bench's real Prometheus:
//! first idle (no Playbooks, no workloads), then with the bench playbook over
//! `workloads` Deployments, evaluated for a few cycles with Incidents written
//! for the busy workloads.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::apiserver::ApiServer;
use crate::synthetic;

const TOKEN: &str = "bench-operator-token";
const DEPLOYMENTS: &str = "/apis/apps/v1/deployments";
const PLAYBOOKS: &str = "/apis/firebreak.dev/v1alpha1/playbooks";
const INCIDENTS: &str = "/apis/firebreak.dev/v1alpha1/incidents";
/// Cycles measured once every target is known.
const CYCLES: f64 = 6.0;

fn kib(pid: u32, field: &str) -> u64 {
    crate::rss_kib(pid, field).unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn metric(admin: &str, name: &str) -> f64 {
    let Ok(r) = reqwest::get(format!("http://{admin}/metrics")).await else {
        return 0.0;
    };
    r.text()
        .await
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn deployment(name: &str) -> Value {
    let labels = json!({"tier": "bench", "app": name});
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": synthetic::NAMESPACE, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": "bench:1"}]}}},
    })
}

fn spawn(api: &ApiServer, dir: &std::path::Path, prometheus: &str, admin: &str) -> Child {
    let log = std::fs::File::create(dir.join("operator.log")).expect("operator log");
    // FIREBREAK_BENCH_WRAP="heaptrack -o /tmp/op" profiles the operator's heap
    // (its RSS is then the wrapper's, so the figures are not comparable).
    let wrap = std::env::var("FIREBREAK_BENCH_WRAP").unwrap_or_default();
    let mut wrap = wrap.split_whitespace();
    let mut cmd = match wrap.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(wrap).arg(env!("CARGO_BIN_EXE_firebreak"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_firebreak")),
    };
    cmd.args([
        "run",
        "--log-json",
        "--dry-run",
        "--lease-namespace",
        "firebreak",
    ])
    .args(["--prometheus", prometheus, "--prometheus-timeout", "30s"])
    .arg(format!("--admin-addr={admin}"))
    .env("KUBECONFIG", api.kubeconfig(dir, "firebreak"))
    .env("POD_NAME", "firebreak-bench")
    .env("POD_NAMESPACE", "firebreak")
    .env("FIREBREAK_LOG", "info")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::from(log))
    .spawn()
    .expect("start firebreak run")
}

/// Wait for `done`, checking every 200 ms, at most `timeout`.
async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, timeout: Duration, mut done: F) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "operator bench: {what} timed out"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn operator_rss(prometheus: &str, workloads: usize) {
    let api = ApiServer::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    );
    let mut child = spawn(&api, dir.path(), prometheus, &admin);
    let pid = child.id();
    wait_for("the Lease", Duration::from_secs(30), async || {
        !api.list("/apis/coordination.k8s.io/v1/leases").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle = kib(pid, "VmRSS:");

    let playbook: Value = serde_saphyr::from_str(synthetic::PLAYBOOK).expect("playbook as JSON");
    for i in 0..workloads {
        api.apply(DEPLOYMENTS, deployment(&format!("w{i:05}")));
    }
    api.apply(PLAYBOOKS, playbook);
    let cycles = "firebreak_cycles_total";
    wait_for(
        "every target evaluated",
        Duration::from_secs(180),
        async || {
            let targets = api
                .get(PLAYBOOKS, synthetic::NAMESPACE, "bench")
                .and_then(|p| p["status"]["targets"].as_u64());
            targets == Some(workloads as u64) && metric(&admin, cycles).await >= 1.0
        },
    )
    .await;
    let first = metric(&admin, cycles).await;
    let (sum0, count0) = (
        metric(&admin, "firebreak_cycle_duration_seconds_sum").await,
        metric(&admin, "firebreak_cycle_duration_seconds_count").await,
    );
    let mut samples = Vec::new();
    wait_for(
        "the measured cycles",
        Duration::from_secs(300),
        async || {
            samples.push(kib(pid, "VmRSS:"));
            metric(&admin, cycles).await >= first + CYCLES
        },
    )
    .await;
    let peak = kib(pid, "VmHWM:");
    let took = (metric(&admin, "firebreak_cycle_duration_seconds_sum").await - sum0)
        / (metric(&admin, "firebreak_cycle_duration_seconds_count").await - count0).max(1.0);
    let incidents = api.list(INCIDENTS).len();
    samples.sort_unstable();
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "    firebreak run (operator, dry-run) RSS: idle {:.1} MiB (no Playbooks, no workloads); \
         at {workloads} Deployments over {CYCLES} cycles: median {:.1} MiB, peak {:.1} MiB \
         (budget 64 MiB: {}); cycle mean {:.2} s; {incidents} Incidents",
        mib(idle),
        mib(samples.get(samples.len() / 2).copied().unwrap_or(0)),
        mib(peak),
        if peak < 64 * 1024 { "met" } else { "MISSED" },
        took
    );
}
