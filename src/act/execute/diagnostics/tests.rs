//! Diagnostics captures against a scripted API server: the shipped memory-leak
//! playbook's `risk/pricer`, every request checked in order (method, path with
//! its query) and answered as kube-apiserver would, pod logs as `text/plain`.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::fixtures::{event, list, pod};
use super::{Evidence, IncidentOwner, Reading, Series, Snapshot};
use crate::act::execute::tests::{Case, bodies};
use crate::act::execute::{ExecError, Outcome};
use crate::act::execute::{ExecInput, Executor};
use crate::act::render::APPLY_PATCH;
use crate::operator::testing_writers::fixtures::{ID, NS, t};
use crate::operator::testing_writers::{Exchange, Received, Reply, expect, mock_client, served};
use crate::playbook::action::DiagnosticsSpec;
use crate::playbook::model::ActionKind;

pub(super) const INCIDENT_UID: &str = "5d0c3b7e-2f41-4a8e-9c61-0b7f3e9a2d14";
/// The playbook's pod labels, in key order, percent-encoded.
pub(super) const PODS: &str = "/api/v1/namespaces/risk/pods?labelSelector=app.kubernetes.io%2Fcomponent%3Dpricing%2Capp.kubernetes.io%2Fpart-of%3Drisk-platform";
const CONFIG_MAPS: &str = "/api/v1/namespaces/risk/configmaps";
const SSA: &str = "?fieldManager=firebreak&force=true";

pub(super) fn log(pod: &str, container: &str, tail: u32, bytes: u32, previous: bool) -> String {
    let previous = if previous { "&previous=true" } else { "" };
    format!(
        "/api/v1/namespaces/risk/pods/{pod}/log?container={container}&tailLines={tail}&limitBytes={bytes}{previous}"
    )
}

pub(super) fn events(kind: &str, name: &str) -> String {
    format!(
        "/api/v1/namespaces/risk/events?fieldSelector=involvedObject.kind%3D{kind}%2CinvolvedObject.name%3D{name}"
    )
}

pub(super) fn config_map(i: usize) -> String {
    format!("{CONFIG_MAPS}/{ID}-diag-{i}{SSA}")
}

fn evidence() -> Evidence {
    Evidence {
        owner: IncidentOwner {
            name: ID.to_owned(),
            uid: INCIDENT_UID.to_owned(),
        },
        readings: vec![Reading {
            detector: "memory-pressure".into(),
            value: Some(0.97),
            missing: None,
            thresholds: [("critical".to_owned(), 0.95)].into(),
        }],
        snapshot: Snapshot {
            start: t(-900),
            end: t(0),
            step_seconds: 30,
            series: vec![Series {
                detector: "memory-pressure".into(),
                query: "max by (namespace, workload) (…)".into(),
                samples: vec![(t(-30).as_second(), 0.93), (t(0).as_second(), 0.97)],
                error: None,
            }],
        },
    }
}

/// A capture of `spec` by an executor with exec `enabled`, against `script`.
pub(super) async fn capture(
    spec: DiagnosticsSpec,
    exec_enabled: bool,
    script: Vec<Exchange>,
) -> (Result<Outcome, ExecError>, Vec<Received>) {
    let (client, server) = mock_client(NS);
    let server = server.run(script);
    let case = Case::apply(ActionKind::Diagnostics(spec));
    let (planned, pb) = (case.planned(), case.playbook());
    let input = ExecInput {
        action: &planned,
        pb: &pb,
        current_rps: None,
        undo: None,
        now: t(0),
    };
    let executor = Executor::new(client).with_diagnostics_exec(exec_enabled);
    let result = executor.capture_diagnostics(input, &evidence()).await;
    drop(executor);
    (result, served(server).await)
}

pub(super) fn pods(items: Vec<Value>) -> Reply {
    Reply::ok(list("PodList", items))
}

pub(super) fn no_events() -> Reply {
    Reply::ok(list("EventList", vec![]))
}

/// The ConfigMap applied by request `i`.
pub(super) fn applied(received: &[Received], i: usize) -> &Value {
    let (method, content_type, body) = &bodies(received)[i];
    assert_eq!((method, *content_type), (&Method::PATCH, Some(APPLY_PATCH)));
    body.expect("a ConfigMap")
}

