//! What the caller of a capture knows and the cluster does not: the Incident
//! that owns the ConfigMaps, the cycle's readings, the metric history.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

/// The Incident the ConfigMaps belong to (their controlling owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentOwner {
    pub name: String,
    pub uid: String,
}

/// One detector's reading of the target in the cycle that ran the capture
/// (`readings.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reading {
    pub detector: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Why there is no value (the detector's no-data reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// Severity → threshold.
    pub thresholds: BTreeMap<String, f64>,
}

/// One detector's series for the target over the snapshot window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    pub detector: String,
    pub query: String,
    /// `[unix seconds, value]`, as Prometheus' API has them.
    pub samples: Vec<(i64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Each detector's query over a window before the capture (`prometheus.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub start: Timestamp,
    pub end: Timestamp,
    pub step_seconds: u64,
    pub series: Vec<Series>,
}

/// Everything a capture stores that does not come from the API server.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub owner: IncidentOwner,
    pub readings: Vec<Reading>,
    pub snapshot: Snapshot,
}
