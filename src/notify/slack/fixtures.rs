//! Test fixtures: a playbook with Slack routes and notices built step by step.

use std::sync::Arc;

use jiff::Timestamp;

use super::thread::Queued;
use super::view::PlaybookView;
use crate::incident::Operation;
use crate::notify::notice::{NoticeAction, ObjectRef, SCHEMA_VERSION, WorkloadRef};
use crate::notify::{Notice, NoticeKind, NoticeReading};
use crate::playbook::ValidPlaybook;
use crate::playbook::load::parse_documents;
use crate::severity::Severity;

/// `shop/checkout-latency`: low quiet in `#shop-alerts`, high in `#incidents`
/// mentioning `@oncall`, with detectors `latency-p99` and `error-rate`.
pub fn playbook() -> ValidPlaybook {
    let yaml = r##"
apiVersion: firebreak.dev/v1alpha1
kind: Playbook
metadata: {name: checkout-latency, namespace: shop}
spec:
  target: {names: [checkout]}
  detectors:
    - {name: latency-p99, latency: {}, thresholds: {low: 0.3, high: 0.8}}
    - {name: error-rate, errorRate: {}, thresholds: {medium: 0.02, critical: 0.1}}
  actions:
    low: [{notify: {}}]
  notify:
    slack:
      low: {channel: "#shop-alerts", quiet: true}
      high: {channel: "#incidents", mentions: ["@oncall"]}
"##;
    match parse_documents(yaml, None).pop() {
        Some(Ok(pb)) => pb,
        other => panic!("fixture playbook invalid: {other:?}"),
    }
}

pub fn view() -> Arc<PlaybookView> {
    Arc::new(PlaybookView::of(&playbook()))
}

pub fn t0() -> Timestamp {
    Timestamp::from_second(1_767_225_600).expect("time")
}

pub const INCIDENT: &str = "checkout-latency-checkout-20260101t000000z";

/// The incident's notice `kind` at `secs` after it opened.
pub fn notice(kind: NoticeKind, secs: i64, severity: Severity) -> Notice {
    Notice {
        schema_version: SCHEMA_VERSION,
        id: format!("{INCIDENT}/{}/{secs}", kind.as_str()),
        kind,
        at: t0() + jiff::SignedDuration::from_secs(secs),
        incident: INCIDENT.to_owned(),
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
        phase: "open".into(),
        opened_at: t0(),
        duration_seconds: None,
        readings: vec![NoticeReading {
            detector: "latency-p99".into(),
            value: Some(0.42),
            threshold: Some(0.3),
            severity: Some(severity),
            no_data: None,
            at: t0(),
        }],
        action: None,
    }
}

pub fn escalated(secs: i64, from: Severity, to: Severity) -> Notice {
    let mut n = notice(NoticeKind::Escalated, secs, to);
    n.previous_severity = Some(from);
    n
}

pub fn action(kind: NoticeKind, secs: i64, name: &str, dry_run: bool) -> Notice {
    let mut n = notice(kind, secs, Severity::High);
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
        error: (kind == NoticeKind::ActionFailed).then(|| "admission webhook denied".into()),
        note: None,
        message: None,
    });
    n
}

pub fn queued(n: Notice) -> Queued {
    Queued {
        view: view(),
        notice: n,
        enqueued: tokio::time::Instant::now(),
    }
}
