//! Against a real Prometheus (Debian's `prometheus` on PATH), in both query modes:
//! each detector's own PromQL over the raw series (`detector`), and the series
//! the rules of `firebreak rules` record (`recorded`).
//! 1. live cycle at 10,000 workloads × 4 detectors, once every 10 m window is
//!    full: queries per cycle, wall time per cycle, the rules' evaluation time in
//!    Prometheus (the rules of `firebreak rules` against the layout they replaced,
//!    in turn, `support/recorded_live.rs`), and RSS of a
//!    `firebreak run --standalone` process and of the operator, idle and at
//!    10,000 Deployments (against the end-to-end tests' API server stand-in);
//! 2. backtest of 7 days × 100 workloads × 4 detectors at a 30 s step over
//!    recorded history (backfilled with `promtool tsdb create-blocks-from rules`
//!    from the rules of `firebreak rules --backfill`)
//!    and over the raw history, with the same range queries alone as a same-run
//!    baseline.
//!
//! Budgets: cycle < 0.5 s, RSS < 64 MiB, backtest < 10 s.

#[path = "../tests/support/apiserver/mod.rs"]
#[allow(dead_code)]
mod apiserver;
#[path = "support/operator_rss.rs"]
mod operator_rss;
#[path = "../tests/support/prometheus.rs"]
#[allow(dead_code)]
mod prometheus;
#[path = "support/recorded_live.rs"]
mod recorded_live;
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
use firebreak::playbook::rules::Layout;
use firebreak::runner::QueryMode;
use firebreak::runner::query::{detector_query, range_query};
use firebreak::standalone::Live;
use firebreak::telemetry::Metrics;
use prometheus::{Prometheus, ScrapeTarget};

const LIVE_WORKLOADS: usize = 10_000;
const LIVE_CYCLES: usize = 20;
/// From the first scrape until the detectors' longest window (10 m) is full.
const WARM_UP: Duration = Duration::from_secs(11 * 60);
/// Scrape interval of the live half: Prometheus' default, 15 s;
/// `FIREBREAK_BENCH_SCRAPE=5` (seconds) for the 5 s of earlier runs.
fn scrape_interval() -> Duration {
    let secs = std::env::var("FIREBREAK_BENCH_SCRAPE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    Duration::from_secs(secs)
}
const BACKTEST_WORKLOADS: usize = 100;
const BACKTEST_DAYS: i64 = 7;
/// History resolution: a sample every 3 minutes keeps `rate(…[10m])` fed and the
/// backfill small enough to build in about a minute.
const HISTORY_STEP: i64 = 180;
/// Backtest step (seconds), also the recorded history's resolution.
const BACKTEST_STEP: u64 = 30;

/// `FIREBREAK_BENCH_QUERY_MODE=recorded` (or `detector`) measures one query mode only.
fn measures(mode: &str) -> bool {
    std::env::var("FIREBREAK_BENCH_QUERY_MODE").map_or(true, |only| only.is_empty() || only == mode)
}

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

/// `operator_only`: the operator's RSS, none of the cycles.
async fn live(rt_started: Instant, operator_only: bool) {
    let started = Instant::now();
    let scrape = scrape_interval();
    let target = ScrapeTarget::start(synthetic::scrape_text(LIVE_WORKLOADS, 0.0)).await;
    // Counters advance between scrapes so that rates and quantiles are real.
    let text = target.text();
    let feeder = tokio::spawn(async move {
        loop {
            tokio::time::sleep(scrape / 2).await;
            let t = rt_started.elapsed().as_secs_f64() + 600.0;
            let fresh =
                tokio::task::spawn_blocking(move || synthetic::scrape_text(LIVE_WORKLOADS, t))
                    .await
                    .expect("generate scrape text");
            *text.lock().expect("scrape text") = fresh;
        }
    });
    let prom = Prometheus::builder().scrape(&target, scrape).start().await;
    // Two scrapes with moved counters before rates exist.
    prom.wait_for_data(
        "count(rate(container_cpu_usage_seconds_total[1m])) >= 10000",
        Duration::from_secs(120),
    )
    .await;
    println!(
        "live: {LIVE_WORKLOADS} workloads x 4 detectors, {} series scraped every {scrape:?} (setup {:.1} s)",
        prom.query("count({namespace=\"bench\"})")
            .await
            .first()
            .map_or(0.0, |s| s.sample().value()),
        started.elapsed().as_secs_f64()
    );
    if operator_only {
        operator_rss::operator_rss(&prom.url(), LIVE_WORKLOADS).await;
        feeder.abort();
        return;
    }
    // Steady state: every `rate(…[10m])` window full before anything is measured.
    if let Some(rest) = WARM_UP.checked_sub(started.elapsed()) {
        println!(
            "  waiting {:.0} s for the 10 m windows to fill",
            rest.as_secs_f64()
        );
        tokio::time::sleep(rest).await;
    }
    let pb = playbook();
    let src = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).expect("source");
    if measures("detector") {
        detector_half(&prom, &src, &pb).await;
    }
    if measures("recorded") {
        recorded_live::recorded_half(&prom, &src, &pb).await;
    }
    feeder.abort();
}

