//! Slack flags of `firebreak run` and the sink they configure. Credentials are
//! read from files (mounted Secrets) or, for a laptop, the environment, and are
//! never logged or put into errors.

use std::path::{Path, PathBuf};

use reqwest::Url;
use tracing::{info, warn};

use super::client::Secret;
use super::sink::{SlackSettings, SlackSink};
use super::view::Links;
use crate::duration::Duration;
use crate::notify::args::SinkContext;

/// Slack notifications: a bot token (threads) or an incoming webhook (no threads).
#[derive(clap::Args, Clone)]
pub struct SlackArgs {
    /// File holding a Slack bot token (`xoxb-…`, scope `chat:write`), e.g. a mounted
    /// Secret: one thread per incident, its root updated in place.
    #[arg(long, env = "FIREBREAK_SLACK_TOKEN_FILE")]
    pub slack_token_file: Option<PathBuf>,
    /// The bot token itself, for standalone runs from a laptop (in a cluster, use the file).
    #[arg(long, env = "FIREBREAK_SLACK_TOKEN", hide_env_values = true)]
    pub slack_token: Option<String>,
    /// File holding an incoming-webhook URL, for teams without a bot: one message per
    /// notice in the webhook's channel; no threads, no updates.
    #[arg(long, env = "FIREBREAK_SLACK_WEBHOOK_URL_FILE")]
    pub slack_webhook_url_file: Option<PathBuf>,
    /// Root of the Slack Web API.
    #[arg(
        long,
        env = "FIREBREAK_SLACK_API_URL",
        default_value = "https://slack.com/api"
    )]
    pub slack_api_url: String,
    /// Channel for incidents whose playbook routes none of their severities
    /// (default: those are not posted).
    #[arg(long, env = "FIREBREAK_SLACK_DEFAULT_CHANNEL")]
    pub slack_default_channel: Option<String>,
    /// Timeout of one Slack request.
    #[arg(long, env = "FIREBREAK_SLACK_TIMEOUT", default_value = "10s")]
    pub slack_timeout: Duration,
    /// Prometheus as people open it in a browser, for the graph link of each
    /// detector (default: no graph links).
    #[arg(long, env = "FIREBREAK_PROMETHEUS_EXTERNAL_URL")]
    pub prometheus_external_url: Option<String>,
    /// Grafana dashboard URL linked from each incident; `var-namespace`,
    /// `var-workload`, `from` and `to` are appended.
    #[arg(long, env = "FIREBREAK_GRAFANA_URL")]
    pub grafana_url: Option<String>,
}

// Secrets stay out of logs: only which credential is configured is shown.
impl std::fmt::Debug for SlackArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackArgs")
            .field("token_file", &self.slack_token_file)
            .field("token", &self.slack_token.is_some())
            .field("webhook_url_file", &self.slack_webhook_url_file)
            .field("api_url", &self.slack_api_url)
            .field("default_channel", &self.slack_default_channel)
            .field("timeout", &self.slack_timeout)
            .field("prometheus_external_url", &self.prometheus_external_url)
            .field("grafana_url", &self.grafana_url)
            .finish()
    }
}

/// A Slack configuration that cannot be used; names the flag or file, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum SlackConfigError {
    #[error("reading the Slack {what} from {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Slack {what} file {path} is empty")]
    Empty { what: &'static str, path: PathBuf },
    #[error("--{flag}: {reason}")]
    Invalid { flag: &'static str, reason: String },
    #[error("building the Slack HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("the Slack sink must be started inside a Tokio runtime")]
    NoRuntime,
}

fn read_secret(what: &'static str, path: &Path) -> Result<Secret, SlackConfigError> {
    let s = std::fs::read_to_string(path).map_err(|source| SlackConfigError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })?;
    let s = s.trim();
    if s.is_empty() {
        return Err(SlackConfigError::Empty {
            what,
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(s))
}

fn url(flag: &'static str, s: &str) -> Result<Url, SlackConfigError> {
    Url::parse(s).map_err(|e| SlackConfigError::Invalid {
        flag,
        reason: format!("{s:?} is not a URL: {e}"),
    })
}

impl SlackArgs {
    /// Settings from the flags (no credential needed).
    pub fn settings(&self) -> Result<SlackSettings, SlackConfigError> {
        let mut s = SlackSettings::new(url("slack-api-url", &self.slack_api_url)?);
        s.links = Links {
            prometheus: self
                .prometheus_external_url
                .as_deref()
                .map(|u| url("prometheus-external-url", u))
                .transpose()?,
            grafana: self
                .grafana_url
                .as_deref()
                .map(|u| url("grafana-url", u))
                .transpose()?,
        };
        s.default_channel = self.slack_default_channel.clone();
        s.timeout = self.slack_timeout.as_std();
        Ok(s)
    }

    /// The Slack sink, when a token or a webhook URL is configured.
    pub fn sink(&self, ctx: &SinkContext) -> Result<Option<SlackSink>, SlackConfigError> {
        let token = match (&self.slack_token_file, &self.slack_token) {
            (Some(path), _) => Some(read_secret("bot token", path)?),
            (None, Some(t)) if !t.trim().is_empty() => Some(Secret::new(t.trim())),
            _ => None,
        };
        let webhook = self
            .slack_webhook_url_file
            .as_deref()
            .map(|p| read_secret("webhook URL", p))
            .transpose()?;
        let settings = self.settings()?;
        let (metrics, client) = (ctx.metrics.clone(), ctx.client.clone());
        let sink = match (token, webhook) {
            (Some(token), webhook) => {
                if webhook.is_some() {
                    warn!("both a Slack bot token and a webhook URL are set; using the bot token");
                }
                info!(api = %settings.api_url, mode = "web_api", "Slack notifications: one thread per incident");
                SlackSink::web_api(&settings, &token, metrics, client)?
            }
            (None, Some(url)) => {
                info!(
                    mode = "webhook",
                    "Slack notifications by incoming webhook: no threads, no updates"
                );
                SlackSink::webhook(&settings, &url, metrics, client)?
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(sink))
    }
}
