//! The Playbook controller: validate each Playbook, keep the [`Catalog`] the
//! evaluator reads in step with the cluster, and report the verdict in the
//! Playbook's status.
//!
//! Reconcile is a short pipeline: validate (pure) → with `--recording-rules`,
//! apply the playbook's `PrometheusRule` ([`rules`]) → update the catalog →
//! patch the status fields the controller owns ([`super::status`]) when they
//! changed → on a newly invalid spec, a Warning Event. An invalid playbook is
//! a verdict, not an error: it waits for the next change of the object.
//! Errors are API failures, retried per object with exponential backoff.

mod backoff;
mod rules;
mod run;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use serde_json::Value;

use super::catalog::{Catalog, Entry};
use super::lease::Clock;
use super::status;
use crate::playbook::problem::Problem;
use crate::playbook::spec::Playbook;
use crate::playbook::{PlaybookId, validate::validate};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::{ReconcileErrorLabels, ReconcileLabels};

pub use backoff::Backoff;
pub use run::{WatchScope, prune, run};

/// A valid playbook is reconciled again this often even without changes, so
/// a missed watch event or a lost status write heals itself.
pub const REFRESH: Duration = Duration::from_secs(300);
/// `fieldManager` of the controller's status writes (`managedFields`).
pub const FIELD_MANAGER: &str = "firebreak-controller";
/// Reason of the Warning Event on an invalid playbook.
pub const INVALID_PLAYBOOK: &str = "InvalidPlaybook";
/// The Events API rejects a note over 1 KiB.
pub const MAX_NOTE_BYTES: usize = 1024;

/// What failed while reconciling one playbook.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("playbook {playbook}: writing status: {source}")]
    PatchStatus {
        playbook: String,
        source: kube::Error,
    },
    #[error("playbook {playbook}: publishing event: {source}")]
    PublishEvent {
        playbook: String,
        source: kube::Error,
    },
    #[error("playbook {playbook}: applying its PrometheusRule: {source}")]
    ApplyRules {
        playbook: String,
        source: kube::Error,
    },
    #[error("playbook without a name or namespace")]
    MissingMetadata,
}

impl Error {
    /// Short label for failure metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::PatchStatus { .. } => "patch_status",
            Error::PublishEvent { .. } => "publish_event",
            Error::ApplyRules { .. } => "apply_rules",
            Error::MissingMetadata => "missing_metadata",
        }
    }

    /// Worth retrying soon: the API server is busy, unreachable or slow, or
    /// another writer raced us (409). Others (403, 422, …) need a person.
    pub fn is_transient(&self) -> bool {
        let source = match self {
            Error::PatchStatus { source, .. }
            | Error::PublishEvent { source, .. }
            | Error::ApplyRules { source, .. } => source,
            Error::MissingMetadata => return false,
        };
        match source {
            kube::Error::Api(status) => {
                matches!(status.code, 408 | 409 | 429) || status.code >= 500
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => true,
            _ => false,
        }
    }
}

/// What reconcile needs, shared by every reconcile.
pub struct Context {
    client: Client,
    catalog: Catalog,
    recorder: Recorder,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    backoff: Backoff,
    /// Labels of the `PrometheusRule` kept per valid playbook; `None`: no rules.
    recording_rules: Option<BTreeMap<String, String>>,
}

impl Context {
    /// `reporter` names us on Events (controller name and pod name).
    pub fn new(
        client: Client,
        catalog: Catalog,
        reporter: Reporter,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            catalog,
            clock,
            metrics,
            backoff: Backoff::default(),
            recording_rules: None,
        }
    }

    /// Keep a `PrometheusRule` with these labels for every valid playbook.
    pub fn with_recording_rules(mut self, labels: BTreeMap<String, String>) -> Self {
        self.recording_rules = Some(labels);
        self
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn record_error(&self, error: &Error) {
        let labels = ReconcileErrorLabels {
            error: error.metric_label().to_owned(),
        };
        self.metrics.reconcile_errors.get_or_create(&labels).inc();
    }

    fn record_result(&self, result: &str) {
        let labels = ReconcileLabels {
            result: result.to_owned(),
        };
        self.metrics.reconciles.get_or_create(&labels).inc();
    }
}

