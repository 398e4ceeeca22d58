//! Diagnostics captures at their bounds: a capture larger than one ConfigMap,
//! and the exec, off unless the operator enables it.

use http::Method;

use super::fixtures::pod;
use super::tests::{
    INCIDENT_UID, PODS, applied, capture, config_map, events, log, no_events, one_pod, pods,
};
use crate::operator::testing_writers::fixtures::ID;
use crate::operator::testing_writers::{Reply, expect};
use crate::playbook::action::{DiagnosticsSpec, ExecSpec};

#[tokio::test]
async fn a_capture_over_one_config_map_is_split_then_cut_within_the_size_bound() {
    // Five pods, two containers each, 400 KiB per log: 4 MB against four
    // ConfigMaps of 900 KiB. Two logs per ConfigMap, the last two cut to fit.
    let bytes = 400 * 1024;
    let names: Vec<String> = (0..5).map(|i| format!("pricer-7d9f-{i}aaaa")).collect();
    let line = "2026-03-02T09:24:00Z INFO quote computed in 12ms for instrument 42\n";
    let big = line.repeat(bytes / line.len());
    let mut script = vec![expect(
        Method::GET,
        PODS,
        pods(
            names
                .iter()
                .map(|n| pod(n, "pricer-7d9f", true, 0))
                .collect(),
        ),
    )];
    for name in &names {
        for container in ["app", "sidecar"] {
            script.push(expect(
                Method::GET,
                log(name, container, 500, 512 * 1024, false),
                Reply::Text(big.clone()),
            ));
        }
    }
    script.push(expect(
        Method::GET,
        events("Deployment", "pricer"),
        no_events(),
    ));
    for name in &names {
        script.push(expect(Method::GET, events("Pod", name), no_events()));
    }
    for i in 0..4 {
        script.push(expect(Method::PATCH, config_map(i), Reply::Stored("8001")));
    }
    let spec = DiagnosticsSpec {
        max_pods: Some(5),
        max_log_bytes: Some(512 * 1024),
        ..DiagnosticsSpec::default()
    };
    let (out, received) = capture(spec, false, script).await;
    let note = out.expect("captured").note.expect("a note");
    assert!(
        note.starts_with(&format!(
            "captured 5 pods (10 logs, 0 events) into ConfigMaps {ID}-diag-0, {ID}-diag-1, {ID}-diag-2, {ID}-diag-3"
        )),
        "{note}"
    );
    assert!(
        note.ends_with("; size budget: 2 files cut, 0 left out"),
        "{note}"
    );
    let mut cut = 0;
    for i in 0..4 {
        let cm = applied(&received, received.len() - 4 + i);
        assert_eq!(cm["metadata"]["ownerReferences"][0]["uid"], INCIDENT_UID);
        let data = cm["data"].as_object().expect("data");
        let size: usize = data
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        assert!(size <= 900 * 1024, "ConfigMap {i}: {size} bytes");
        cut += data
            .values()
            .filter(|v| {
                v.as_str()
                    .is_some_and(|s| s.starts_with("[firebreak: cut to the last"))
            })
            .count();
    }
    assert_eq!(cut, 2);
    let summary = applied(&received, received.len() - 4)["data"]["summary.txt"]
        .as_str()
        .expect("summary")
        .to_owned();
    let cut_from = format!("(cut from {} bytes: size budget)", big.len());
    assert_eq!(summary.matches(&cut_from).count(), 2, "{summary}");
}

fn thread_dump() -> Option<ExecSpec> {
    Some(ExecSpec {
        command: vec!["jcmd".into(), "1".into(), "Thread.print".into()],
        container: Some("app".into()),
        timeout: None,
    })
}

#[tokio::test]
async fn exec_is_skipped_when_disabled_and_the_rest_is_captured() {
    let spec = DiagnosticsSpec {
        exec: thread_dump(),
        ..DiagnosticsSpec::default()
    };
    let script = one_pod(vec![expect(
        Method::PATCH,
        config_map(0),
        Reply::Stored("8001"),
    )]);
    let (out, received) = capture(spec, false, script).await;
    let note = out.expect("captured").note.expect("a note");
    assert!(
        note.ends_with("; exec skipped: disabled (enable with --diagnostics-exec, the chart's diagnostics.exec)"),
        "{note}"
    );
    let data = &applied(&received, 5)["data"];
    assert!(
        data["summary.txt"]
            .as_str()
            .is_some_and(|s| s.contains("exec: skipped: disabled"))
    );
    assert!(
        data.as_object()
            .is_some_and(|d| !d.keys().any(|k| k.starts_with("exec.")))
    );
}

#[tokio::test]
async fn exec_refused_by_the_api_server_is_noted_not_fatal() {
    let spec = DiagnosticsSpec {
        exec: thread_dump(),
        ..DiagnosticsSpec::default()
    };
    // kube's WebSocket exec, on the path the dry-run shows; refused without pods/exec.
    let exec = "/api/v1/namespaces/risk/pods/pricer-7d9f-aaaaa/exec?&stdout=true&stderr=true&container=app&command=jcmd&command=1&command=Thread.print";
    let script = one_pod(vec![
        expect(
            Method::GET,
            exec,
            Reply::forbidden(
                "pods \"pricer-7d9f-aaaaa\" is forbidden: User \"system:serviceaccount:firebreak:firebreak\" cannot create resource \"pods/exec\"",
            ),
        ),
        expect(Method::PATCH, config_map(0), Reply::Stored("8001")),
    ]);
    let (out, _) = capture(spec, true, script).await;
    let note = out.expect("captured").note.expect("a note");
    assert!(
        note.contains("; exec failed in pricer-7d9f-aaaaa/app: 403 Forbidden: pods \"pricer-7d9f-aaaaa\" is forbidden"),
        "{note}"
    );
    assert!(
        note.ends_with("; 1 read failed (see summary.txt)"),
        "{note}"
    );
}
