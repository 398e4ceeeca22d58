//! Against a real Prometheus (Debian's `prometheus` on PATH):
//! 1. live cycle at 10,000 workloads × 4 detectors: queries per cycle, wall time
//!    per cycle, and RSS of a `firebreak run --standalone` process;
//! 2. backtest of 7 days × 100 workloads × 4 detectors at a 30 s step, with the
//!    same range queries alone as a same-run baseline.
//!
//! Budgets: cycle < 0.5 s, RSS < 64 MiB, backtest < 10 s.

#[path = "../tests/support/prometheus.rs"]
#[allow(dead_code)]
mod prometheus;
#[path = "support/synthetic.rs"]
mod synthetic;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak::backtest::{self, Options};
use firebreak::detect::prometheus::{PrometheusArgs, PrometheusSource};
use firebreak::incident::GlobalGuardrails;
use firebreak::playbook::load::parse_documents;
use firebreak::playbook::model::Playbook;
use firebreak::runner::QueryMode;
use firebreak::runner::query::detector_query;
use firebreak::standalone::Live;
use firebreak::telemetry::Metrics;
use prometheus::{Prometheus, ScrapeTarget};

const LIVE_WORKLOADS: usize = 10_000;
const LIVE_CYCLES: usize = 20;
const SCRAPE: Duration = Duration::from_secs(5);
const BACKTEST_WORKLOADS: usize = 100;
const BACKTEST_DAYS: i64 = 7;
/// History resolution: a sample every 3 minutes keeps `rate(…[10m])` fed and the
/// backfill small enough to build in about a minute.
const HISTORY_STEP: i64 = 180;

