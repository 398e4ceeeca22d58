//! `diagnostics`: read pods, logs and events, then store them in ConfigMaps owned
//! by the Incident (garbage-collected with it, so not reversible).
//!
//! The paths here are the ones the executor sends (`act::execute::diagnostics`
//! builds its requests with these functions), so a dry-run shows exactly what a
//! capture reads and writes; only pod and container names are placeholders.

use std::collections::BTreeMap;

use serde_json::json;

use super::naming::{encode, label_selector, object_name};
use super::{RenderContext, Request, owned_object};
use crate::playbook::action::DiagnosticsSpec;

/// The bounds of one capture: the spec's values, or the defaults documented on
/// [`DiagnosticsSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_pods: u32,
    pub tail_lines: u32,
    pub max_log_bytes: u32,
    pub previous: bool,
    pub exec_timeout: std::time::Duration,
}

impl Limits {
    pub const MAX_PODS: u32 = 3;
    pub const TAIL_LINES: u32 = 500;
    pub const MAX_LOG_BYTES: u32 = 64 * 1024;
    pub const EXEC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

    pub fn of(spec: &DiagnosticsSpec) -> Self {
        Limits {
            max_pods: spec.max_pods.unwrap_or(Self::MAX_PODS),
            tail_lines: spec.tail_lines.unwrap_or(Self::TAIL_LINES),
            max_log_bytes: spec.max_log_bytes.unwrap_or(Self::MAX_LOG_BYTES),
            previous: spec.previous.unwrap_or(true),
            exec_timeout: spec
                .exec
                .as_ref()
                .and_then(|e| e.timeout)
                .map_or(Self::EXEC_TIMEOUT, |t| t.as_std()),
        }
    }
}

/// `GET` of the pods a capture chooses from: the playbook's pod labels.
pub fn pods_path(ns: &str, match_labels: &BTreeMap<String, String>) -> String {
    format!(
        "/api/v1/namespaces/{ns}/pods?labelSelector={}",
        label_selector(match_labels)
    )
}

/// One container's log, bounded by `tailLines` and `limitBytes` (the kubelet
/// applies both; `limitBytes` may cut the last line).
pub fn log_path(ns: &str, pod: &str, container: &str, limits: &Limits, previous: bool) -> String {
    let mut path = format!(
        "/api/v1/namespaces/{ns}/pods/{pod}/log?container={container}&tailLines={}&limitBytes={}",
        limits.tail_lines, limits.max_log_bytes
    );
    if previous {
        path.push_str("&previous=true");
    }
    path
}

/// Events about one object, by field selector (`involvedObject.kind`, `.name`).
pub fn events_path(ns: &str, kind: &str, name: &str) -> String {
    let selector = format!(
        "{}{name}",
        encode(&format!("involvedObject.kind={kind},involvedObject.name="))
    );
    format!("/api/v1/namespaces/{ns}/events?fieldSelector={selector}")
}

/// The exec request as kube's `Api::<Pod>::exec` builds it (`?&stdout…`, then
/// the container, then one `command` per argument), for the timeline.
pub fn exec_path(ns: &str, pod: &str, container: &str, command: &[String]) -> String {
    let mut path = format!(
        "/api/v1/namespaces/{ns}/pods/{pod}/exec?&stdout=true&stderr=true&container={container}"
    );
    for arg in command {
        path.push_str("&command=");
        path.push_str(&encode(arg));
    }
    path
}

/// Name of the `index`th ConfigMap of an incident's capture: deterministic, so a
/// capture repeated after a crash overwrites rather than duplicates.
pub fn config_map_name(incident_id: &str, index: usize) -> String {
    object_name(incident_id, &format!("diag-{index}"))
}

pub fn config_map_path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps/{name}")
}

