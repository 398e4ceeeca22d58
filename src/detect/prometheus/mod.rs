//! The live and historical metric source: Prometheus' HTTP API through
//! `prometheus-http-query`. One instant query per detector per cycle (`/api/v1/query`),
//! and range queries (`/api/v1/query_range`) for backtests. Queries are POSTed:
//! SLO queries run to kilobytes, past what some proxies accept in a URL.

mod config;
mod errors;
mod wire;

use jiff::Timestamp;
use prometheus_http_query::Client;

pub use config::{ConfigError, PrometheusArgs};

pub use super::source::RangeSeries;
use super::source::{DetectorQuery, MetricSource, SourceError, WorkloadValue};
use wire::Data;

/// A Prometheus-API server.
#[derive(Clone)]
pub struct PrometheusSource {
    client: Client,
    timeout_ms: i64,
}

impl std::fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl PrometheusSource {
    pub fn new(args: &PrometheusArgs) -> Result<Self, ConfigError> {
        let http = args.http_client()?;
        let client = Client::from(http, &args.url).map_err(|e| ConfigError::Invalid {
            flag: "prometheus",
            reason: format!("{:?}: {e}", args.url),
        })?;
        Ok(PrometheusSource {
            client,
            timeout_ms: i64::try_from(args.prometheus_timeout.as_std().as_millis())
                .unwrap_or(i64::MAX),
        })
    }

    /// The server's base URL, for links and logs.
    pub fn url(&self) -> &str {
        self.client.base_url().as_str()
    }

    /// Evaluate `promql` at `at`; one value per (namespace, workload) series.
    pub async fn instant(
        &self,
        promql: &str,
        at: Timestamp,
    ) -> Result<Vec<WorkloadValue>, SourceError> {
        let response = self
            .client
            .query(promql)
            .at(at.as_second())
            .timeout(self.timeout_ms)
            .post_raw()
            .await
            .map_err(errors::classify)?;
        match errors::read(response).await? {
            Data::Vector(v) => Ok(v
                .into_iter()
                .filter_map(|p| {
                    Some(WorkloadValue {
                        namespace: p.metric.namespace?,
                        workload: p.metric.workload?,
                        value: p.value?.value,
                    })
                })
                .collect()),
            Data::Scalar(_) | Data::String(_) | Data::Matrix(_) => Err(SourceError::Query(
                "expected an instant vector by (namespace, workload)".into(),
            )),
        }
    }

    /// Evaluate `promql` at every `step` from `start` to `end` (inclusive, seconds
    /// granularity as the API has). Callers keep ranges under the server's point limit.
    pub async fn range(
        &self,
        promql: &str,
        start: Timestamp,
        end: Timestamp,
        step: std::time::Duration,
    ) -> Result<Vec<RangeSeries>, SourceError> {
        let response = self
            .client
            .query_range(
                promql,
                start.as_second(),
                end.as_second(),
                step.as_secs_f64(),
            )
            .timeout(self.timeout_ms)
            .post_raw()
            .await
            .map_err(errors::classify)?;
        match errors::read(response).await? {
            Data::Matrix(m) => Ok(m
                .into_iter()
                .filter_map(|s| {
                    Some(RangeSeries {
                        namespace: s.metric.namespace?,
                        workload: s.metric.workload?,
                        // Same layout: collected in place, no second buffer.
                        samples: s.values.into_iter().map(|p| (p.at_ms, p.value)).collect(),
                    })
                })
                .collect()),
            Data::Scalar(_) | Data::String(_) | Data::Vector(_) => Err(SourceError::Query(
                "expected a range vector by (namespace, workload)".into(),
            )),
        }
    }

    /// Whether the server answers `/-/ready`.
    pub async fn is_ready(&self) -> bool {
        self.client.is_server_ready().await.unwrap_or(false)
    }
}

impl MetricSource for PrometheusSource {
    async fn query(
        &self,
        q: &DetectorQuery,
        at: Timestamp,
    ) -> Result<Vec<WorkloadValue>, SourceError> {
        self.instant(&q.promql, at).await
    }

    async fn query_range(
        &self,
        q: &DetectorQuery,
        start: Timestamp,
        end: Timestamp,
        step: std::time::Duration,
    ) -> Result<Vec<RangeSeries>, SourceError> {
        self.range(&q.promql, start, end, step).await
    }
}
