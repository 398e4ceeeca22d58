//! `firebreak replay`: a recorded scenario through the engine, in dry-run, printed
//! as a timeline with the exact requests each action would send.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::detect::file_source::FileSource;
use crate::embedded;
use crate::incident::GlobalGuardrails;
use crate::playbook::model::Playbook;
use crate::runner::{self, Discovered, DryRun, PlaybookError, QueryMode, schedule, timeline};

pub use crate::embedded::{PLAYBOOKS, SCENARIOS};
pub use crate::runner::{Entry, Format, load_playbooks};

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
    #[error(transparent)]
    Playbooks(#[from] PlaybookError),
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
    let mut quiet = crate::notify::Notifier::default();
    replay_scenario_to(name, text, playbooks, args, &mut quiet).await
}

/// [`replay_scenario`], also handing the incident notices to `notifier`'s sinks
/// (e.g. to show subscribers a scenario's Kafka events).
pub async fn replay_scenario_to(
    name: &str,
    text: &str,
    playbooks: &[Playbook],
    args: &ReplayArgs,
    notifier: &mut crate::notify::Notifier,
) -> Result<Vec<Entry>, ReplayError> {
    let source = FileSource::parse(text).map_err(|source| ReplayError::ParseScenario {
        name: name.to_owned(),
        source,
    })?;
    let (start, end) = source
        .span()
        .ok_or_else(|| ReplayError::EmptyScenario(name.to_owned()))?;
    let active: Vec<&Playbook> = playbooks
        .iter()
        .filter(|pb| {
            let ns = &pb.id.namespace;
            pb.detectors
                .iter()
                .any(|d| source.has_detector(&d.name, ns))
        })
        .collect();
    if active.is_empty() {
        return Err(ReplayError::NoPlaybook(name.to_owned()));
    }
    let global = GlobalGuardrails {
        kill_switch: args.kill_switch,
        ..Default::default()
    };
    let mut dry = DryRun::new(global);
    let mut discovered = Discovered::default();
    let mut entries = Vec::new();
    for now in schedule::times(active.iter().copied(), args.step, start, end) {
        for pb in &active {
            if !schedule::is_due(pb, args.step, start, now) {
                continue;
            }
            let results = runner::gather(&source, pb, QueryMode::Recorded, now).await;
            discovered.observe(pb, &results);
            let cycle = dry.cycle(pb, discovered.targets(pb), &results, now);
            if !notifier.is_empty() {
                let events: Vec<_> = cycle.iter().map(|e| e.event.clone()).collect();
                notifier.notify(pb, &events, |target, id| dry.record(&pb.id, target, id));
            }
            entries.extend(cycle);
        }
    }
    Ok(entries)
}
