//! How to reach a Prometheus-API server (Prometheus, Thanos, Mimir, VictoriaMetrics):
//! URL, authentication, CA and timeout, as CLI flags with environment variables.

use std::path::{Path, PathBuf};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::duration::Duration;

/// Flags shared by every command that talks to Prometheus.
#[derive(clap::Args, Clone)]
pub struct PrometheusArgs {
    /// Base URL of the Prometheus HTTP API (also Thanos Query, Mimir's `/prometheus`, VictoriaMetrics).
    #[arg(
        long = "prometheus",
        visible_alias = "prometheus-url",
        env = "FIREBREAK_PROMETHEUS_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    pub url: String,
    /// File holding a bearer token (read at start; e.g. a mounted Secret).
    #[arg(long, env = "FIREBREAK_PROMETHEUS_BEARER_TOKEN_FILE")]
    pub prometheus_bearer_token_file: Option<PathBuf>,
    /// User for HTTP basic auth (password from `--prometheus-password-file`).
    #[arg(long, env = "FIREBREAK_PROMETHEUS_USERNAME")]
    pub prometheus_username: Option<String>,
    /// File holding the basic-auth password.
    #[arg(
        long,
        env = "FIREBREAK_PROMETHEUS_PASSWORD_FILE",
        requires = "prometheus_username"
    )]
    pub prometheus_password_file: Option<PathBuf>,
    /// PEM file with the CA that signed the server's certificate (added to the system roots).
    #[arg(long, env = "FIREBREAK_PROMETHEUS_CA_FILE")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Extra request header `Name=value`, repeatable (e.g. `X-Scope-OrgID=team-a` for Mimir).
    #[arg(
        long = "prometheus-header",
        env = "FIREBREAK_PROMETHEUS_HEADERS",
        value_delimiter = ','
    )]
    pub prometheus_headers: Vec<String>,
    /// Timeout of one query, sent to the server too so it stops evaluating.
    #[arg(long, env = "FIREBREAK_PROMETHEUS_TIMEOUT", default_value = "10s")]
    pub prometheus_timeout: Duration,
}

// Secrets stay out of logs: only the URL and which auth is configured are shown.
impl std::fmt::Debug for PrometheusArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusArgs")
            .field("url", &self.url)
            .field("bearer_token", &self.prometheus_bearer_token_file.is_some())
            .field("basic_auth", &self.prometheus_username.is_some())
            .field("ca_file", &self.prometheus_ca_file)
            .field("headers", &self.prometheus_headers.len())
            .field("timeout", &self.prometheus_timeout)
            .finish()
    }
}

impl PrometheusArgs {
    /// Defaults for tests and benches: the given URL, no auth, 10 s timeout.
    pub fn for_url(url: impl Into<String>) -> Self {
        PrometheusArgs {
            url: url.into(),
            prometheus_bearer_token_file: None,
            prometheus_username: None,
            prometheus_password_file: None,
            prometheus_ca_file: None,
            prometheus_headers: Vec::new(),
            prometheus_timeout: Duration::from_secs(10),
        }
    }
}

/// A configuration that cannot be used; names the flag and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--{flag} {path}: {source}")]
    ReadFile {
        flag: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("--{flag}: {reason}")]
    Invalid { flag: &'static str, reason: String },
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

fn read_secret(flag: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| ConfigError::ReadFile {
            flag,
            path: path.display().to_string(),
            source,
        })
}

fn sensitive(flag: &'static str, value: &str) -> Result<HeaderValue, ConfigError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| ConfigError::Invalid {
        flag,
        reason: "not a valid HTTP header value".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

impl PrometheusArgs {
    /// The HTTP client with auth headers, CA and timeouts applied.
    pub fn http_client(&self) -> Result<reqwest::Client, ConfigError> {
        let mut headers = HeaderMap::new();
        if let Some(path) = &self.prometheus_bearer_token_file {
            let token = read_secret("prometheus-bearer-token-file", path)?;
            headers.insert(
                AUTHORIZATION,
                sensitive("prometheus-bearer-token-file", &format!("Bearer {token}"))?,
            );
        }
        if let Some(user) = &self.prometheus_username {
            let password = match &self.prometheus_password_file {
                Some(p) => read_secret("prometheus-password-file", p)?,
                None => String::new(),
            };
            if headers.contains_key(AUTHORIZATION) {
                return Err(ConfigError::Invalid {
                    flag: "prometheus-username",
                    reason: "use either a bearer token or basic auth, not both".into(),
                });
            }
            headers.insert(
                AUTHORIZATION,
                sensitive("prometheus-username", &basic_auth(user, &password))?,
            );
        }
        for h in &self.prometheus_headers {
            let invalid = |reason: &str| ConfigError::Invalid {
                flag: "prometheus-header",
                reason: format!("{h:?}: {reason}"),
            };
            let (name, value) = h
                .split_once('=')
                .ok_or_else(|| invalid("expected Name=value"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| invalid("invalid header name"))?;
            headers.insert(name, sensitive("prometheus-header", value.trim())?);
        }
        let timeout = self.prometheus_timeout.as_std();
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
            .user_agent(concat!("firebreak/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &self.prometheus_ca_file {
            let pem = std::fs::read(path).map_err(|source| ConfigError::ReadFile {
                flag: "prometheus-ca-file",
                path: path.display().to_string(),
                source,
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ConfigError::Invalid {
                flag: "prometheus-ca-file",
                reason: format!("{}: not a PEM certificate: {e}", path.display()),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(builder.build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_header_is_rfc7617() {
        assert_eq!(basic_auth("user", "pass"), "Basic dXNlcjpwYXNz");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut args = PrometheusArgs::for_url("http://prom:9090");
        args.prometheus_headers = vec!["X-Scope-OrgID=secret-tenant".into()];
        args.prometheus_username = Some("admin".into());
        let shown = format!("{args:?}");
        assert!(
            !shown.contains("secret-tenant") && !shown.contains("admin"),
            "{shown}"
        );
    }

    #[test]
    fn bad_header_names_the_flag() {
        let mut args = PrometheusArgs::for_url("http://prom:9090");
        args.prometheus_headers = vec!["no-equals-sign".into()];
        let err = args.http_client().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("--prometheus-header: \"no-equals-sign\": expected Name=value")
        );
    }

    #[test]
    fn missing_token_file_names_flag_and_path() {
        let mut args = PrometheusArgs::for_url("http://prom:9090");
        args.prometheus_bearer_token_file = Some("/nonexistent/token".into());
        let err = args
            .http_client()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("--prometheus-bearer-token-file /nonexistent/token: "),
            "{err}"
        );
    }
}
