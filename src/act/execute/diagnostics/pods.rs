//! Which pods a capture reads: the target's own, most affected first, bounded.
//!
//! The list comes from the playbook's pod labels, which several workloads may
//! share (`tier: web`); a pod is the target's when its controller is the
//! target's ReplicaSet, `<workload>-<pod-template-hash>`, which Deployments and
//! Argo Rollouts both name that way.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// Labels carrying the template hash: Deployments' and Argo Rollouts'.
const HASH_LABELS: [&str; 2] = ["pod-template-hash", "rollouts-pod-template-hash"];

/// One pod to capture.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PodInfo {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: i32,
    /// When a container of the pod last terminated (current or previous state).
    pub last_termination: Option<Timestamp>,
    pub node: Option<String>,
    pub containers: Vec<ContainerInfo>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct ContainerInfo {
    pub name: String,
    pub restarts: i32,
    /// `running`, `waiting: CrashLoopBackOff`, …
    pub state: String,
    /// How the previous instance ended, e.g. `OOMKilled (exit 137) at …`.
    pub last: Option<String>,
}

impl PodInfo {
    pub fn is_running(&self) -> bool {
        self.phase == "Running"
    }

    /// One line for the summary.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "{} phase={} ready={} restarts={}",
            self.name, self.phase, self.ready, self.restarts
        );
        if let Some(node) = &self.node {
            line.push_str(&format!(" node={node}"));
        }
        for c in &self.containers {
            line.push_str(&format!(
                "\n    container {}: {}, restarts={}",
                c.name, c.state, c.restarts
            ));
            if let Some(last) = &c.last {
                line.push_str(&format!(", last terminated {last}"));
            }
        }
        line
    }
}

/// The pods chosen, and how many of the target's there were.
#[derive(Debug, Default)]
pub(super) struct Selection {
    pub chosen: Vec<PodInfo>,
    pub of_target: usize,
    /// Listed by the selector but owned by another workload.
    pub others: usize,
}

/// The target's pods among `pods`, ordered most affected first (not ready, then
/// most restarts, then most recently terminated; by name on ties so that a
/// repeated capture picks the same), at most `max`.
pub(super) fn select(pods: Vec<Pod>, workload: &str, max: u32) -> Selection {
    let listed = pods.len();
    let mut infos: Vec<PodInfo> = pods
        .iter()
        .filter(|p| owned_by(p, workload))
        .map(info)
        .collect();
    infos.sort_by(|a, b| {
        (!a.ready, a.restarts, a.last_termination)
            .cmp(&(!b.ready, b.restarts, b.last_termination))
            .reverse()
            .then_with(|| a.name.cmp(&b.name))
    });
    let of_target = infos.len();
    infos.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    Selection {
        chosen: infos,
        of_target,
        others: listed - of_target,
    }
}

/// Whether `pod`'s controller is a ReplicaSet of `workload`.
fn owned_by(pod: &Pod, workload: &str) -> bool {
    let labels = pod.metadata.labels.as_ref();
    let hashes: Vec<&String> = HASH_LABELS
        .iter()
        .filter_map(|l| labels.and_then(|m| m.get(*l)))
        .collect();
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|o| o.controller == Some(true) && o.kind == "ReplicaSet")
        .any(|o| {
            o.name
                .strip_prefix(workload)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hash| hashes.iter().any(|h| h.as_str() == hash))
        })
}

fn info(pod: &Pod) -> PodInfo {
    let status = pod.status.as_ref();
    let statuses: &[ContainerStatus] = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let names: Vec<&str> = match &pod.spec {
        Some(spec) => spec.containers.iter().map(|c| c.name.as_str()).collect(),
        None => statuses.iter().map(|s| s.name.as_str()).collect(),
    };
    let containers: Vec<ContainerInfo> = names
        .into_iter()
        .map(|name| container(name, statuses.iter().find(|s| s.name == name)))
        .collect();
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".to_owned()),
        ready,
        restarts: containers.iter().map(|c| c.restarts).sum(),
        last_termination: statuses.iter().filter_map(terminated_at).max(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        containers,
    }
}

fn container(name: &str, status: Option<&ContainerStatus>) -> ContainerInfo {
    let state = status.and_then(|s| s.state.as_ref());
    let state = match state {
        Some(s) if s.running.is_some() => "running".to_owned(),
        Some(s) if s.waiting.is_some() => format!(
            "waiting: {}",
            s.waiting
                .as_ref()
                .and_then(|w| w.reason.as_deref())
                .unwrap_or("unknown reason")
        ),
        Some(s) if s.terminated.is_some() => format!(
            "terminated: {}",
            s.terminated
                .as_ref()
                .and_then(|t| t.reason.as_deref())
                .unwrap_or("unknown reason")
        ),
        _ => "no status".to_owned(),
    };
    let last = status
        .and_then(|s| s.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| {
            let mut text = format!(
                "{} (exit {})",
                t.reason.as_deref().unwrap_or("unknown reason"),
                t.exit_code
            );
            if let Some(at) = &t.finished_at {
                text.push_str(&format!(" at {}", at.0));
            }
            text
        });
    ContainerInfo {
        name: name.to_owned(),
        restarts: status.map_or(0, |s| s.restart_count),
        state,
        last,
    }
}

fn terminated_at(status: &ContainerStatus) -> Option<Timestamp> {
    [status.state.as_ref(), status.last_state.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|s| s.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::fixtures::pod;
    use super::*;

    fn pods(values: Vec<Value>) -> Vec<Pod> {
        values
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("pod"))
            .collect()
    }

    #[test]
    fn most_affected_first_bounded_and_only_the_targets() {
        let listed = pods(vec![
            pod("pricer-7d9f-aaaaa", "pricer-7d9f", true, 0),
            pod("pricer-7d9f-bbbbb", "pricer-7d9f", true, 4),
            pod("pricer-7d9f-ccccc", "pricer-7d9f", false, 1),
            pod("pricer-7d9f-ddddd", "pricer-7d9f", true, 0),
            // Same labels, another Deployment (`pricer-canary`), and a bare pod.
            pod("pricer-canary-5c6b-eeeee", "pricer-canary-5c6b", false, 9),
            json!({"metadata": {"name": "debug", "labels": {"app": "pricer"}}}),
        ]);
        let selection = select(listed, "pricer", 3);
        let names: Vec<&str> = selection.chosen.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pricer-7d9f-ccccc",
                "pricer-7d9f-bbbbb",
                "pricer-7d9f-aaaaa"
            ]
        );
        assert_eq!((selection.of_target, selection.others), (4, 2));
        let worst = &selection.chosen[0];
        assert_eq!(worst.containers[0].restarts, 1);
        assert_eq!(worst.containers[1].restarts, 0);
        assert_eq!(
            worst.containers[0].last.as_deref(),
            Some("OOMKilled (exit 137) at 2026-03-02T09:20:00Z")
        );
        assert!(
            worst
                .describe()
                .contains("ready=false restarts=1 node=node-1")
        );
    }

    #[test]
    fn a_recent_termination_ranks_a_pod_above_an_older_one() {
        let mut older = pod("pricer-7d9f-aaaaa", "pricer-7d9f", true, 2);
        older["status"]["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"] =
            json!("2026-03-02T08:00:00Z");
        let newer = pod("pricer-7d9f-bbbbb", "pricer-7d9f", true, 2);
        let selection = select(pods(vec![older, newer]), "pricer", 1);
        assert_eq!(selection.chosen[0].name, "pricer-7d9f-bbbbb");
    }
}