/// Validate one playbook and bring the catalog and its status in line.
#[tracing::instrument(skip_all, fields(playbook = %key(&pb)))]
pub async fn reconcile(pb: Arc<Playbook>, ctx: Arc<Context>) -> Result<Action, Error> {
    match apply(&pb, &ctx).await {
        Ok((outcome, action)) => {
            ctx.backoff.reset(&key(&pb));
            ctx.record_result(outcome);
            Ok(action)
        }
        Err(e) => {
            ctx.record_result("error");
            Err(e)
        }
    }
}

/// The pipeline; returns the outcome label and what to do next.
async fn apply(pb: &Playbook, ctx: &Context) -> Result<(&'static str, Action), Error> {
    let (Some(namespace), Some(name)) = (pb.namespace(), pb.metadata.name.clone()) else {
        return Err(Error::MissingMetadata);
    };
    let id = PlaybookId { namespace, name };
    match validate(pb) {
        Ok(model) => {
            // Before the catalog: a playbook read through recorded series needs them first.
            if let Some(labels) = &ctx.recording_rules {
                rules::apply(&ctx.client, &model, &pb.uid().unwrap_or_default(), labels)
                    .await
                    .map_err(|source| Error::ApplyRules {
                        playbook: id.to_string(),
                        source,
                    })?;
            }
            ctx.catalog.upsert(Entry {
                playbook: Arc::new(model),
                uid: pb.uid().unwrap_or_default(),
                generation: pb.metadata.generation,
                paused: status::is_paused(pb),
            });
            write_status(pb, &id, &[], ctx).await?;
            Ok(("valid", Action::requeue(REFRESH)))
        }
        Err(problems) => {
            ctx.catalog.remove(&id);
            if write_status(pb, &id, &problems, ctx).await? {
                tracing::info!(problems = problems.len(), "playbook invalid");
                warn_invalid(pb, &id, &problems, ctx).await;
            }
            // Nothing to retry: the spec has to change first.
            Ok(("invalid", Action::await_change()))
        }
    }
}

/// Retry a failed reconcile after a delay that doubles per consecutive
/// failure of the object (never at once: that would hammer a failing API).
pub fn error_policy(pb: Arc<Playbook>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.record_error(error);
    let key = key(&pb);
    let delay = ctx.backoff.next_delay(&key, error.is_transient());
    tracing::warn!(
        playbook = %key,
        error = %error,
        transient = error.is_transient(),
        retry_in_secs = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// `namespace/name`, as [`PlaybookId`] displays: the backoff and log key.
fn key(pb: &Playbook) -> String {
    format!("{}/{}", pb.namespace().unwrap_or_default(), pb.name_any())
}

/// Patch the owned status fields if they changed; `Ok(true)` when written.
async fn write_status(
    pb: &Playbook,
    id: &PlaybookId,
    problems: &[Problem],
    ctx: &Context,
) -> Result<bool, Error> {
    let Some(patch) = status::patch(pb, problems, ctx.clock.now()) else {
        return Ok(false);
    };
    patch_status(ctx, id, &patch)
        .await
        .map_err(|source| Error::PatchStatus {
            playbook: id.to_string(),
            source,
        })?;
    Ok(true)
}

async fn patch_status(ctx: &Context, id: &PlaybookId, patch: &Value) -> Result<(), kube::Error> {
    let api: Api<Playbook> = Api::namespaced(ctx.client.clone(), &id.namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch_status(&id.name, &params, &Patch::Merge(patch))
        .await
        .map(drop)
}

/// A Warning Event on the playbook, so `kubectl describe` and event-based
/// alerting see the rejection. Best effort: the status already says it.
async fn warn_invalid(pb: &Playbook, id: &PlaybookId, problems: &[Problem], ctx: &Context) {
    let message = status::problems_message(problems);
    let event = Event {
        type_: EventType::Warning,
        reason: INVALID_PLAYBOOK.to_owned(),
        note: Some(status::truncate(&message, MAX_NOTE_BYTES).to_owned()),
        action: "Validate".to_owned(),
        secondary: None,
    };
    if let Err(source) = ctx.recorder.publish(&event, &pb.object_ref(&())).await {
        let error = Error::PublishEvent {
            playbook: id.to_string(),
            source,
        };
        ctx.record_error(&error);
        tracing::warn!(error = %error, "could not publish the InvalidPlaybook event");
    }
}

#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod watch_tests;