fn playbook() -> Playbook {
    parse_documents(synthetic::PLAYBOOK, None)
        .into_iter()
        .next()
        .and_then(Result::ok)
        .expect("the bench playbook is valid")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn live(rt_started: Instant) {
    let started = Instant::now();
    let target = ScrapeTarget::start(synthetic::scrape_text(LIVE_WORKLOADS, 0.0)).await;
    // Counters advance between scrapes so that rates and quantiles are real.
    let text = target.text();
    let feeder = tokio::spawn(async move {
        loop {
            tokio::time::sleep(SCRAPE / 2).await;
            let t = rt_started.elapsed().as_secs_f64() + 600.0;
            let fresh =
                tokio::task::spawn_blocking(move || synthetic::scrape_text(LIVE_WORKLOADS, t))
                    .await
                    .expect("generate scrape text");
            *text.lock().expect("scrape text") = fresh;
        }
    });
    let prom = Prometheus::builder().scrape(&target, SCRAPE).start().await;
    // Two scrapes with moved counters before rates exist.
    prom.wait_for_data(
        "count(rate(container_cpu_usage_seconds_total[1m])) >= 10000",
        Duration::from_secs(120),
    )
    .await;
    println!(
        "live: {LIVE_WORKLOADS} workloads x 4 detectors, {} series scraped every {SCRAPE:?} (setup {:.1} s)",
        prom.query("count({namespace=\"bench\"})")
            .await
            .first()
            .map_or(0.0, |s| s.sample().value()),
        started.elapsed().as_secs_f64()
    );
    let pb = playbook();
    let metrics = Arc::new(Metrics::default());
    let source = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).expect("source");
    let mut live = Live::new(
        source,
        vec![pb.clone()],
        GlobalGuardrails::default(),
        QueryMode::Detector,
        metrics.clone(),
    );
    let mut walls = Vec::new();
    let mut events = 0;
    for _ in 0..LIVE_CYCLES {
        let t0 = Instant::now();
        events += live.cycle(0, jiff::Timestamp::now()).await.len();
        walls.push(t0.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let exposed = metrics.encode();
    let queries: f64 = exposed
        .lines()
        .filter(|l| l.starts_with("firebreak_queries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let no_data: f64 = exposed
        .lines()
        .filter(|l| l.starts_with("firebreak_targets_without_data{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    walls.sort_by(f64::total_cmp);
    println!(
        "  cycle wall  p50 {:8.1} ms   p99 {:8.1} ms   max {:8.1} ms   ({LIVE_CYCLES} cycles, {events} events)",
        percentile(&walls, 0.5),
        percentile(&walls, 0.99),
        walls.last().copied().unwrap_or(0.0)
    );
    println!(
        "  queries per cycle {:.1} (detectors: {}); targets without data at the end: {no_data}",
        queries / LIVE_CYCLES as f64,
        pb.detectors.len()
    );
    // Baseline in the same run: each query alone, without the engine; then the
    // same detectors mapped through a pod label instead of owner references.
    let src = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).expect("source");
    println!(
        "  baseline: each query alone, p50: {}",
        time_queries(&src, &pb).await
    );
    let mut by_label = pb.clone();
    by_label.target.workload_label = Some("app".to_owned());
    println!(
        "  same, workloadLabel mapping, p50: {}",
        time_queries(&src, &by_label).await
    );
    standalone_rss(&prom).await;
    feeder.abort();
}

/// Median time of each detector's query alone (5 runs), as `name N ms, …`.
async fn time_queries(src: &PrometheusSource, pb: &Playbook) -> String {
    let mut alone = Vec::new();
    for d in &pb.detectors {
        let q = detector_query(pb, d, QueryMode::Detector);
        let mut took = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            let n = src
                .instant(&q.promql, jiff::Timestamp::now())
                .await
                .map_or(0, |v| v.len());
            took.push(t0.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(n, LIVE_WORKLOADS, "{} returned {n} workloads", d.name);
        }
        took.sort_by(f64::total_cmp);
        alone.push(format!("{} {:.0} ms", d.name, percentile(&took, 0.5)));
    }
    alone.join(", ")
}

/// RSS of the real binary running the same playbook for a few cycles.
async fn standalone_rss(prom: &Prometheus) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bench.yaml"), synthetic::PLAYBOOK).expect("write playbook");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["run", "--standalone", "--max-cycles", "6", "--prometheus"])
        .arg(prom.url())
        .arg("--playbooks")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn firebreak");
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(pid, "VmRSS:").unwrap_or(0);
    let mut peak = 0;
    while child.try_wait().ok().flatten().is_none() {
        peak = peak.max(rss_kib(pid, "VmHWM:").unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "  firebreak run --standalone RSS: {:.1} MiB after start, peak {:.1} MiB over 6 cycles (budget 64 MiB)",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}

/// TSDB blocks of 7 days of history for the backtest workloads, built once with
/// promtool and kept under `target/bench-cache` (rebuilt when missing).
fn history_blocks(end: i64) -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-cache");
    let blocks = cache.join(format!(
        "history-{BACKTEST_DAYS}d-{BACKTEST_WORKLOADS}w-{HISTORY_STEP}s-v1"
    ));
    let done = blocks.with_extension("complete");
    if done.exists() {
        return blocks;
    }
    let _ = std::fs::remove_dir_all(&blocks);
    std::fs::create_dir_all(&blocks).expect("create the bench cache");
    let file = cache.join("history.om");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("history file"));
    let start = end - BACKTEST_DAYS * 86_400;
    let mut t = start;
    while t <= end {
        let ts = format!(" {t}");
        let mut step = String::new();
        for i in 0..BACKTEST_WORKLOADS {
            synthetic::write_workload(&mut step, i, (t - start + 600) as f64, &ts);
        }
        out.write_all(step.as_bytes()).expect("write history");
        t += HISTORY_STEP;
    }
    out.write_all(b"# EOF\n").expect("write history");
    drop(out);
    prometheus::create_blocks(&file, &blocks);
    let _ = std::fs::remove_file(&file);
    std::fs::write(&done, b"").expect("mark the cache complete");
    blocks
}

async fn backtest_week() {
    let end: i64 = 1_772_409_600; // 2026-03-02T00:00:00Z
    let started = Instant::now();
    let prom = Prometheus::builder()
        .blocks(history_blocks(end))
        .start()
        .await;
    println!(
        "backtest: {BACKTEST_DAYS} days x {BACKTEST_WORKLOADS} workloads x 4 detectors at 30s (history every {HISTORY_STEP}s, setup {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let mut args = PrometheusArgs::for_url(prom.url());
    args.prometheus_timeout = crate_duration(120);
    let source = PrometheusSource::new(&args).expect("source");
    let pb = playbook();
    let opts = Options {
        from: jiff::Timestamp::from_second(end - BACKTEST_DAYS * 86_400 + 600).expect("from"),
        to: jiff::Timestamp::from_second(end).expect("to"),
        step: Some("30s".parse().expect("step")),
        mode: QueryMode::Detector,
        max_points: backtest::DEFAULT_MAX_POINTS,
        keep_series: false,
    };
    // Cost of each detector's range query over one day, to see where time goes.
    let day_from = opts.from;
    let day_to = day_from + jiff::SignedDuration::from_hours(24);
    let mut per = Vec::new();
    for d in &pb.detectors {
        let q = detector_query(&pb, d, QueryMode::Detector);
        let t0 = Instant::now();
        let r = source
            .range(&q.promql, day_from, day_to, Duration::from_secs(30))
            .await;
        per.push(format!(
            "{} {:.2} s{}",
            d.name,
            t0.elapsed().as_secs_f64(),
            r.err().map(|e| format!(" ({e})")).unwrap_or_default()
        ));
    }
    println!("  one day per detector: {}", per.join(", "));
    // Baseline: the same chunked range queries, without the engine.
    let t0 = Instant::now();
    let step_ms = 30_000;
    let mut samples = 0usize;
    for chunk in backtest::fetch::plan(opts.from, opts.to, step_ms, opts.max_points) {
        let c = backtest::fetch::fetch(&source, &pb, QueryMode::Detector, chunk, step_ms).await;
        samples += c
            .detectors
            .iter()
            .flatten()
            .map(|cols| {
                cols.values()
                    .map(|v| v.iter().flatten().count())
                    .sum::<usize>()
            })
            .sum::<usize>();
    }
    let fetch_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let result = backtest::backtest(&source, &[pb], &opts, &indicatif::ProgressBar::hidden()).await;
    let total_s = t1.elapsed().as_secs_f64();
    println!(
        "  backtest {total_s:6.2} s   (range queries alone {fetch_s:6.2} s, ratio {:.2}; {samples} values, {} evaluations, {} incidents)",
        total_s / fetch_s,
        result.summary.evaluations,
        result.summary.incidents_opened
    );
    println!(
        "  budget (< 10 s): {}",
        if total_s < 10.0 { "met" } else { "MISSED" }
    );
}

fn crate_duration(secs: u64) -> firebreak::duration::Duration {
    firebreak::duration::Duration::from_secs(secs)
}

fn main() {
    // `cargo test --all-targets` also runs bench binaries, without `--bench`:
    // measure only under `cargo bench` (debug builds and a 5-minute setup).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let t = Instant::now();
    // FIREBREAK_BENCH=live or backtest runs one part only.
    let only = std::env::var("FIREBREAK_BENCH").unwrap_or_default();
    rt.block_on(async {
        if only != "backtest" {
            live(t).await;
        }
        if only != "live" {
            backtest_week().await;
        }
    });
}