#[tokio::test]
async fn captures_the_most_affected_pods_redacted_into_a_config_map_owned_by_the_incident() {
    let spec = DiagnosticsSpec {
        max_pods: Some(2),
        tail_lines: Some(200),
        max_log_bytes: Some(16384),
        ..DiagnosticsSpec::default()
    };
    let (a, b, c) = (
        "pricer-7d9f-aaaaa",
        "pricer-7d9f-bbbbb",
        "pricer-7d9f-ccccc",
    );
    let leaky = "09:23:59 POST /quote Authorization: Bearer s3cr3t-t0ken-value\n09:24:00 java.lang.OutOfMemoryError: Java heap space\n";
    let (out, received) = capture(
        spec,
        false,
        vec![
            expect(
                Method::GET,
                PODS,
                pods(vec![
                    pod(a, "pricer-7d9f", true, 0),
                    pod(b, "pricer-7d9f", true, 4),
                    pod(c, "pricer-7d9f", false, 1),
                    pod("pricer-canary-5c6b-eeeee", "pricer-canary-5c6b", false, 9),
                ]),
            ),
            // Not ready first, then most restarts; `a` is over maxPods.
            expect(
                Method::GET,
                log(c, "app", 200, 16384, false),
                Reply::Text(leaky.into()),
            ),
            expect(
                Method::GET,
                log(c, "app", 200, 16384, true),
                Reply::Text("before the OOM\n".into()),
            ),
            // The sidecar never restarted: no previous log asked for.
            expect(
                Method::GET,
                log(c, "sidecar", 200, 16384, false),
                Reply::Text("envoy up\n".into()),
            ),
            expect(
                Method::GET,
                log(b, "app", 200, 16384, false),
                Reply::Text("ok\n".into()),
            ),
            expect(
                Method::GET,
                log(b, "app", 200, 16384, true),
                Reply::Status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("previous terminated container \"app\" in pod \"{b}\" not found"),
                ),
            ),
            expect(
                Method::GET,
                log(b, "sidecar", 200, 16384, false),
                Reply::Text(String::new()),
            ),
            expect(Method::GET, events("Deployment", "pricer"), no_events()),
            expect(
                Method::GET,
                events("Pod", c),
                Reply::ok(list(
                    "EventList",
                    vec![event(
                        "Pod",
                        c,
                        "2026-03-02T09:21:00Z",
                        "BackOff",
                        "Back-off restarting failed container",
                    )],
                )),
            ),
            expect(Method::GET, events("Pod", b), no_events()),
            expect(Method::PATCH, config_map(0), Reply::Stored("8001")),
        ],
    )
    .await;
    let out = out.expect("captured");
    let note = out.note.expect("a note");
    assert_eq!(
        note,
        format!(
            "captured 2 pods (5 logs, 1 event) into ConfigMap {ID}-diag-0; 1 read failed (see summary.txt)"
        )
    );
    assert_eq!(
        out.sent.len(),
        10,
        "every read that answered, and the apply"
    );
    assert!(
        out.undo.is_none(),
        "not reversible: garbage-collected with the Incident"
    );

    let cm = applied(&received, 10);
    assert_eq!(cm["metadata"]["name"], format!("{ID}-diag-0"));
    assert_eq!(cm["metadata"]["labels"]["firebreak.dev/incident"], ID);
    assert_eq!(
        cm["metadata"]["ownerReferences"],
        json!([{
            "apiVersion": "firebreak.dev/v1alpha1", "kind": "Incident", "name": ID,
            "uid": INCIDENT_UID, "controller": true, "blockOwnerDeletion": true,
        }])
    );
    let data = cm["data"].as_object().expect("data");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "events.txt",
            "pod.pricer-7d9f-bbbbb.app.log",
            "pod.pricer-7d9f-bbbbb.sidecar.log",
            "pod.pricer-7d9f-ccccc.app.log",
            "pod.pricer-7d9f-ccccc.app.previous.log",
            "pod.pricer-7d9f-ccccc.sidecar.log",
            "prometheus.json",
            "readings.json",
            "summary.txt",
        ]
    );
    let app_log = data["pod.pricer-7d9f-ccccc.app.log"].as_str().expect("log");
    assert!(!cm.to_string().contains("s3cr3t"), "the token is stored");
    assert!(
        app_log.contains("Authorization: Bearer [REDACTED]"),
        "{app_log}"
    );
    assert!(app_log.contains("OutOfMemoryError"));
    let events_txt = data["events.txt"].as_str().expect("events");
    assert!(
        events_txt.contains("BackOff Pod/pricer-7d9f-ccccc (x3): Back-off"),
        "{events_txt}"
    );
    let readings: Value =
        serde_json::from_str(data["readings.json"].as_str().expect("json")).expect("valid");
    assert_eq!(readings[0]["value"], 0.97);
    let prometheus: Value =
        serde_json::from_str(data["prometheus.json"].as_str().expect("json")).expect("valid");
    assert_eq!(
        prometheus["series"][0]["samples"][1],
        json!([t(0).as_second(), 0.97])
    );
    assert_eq!(prometheus["stepSeconds"], 30);
    let summary = data["summary.txt"].as_str().expect("summary");
    for want in [
        "pods: 2 of the target's 3, most affected first (1 more matched the labels but belong to another workload)",
        "pricer-7d9f-ccccc phase=Running ready=false restarts=1",
        "previous log of pricer-7d9f-bbbbb/app: 400 BadRequest: previous terminated container",
        "files (1 values redacted):",
        &format!(
            "pod.pricer-7d9f-ccccc.app.log {} bytes in {ID}-diag-0",
            app_log.len()
        ),
    ] {
        assert!(summary.contains(want), "{want:?} not in\n{summary}");
    }
}

