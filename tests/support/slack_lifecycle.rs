//! The incident lifecycle the Slack tests replay, and the sinks and clients they use.

use std::sync::Arc;
use std::time::Duration;

use firebreak::incident::Operation;
use firebreak::notify::notice::{NoticeAction, ObjectRef, SCHEMA_VERSION, WorkloadRef};
use firebreak::notify::slack::{RetryPolicy, Secret, SlackSettings, SlackSink};
use firebreak::notify::{Notice, NoticeKind, NoticeReading};
use firebreak::playbook::ValidPlaybook;
use firebreak::playbook::load::parse_documents;
use firebreak::severity::Severity;
use firebreak::telemetry::Metrics;
use jiff::{SignedDuration, Timestamp};

use super::slack_server::{SlackServer, TOKEN};

pub const INCIDENT: &str = "checkout-latency-checkout-20260101t000000z";

pub fn playbook(low: &str, high: &str) -> ValidPlaybook {
    let yaml = format!(
        r##"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {{name: checkout-latency, namespace: shop}}
spec:
  target: {{names: [checkout]}}
  detectors:
    - {{name: latency-p99, latency: {{}}, thresholds: {{low: 0.3, high: 0.8}}}}
  actions:
    low: [{{notify: {{}}}}]
  notify:
    slack:
      low: {{channel: "{low}", quiet: true}}
      high: {{channel: "{high}", mentions: ["@oncall"]}}
"##
    );
    match parse_documents(&yaml, None).pop() {
        Some(Ok(pb)) => pb,
        other => panic!("test playbook invalid: {other:?}"),
    }
}

pub fn t0() -> Timestamp {
    Timestamp::from_second(1_767_225_600).expect("time")
}

pub fn notice(kind: NoticeKind, secs: i64, severity: Severity, phase: &str) -> Notice {
    Notice {
        schema_version: SCHEMA_VERSION,
        id: format!("{INCIDENT}/{}/{secs}", kind.as_str()),
        kind,
        at: t0() + SignedDuration::from_secs(secs),
        incident: INCIDENT.into(),
        playbook: ObjectRef {
            namespace: "shop".into(),
            name: "checkout-latency".into(),
        },
        target: WorkloadRef {
            namespace: "shop".into(),
            kind: "Deployment".into(),
            name: "checkout".into(),
        },
        severity,
        previous_severity: None,
        phase: phase.into(),
        opened_at: t0(),
        duration_seconds: (kind == NoticeKind::Resolved).then_some(secs),
        // After the resolution, notices carry no readings (as `Notices::build` does).
        readings: (kind != NoticeKind::ActionReverted)
            .then(|| NoticeReading {
                detector: "latency-p99".into(),
                value: Some(if phase == "open" { 0.91 } else { 0.12 }),
                threshold: Some(0.8),
                severity: (phase == "open").then_some(severity),
                no_data: None,
                at: t0() + SignedDuration::from_secs(secs),
            })
            .into_iter()
            .collect(),
        action: None,
    }
}

pub fn action(kind: NoticeKind, secs: i64, name: &str, dry_run: bool, phase: &str) -> Notice {
    let mut n = notice(kind, secs, Severity::High, phase);
    n.id = format!("{INCIDENT}/{}/{name}/{secs}", kind.as_str());
    n.action = Some(NoticeAction {
        key: format!("{INCIDENT}/high/0/{name}"),
        action: name.into(),
        operation: if kind == NoticeKind::ActionReverted {
            Operation::Revert
        } else {
            Operation::Apply
        },
        severity: Severity::High,
        dry_run,
        error: (kind == NoticeKind::ActionFailed)
            .then(|| "admission webhook denied the request".into()),
        note: (name == "diagnostics")
            .then(|| "2 pods captured into configmap/fb-diag-checkout-1".into()),
        message: None,
    });
    n
}

/// Opened low → escalated high → actions (one dry-run, one failed) → mitigated →
/// resolved → reverts; one entry per evaluation cycle.
pub fn lifecycle() -> Vec<Vec<Notice>> {
    let mut escalated = notice(NoticeKind::Escalated, 60, Severity::High, "open");
    escalated.previous_severity = Some(Severity::Low);
    vec![
        vec![notice(NoticeKind::Opened, 0, Severity::Low, "open")],
        vec![escalated],
        vec![
            action(NoticeKind::ActionApplied, 61, "rateLimit", false, "open"),
            action(NoticeKind::ActionApplied, 61, "rollback", true, "open"),
            action(
                NoticeKind::ActionFailed,
                61,
                "circuitBreaker",
                false,
                "open",
            ),
            action(NoticeKind::ActionApplied, 62, "diagnostics", false, "open"),
        ],
        vec![notice(
            NoticeKind::Mitigated,
            300,
            Severity::High,
            "mitigated",
        )],
        vec![notice(
            NoticeKind::Resolved,
            900,
            Severity::High,
            "resolved",
        )],
        vec![action(
            NoticeKind::ActionReverted,
            930,
            "rateLimit",
            false,
            "resolved",
        )],
    ]
}

/// What each reply must say, in order.
pub const REPLIES: [&str; 8] = [
    ":arrow_up: *Escalated* low → *high*",
    "*rateLimit* applied",
    "*rollback* dry-run",
    "*circuitBreaker* apply failed",
    "*Diagnostics* captured",
    "*Mitigated*",
    "*Resolved* after 15m 0s",
    "*rateLimit* reverted",
];

pub fn settings(server: &SlackServer) -> SlackSettings {
    let mut s = SlackSettings::new(server.api_url.parse().expect("api url"));
    s.retry = RetryPolicy {
        attempts: 5,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        max_wait: Duration::from_secs(5),
    };
    s.timeout = Duration::from_secs(2);
    s.flush_deadline = Duration::from_secs(30);
    s
}

pub fn sink(server: &SlackServer, metrics: &Arc<Metrics>) -> SlackSink {
    SlackSink::web_api(
        &settings(server),
        &Secret::new(TOKEN),
        metrics.clone(),
        None,
    )
    .expect("sink")
}

pub fn count(metrics: &Metrics, result: &str) -> u64 {
    let want = format!("firebreak_deliveries_total{{sink=\"slack\",result=\"{result}\"}} ");
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&want).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// `METHOD uri`, content type and JSON body of each request the API server got.
pub type Requests = Vec<(String, String, serde_json::Value)>;

/// A scripted API server that accepts every request and keeps what it got.
pub fn kube_client() -> (kube::Client, tokio::task::JoinHandle<Requests>) {
    use kube::client::Body;
    let (service, mut handle) =
        tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let what = format!("{} {}", request.method(), request.uri());
            let bytes = request.into_body().collect_bytes().await.expect("body");
            seen.push((
                what,
                content_type,
                serde_json::from_slice(&bytes).expect("json body"),
            ));
            let response = http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(b"{}".to_vec()))
                .expect("response");
            send.send_response(response);
        }
        seen
    });
    (kube::Client::new(service, "shop"), server)
}
