//! Guardrails checked before every action: kill switch, cooldown, action budgets.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;
use serde::Serialize;

use crate::playbook::PlaybookId;
use crate::playbook::model::Budget;

/// Operator-wide settings.
#[derive(Clone, Debug, Default)]
pub struct GlobalGuardrails {
    /// Pause every action (evaluation continues).
    pub kill_switch: bool,
    /// Record every action instead of sending it.
    pub dry_run: bool,
    /// Budget per namespace, across playbooks.
    pub namespace_budget: Option<Budget>,
    /// Budget across the whole cluster.
    pub cluster_budget: Option<Budget>,
    /// Action kinds the operator may run (`--actions`, what its RBAC grants);
    /// `None`: all. Others are refused, not held: no permission will arrive later.
    pub allowed_actions: Option<std::collections::BTreeSet<String>>,
}

impl GlobalGuardrails {
    /// Why `kind` may not run at all, if it may not.
    pub fn refusal(&self, kind: &str) -> Option<String> {
        self.allowed_actions
            .as_ref()
            .filter(|allowed| !allowed.contains(kind))
            .map(|allowed| {
                let list: Vec<&str> = allowed.iter().map(String::as_str).collect();
                format!(
                    "action {kind} is not enabled for this operator (--actions {})",
                    list.join(",")
                )
            })
    }
}

/// Why an action is held back.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "guardrail", rename_all = "camelCase")]
pub enum Hold {
    KillSwitch,
    Cooldown {
        until: Timestamp,
    },
    Budget {
        scope: String,
        max_actions: u32,
        window: String,
    },
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::KillSwitch => f.write_str("kill switch on"),
            Hold::Cooldown { until } => write!(f, "cooldown until {until}"),
            Hold::Budget {
                scope,
                max_actions,
                window,
            } => {
                write!(
                    f,
                    "{scope} budget of {max_actions} actions per {window} used up"
                )
            }
        }
    }
}

/// Sliding windows of action times per playbook, namespace and cluster.
#[derive(Debug, Default)]
pub struct Budgets {
    per_playbook: HashMap<PlaybookId, VecDeque<Timestamp>>,
    per_namespace: HashMap<String, VecDeque<Timestamp>>,
    cluster: VecDeque<Timestamp>,
}

fn used(window: &mut VecDeque<Timestamp>, budget: Budget, now: Timestamp) -> u32 {
    let horizon = now - budget.window.signed();
    while window.front().is_some_and(|t| *t <= horizon) {
        window.pop_front();
    }
    u32::try_from(window.len()).unwrap_or(u32::MAX)
}

impl Budgets {
    /// The first exhausted budget, if any; checks without spending.
    pub fn check(
        &mut self,
        playbook: &PlaybookId,
        playbook_budget: Budget,
        global: &GlobalGuardrails,
        now: Timestamp,
    ) -> Option<Hold> {
        let hold = |scope: String, b: Budget| Hold::Budget {
            scope,
            max_actions: b.max_actions,
            window: b.window.to_string(),
        };
        let w = self.per_playbook.entry(playbook.clone()).or_default();
        if used(w, playbook_budget, now) >= playbook_budget.max_actions {
            return Some(hold(format!("playbook {playbook}"), playbook_budget));
        }
        if let Some(b) = global.namespace_budget {
            let w = self
                .per_namespace
                .entry(playbook.namespace.clone())
                .or_default();
            if used(w, b, now) >= b.max_actions {
                return Some(hold(format!("namespace {}", playbook.namespace), b));
            }
        }
        if let Some(b) = global.cluster_budget
            && used(&mut self.cluster, b, now) >= b.max_actions
        {
            return Some(hold("cluster".to_owned(), b));
        }
        None
    }

    /// Count an action issued at `at` by a previous leader (continued incidents),
    /// keeping each window in time order.
    pub fn spend_at(&mut self, playbook: &PlaybookId, at: Timestamp) {
        fn insert(w: &mut VecDeque<Timestamp>, at: Timestamp) {
            let i = w.partition_point(|t| *t <= at);
            w.insert(i, at);
        }
        insert(self.per_playbook.entry(playbook.clone()).or_default(), at);
        insert(
            self.per_namespace
                .entry(playbook.namespace.clone())
                .or_default(),
            at,
        );
        insert(&mut self.cluster, at);
    }

    /// Count one action against every scope.
    pub fn spend(&mut self, playbook: &PlaybookId, now: Timestamp) {
        self.per_playbook
            .entry(playbook.clone())
            .or_default()
            .push_back(now);
        self.per_namespace
            .entry(playbook.namespace.clone())
            .or_default()
            .push_back(now);
        self.cluster.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_772_409_600 + secs).expect("valid")
    }

    #[test]
    fn actions_restored_out_of_order_count_and_expire_in_time_order() {
        let pb = PlaybookId {
            namespace: "shop".into(),
            name: "checkout".into(),
        };
        let budget = Budget {
            max_actions: 2,
            window: Duration::from_secs(600),
        };
        let global = GlobalGuardrails::default();
        let mut b = Budgets::default();
        // A previous leader's actions, listed incident by incident, not in time order.
        b.spend_at(&pb, at(500));
        b.spend_at(&pb, at(100));
        assert!(
            matches!(
                b.check(&pb, budget, &global, at(650)),
                Some(Hold::Budget { .. })
            ),
            "two actions in the last 10 minutes use the budget up"
        );
        // At 701 the action of 100 has left the window, the one of 500 has not.
        assert_eq!(b.check(&pb, budget, &global, at(701)), None);
        b.spend(&pb, at(701));
        assert!(b.check(&pb, budget, &global, at(702)).is_some());
    }
}