/// One ready pod without restarts: its two logs, the events, then `more`.
pub(super) fn one_pod(more: Vec<Exchange>) -> Vec<Exchange> {
    let p = "pricer-7d9f-aaaaa";
    let mut script = vec![
        expect(
            Method::GET,
            PODS,
            pods(vec![pod(p, "pricer-7d9f", true, 0)]),
        ),
        expect(
            Method::GET,
            log(p, "app", 500, 65536, false),
            Reply::Text("ok\n".into()),
        ),
        expect(
            Method::GET,
            log(p, "sidecar", 500, 65536, false),
            Reply::Text("ok\n".into()),
        ),
        expect(Method::GET, events("Deployment", "pricer"), no_events()),
        expect(Method::GET, events("Pod", p), no_events()),
    ];
    script.extend(more);
    script
}

#[tokio::test]
async fn nothing_readable_fails_with_the_first_refusal_and_writes_nothing() {
    let forbidden = || {
        Reply::forbidden(
            "pods is forbidden: User \"system:serviceaccount:firebreak:firebreak\" cannot list resource \"pods\"",
        )
    };
    let (out, received) = capture(
        DiagnosticsSpec::default(),
        false,
        vec![
            expect(Method::GET, PODS, forbidden()),
            expect(Method::GET, events("Deployment", "pricer"), forbidden()),
        ],
    )
    .await;
    let err = out.expect_err("nothing captured");
    assert_eq!(err.metric_label(), "api_forbidden");
    assert_eq!(received.len(), 2);
}

#[tokio::test]
async fn a_failed_config_map_write_fails_the_capture() {
    let script = one_pod(vec![expect(
        Method::PATCH,
        config_map(0),
        Reply::Status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "etcdserver: request timed out".into(),
        ),
    )]);
    let (out, _) = capture(DiagnosticsSpec::default(), false, script).await;
    let err = out.expect_err("not stored");
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn dry_run_renders_the_capture_and_sends_nothing() {
    let (client, server) = mock_client(NS);
    let server = server.run(vec![]);
    let case = Case {
        dry_run: true,
        ..Case::apply(ActionKind::Diagnostics(DiagnosticsSpec::default()))
    };
    let (planned, pb) = (case.planned(), case.playbook());
    let input = ExecInput {
        action: &planned,
        pb: &pb,
        current_rps: None,
        undo: None,
        now: t(0),
    };
    let out = Executor::new(client)
        .capture_diagnostics(input, &evidence())
        .await
        .expect("rendered");
    assert!(served(server).await.is_empty());
    assert_eq!(out.dry_run[0].path, PODS);
    assert_eq!(
        out.dry_run.last().map(|r| r.path.as_str()),
        Some(config_map(0).as_str())
    );
}
