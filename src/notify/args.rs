//! Command-line and environment configuration of the notice sinks.

use std::sync::Arc;

use super::{Notifier, Sink};
use crate::telemetry::Metrics;

/// Where incident notices go; each sink is off unless configured.
#[derive(clap::Args, Debug, Clone)]
pub struct NotifyArgs {
    /// This cluster's name in published events (CloudEvents `source`).
    #[arg(long, env = "FIREBREAK_CLUSTER_NAME", default_value = "default")]
    pub cluster_name: String,
    #[command(flatten)]
    pub kafka: super::kafka::KafkaArgs,
    #[command(flatten)]
    pub slack: super::slack::SlackArgs,
}

/// What sinks may need from the process that runs them.
pub struct SinkContext {
    pub metrics: Arc<Metrics>,
    /// The operator's client (e.g. to record a Slack thread in the Incident
    /// status); `None` in standalone mode.
    pub client: Option<kube::Client>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("kafka: {0}")]
    Kafka(#[from] super::kafka::KafkaError),
    #[error(transparent)]
    Slack(#[from] super::slack::SlackConfigError),
}

impl NotifyArgs {
    /// Start the configured sinks (their delivery tasks run on the current runtime).
    pub async fn notifier(&self, ctx: &SinkContext) -> Result<Notifier, NotifyError> {
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if self.kafka.enabled() {
            let sink = super::kafka::KafkaSink::start(
                &self.kafka,
                &self.cluster_name,
                ctx.metrics.clone(),
                ctx.client.clone(),
            )?;
            sinks.push(Box::new(sink));
        }
        if let Some(slack) = self.slack.sink(ctx)? {
            sinks.push(Box::new(slack));
        }
        Ok(Notifier::new(sinks))
    }
}
