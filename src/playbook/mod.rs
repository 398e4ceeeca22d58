//! Playbooks: the spec users write, its validation, and the validated model.

pub mod action;
pub mod cli;
pub mod detector;
pub mod limits;
pub mod load;
pub mod locate;
pub mod model;
pub mod problem;
pub mod promql;
pub mod rules;
pub mod spec;
pub mod validate;

pub use model::{Playbook as ValidPlaybook, PlaybookId, TargetRef};
pub use spec::{Playbook, PlaybookSpec, PlaybookStatus};
