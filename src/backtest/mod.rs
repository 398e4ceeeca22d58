//! `firebreak backtest`: the playbooks over Prometheus history, through the same
//! engine as live, in dry-run. Reports the incidents that would have opened, their
//! severities, actions, detection delay and lead time, as text, JSON and an HTML/SVG plot.

pub mod fetch;
mod panels;
pub mod report;
pub mod summary;
mod text;
mod timespec;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

pub use summary::{IncidentSummary, Summary};
pub use timespec::TimeSpec;

use crate::detect::prometheus::{ConfigError, PrometheusArgs, PrometheusSource};
use crate::incident::GlobalGuardrails;
use crate::playbook::model::Playbook;
use crate::runner::{self, Discovered, DryRun, Entry, PlaybookError, QueryMode, schedule};
use fetch::Chunk;

/// Steps per range query. Prometheus refuses more than 11,000 points per series,
/// but the real limit is time: a detector query with a workload join costs about
/// 0.5 ms per step per 100 workloads on Prometheus 2.42, so 2,000 steps stay well
/// inside a 10 s query timeout while 4 detectors run at once.
pub const DEFAULT_MAX_POINTS: usize = 2_000;

/// Arguments of `firebreak backtest`.
#[derive(clap::Args, Debug, Clone)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Playbook file or directory. Default: the embedded example playbooks.
    #[arg(long, env = "FIREBREAK_PLAYBOOKS")]
    pub playbooks: Option<PathBuf>,
    /// Start: RFC 3339 (`2026-03-01T00:00:00Z`), Unix seconds, `now` or `now-7d`.
    #[arg(long, env = "FIREBREAK_FROM")]
    pub from: TimeSpec,
    /// End, same forms as `--from`.
    #[arg(long, env = "FIREBREAK_TO", default_value = "now")]
    pub to: TimeSpec,
    /// Evaluation step; default each playbook's `interval`.
    #[arg(long, env = "FIREBREAK_STEP")]
    pub step: Option<crate::duration::Duration>,
    /// What detectors query: their own PromQL, or recorded `firebreak_signal` series.
    #[arg(long, value_enum, default_value_t = QueryMode::Detector, env = "FIREBREAK_QUERY_MODE")]
    pub query_mode: QueryMode,
    /// `text` summary for people, `json` for machines.
    #[arg(long, value_enum, default_value_t = runner::Format::Text, env = "FIREBREAK_OUTPUT")]
    pub output: runner::Format,
    /// Also print the full timeline (replay's format) before the summary.
    #[arg(long, env = "FIREBREAK_TIMELINE", default_value_t = false)]
    pub timeline: bool,
    /// Write a self-contained report: `.svg` for one SVG, anything else for HTML.
    #[arg(long, env = "FIREBREAK_REPORT")]
    pub report: Option<PathBuf>,
    /// Points per series per range query (chunk size).
    #[arg(long, env = "FIREBREAK_MAX_POINTS", default_value_t = DEFAULT_MAX_POINTS)]
    pub max_points: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error(transparent)]
    Playbooks(#[from] PlaybookError),
    #[error("prometheus: {0}")]
    Prometheus(#[from] ConfigError),
    #[error("--from {from} is not before --to {to}")]
    EmptyRange { from: Timestamp, to: Timestamp },
    #[error("writing the report {}: {source}", .path.display())]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
}

/// Options of one backtest run, resolved from the arguments.
#[derive(Clone, Debug)]
pub struct Options {
    pub from: Timestamp,
    pub to: Timestamp,
    pub step: Option<crate::duration::Duration>,
    pub mode: QueryMode,
    pub max_points: usize,
    /// Keep every detector series for the report.
    pub keep_series: bool,
}

/// What a backtest produced.
#[derive(Debug)]
pub struct Backtest {
    pub entries: Vec<Entry>,
    pub summary: Summary,
    /// Detector values per (playbook index, detector index, workload), on each playbook's grid.
    pub series: HashMap<(usize, usize, String), Vec<f32>>,
}

/// Replay `playbooks` over `[from, to]` with history from `source`.
pub async fn backtest(
    source: &PrometheusSource,
    playbooks: &[Playbook],
    opts: &Options,
    progress: &ProgressBar,
) -> Backtest {
    let (from, to) = (opts.from, opts.to);
    let plans: Vec<Vec<(i64, usize)>> = playbooks
        .iter()
        .map(|pb| fetch::plan(from, to, schedule::step_ms(pb, opts.step), opts.max_points))
        .collect();
    progress.set_length(plans.iter().map(|p| p.len() as u64).sum());
    let mut next_chunk = vec![0usize; playbooks.len()];
    // Evaluations done per playbook: the index of the current step on its grid.
    let mut evals = vec![0usize; playbooks.len()];
    let mut chunks: Vec<Option<Chunk>> = playbooks.iter().map(|_| None).collect();
    let mut prefetched: Vec<Option<tokio::task::JoinHandle<Chunk>>> =
        playbooks.iter().map(|_| None).collect();
    let mut dry = DryRun::new(GlobalGuardrails::default());
    let mut discovered = Discovered::default();
    let mut tally = summary::Tally::default();
    let mut entries = Vec::new();
    let mut series: HashMap<(usize, usize, String), Vec<f32>> = HashMap::new();
    for now in schedule::times(playbooks, opts.step, from, to) {
        let at_ms = now.as_millisecond();
        for (i, pb) in playbooks.iter().enumerate() {
            if !schedule::is_due(pb, opts.step, from, now) {
                continue;
            }
            if !chunks[i].as_ref().is_some_and(|c| c.covers(at_ms)) {
                let Some(plan) = plans[i].get(next_chunk[i]).copied() else {
                    continue;
                };
                next_chunk[i] += 1;
                progress.set_message(pb.id.to_string());
                let step_ms = schedule::step_ms(pb, opts.step);
                let chunk = match prefetched[i].take() {
                    // Only a panic in the fetch fails the task.
                    Some(task) => task
                        .await
                        .unwrap_or_else(|e| fetch::failed(pb, plan, step_ms, &e.to_string())),
                    None => fetch::fetch(source, pb, opts.mode, plan, step_ms).await,
                };
                // The next chunk is fetched (and decoded) while this one is evaluated.
                if let Some(&next) = plans[i].get(next_chunk[i]) {
                    let (source, pb, mode) = (source.clone(), pb.clone(), opts.mode);
                    prefetched[i] = Some(tokio::spawn(async move {
                        fetch::fetch(&source, &pb, mode, next, step_ms).await
                    }));
                }
                chunks[i] = Some(chunk);
                progress.inc(1);
            }
            let Some(chunk) = chunks[i].as_ref() else {
                continue;
            };
            let results = chunk.results_at(at_ms);
            discovered.observe(pb, &results);
            let targets = discovered.targets(pb);
            if opts.keep_series {
                keep(&mut series, (i, evals[i]), targets, &results);
            }
            evals[i] += 1;
            tally.observe(pb, targets, &results, now);
            let out = dry.cycle(pb, targets, &results, now);
            tally.record(&out);
            entries.extend(out);
        }
    }
    prefetched.into_iter().flatten().for_each(|t| t.abort());
    progress.finish_and_clear();
    Backtest {
        entries,
        summary: tally.finish(from, to, playbooks.len()),
        series,
    }
}

/// Append this step's values (NaN: none) to every (detector, target) series; a
/// target seen late gets NaN for the steps before, so index = step on the grid.
fn keep(
    series: &mut HashMap<(usize, usize, String), Vec<f32>>,
    (pb, step): (usize, usize),
    targets: &[crate::playbook::TargetRef],
    results: &[crate::engine::DetectorResult],
) {
    for (d, r) in results.iter().enumerate() {
        for t in targets {
            let v = r
                .as_ref()
                .ok()
                .and_then(|m| m.get(&t.name))
                .map_or(f32::NAN, |v| *v as f32);
            series
                .entry((pb, d, t.name.clone()))
                .or_insert_with(|| vec![f32::NAN; step])
                .push(v);
        }
    }
}

/// Run `firebreak backtest` and write its output to `out`.
pub async fn run(args: &BacktestArgs, out: &mut dyn Write) -> Result<(), BacktestError> {
    let now = Timestamp::now();
    let (from, to) = (args.from.resolve(now), args.to.resolve(now));
    if from >= to {
        return Err(BacktestError::EmptyRange { from, to });
    }
    let playbooks = runner::load_playbooks(args.playbooks.as_deref())?;
    let source = PrometheusSource::new(&args.prometheus)?;
    let opts = Options {
        from,
        to,
        step: args.step,
        mode: args.query_mode,
        max_points: args.max_points,
        keep_series: args.report.is_some(),
    };
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} chunks {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = backtest(&source, &playbooks, &opts, &progress).await;
    if let Some(path) = &args.report {
        let report = panels::build(&result, &playbooks, &opts);
        let is_svg = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        let text = if is_svg {
            report::render_svg(&report)
        } else {
            report::render_html(&report)
        };
        std::fs::write(path, text).map_err(|source| BacktestError::Report {
            path: path.clone(),
            source,
        })?;
        tracing::info!(path = %path.display(), panels = report.panels.len(), "report written");
    }
    if args.timeline {
        runner::timeline::write_stream(out, args.output, &result.entries)?;
    }
    match args.output {
        runner::Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &result.summary)
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        runner::Format::Text => text::write_text(out, &result.summary)?,
    }
    out.flush()?;
    Ok(())
}
