//! The `diagnostics` action: what the target's pods were doing when the
//! incident was detected, kept with the Incident.
//!
//! gather (pods, most affected first; their current and previous logs; Events
//! of the workload and the pods; optionally an exec) → redact → pack into
//! bounded ConfigMaps → server-side apply, owned by the Incident. Reads that
//! fail are noted in `summary.txt`; the capture fails only when no read
//! succeeded or a ConfigMap cannot be written. The ConfigMap names derive from
//! the incident id, so a capture repeated after a crash overwrites its own.

mod capture;
mod events;
mod evidence;
mod exec;
mod pods;
mod reads;
mod redact;
mod store;
mod summary;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;

pub(super) use capture::capture;
pub use evidence::{Evidence, IncidentOwner, Reading, Series, Snapshot};
