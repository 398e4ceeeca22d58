//! `diagnostics`: read pods, logs and events, then store them in a ConfigMap owned
//! by the Incident (garbage-collected with it, so not reversible).

use serde_json::json;

use super::naming::{encode, label_selector, object_name};
use super::{RenderContext, Request, owned_object};
use crate::playbook::action::DiagnosticsSpec;

// Defaults documented on `DiagnosticsSpec`.
const MAX_PODS: u32 = 3;
const TAIL_LINES: u32 = 500;
const MAX_LOG_BYTES: u32 = 64 * 1024;
const EXEC_TIMEOUT: &str = "30s";

pub(super) fn apply(spec: &DiagnosticsSpec, ctx: &RenderContext) -> Vec<Request> {
    let ns = &ctx.target.namespace;
    let max_pods = spec.max_pods.unwrap_or(MAX_PODS);
    let tail = spec.tail_lines.unwrap_or(TAIL_LINES);
    let bytes = spec.max_log_bytes.unwrap_or(MAX_LOG_BYTES);
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    let log =
        format!("{pods}/{{pod}}/log?container={{container}}&tailLines={tail}&limitBytes={bytes}");
    let each = format!("for each container of up to {max_pods} pods");

    let mut requests = vec![
        Request::get(format!(
            "{pods}?labelSelector={}",
            label_selector(ctx.match_labels)
        ))
        .with_note(format!(
            "up to {max_pods} pods, most affected first (restarts, not ready)"
        )),
        Request::get(log.clone()).with_note(each.clone()),
    ];
    if spec.previous.unwrap_or(true) {
        requests.push(
            Request::get(format!("{log}&previous=true"))
                .with_note(format!("{each} that has restarted")),
        );
    }
    requests.push(Request::get(events(
        ns,
        ctx.kind.as_str(),
        &encode(&ctx.target.name),
    )));
    requests.push(
        Request::get(events(ns, "Pod", "{pod}"))
            .with_note(format!("for each of up to {max_pods} pods")),
    );
    if let Some(exec) = &spec.exec {
        let mut query: Vec<String> = exec
            .command
            .iter()
            .map(|c| format!("command={}", encode(c)))
            .collect();
        query.push(format!(
            "container={}",
            exec.container
                .as_deref()
                .map_or("{container}".into(), encode)
        ));
        query.extend(["stdout=true".into(), "stderr=true".into()]);
        let timeout = exec.timeout.map_or(EXEC_TIMEOUT.into(), |t| t.to_string());
        requests.push(
            Request::get(format!("{pods}/{{pod}}/exec?{}", query.join("&"))).with_note(format!(
                "WebSocket exec in the first pod, timeout {timeout}"
            )),
        );
    }

    let name = object_name("firebreak-diag", ctx.incident_id);
    let mut config_map = owned_object("v1", "ConfigMap", &name, ctx);
    config_map["data"] = json!({
        "pods": "<pod names and statuses>",
        "readings": "<detector readings>",
        "events": "<events of the workload and its pods>",
        "<pod>.<container>.log": format!("<last {tail} lines, at most {bytes} bytes, redacted>"),
    });
    requests.push(Request::post(&format!("/api/v1/namespaces/{ns}/configmaps"), config_map).with_note(
        "data resolved at apply time, kept under the 1 MiB ConfigMap limit; ownerReference to the Incident set at apply time",
    ));
    requests
}

/// Events about one object, by field selector (`involvedObject.kind`, `.name`).
fn events(ns: &str, kind: &str, name: &str) -> String {
    let selector = format!(
        "{}{name}",
        encode(&format!("involvedObject.kind={kind},involvedObject.name="))
    );
    format!("/api/v1/namespaces/{ns}/events?fieldSelector={selector}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{ctx, pod_labels, target};
    use super::super::{Method, render_apply, render_revert};
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
    fn defaults_read_pods_logs_events_then_create_the_config_map() {
        assert_eq!(
            lines(DiagnosticsSpec::default()),
            vec![
                "GET /api/v1/namespaces/shop/pods?labelSelector=app%3Dcheckout%2Ctier%3Dweb",
                "GET /api/v1/namespaces/shop/pods/{pod}/log?container={container}&tailLines=500&limitBytes=65536",
                "GET /api/v1/namespaces/shop/pods/{pod}/log?container={container}&tailLines=500&limitBytes=65536&previous=true",
                "GET /api/v1/namespaces/shop/events?fieldSelector=involvedObject.kind%3DDeployment%2CinvolvedObject.name%3Dcheckout",
                "GET /api/v1/namespaces/shop/events?fieldSelector=involvedObject.kind%3DPod%2CinvolvedObject.name%3D{pod}",
                "POST /api/v1/namespaces/shop/configmaps?fieldManager=firebreak",
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
        let post = requests.last().unwrap();
        assert_eq!(post.method, Method::Post);
        assert_eq!(post.content_type, Some("application/json"));
        let body = post.body.as_ref().unwrap();
        assert_eq!(
            body["metadata"],
            json!({"name": "firebreak-diag-inc-42", "namespace": "shop", "labels": {
                "app.kubernetes.io/managed-by": "firebreak", "firebreak.dev/incident": "inc-42"
            }})
        );
        assert_eq!(
            (body["apiVersion"].as_str(), body["kind"].as_str()),
            (Some("v1"), Some("ConfigMap"))
        );
        assert_eq!(
            body["data"]["<pod>.<container>.log"],
            "<last 500 lines, at most 65536 bytes, redacted>"
        );
        assert!(
            post.note
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
            "GET /api/v1/namespaces/shop/pods/{pod}/exec?command=jcmd&command=1&command=Thread.print&container=app&stdout=true&stderr=true"
        );
    }

    #[test]
    fn diagnostics_are_not_reversible() {
        let (t, l) = (target(), pod_labels());
        let action = ActionKind::Diagnostics(DiagnosticsSpec::default());
        assert_eq!(render_revert(&action, &ctx(&t, &l)), Ok(vec![]));
    }
}
