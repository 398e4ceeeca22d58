//! `firebreak run --standalone`: shadow mode from a laptop. The engine runs live
//! against a real Prometheus with playbooks from files; actions are dry-run and the
//! timeline is printed as it happens, before anyone installs the operator.

mod live;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::time::Instant;

pub use live::Live;

use crate::detect::MetricSource;
use crate::detect::prometheus::{ConfigError, PrometheusArgs, PrometheusSource};
use crate::incident::GlobalGuardrails;
use crate::runner::{self, Format, PlaybookError, QueryMode, timeline};
use crate::telemetry::{Metrics, admin};

/// Arguments of `firebreak run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Run without a cluster: playbooks from files, every action dry-run, timeline on stdout.
    #[arg(long, env = "FIREBREAK_STANDALONE", default_value_t = false)]
    pub standalone: bool,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Playbook file or directory. Default: the embedded example playbooks.
    #[arg(long, env = "FIREBREAK_PLAYBOOKS")]
    pub playbooks: Option<PathBuf>,
    /// `text` for people, `json` for one JSON object per line.
    #[arg(long, value_enum, default_value_t = Format::Text, env = "FIREBREAK_OUTPUT")]
    pub output: Format,
    /// What detectors query: their own PromQL, or recorded `firebreak_signal` series.
    #[arg(long, value_enum, default_value_t = QueryMode::Detector, env = "FIREBREAK_QUERY_MODE")]
    pub query_mode: QueryMode,
    /// Hold every action (evaluation continues).
    #[arg(long, env = "FIREBREAK_KILL_SWITCH", default_value_t = false)]
    pub kill_switch: bool,
    /// Serve /metrics, /healthz and /readyz here (operator default 0.0.0.0:8080; standalone: off).
    #[arg(long, env = "FIREBREAK_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// Stop after this many cycles in total (default: until interrupted).
    #[arg(long, env = "FIREBREAK_MAX_CYCLES")]
    pub max_cycles: Option<u64>,
    #[command(flatten)]
    pub operator: crate::operator::args::OperatorArgs,
    #[command(flatten)]
    pub notify: crate::notify::args::NotifyArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Operator(crate::operator::OperatorError),
    #[error(transparent)]
    Playbooks(#[from] PlaybookError),
    #[error("no playbooks to run")]
    NoPlaybooks,
    #[error("prometheus: {0}")]
    Prometheus(#[from] ConfigError),
    #[error("admin server on {addr}: {source}")]
    Admin {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Notify(#[from] crate::notify::args::NotifyError),
    #[error("writing the timeline: {0}")]
    Write(#[from] std::io::Error),
}

/// Run until Ctrl-C (or `--max-cycles`), printing the timeline to `out`.
pub async fn run(args: &RunArgs, out: &mut (dyn Write + Send)) -> Result<(), RunError> {
    if !args.standalone {
        return crate::operator::run(args).await.map_err(RunError::Operator);
    }
    let playbooks = runner::load_playbooks(args.playbooks.as_deref())?;
    if playbooks.is_empty() {
        return Err(RunError::NoPlaybooks);
    }
    let source = PrometheusSource::new(&args.prometheus)?;
    tracing::info!(
        prometheus = source.url(),
        playbooks = playbooks.len(),
        "standalone run (dry-run)"
    );
    let metrics = Arc::new(Metrics::default());
    let global = GlobalGuardrails {
        kill_switch: args.kill_switch,
        ..Default::default()
    };
    let notifier = args
        .notify
        .notifier(&crate::notify::args::SinkContext {
            metrics: metrics.clone(),
            client: None,
        })
        .await?;
    let mut live = Live::new(source, playbooks, global, args.query_mode, metrics.clone())
        .with_notifier(notifier);
    if let Some(addr) = args.admin_addr {
        admin::serve(addr, metrics, live.readiness())
            .await
            .map_err(|source| RunError::Admin { addr, source })?;
    }
    let shutdown = async {
        // If the handler cannot be installed, run until --max-cycles instead.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    run_loop(&mut live, args.max_cycles, shutdown, |entries| {
        timeline::write_stream(out, args.output, entries)
    })
    .await
}

/// Evaluate each playbook every `interval` until `shutdown` or `max_cycles`.
pub async fn run_loop<S: MetricSource>(
    live: &mut Live<S>,
    max_cycles: Option<u64>,
    shutdown: impl std::future::Future<Output = ()>,
    mut sink: impl FnMut(&[runner::Entry]) -> std::io::Result<()>,
) -> Result<(), RunError> {
    let start = Instant::now();
    let mut next: Vec<Instant> = vec![start; live.playbooks().len()];
    let mut done = 0u64;
    tokio::pin!(shutdown);
    while max_cycles.is_none_or(|m| done < m) {
        let Some((i, due)) = next.iter().copied().enumerate().min_by_key(|(_, t)| *t) else {
            break;
        };
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = &mut shutdown => break,
        }
        let entries = live.cycle(i, jiff::Timestamp::now()).await;
        sink(&entries)?;
        done += 1;
        let interval = live.playbooks()[i].interval.as_std();
        // A slow cycle skips the missed ticks instead of bursting to catch up.
        next[i] = (due + interval).max(Instant::now());
    }
    Ok(())
}
