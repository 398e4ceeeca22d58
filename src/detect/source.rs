//! Where readings come from: one batched query per detector, for all workloads.

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
