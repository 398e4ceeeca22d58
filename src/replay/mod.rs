//! `firebreak replay`: a recorded scenario through the engine, in dry-run, printed
//! as a timeline with the exact requests each action would send.

mod embedded;
mod timeline;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::act::render::{self, RenderContext};
use crate::detect::file_source::FileSource;
use crate::detect::{DetectorQuery, MetricSource, Missing};
use crate::engine::{DetectorResult, Engine};
use crate::incident::{GlobalGuardrails, Operation, PlannedAction};
use crate::playbook::load::{load_path, parse_documents};
use crate::playbook::model::{DetectorKind, Playbook};
use crate::playbook::problem::Problem;
use crate::playbook::{TargetRef, promql};

pub use embedded::{PLAYBOOKS, SCENARIOS};
pub use timeline::{Entry, Format};

/// Arguments of `firebreak replay`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReplayArgs {
    /// Scenario files (OpenMetrics with timestamps) or names of the embedded ones
    /// (memory-leak, cache-stampede, lock-contention, traffic-surge). Default: all embedded.
    #[arg(long = "scenario", env = "FIREBREAK_SCENARIO", value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Playbook file or directory. Default: the embedded example playbooks.
    #[arg(long, env = "FIREBREAK_PLAYBOOKS")]
    pub playbooks: Option<PathBuf>,
    /// `text` for people, `json` for one JSON object per line.
    #[arg(long, value_enum, default_value_t = Format::Text, env = "FIREBREAK_OUTPUT")]
    pub output: Format,
    /// Write the timeline to this file instead of stdout.
    #[arg(long = "out", env = "FIREBREAK_OUT")]
    pub out: Option<PathBuf>,
    /// Evaluation step; default each playbook's `interval`.
    #[arg(long, env = "FIREBREAK_STEP")]
    pub step: Option<crate::duration::Duration>,
    /// Start with the kill switch on: evaluate, but hold every action.
    #[arg(long, env = "FIREBREAK_KILL_SWITCH", default_value_t = false)]
    pub kill_switch: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("invalid playbooks:\n{}", list(.0))]
    Playbooks(Vec<Problem>),
    #[error("cannot read scenario {path}: {source}")]
    ReadScenario {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario {name}: {source}")]
    ParseScenario {
        name: String,
        source: crate::detect::openmetrics::ParseError,
    },
    #[error("scenario {0} has no samples")]
    EmptyScenario(String),
    #[error("scenario {0} matches no playbook (no series for any playbook's detectors)")]
    NoPlaybook(String),
    #[error("writing the timeline: {0}")]
    Write(#[from] std::io::Error),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run the replay and write the timeline to `--out` or `stdout`.
pub fn run(args: &ReplayArgs, stdout: &mut impl Write) -> Result<(), ReplayError> {
    let playbooks = load_playbooks(args.playbooks.as_deref())?;
    let names: Vec<String> = if args.scenarios.is_empty() {
        SCENARIOS.iter().map(|(n, _)| (*n).to_owned()).collect()
    } else {
        args.scenarios.clone()
    };
    let mut file;
    let out: &mut dyn Write = match &args.out {
        Some(path) => {
            file = std::io::BufWriter::new(std::fs::File::create(path)?);
            &mut file
        }
        None => stdout,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    for name in &names {
        let (label, text) = read_scenario(name)?;
        let entries = runtime.block_on(replay_scenario(&label, &text, &playbooks, args))?;
        timeline::write(out, args.output, &label, &entries)?;
    }
    out.flush()?;
    Ok(())
}

/// The playbooks under `path`, or the embedded ones; any problem fails the whole set.
pub fn load_playbooks(path: Option<&Path>) -> Result<Vec<Playbook>, ReplayError> {
    let (playbooks, problems) = match path {
        Some(p) => {
            let report = load_path(p);
            (
                report.playbooks.into_iter().map(|(_, pb)| pb).collect(),
                report.problems,
            )
        }
        None => {
            let mut ok = Vec::new();
            let mut bad = Vec::new();
            for (file, text) in PLAYBOOKS {
                for r in parse_documents(text, Some(Path::new(file))) {
                    match r {
                        Ok(pb) => ok.push(pb),
                        Err(p) => bad.extend(p),
                    }
                }
            }
            (ok, bad)
        }
    };
    if problems.is_empty() {
        Ok(playbooks)
    } else {
        Err(ReplayError::Playbooks(problems))
    }
}

fn read_scenario(name: &str) -> Result<(String, String), ReplayError> {
    if let Some(text) = embedded::scenario(name) {
        return Ok((name.to_owned(), text.to_owned()));
    }
    let text = std::fs::read_to_string(name).map_err(|source| ReplayError::ReadScenario {
        path: name.to_owned(),
        source,
    })?;
    let label = Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned());
    Ok((label, text))
}

/// Replay one scenario through a fresh engine; returns the timeline.
pub async fn replay_scenario(
    name: &str,
    text: &str,
    playbooks: &[Playbook],
    args: &ReplayArgs,
) -> Result<Vec<Entry>, ReplayError> {
    let source = FileSource::parse(text).map_err(|source| ReplayError::ParseScenario {
        name: name.to_owned(),
        source,
    })?;
    let (start, end) = source
        .span()
        .ok_or_else(|| ReplayError::EmptyScenario(name.to_owned()))?;
    let active: Vec<(&Playbook, Vec<TargetRef>)> = playbooks
        .iter()
        .filter_map(|pb| {
            let targets = targets(pb, &source);
            (!targets.is_empty()).then_some((pb, targets))
        })
        .collect();
    if active.is_empty() {
        return Err(ReplayError::NoPlaybook(name.to_owned()));
    }
    let global = GlobalGuardrails {
        dry_run: true,
        kill_switch: args.kill_switch,
        ..Default::default()
    };
    let mut engine = Engine::new(global);
    let mut entries = Vec::new();
    for now in schedule(&active, args.step, start, end) {
        for (pb, targets) in &active {
            if !is_due(pb, args.step, start, now) {
                continue;
            }
            let results = gather(&source, pb, now).await;
            let eval = engine.evaluate(pb, targets, &results, now);
            for event in eval.events {
                let action = eval.actions.iter().find(|a| event.is_issue_of(&a.key));
                entries.push(match action {
                    Some(a) => {
                        let rps = current_rps(pb, &results, &a.target);
                        Entry::issued(event, pb, a, rendered(pb, a, rps, now))
                    }
                    None => Entry::from(event),
                });
            }
            // Dry-run: every issued action is recorded as done at once.
            for action in &eval.actions {
                let outcome = engine.record_outcome(action, Ok(()), now);
                entries.extend(outcome.into_iter().map(Entry::from));
            }
        }
    }
    Ok(entries)
}

/// A playbook's workloads in the scenario: its `names`, else every workload with data.
fn targets(pb: &Playbook, source: &FileSource) -> Vec<TargetRef> {
    let ns = &pb.id.namespace;
    if !pb
        .detectors
        .iter()
        .any(|d| source.has_detector(&d.name, ns))
    {
        return Vec::new();
    }
    let names = if pb.target.names.is_empty() {
        source.workloads(ns)
    } else {
        pb.target.names.clone()
    };
    names
        .into_iter()
        .map(|name| TargetRef {
            namespace: pb.id.namespace.clone(),
            name,
        })
        .collect()
}

fn step_of(pb: &Playbook, step: Option<crate::duration::Duration>) -> i64 {
    let ms = step.unwrap_or(pb.interval).as_std().as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX).max(1)
}

fn is_due(
    pb: &Playbook,
    step: Option<crate::duration::Duration>,
    start: Timestamp,
    now: Timestamp,
) -> bool {
    (now.as_millisecond() - start.as_millisecond()) % step_of(pb, step) == 0
}

/// Every evaluation time of any active playbook, aligned to the scenario start.
fn schedule(
    active: &[(&Playbook, Vec<TargetRef>)],
    step: Option<crate::duration::Duration>,
    start: Timestamp,
    end: Timestamp,
) -> Vec<Timestamp> {
    let mut times: Vec<i64> = active
        .iter()
        .flat_map(|(pb, _)| {
            let s = step_of(pb, step);
            (start.as_millisecond()..=end.as_millisecond())
                .step_by(usize::try_from(s).unwrap_or(usize::MAX))
        })
        .collect();
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .filter_map(|ms| Timestamp::from_millisecond(ms).ok())
        .collect()
}

/// One query per detector, all workloads at once, as the live source does.
async fn gather(source: &impl MetricSource, pb: &Playbook, now: Timestamp) -> Vec<DetectorResult> {
    let mut results = Vec::with_capacity(pb.detectors.len());
    for d in &pb.detectors {
        let q = DetectorQuery {
            playbook: pb.id.clone(),
            detector: d.name.clone(),
            promql: promql::render(d, &pb.target, &pb.id.namespace),
        };
        let result = source
            .query(&q, now)
            .await
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| (v.workload, v.value))
                    .collect::<HashMap<_, _>>()
            })
            .map_err(Missing::from);
        results.push(result);
    }
    results
}

/// The target's request rate from a `requestRate` detector, for relative rate limits.
fn current_rps(pb: &Playbook, results: &[DetectorResult], target: &TargetRef) -> Option<f64> {
    pb.detectors
        .iter()
        .zip(results)
        .find(|(d, _)| matches!(d.kind, DetectorKind::RequestRate { .. }))
        .and_then(|(_, r)| r.as_ref().ok()?.get(&target.name).copied())
}

fn rendered(
    pb: &Playbook,
    action: &PlannedAction,
    current_rps: Option<f64>,
    now: Timestamp,
) -> Result<Vec<render::Request>, String> {
    let ctx = RenderContext {
        incident_id: &action.incident.0,
        target: &action.target,
        kind: pb.target.kind,
        match_labels: &pb.target.match_labels,
        current_rps,
        current_replicas: None,
        existing_destination_rule: None,
        now,
    };
    let result = match action.operation {
        Operation::Apply => render::render_apply(&action.action.kind, &ctx),
        Operation::Revert => render::render_revert(&action.action.kind, &ctx),
    };
    result.map_err(|e| e.to_string())
}
