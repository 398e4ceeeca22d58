//! The Slack [`Sink`]: `publish` only enqueues (bounded; a full queue drops
//! and counts), a spawned task delivers. Threads are remembered in memory and,
//! in operator mode, in each Incident's `status.slack`; a standalone restart
//! therefore starts new threads for incidents it opens again.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Url;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::warn;

use super::client::{SlackApi, Webhook};
use super::retry::RetryPolicy;
use super::root::Tally;
use super::status::StatusWriter;
use super::thread::{Queued, Restored};
use super::threads::Threads;
use super::view::{Links, PlaybookView};
use super::webhook::Hook;
use super::worker::{self, Control, Deliverer, Meter};
use super::{Secret, SlackConfigError};
use crate::incident::resource::{Incident as IncidentResource, IncidentStatus, StepPhase};
use crate::notify::{Notice, Sink};
use crate::playbook::model::Playbook;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::DropLabels;

/// How the Slack sink behaves, whichever the mode.
#[derive(Clone, Debug)]
pub struct SlackSettings {
    /// Web API root, `https://slack.com/api`.
    pub api_url: Url,
    pub links: Links,
    /// Channel for incidents whose playbook routes none of their severities
    /// (Web API mode); `None`: such incidents are not posted.
    pub default_channel: Option<String>,
    /// Per request.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Notices waiting for the delivery task; beyond it they are dropped (and counted).
    pub queue: usize,
    /// How long `flush` waits at shutdown.
    pub flush_deadline: Duration,
}

impl SlackSettings {
    pub fn new(api_url: Url) -> Self {
        SlackSettings {
            api_url,
            links: Links::default(),
            default_channel: None,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            queue: 1024,
            flush_deadline: Duration::from_secs(5),
        }
    }
}

/// Incident notices to Slack.
pub struct SlackSink {
    notices: mpsc::Sender<Queued>,
    control: mpsc::UnboundedSender<Control>,
    meter: Meter,
    flush_deadline: Duration,
}

impl SlackSink {
    /// Web API mode (bot token): one thread per incident. `client`: the operator's,
    /// to record threads in Incident status; `None` in standalone mode.
    pub fn web_api(
        settings: &SlackSettings,
        token: &Secret,
        metrics: Arc<Metrics>,
        client: Option<kube::Client>,
    ) -> Result<Self, SlackConfigError> {
        let api = SlackApi::new(
            &settings.api_url,
            token,
            settings.timeout,
            settings.retry,
            metrics.clone(),
        )
        .map_err(SlackConfigError::Client)?;
        let meter = Meter::new(metrics);
        let threads = Threads::new(
            api,
            settings.links.clone(),
            settings.default_channel.clone(),
            meter.clone(),
            StatusWriter::new(client),
        );
        Self::start(settings, meter, threads)
    }

    /// Incoming-webhook mode: one message per notice, no threads, no updates.
    pub fn webhook(
        settings: &SlackSettings,
        url: &Secret,
        metrics: Arc<Metrics>,
        client: Option<kube::Client>,
    ) -> Result<Self, SlackConfigError> {
        // The URL is the credential: the error does not repeat it.
        let url = Url::parse(url.expose()).map_err(|_| SlackConfigError::Invalid {
            flag: "slack-webhook-url-file",
            reason: "not a URL".into(),
        })?;
        let hook = Webhook::new(url, settings.timeout, settings.retry, metrics.clone())
            .map_err(SlackConfigError::Client)?;
        let meter = Meter::new(metrics);
        let hook = Hook::new(
            hook,
            settings.links.clone(),
            meter.clone(),
            StatusWriter::new(client),
        );
        Self::start(settings, meter, hook)
    }

    fn start(
        settings: &SlackSettings,
        meter: Meter,
        deliverer: impl Deliverer,
    ) -> Result<Self, SlackConfigError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| SlackConfigError::NoRuntime)?;
        let (notices, rx) = mpsc::channel(settings.queue.max(1));
        let (control, control_rx) = mpsc::unbounded_channel();
        runtime.spawn(worker::run(deliverer, rx, control_rx));
        Ok(SlackSink {
            notices,
            control,
            meter,
            flush_deadline: settings.flush_deadline,
        })
    }
}

impl Sink for SlackSink {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn publish(&mut self, pb: &Playbook, notices: &[Notice]) {
        let view = Arc::new(PlaybookView::of(pb));
        for n in notices {
            let queued = Queued {
                view: view.clone(),
                notice: n.clone(),
                enqueued: Instant::now(),
            };
            match self.notices.try_send(queued) {
                Ok(()) => self.meter.enqueued(),
                Err(TrySendError::Full(q)) => {
                    warn!(incident = %q.notice.incident, notice = %q.notice.id, "Slack queue full; notice dropped");
                    let metrics = self.meter.metrics();
                    metrics.record_delivery("slack", "dropped");
                    metrics
                        .dropped
                        .get_or_create(&DropLabels {
                            sink: "slack".into(),
                            severity: q.notice.severity.as_str().into(),
                        })
                        .inc();
                }
                Err(TrySendError::Closed(q)) => {
                    warn!(incident = %q.notice.incident, "Slack delivery task gone; notice dropped");
                    self.meter.metrics().record_delivery("slack", "dropped");
                }
            }
        }
    }

    fn restore(&mut self, incident: &IncidentResource) {
        let (Some(namespace), Some(name)) = (&incident.metadata.namespace, &incident.metadata.name)
        else {
            return;
        };
        let Some(status) = &incident.status else {
            return;
        };
        let Some(thread) = &status.slack else {
            return;
        };
        let restored = Restored {
            namespace: namespace.clone(),
            incident: name.clone(),
            thread: thread.clone(),
            opened: incident.spec.opened_severity,
            tally: tally_of(status),
        };
        // Unbounded: one message per open incident, at the start of leadership.
        let _ = self.control.send(Control::Restore(restored));
    }

    fn flush(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            if self.control.send(Control::Flush(done)).is_err() {
                return;
            }
            if tokio::time::timeout(self.flush_deadline, wait)
                .await
                .is_err()
            {
                warn!(
                    deadline_seconds = self.flush_deadline.as_secs_f64(),
                    "Slack flush deadline passed; undelivered notices are lost"
                );
            }
        })
    }
}

/// The action tally of a restored incident, from its recorded steps.
fn tally_of(status: &IncidentStatus) -> Tally {
    let mut t = Tally::default();
    for s in status.steps.iter().filter(|s| s.action != "notify") {
        match (s.state.state, s.state.dry_run.unwrap_or(false)) {
            (StepPhase::Done, true) => t.dry_run += 1,
            (StepPhase::Done, false) => t.applied += 1,
            (StepPhase::Failed, _) => t.failed += 1,
            _ => {}
        }
        match s.revert.as_ref().map(|r| r.state) {
            Some(StepPhase::Done) => t.reverted += 1,
            Some(StepPhase::Failed) => t.failed += 1,
            _ => {}
        }
    }
    t
}