/// Each detector's own PromQL over the raw series, and the operator's RSS.
async fn detector_half(prom: &Prometheus, src: &PrometheusSource, pb: &Playbook) {
    println!("  query mode detector (each detector's PromQL over the raw series):");
    cycles(prom, pb, QueryMode::Detector).await;
    // Baseline in the same run: each query alone, without the engine; then the
    // same detectors mapped through a pod label instead of owner references.
    println!(
        "    baseline: each query alone, p50: {}",
        time_queries(src, pb, QueryMode::Detector).await
    );
    let mut by_label = pb.clone();
    by_label.target.workload_label = Some("app".to_owned());
    println!(
        "    same, workloadLabel mapping, p50: {}",
        time_queries(src, &by_label, QueryMode::Detector).await
    );
    // The floor under any query over these series: selecting them, nothing else.
    let t0 = Instant::now();
    let n = prom
        .query("count(http_server_request_duration_seconds_bucket)")
        .await
        .first()
        .map_or(0.0, |s| s.sample().value());
    println!(
        "    floor: count() of the {n} histogram bucket series alone takes {:.0} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    standalone_rss(prom, QueryMode::Detector).await;
    operator_rss::operator_rss(&prom.url(), LIVE_WORKLOADS).await;
}

/// `LIVE_CYCLES` cycles of `pb` through `standalone::Live` in `mode`.
pub(crate) async fn cycles(prom: &Prometheus, pb: &Playbook, mode: QueryMode) {
    let metrics = Arc::new(Metrics::default());
    let source = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).expect("source");
    let mut live = Live::new(
        source,
        vec![pb.clone()],
        GlobalGuardrails::default(),
        mode,
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
    let sum = |prefix: &str| -> f64 {
        exposed
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let queries = sum("firebreak_queries_total{");
    let no_data = sum("firebreak_targets_without_data{");
    walls.sort_by(f64::total_cmp);
    let p99 = percentile(&walls, 0.99);
    println!(
        "    cycle wall  p50 {:8.1} ms   p99 {:8.1} ms   max {:8.1} ms   ({LIVE_CYCLES} cycles, {events} events)",
        percentile(&walls, 0.5),
        p99,
        walls.last().copied().unwrap_or(0.0)
    );
    println!(
        "    queries per cycle {:.1} (detectors: {}); targets without data at the end: {no_data}; budget (p99 < 500 ms): {}",
        queries / LIVE_CYCLES as f64,
        pb.detectors.len(),
        if p99 < 500.0 { "met" } else { "MISSED" }
    );
}

/// Median time of each detector's query alone (5 runs), as `name N ms, …`.
pub(crate) async fn time_queries(src: &PrometheusSource, pb: &Playbook, mode: QueryMode) -> String {
    let mut alone = Vec::new();
    for d in &pb.detectors {
        let q = detector_query(pb, d, mode);
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
pub(crate) async fn standalone_rss(prom: &Prometheus, mode: QueryMode) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bench.yaml"), synthetic::PLAYBOOK).expect("write playbook");
    let mode = match mode {
        QueryMode::Detector => "detector",
        QueryMode::Recorded => "recorded",
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args([
            "run",
            "--standalone",
            "--max-cycles",
            "6",
            "--query-mode",
            mode,
        ])
        .arg("--prometheus")
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
        "    firebreak run --standalone RSS: {:.1} MiB after start, peak {:.1} MiB over 6 cycles (budget 64 MiB)",
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

/// `firebreak_signal` history for the same 7 days: the bench playbook's rules
/// (`firebreak rules`, evaluated at the backtest step) backfilled with
/// `promtool tsdb create-blocks-from rules` against a Prometheus serving the raw
/// history, as a user would backfill new rules. Cached beside the raw blocks.
async fn recorded_blocks(raw: &Prometheus, pb: &Playbook, (from, to): (i64, i64)) -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-cache");
    let blocks = cache.join(format!(
        "recorded-{BACKTEST_DAYS}d-{BACKTEST_WORKLOADS}w-{BACKTEST_STEP}s-v1"
    ));
    let done = blocks.with_extension("complete");
    if done.exists() {
        return blocks;
    }
    let _ = std::fs::remove_dir_all(&blocks);
    std::fs::create_dir_all(&blocks).expect("create the bench cache");
    // promtool evaluates each rule on its own: the self-contained layout.
    let mut file = firebreak::playbook::rules::rule_file([pb], Layout::SelfContained);
    for g in &mut file.groups {
        g.interval = format!("{BACKTEST_STEP}s");
    }
    let rules = cache.join("recorded-rules.yml");
    std::fs::write(&rules, serde_saphyr::to_string(&file).expect("rules YAML"))
        .expect("write rules");
    let t0 = Instant::now();
    let url = raw.url();
    let out = blocks.clone();
    tokio::task::spawn_blocking(move || {
        prometheus::create_blocks_from_rules(
            &url,
            &rules,
            (from, to),
            Duration::from_secs(BACKTEST_STEP),
            &out,
        );
    })
    .await
    .expect("promtool");
    println!(
        "  backfilled the recorded signals with promtool in {:.1} s (once; cached)",
        t0.elapsed().as_secs_f64()
    );
    std::fs::write(&done, b"").expect("mark the cache complete");
    blocks
}

async fn backtest_week() {
    let end: i64 = 1_772_409_600; // 2026-03-02T00:00:00Z
    let from = end - BACKTEST_DAYS * 86_400 + 600;
    let started = Instant::now();
    let raw = history_blocks(end);
    let pb = playbook();
    let recorded = {
        let prom = Prometheus::builder().blocks(&raw).start().await;
        recorded_blocks(&prom, &pb, (from, end)).await
    };
    let prom = Prometheus::builder()
        .blocks(&raw)
        .blocks(&recorded)
        .start()
        .await;
    println!(
        "backtest: {BACKTEST_DAYS} days x {BACKTEST_WORKLOADS} workloads x 4 detectors at {BACKTEST_STEP}s (history every {HISTORY_STEP}s, setup {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let mut args = PrometheusArgs::for_url(prom.url());
    args.prometheus_timeout = crate_duration(120);
    let source = PrometheusSource::new(&args).expect("source");
    let opts = |mode| Options {
        from: jiff::Timestamp::from_second(from).expect("from"),
        to: jiff::Timestamp::from_second(end).expect("to"),
        step: Some(format!("{BACKTEST_STEP}s").parse().expect("step")),
        mode,
        max_points: backtest::DEFAULT_MAX_POINTS,
        keep_series: false,
    };
    let mut found = Vec::new();
    for (label, mode) in [
        ("recorded", QueryMode::Recorded),
        ("detector", QueryMode::Detector),
    ] {
        if !measures(label) {
            continue;
        }
        println!("  query mode {label}:");
        let opts = opts(mode);
        // Cost of each detector's range query over one day, to see where time goes.
        let day_to = opts.from + jiff::SignedDuration::from_hours(24);
        let mut per = Vec::new();
        for d in &pb.detectors {
            let q = range_query(&pb, d, mode);
            let t0 = Instant::now();
            let r = source
                .range(&q, opts.from, day_to, Duration::from_secs(BACKTEST_STEP))
                .await;
            per.push(format!(
                "{} {:.2} s{}",
                d.name,
                t0.elapsed().as_secs_f64(),
                r.err().map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
        println!("    one day per detector: {}", per.join(", "));
        // Baseline: the same chunked range queries, without the engine.
        let t0 = Instant::now();
        let step_ms = i64::try_from(BACKTEST_STEP * 1000).expect("step");
        let mut samples = 0usize;
        for chunk in backtest::fetch::plan(opts.from, opts.to, step_ms, opts.max_points) {
            let c = backtest::fetch::fetch(&source, &pb, mode, chunk, step_ms).await;
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
        let result = backtest::backtest(
            &source,
            std::slice::from_ref(&pb),
            &opts,
            &indicatif::ProgressBar::hidden(),
        )
        .await;
        let total_s = t1.elapsed().as_secs_f64();
        println!(
            "    backtest {total_s:6.2} s   (range queries alone {fetch_s:6.2} s, ratio {:.2}; {samples} values, {} evaluations, {} incidents)",
            total_s / fetch_s,
            result.summary.evaluations,
            result.summary.incidents_opened
        );
        println!(
            "    budget (< 10 s): {}",
            if total_s < 10.0 { "met" } else { "MISSED" }
        );
        found.push(result.summary.incidents_opened);
    }
    if let [recorded, detector] = found[..] {
        println!(
            "  incidents found: recorded {recorded} / detector {detector} ({})",
            if recorded == detector {
                "same"
            } else {
                "DIFFERENT"
            }
        );
    }
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
    // FIREBREAK_BENCH=live, backtest or operator (the operator's RSS) runs one part only.
    let only = std::env::var("FIREBREAK_BENCH").unwrap_or_default();
    rt.block_on(async {
        if only != "backtest" {
            live(t, only == "operator").await;
        }
        if only.is_empty() || only == "backtest" {
            backtest_week().await;
        }
    });
}
