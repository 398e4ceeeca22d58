//! Detection: metric sources and per-detector evaluation.

pub mod eval;
pub mod file_source;
pub mod openmetrics;
pub mod prometheus;
pub mod source;

pub use eval::{DetectorState, Level, Missing, Observation};
pub use source::{DetectorQuery, MetricSource, RangeSeries, SourceError, WorkloadValue};
