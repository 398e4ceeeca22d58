//! `firebreak run`: the operator. A Playbook controller validates playbooks into
//! the catalog and writes their conditions; the Lease holder's evaluator runs the
//! engine against live Prometheus and writes Incidents, Events and status; the
//! admin server exposes metrics, health and readiness. Only this module wires them.

pub mod args;
pub mod catalog;
pub mod controller;
pub mod evaluator;
pub mod events;
pub mod incidents;
pub mod lease;
pub mod status;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
pub(crate) mod testing_writers;
mod workload_index;
pub mod workloads;

use std::sync::Arc;

use kube::Client;
use tokio::sync::watch;

use crate::detect::prometheus::{ConfigError, PrometheusSource};
use crate::incident::GlobalGuardrails;
use crate::standalone::RunArgs;
use crate::telemetry::{Metrics, admin};
use catalog::Catalog;
use lease::{LeaderElector, LeaseConfig, SystemClock};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("connecting to Kubernetes (without a cluster, use `run --standalone`)")]
    Kube(#[from] kube::Error),
    #[error("prometheus: {0}")]
    Prometheus(#[from] ConfigError),
    #[error("leader election: {0}")]
    Lease(#[from] lease::LeaseError),
    #[error("admin server on {addr}: {source}")]
    Admin {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Notify(#[from] crate::notify::args::NotifyError),
}

/// Kubernetes' default termination grace period is 30 s; leave room for the exit.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);
const CONTROLLER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Run the operator until SIGTERM or Ctrl-C, then release the Lease and stop.
pub async fn run(args: &RunArgs) -> Result<(), OperatorError> {
    let (client, watch_client) = clients().await?;
    let source = PrometheusSource::new(&args.prometheus)?;
    let identity = args::OperatorArgs::identity();
    let publisher = events::IncidentEvents::new(client.clone(), identity.clone());
    let mut metrics = Metrics::default();
    metrics.register(
        "event_failures",
        "Kubernetes Events that could not be published, by kind",
        publisher.failures().clone(),
    );
    let metrics = Arc::new(metrics);
    let ready = admin::Readiness::default();
    let addr = args.admin_addr.unwrap_or(args::DEFAULT_ADMIN_ADDR);
    admin::serve(addr, metrics.clone(), ready.clone())
        .await
        .map_err(|source| OperatorError::Admin { addr, source })?;
    let op = &args.operator;
    tracing::info!(
        identity,
        prometheus = source.url(),
        namespaces = ?op.watch_namespaces,
        leader_election = op.leader_election,
        dry_run = op.dry_run,
        diagnostics_exec = op.diagnostics_exec,
        query_mode = ?args.query_mode,
        "operator starting"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let (leader, lease_task) = if op.leader_election {
        let config = LeaseConfig::new(&op.lease_name, op.lease_namespace(), &identity);
        let (rx, task) = LeaderElector::new(client.clone(), config)?
            .spawn(SystemClock, stopped(stop_rx.clone()));
        (rx, Some(task))
    } else {
        (watch::channel(true).1, None)
    };
    let catalog = Catalog::default();
    // Every replica keeps the catalog warm, so a new leader evaluates at once;
    // status writes are idempotent, so standbys writing the same status is harmless.
    let mut ctx = controller::Context::new(
        watch_client.clone(),
        catalog.clone(),
        kube::runtime::events::Reporter {
            controller: "firebreak".into(),
            instance: Some(identity.clone()),
        },
        Arc::new(SystemClock),
        metrics.clone(),
    );
    if op.recording_rules {
        ctx = ctx.with_recording_rules(op.recording_rule_labels.iter().cloned().collect());
    }
    let ctx = Arc::new(ctx);
    let scope = if op.watch_namespaces.is_empty() {
        controller::WatchScope::Cluster
    } else {
        controller::WatchScope::Namespaces(op.watch_namespaces.clone())
    };
    let controller = tokio::spawn(controller::run(ctx, scope, stopped(stop_rx.clone())));
    let global = GlobalGuardrails {
        kill_switch: args.kill_switch,
        dry_run: op.dry_run,
        allowed_actions: (!op.actions.is_empty()).then(|| op.actions.iter().cloned().collect()),
        ..Default::default()
    };
    let workloads = workloads::Workloads::watch(&watch_client, &op.watch_namespaces).await;
    let notifier = args
        .notify
        .notifier(&crate::notify::args::SinkContext {
            metrics: metrics.clone(),
            client: Some(client.clone()),
        })
        .await?;
    let evaluator = evaluator::Evaluator::new(
        client,
        source,
        catalog,
        metrics,
        global,
        publisher,
        evaluator::Watched {
            workloads,
            namespaces: op.watch_namespaces.clone(),
        },
    )
    .with_notifier(notifier)
    .with_query_mode(args.query_mode)
    .with_diagnostics_exec(op.diagnostics_exec)
    .with_stream_client(watch_client);
    let evaluating = tokio::spawn(evaluator.run(leader, stop_rx));
    // Ready once the process serves and watches: standbys must pass readiness too,
    // or rolling updates would stall behind the leader.
    ready.set(true);
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    // The evaluator finishes its cycle, then the Lease is released so a standby
    // takes over at once. The controller only rewrites idempotent status: it gets a
    // moment for in-flight reconciles, then stops (a watch stuck retrying an
    // unreachable API server would otherwise hold the pod until SIGKILL).
    let stopping = async {
        let _ = evaluating.await;
        tracing::debug!("evaluator stopped");
        if let Some(task) = lease_task {
            let _ = task.await;
            tracing::debug!("lease task stopped");
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, stopping)
        .await
        .is_err()
    {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "shutdown did not finish in time; exiting");
    }
    let mut controller = controller;
    if tokio::time::timeout(CONTROLLER_GRACE, &mut controller)
        .await
        .is_err()
    {
        controller.abort();
    }
    Ok(())
}

/// The API server's longest answer to a request other than a watch (its own
/// `--request-timeout` defaults to 1 m): a write that hangs past this is a
/// transient failure, retried with backoff, and never holds the cycle.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A client whose requests time out after [`REQUEST_TIMEOUT`] (every write, the
/// Lease, the evaluator's reads), and one without, for the long-lived watches.
async fn clients() -> Result<(Client, Client), kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    let watch = Client::try_from(config.clone())?;
    let mut bounded = config;
    bounded.read_timeout = Some(REQUEST_TIMEOUT);
    Ok((Client::try_from(bounded)?, watch))
}

/// Resolves once shutdown has been signalled on `rx`.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
