//! Firebreak: automated incident response for Kubernetes.
//!
//! The engine (detection, incident lifecycle, guardrails, action plans) is a pure
//! core that takes readings and time and returns decisions; metric sources,
//! Kubernetes, Kafka and Slack are edges around it. See `DESIGN.md`.

pub mod act;
pub mod backtest;
pub mod crd;
pub mod detect;
pub mod duration;
pub mod embedded;
pub mod engine;
pub mod incident;
pub mod notify;
pub mod operator;
pub mod playbook;
pub mod replay;
pub mod runner;
pub mod severity;
pub mod standalone;
pub mod telemetry;
