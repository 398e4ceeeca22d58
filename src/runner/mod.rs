//! What the dry-run modes (replay, backtest, standalone) share around the engine:
//! loading playbooks, the queries of a cycle, target discovery, the evaluation
//! schedule, and the timeline they print.

pub mod dry_run;
pub mod playbooks;
pub mod query;
pub mod schedule;
pub mod targets;
pub mod timeline;

pub use dry_run::DryRun;
pub use playbooks::{PlaybookError, load_playbooks};
pub use query::{QueryMode, gather};
pub use targets::Discovered;
pub use timeline::{Entry, Format};
