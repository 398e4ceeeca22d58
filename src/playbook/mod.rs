//! Playbooks: the spec users write, its validation, and the validated model.

pub mod action;
pub mod detector;
pub mod model;
pub mod promql;
pub mod spec;

pub use model::{Playbook as ValidPlaybook, PlaybookId, TargetRef};
pub use spec::{Playbook, PlaybookSpec, PlaybookStatus};
