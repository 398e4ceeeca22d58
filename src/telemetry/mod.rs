//! Logs (stderr, text or JSON), metrics (Prometheus text format) and the admin
//! HTTP server that exposes them with health and readiness.

pub mod admin;
pub mod incidents;
pub mod metrics;

use tracing_subscriber::EnvFilter;

pub use metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        filter: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Install the global subscriber (logs go to stderr so stdout stays the command's output): text or JSON lines, filtered by `filter`.
pub fn init_logging(filter: &str, json: bool) -> Result<(), TelemetryError> {
    let env = EnvFilter::try_new(filter).map_err(|source| TelemetryError::Filter {
        filter: filter.to_owned(),
        source,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|_| TelemetryError::AlreadyInstalled)
}
