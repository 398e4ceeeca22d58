//! The cluster the end-to-end tests start from, in the API server stand-in:
//! the workloads (Deployments or Argo Rollouts) with their running pods and
//! logs, the CRDs' groups in discovery, and the Playbooks as `kubectl apply`
//! would store them.

use serde_json::{Value, json};

use super::synth::{Kind, Workload};
use crate::support::apiserver::ApiServer;

pub const DEPLOYMENTS: &str = "/apis/apps/v1/deployments";
pub const ROLLOUTS: &str = "/apis/argoproj.io/v1alpha1/rollouts";
pub const PODS: &str = "/api/v1/pods";
pub const PLAYBOOKS: &str = "/apis/firebreak.dev/v1alpha1/playbooks";
pub const INCIDENTS: &str = "/apis/firebreak.dev/v1alpha1/incidents";

/// Serve the groups the actions write to (Istio, Argo Rollouts).
pub fn serve_action_groups(api: &ApiServer) {
    api.serve_group(
        "networking.istio.io",
        "v1alpha3",
        &[("envoyfilters", "EnvoyFilter")],
    );
    api.serve_group(
        "networking.istio.io",
        "v1",
        &[("destinationrules", "DestinationRule")],
    );
    api.serve_group("argoproj.io", "v1alpha1", &[("rollouts", "Rollout")]);
}

/// A workload with `labels` (the playbook's selector matches them) and its
/// pods, running, each with a few lines of log.
pub fn add_workload(api: &ApiServer, w: &Workload, labels: &Value) {
    let mut labels = labels.clone();
    labels["app"] = json!(w.name);
    let (api_version, collection) = match w.kind {
        Kind::Deployment => ("apps/v1", DEPLOYMENTS),
        Kind::Rollout => ("argoproj.io/v1alpha1", ROLLOUTS),
    };
    let template = json!({
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": w.container, "image": format!("registry.local/{}:1.4", w.name)}]},
    });
    api.apply(
        collection,
        json!({
            "apiVersion": api_version, "kind": w.kind.as_str(),
            "metadata": {"name": w.name, "namespace": w.namespace, "labels": labels,
                         "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template},
            "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2},
        }),
    );
    // The controller's hash label, as on every pod of a ReplicaSet.
    let hash_label = match w.kind {
        Kind::Deployment => "pod-template-hash",
        Kind::Rollout => "rollouts-pod-template-hash",
    };
    let mut pod_labels = labels.clone();
    pod_labels[hash_label] = json!(w.replica_set().rsplit('-').next());
    for (i, pod) in w.pods().iter().enumerate() {
        api.apply(
            PODS,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": w.namespace, "labels": pod_labels,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                  "name": w.replica_set(), "uid": format!("rs-{}", w.name),
                                                  "controller": true}]},
                "spec": {"containers": [{"name": w.container, "image": format!("registry.local/{}:1.4", w.name)}]},
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": w.container, "ready": true, "restartCount": i,
                                           "image": format!("registry.local/{}:1.4", w.name),
                                           "imageID": "", "state": {"running": {}}}],
                },
            }),
        );
        api.set_log(
            &w.namespace,
            pod,
            &format!(
                "2026-12-02T10:00:00Z INFO {} serving\n2026-12-02T10:00:01Z WARN slow query took 4.2s\n",
                w.name
            ),
        );
    }
}

/// Store `playbook` (its manifest as JSON) as `kubectl apply` would.
pub fn add_playbook(api: &ApiServer, playbook: &Value) -> Value {
    api.apply(PLAYBOOKS, playbook.clone())
}
