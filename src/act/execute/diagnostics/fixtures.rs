//! Objects as the API server serves them, for the diagnostics tests.

use serde_json::{Value, json};

/// A pod of ReplicaSet `rs` (its name ends in the template hash) in `risk`, with
/// containers `app` and `sidecar`; `app` has restarted `restarts` times, the last
/// time OOMKilled.
pub(super) fn pod(name: &str, rs: &str, ready: bool, restarts: i32) -> Value {
    let hash = rs.rsplit('-').next().unwrap_or_default();
    let last = (restarts > 0).then(|| {
        json!({"terminated": {
            "exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-03-02T09:20:00Z"
        }})
    });
    json!({
        "metadata": {
            "name": name, "namespace": "risk",
            "labels": {"app": "pricer", "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                "uid": "0b7e3c1a-5d2f-4e8a-9c61-2f4d6b8a0c13", "controller": true}],
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "app"}, {"name": "sidecar"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [
                {"name": "app", "ready": ready, "restartCount": restarts, "image": "pricer:1.4",
                 "imageID": "", "state": {"running": {}}, "lastState": last},
                {"name": "sidecar", "ready": true, "restartCount": 0, "image": "envoy:1.31",
                 "imageID": "", "state": {"running": {}}},
            ],
        },
    })
}

/// A `v1` list of `kind` holding `items`.
pub(super) fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "9001"}, "items": items})
}

/// A core/v1 Event about `kind`/`name`.
pub(super) fn event(kind: &str, name: &str, at: &str, reason: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": format!("{name}.{reason}"), "namespace": "risk"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "risk"},
        "reason": reason, "message": message, "type": "Warning", "count": 3,
        "firstTimestamp": "2026-03-02T09:00:00Z", "lastTimestamp": at,
    })
}
