//! What the engine asks an executor to do: one idempotent, keyed action.

use serde::{Deserialize, Serialize};

use super::record::IncidentId;
use crate::playbook::model::Action;
use crate::playbook::{PlaybookId, TargetRef};
use crate::severity::Severity;

/// Stable across retries and restarts: `<incident>/<severity>/<index>/<kind>[/revert]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    pub fn apply(incident: &IncidentId, severity: Severity, index: usize, kind: &str) -> Self {
        IdempotencyKey(format!("{}/{severity}/{index}/{kind}", incident.0))
    }

    pub fn revert(&self) -> Self {
        IdempotencyKey(format!("{}/revert", self.0))
    }

    /// The apply key this key belongs to (itself, or without `/revert`).
    fn apply_part(&self) -> &str {
        self.0.strip_suffix("/revert").unwrap_or(&self.0)
    }

    /// The action kind this key names (`rateLimit`, …).
    pub fn kind(&self) -> &str {
        let apply = self.apply_part();
        apply.rsplit('/').next().unwrap_or(apply)
    }

    /// The action's position in its severity's list.
    pub fn index(&self) -> Option<u32> {
        self.apply_part().rsplit('/').nth(1)?.parse().ok()
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    Apply,
    Revert,
}

/// An action the engine has cleared through the guardrails.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedAction {
    pub key: IdempotencyKey,
    pub incident: IncidentId,
    pub playbook: PlaybookId,
    pub target: TargetRef,
    /// The severity whose action list this step comes from.
    pub severity: Severity,
    pub operation: Operation,
    pub action: Action,
    /// Record the request instead of sending it.
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_index_read_the_apply_part_of_a_key() {
        let apply = IdempotencyKey::apply(
            &IncidentId("api-checkout-1772409600".into()),
            Severity::High,
            2,
            "rateLimit",
        );
        assert_eq!(apply.0, "api-checkout-1772409600/high/2/rateLimit");
        for key in [apply.clone(), apply.revert()] {
            assert_eq!(key.kind(), "rateLimit");
            assert_eq!(key.index(), Some(2));
        }
    }
}
