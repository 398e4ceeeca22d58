//! Incidents: one per (playbook, target), their lifecycle, plans and guardrails.

pub mod guardrails;
pub mod persist;
pub mod plan;
pub mod record;
pub mod resource;
pub mod retry;
mod timeline;

pub use guardrails::{GlobalGuardrails, Hold};
pub use plan::{IdempotencyKey, Operation, PlannedAction};
pub use record::{Incident, IncidentId, Phase, Step, StepState};
pub use retry::Retry;
