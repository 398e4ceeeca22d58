//! Where readings come from: one batched query per detector, for all workloads.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::playbook::PlaybookId;

/// One detector's query for one playbook.
#[derive(Clone, Debug)]
pub struct DetectorQuery {
    pub playbook: PlaybookId,
    pub detector: String,
    pub promql: String,
}

/// One series of a query result.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadValue {
    pub namespace: String,
    pub workload: String,
    pub value: f64,
}

/// One workload's series of a range query, samples in time order (milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub namespace: String,
    pub workload: String,
    pub samples: Vec<(i64, f64)>,
}

/// A failed query: the reason becomes the detectors' no-data state.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SourceError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("query failed: {0}")]
    Query(String),
}

/// A source of detector values (live Prometheus, Prometheus history, a recorded file).
pub trait MetricSource {
    /// Evaluate `q` at time `at`; absent workloads have no (fresh) data.
    fn query(
        &self,
        q: &DetectorQuery,
        at: Timestamp,
    ) -> impl std::future::Future<Output = Result<Vec<WorkloadValue>, SourceError>>;

    /// Evaluate `q` at every `step` from `start` to `end` (inclusive), e.g. the
    /// window a diagnostics capture stores. The default evaluates [`query`]
    /// at each step, which suits a source that holds its samples (a recorded
    /// file); a server answers it in one request (Prometheus' `query_range`).
    ///
    /// [`query`]: MetricSource::query
    fn query_range(
        &self,
        q: &DetectorQuery,
        start: Timestamp,
        end: Timestamp,
        step: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<Vec<RangeSeries>, SourceError>> {
        async move {
            let step = jiff::SignedDuration::try_from(step)
                .ok()
                .filter(|s| s.is_positive())
                .ok_or_else(|| SourceError::Query(format!("invalid range step {step:?}")))?;
            let mut series: BTreeMap<(String, String), Vec<(i64, f64)>> = BTreeMap::new();
            let mut at = start;
            while at <= end {
                for v in self.query(q, at).await? {
                    series
                        .entry((v.namespace, v.workload))
                        .or_default()
                        .push((at.as_millisecond(), v.value));
                }
                at = at
                    .checked_add(step)
                    .map_err(|e| SourceError::Query(e.to_string()))?;
            }
            Ok(series
                .into_iter()
                .map(|((namespace, workload), samples)| RangeSeries {
                    namespace,
                    workload,
                    samples,
                })
                .collect())
        }
    }
}

impl From<SourceError> for super::Missing {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Unreachable(m) => super::Missing::Unreachable(m),
            SourceError::Timeout(m) => super::Missing::Timeout(m),
            SourceError::Http { status, message } => super::Missing::HttpStatus { status, message },
            SourceError::Query(m) => super::Missing::QueryFailed(m),
        }
    }
}