pub(super) fn apply(spec: &DiagnosticsSpec, ctx: &RenderContext) -> Vec<Request> {
    let ns = &ctx.target.namespace;
    let limits = Limits::of(spec);
    let max_pods = limits.max_pods;
    let each = format!("for each container of up to {max_pods} pods");

    let mut requests = vec![
        Request::get(pods_path(ns, ctx.match_labels)).with_note(format!(
            "up to {max_pods} pods of {}, most affected first (not ready, restarts, recent termination)",
            ctx.target.name
        )),
        Request::get(log_path(ns, "{pod}", "{container}", &limits, false)).with_note(each.clone()),
    ];
    if limits.previous {
        requests.push(
            Request::get(log_path(ns, "{pod}", "{container}", &limits, true))
                .with_note(format!("{each} that has restarted")),
        );
    }
    requests.push(Request::get(events_path(
        ns,
        ctx.kind.as_str(),
        &encode(&ctx.target.name),
    )));
    requests.push(
        Request::get(events_path(ns, "Pod", "{pod}"))
            .with_note(format!("for each of up to {max_pods} pods")),
    );
    if let Some(exec) = &spec.exec {
        let container = exec
            .container
            .as_deref()
            .map_or("{container}".to_owned(), encode);
        requests.push(
            Request::get(exec_path(ns, "{pod}", &container, &exec.command)).with_note(format!(
                "WebSocket exec in the most affected running pod, timeout {}s, only with --diagnostics-exec",
                limits.exec_timeout.as_secs()
            )),
        );
    }

    let name = config_map_name(ctx.incident_id, 0);
    let mut config_map = owned_object("v1", "ConfigMap", &name, ctx);
    config_map["data"] = json!({
        "summary.txt": "<pods chosen, what was captured and where, what failed>",
        "readings.json": "<detector readings of the cycle>",
        "prometheus.json": "<each detector's series for the target, last 15 minutes>",
        "events.txt": "<events of the workload and its pods>",
        "pod.<pod>.<container>.log": format!(
            "<last {} lines, at most {} bytes, redacted>",
            limits.tail_lines, limits.max_log_bytes
        ),
    });
    requests.push(
        Request::apply(&config_map_path(ns, &name), config_map).with_note(
            "data resolved at apply time and redacted; more ConfigMaps (-diag-1, …) when over 900 KiB; ownerReference to the Incident set at apply time",
        ),
    );
    requests
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{ctx, pod_labels, target};
    use super::super::{APPLY_PATCH, Method, render_apply, render_revert};
    use crate::duration::Duration;
    use crate::playbook::action::{DiagnosticsSpec, ExecSpec};
    use crate::playbook::model::ActionKind;

    fn lines(spec: DiagnosticsSpec) -> Vec<String> {
        let (t, l) = (target(), pod_labels());
        let requests = render_apply(&ActionKind::Diagnostics(spec), &ctx(&t, &l)).unwrap();
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    #[test]
    fn defaults_read_pods_logs_events_then_apply_the_config_map() {
        assert_eq!(
            lines(DiagnosticsSpec::default()),
            vec![
                "GET /api/v1/namespaces/shop/pods?labelSelector=app%3Dcheckout%2Ctier%3Dweb",
                "GET /api/v1/namespaces/shop/pods/{pod}/log?container={container}&tailLines=500&limitBytes=65536",
                "GET /api/v1/namespaces/shop/pods/{pod}/log?container={container}&tailLines=500&limitBytes=65536&previous=true",
                "GET /api/v1/namespaces/shop/events?fieldSelector=involvedObject.kind%3DDeployment%2CinvolvedObject.name%3Dcheckout",
                "GET /api/v1/namespaces/shop/events?fieldSelector=involvedObject.kind%3DPod%2CinvolvedObject.name%3D{pod}",
                "PATCH /api/v1/namespaces/shop/configmaps/inc-42-diag-0?fieldManager=firebreak&force=true",
            ]
        );
    }

    #[test]
    fn config_map_is_named_and_labelled_for_the_incident() {
        let (t, l) = (target(), pod_labels());
        let requests = render_apply(
            &ActionKind::Diagnostics(DiagnosticsSpec::default()),
            &ctx(&t, &l),
        )
        .unwrap();
        let apply = requests.last().unwrap();
        assert_eq!(apply.method, Method::Patch);
        assert_eq!(apply.content_type, Some(APPLY_PATCH));
        let body = apply.body.as_ref().unwrap();
        assert_eq!(
            body["metadata"],
            json!({"name": "inc-42-diag-0", "namespace": "shop", "labels": {
                "app.kubernetes.io/managed-by": "firebreak", "firebreak.dev/incident": "inc-42"
            }})
        );
        assert_eq!(
            (body["apiVersion"].as_str(), body["kind"].as_str()),
            (Some("v1"), Some("ConfigMap"))
        );
        assert_eq!(
            body["data"]["pod.<pod>.<container>.log"],
            "<last 500 lines, at most 65536 bytes, redacted>"
        );
        assert!(
            apply
                .note
                .as_deref()
                .unwrap()
                .contains("ownerReference to the Incident")
        );
    }

    #[test]
    fn limits_previous_and_exec_follow_the_spec() {
        let spec = DiagnosticsSpec {
            max_pods: Some(1),
            tail_lines: Some(50),
            max_log_bytes: Some(1000),
            previous: Some(false),
            exec: Some(ExecSpec {
                command: vec!["jcmd".into(), "1".into(), "Thread.print".into()],
                container: Some("app".into()),
                timeout: Some(Duration::from_secs(10)),
            }),
        };
        let lines = lines(spec);
        assert_eq!(lines.len(), 6);
        assert!(lines.iter().all(|l| !l.contains("previous=true")));
        assert_eq!(
            lines[1],
            "GET /api/v1/namespaces/shop/pods/{pod}/log?container={container}&tailLines=50&limitBytes=1000"
        );
        assert_eq!(
            lines[4],
            "GET /api/v1/namespaces/shop/pods/{pod}/exec?&stdout=true&stderr=true&container=app&command=jcmd&command=1&command=Thread.print"
        );
    }

    #[test]
    fn exec_path_is_the_one_kube_sends() {
        use k8s_openapi::api::core::v1::Pod;
        use kube::Resource;
        use kube::api::AttachParams;
        let command = ["jcmd", "1", "Thread.print"].map(String::from);
        let kube = kube::core::Request::new(Pod::url_path(&(), Some("shop")))
            .exec(
                "checkout-7d9f-abcde",
                command.clone(),
                &AttachParams::default().container("app"),
            )
            .expect("request");
        assert_eq!(
            super::exec_path("shop", "checkout-7d9f-abcde", "app", &command),
            kube.uri().to_string()
        );
    }

    #[test]
    fn config_map_names_are_deterministic_per_index() {
        assert_eq!(
            super::config_map_name("memory-leak-pricer-1772443440", 1),
            "memory-leak-pricer-1772443440-diag-1"
        );
    }

    #[test]
    fn diagnostics_are_not_reversible() {
        let (t, l) = (target(), pod_labels());
        let action = ActionKind::Diagnostics(DiagnosticsSpec::default());
        assert_eq!(render_revert(&action, &ctx(&t, &l)), Ok(vec![]));
    }
}
