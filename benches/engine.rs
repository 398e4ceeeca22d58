//! Engine cycle at scale: 10,000 targets x 4 detectors from in-memory readings.
//!
//! `cargo bench --bench engine` prints time per cycle and peak memory. Budget
//! (issue 2): under 50 ms per cycle and under 64 MiB. The baseline measured in the
//! same run is the cost of merely building the readings the engine consumes, so
//! the ratio stays meaningful on a slower or busier machine.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use firebreak::engine::{DetectorResult, Engine};
use firebreak::incident::GlobalGuardrails;
use firebreak::playbook::TargetRef;
use firebreak::playbook::load::parse_documents;

const TARGETS: usize = 10_000;
const CYCLES: usize = 60;

const PLAYBOOK: &str = r#"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: bench, namespace: bench}
spec:
  target: {selector: {matchLabels: {tier: web}}}
  detectors:
    - {name: cpu, cpuSaturation: {}, thresholds: {medium: 0.8, high: 0.9, critical: 0.97}, for: 30s, hysteresis: 0.05}
    - {name: mem, memoryPressure: {}, thresholds: {medium: 0.8, high: 0.9, critical: 0.95}, for: 1m, hysteresis: 0.02}
    - {name: p99, latency: {}, thresholds: {low: 0.3, high: 0.8, critical: 2}, for: 30s}
    - {name: errors, errorRate: {}, thresholds: {high: 0.05, critical: 0.2}}
  actions:
    low: [{notify: {}}]
    high: [{diagnostics: {}}, {rateLimit: {requestsPerSecond: 100}}]
    critical: [{circuitBreaker: {}}]
"#;

/// Deterministic values: most workloads healthy, a rotating 2% firing.
fn readings(cycle: usize, names: &[String]) -> Vec<DetectorResult> {
    (0..4)
        .map(|d| {
            let values: HashMap<String, f64> = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let hot = (i + cycle * 37 + d).is_multiple_of(50);
                    (
                        n.clone(),
                        if hot {
                            0.99
                        } else {
                            0.1 + (i % 7) as f64 * 0.01
                        },
                    )
                })
                .collect();
            Ok(values)
        })
        .collect()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo test --all-targets` also runs bench binaries, without `--bench`:
    // measure only under `cargo bench` (debug builds and a 5-minute setup).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pb = match parse_documents(PLAYBOOK, None).pop() {
        Some(Ok(pb)) => pb,
        other => panic!("bench playbook invalid: {other:?}"),
    };
    let names: Vec<String> = (0..TARGETS).map(|i| format!("w-{i}")).collect();
    let targets: Vec<TargetRef> = names
        .iter()
        .map(|n| TargetRef {
            namespace: "bench".into(),
            name: n.clone(),
        })
        .collect();
    let mut engine = Engine::new(GlobalGuardrails {
        dry_run: true,
        ..Default::default()
    });
    let start = jiff::Timestamp::from_second(1_767_225_600).expect("valid time");

    let rss_before = peak_rss_kib();
    let mut build = Vec::with_capacity(CYCLES);
    let mut eval = Vec::with_capacity(CYCLES);
    let (mut events, mut actions) = (0usize, 0usize);
    for cycle in 0..CYCLES {
        let now = start + jiff::SignedDuration::from_secs(15 * cycle as i64);
        let t0 = Instant::now();
        let results = readings(cycle, &names);
        let t1 = Instant::now();
        let out = engine.evaluate(&pb, &targets, &results, now);
        for a in &out.actions {
            engine.record_outcome(a, Ok(()), now);
        }
        let t2 = Instant::now();
        events += out.events.len();
        actions += out.actions.len();
        build.push(t1 - t0);
        eval.push(t2 - t1);
    }
    build.sort();
    eval.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = percentile(&eval, 0.5);
    let p99 = percentile(&eval, 0.99);
    let base = percentile(&build, 0.5);
    println!("engine cycle, {TARGETS} targets x 4 detectors, {CYCLES} cycles");
    println!(
        "  evaluate      p50 {:7.2} ms   p99 {:7.2} ms   max {:7.2} ms",
        ms(p50),
        ms(p99),
        ms(eval[eval.len() - 1])
    );
    println!("  baseline (building the readings) p50 {:7.2} ms", ms(base));
    println!(
        "  ratio evaluate/baseline          {:7.2}",
        p50.as_secs_f64() / base.as_secs_f64()
    );
    println!("  events {events}, actions {actions}");
    match peak_rss_kib() {
        Some(kib) => println!(
            "  peak RSS {:.1} MiB (process before the first cycle: {:.1} MiB)",
            kib as f64 / 1024.0,
            rss_before.unwrap_or(0) as f64 / 1024.0
        ),
        None => println!("  peak RSS unavailable (no /proc)"),
    }
    let ok = ms(p99) < 50.0 && peak_rss_kib().is_none_or(|k| k < 64 * 1024);
    println!(
        "  budget (p99 < 50 ms, RSS < 64 MiB): {}",
        if ok { "met" } else { "NOT met" }
    );
}
