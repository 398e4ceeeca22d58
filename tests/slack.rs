//! The Slack sink against a stand-in for Slack's Web API on loopback: one root
//! per incident updated in place, replies in order, nothing lost or doubled
//! under 429s and 500s, restore after a restart, and the webhook mode.

mod support;

use std::sync::Arc;
use std::time::Duration;

use firebreak::incident::resource::Incident;
use firebreak::notify::slack::{Secret, SlackSink};
use firebreak::notify::{Notice, Sink};
use firebreak::telemetry::Metrics;
use serde_json::json;
use support::slack_lifecycle::{
    INCIDENT, REPLIES, count, kube_client, lifecycle, playbook, settings, sink,
};
use support::slack_server::{Fault, Msg, SlackServer, TOKEN};

/// The one root and its replies; asserts there is exactly one root.
fn thread(server: &SlackServer) -> (Msg, Vec<Msg>) {
    let roots = server.top_level("C0INCIDENTS");
    assert_eq!(roots.len(), 1, "exactly one root: {roots:#?}");
    let root = roots.into_iter().next().expect("root");
    let replies = server.replies(&root.ts);
    (root, replies)
}

fn assert_replies(replies: &[Msg]) {
    let texts: Vec<String> = replies.iter().map(Msg::all_text).collect();
    assert_eq!(replies.len(), REPLIES.len(), "{texts:#?}");
    for (text, want) in texts.iter().zip(REPLIES) {
        assert!(text.contains(want), "{want:?} not in {text}");
    }
    // The escalation pings and shows in the channel; the rest stays in the thread.
    assert!(replies[0].broadcast && texts[0].contains("@oncall"));
    assert!(replies[1..].iter().all(|r| !r.broadcast));
}

fn assert_resolved_root(root: &Msg) {
    let text = root.all_text();
    assert!(
        text.contains(":white_check_mark: HIGH · shop/checkout · resolved"),
        "{text}"
    );
    assert!(
        text.contains("*Actions:* 2 applied · 1 dry-run · 1 failed · 1 reverted"),
        "{text}"
    );
    assert!(text.contains("*Duration*\n15m 0s"), "{text}");
    assert_eq!(root.body["attachments"][0]["color"], "#2EB67D");
}

async fn run_lifecycle(server: &SlackServer, faults: &[(usize, Vec<Fault>)]) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::default());
    let mut sink = sink(server, &metrics);
    let pb = playbook("#incidents", "#incidents");
    for (cycle, notices) in lifecycle().into_iter().enumerate() {
        for (at, f) in faults {
            if *at == cycle {
                server.fail_next(f.clone());
            }
        }
        sink.publish(&pb, &notices);
        sink.flush().await;
    }
    metrics
}

#[tokio::test]
async fn a_full_lifecycle_is_one_root_updated_in_place_with_replies_in_order() {
    let server = SlackServer::start().await;
    let metrics = run_lifecycle(&server, &[]).await;
    assert_eq!(server.violations(), Vec::<String>::new());
    let (root, replies) = thread(&server);
    assert_replies(&replies);
    assert_resolved_root(&root);
    // Opened → escalated → actions → mitigated → resolved → reverted: one update per cycle after the first.
    assert_eq!(root.updates, 5);
    assert_eq!(
        server
            .calls()
            .iter()
            .filter(|c| *c == "chat.postMessage")
            .count(),
        9
    );
    assert_eq!(count(&metrics, "delivered"), 9);
    assert_eq!(count(&metrics, "failed"), 0);
    assert!(
        metrics
            .encode()
            .contains("firebreak_notices_queued{sink=\"slack\"} 0")
    );
}

#[tokio::test]
async fn the_lifecycle_under_429s_and_500s_ends_the_same_without_duplicates() {
    let clean = SlackServer::start().await;
    run_lifecycle(&clean, &[]).await;
    let (clean_root, clean_replies) = thread(&clean);

    let server = SlackServer::start().await;
    let rate_limited = Fault::RateLimited { retry_after: 1 };
    let faults = [
        (0, vec![rate_limited.clone(), Fault::ServerError]),
        (1, vec![Fault::ServerError, Fault::ServerError]),
        (
            2,
            vec![Fault::ServerError, rate_limited, Fault::ServerError],
        ),
        (4, vec![Fault::Error("internal_error"), Fault::ServerError]),
    ];
    let metrics = run_lifecycle(&server, &faults).await;
    assert_eq!(server.violations(), Vec::<String>::new());
    let (root, replies) = thread(&server);
    assert_replies(&replies);
    assert_resolved_root(&root);
    assert_eq!(root.body, clean_root.body, "same final root");
    let bodies = |r: &[Msg]| r.iter().map(|m| m.body.clone()).collect::<Vec<_>>();
    assert_eq!(
        bodies(&replies),
        bodies(&clean_replies),
        "same replies, none doubled"
    );
    assert_eq!(count(&metrics, "retried"), 9);
    assert_eq!(count(&metrics, "failed"), 0);
}

#[tokio::test]
async fn a_burst_of_steps_is_one_root_post_and_no_update() {
    let server = SlackServer::start().await;
    let metrics = Arc::new(Metrics::default());
    let mut sink = sink(&server, &metrics);
    let all: Vec<Notice> = lifecycle().into_iter().flatten().collect();
    sink.publish(&playbook("#incidents", "#incidents"), &all);
    sink.flush().await;
    let (root, replies) = thread(&server);
    assert_eq!(root.updates, 0, "the root was posted as it ends");
    assert_resolved_root(&root);
    assert_replies(&replies);
    assert!(!server.calls().contains(&"chat.update".to_owned()));
}

#[tokio::test]
async fn a_root_post_without_an_answer_is_never_sent_again() {
    let server = SlackServer::start().await;
    let metrics = Arc::new(Metrics::default());
    let mut settings = settings(&server);
    settings.timeout = Duration::from_millis(300);
    let mut sink =
        SlackSink::web_api(&settings, &Secret::new(TOKEN), metrics.clone(), None).expect("sink");
    let pb = playbook("#incidents", "#incidents");
    let cycles = lifecycle();
    // Slack posts the root but the answer comes after the client gave up.
    server.fail_next([Fault::Hang(Duration::from_millis(800))]);
    sink.publish(&pb, &cycles[0]);
    sink.flush().await;
    for notices in &cycles[1..] {
        sink.publish(&pb, notices);
        sink.flush().await;
    }
    let top = server.top_level("C0INCIDENTS");
    let roots: Vec<&Msg> = top
        .iter()
        .filter(|m| m.all_text().contains("· open"))
        .collect();
    assert_eq!(roots.len(), 1, "the root went out once: {top:#?}");
    assert!(
        server.messages().iter().all(|m| m.thread_ts.is_none()),
        "no thread without a known root"
    );
    // Every later step still reached the channel, as a message of its own.
    assert_eq!(top.len(), 1 + REPLIES.len());
    assert!(top[1].all_text().contains("escalated from low"));
    assert!(
        top.last()
            .is_some_and(|m| m.all_text().contains("incident on `shop/checkout`"))
    );
    assert_eq!(count(&metrics, "failed"), 1);
    assert_eq!(server.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_restored_thread_gets_the_replies_and_never_a_second_root() {
    let server = SlackServer::start().await;
    let (channel, ts) = server.seed_root("#incidents", "posted by the previous leader");
    let incident: Incident = serde_json::from_value(json!({
        "apiVersion": "firebreak.dev/v1alpha1",
        "kind": "Incident",
        "metadata": { "name": INCIDENT, "namespace": "shop" },
        "spec": {
            "playbook": "checkout-latency",
            "target": { "kind": "Deployment", "name": "checkout" },
            "openedAt": "2026-01-01T00:00:00Z",
            "openedSeverity": "low",
        },
        "status": {
            "phase": "Open",
            "slack": { "channel": channel, "ts": ts },
            "steps": [{ "key": "k", "severity": "high", "index": 0, "action": "rateLimit", "state": { "state": "Done" } }],
        },
    }))
    .expect("incident");
    let metrics = Arc::new(Metrics::default());
    let mut sink = sink(&server, &metrics);
    sink.restore(&incident);
    let pb = playbook("#incidents", "#incidents");
    for notices in &lifecycle()[4..] {
        sink.publish(&pb, notices);
        sink.flush().await;
    }
    let (root, replies) = thread(&server);
    assert_eq!(root.ts, ts);
    assert_eq!(replies.len(), 2, "{replies:#?}");
    assert!(replies[0].all_text().contains("*Resolved*"));
    assert!(replies[1].all_text().contains("*rateLimit* reverted"));
    let text = root.all_text();
    assert!(
        text.contains("· resolved") && text.contains("1 applied · 1 reverted"),
        "{text}"
    );
    assert_eq!(server.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn escalating_into_another_channel_cross_posts_a_link_to_the_thread() {
    let server = SlackServer::start().await;
    let metrics = Arc::new(Metrics::default());
    let mut sink = sink(&server, &metrics);
    let pb = playbook("#shop-alerts", "#incidents");
    for notices in &lifecycle()[..2] {
        sink.publish(&pb, notices);
        sink.flush().await;
    }
    let roots = server.top_level("C0SHOPALERTS");
    assert_eq!(roots.len(), 1);
    assert!(
        !roots[0].all_text().contains("@oncall"),
        "the low route is quiet"
    );
    let replies = server.replies(&roots[0].ts);
    assert_eq!(replies.len(), 1);
    assert!(replies[0].broadcast);
    let cross = server.top_level("C0INCIDENTS");
    assert_eq!(cross.len(), 1, "{cross:#?}");
    let text = cross[0].all_text();
    assert!(
        text.contains("@oncall") && text.contains("escalated from low"),
        "{text}"
    );
    let link = format!(
        "https://firebreak-test.slack.com/archives/C0SHOPALERTS/p{}",
        roots[0].ts.replace('.', "")
    );
    assert!(text.contains(&link), "{text}");
    assert_eq!(server.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_refused_message_is_counted_and_not_retried() {
    let server = SlackServer::start().await;
    let metrics = Arc::new(Metrics::default());
    let mut sink = SlackSink::web_api(
        &settings(&server),
        &Secret::new("xoxb-revoked"),
        metrics.clone(),
        None,
    )
    .expect("sink");
    sink.publish(&playbook("#incidents", "#incidents"), &lifecycle()[0]);
    sink.flush().await;
    assert!(server.messages().is_empty());
    assert_eq!(
        server.calls(),
        vec!["chat.postMessage".to_owned()],
        "invalid_auth is final"
    );
    assert_eq!(count(&metrics, "failed"), 1);
}

#[tokio::test]
async fn publish_never_waits_and_a_full_queue_drops_and_counts() {
    let server = SlackServer::start().await;
    let metrics = Arc::new(Metrics::default());
    let mut settings = settings(&server);
    settings.queue = 2;
    let mut sink =
        SlackSink::web_api(&settings, &Secret::new(TOKEN), metrics.clone(), None).expect("sink");
    let pb = playbook("#incidents", "#incidents");
    server.fail_next([Fault::Hang(Duration::from_millis(1500))]);
    let cycles = lifecycle();
    sink.publish(&pb, &cycles[0]);
    while server.calls().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The delivery task is stuck on Slack; publishing must not be.
    let started = std::time::Instant::now();
    let rest: Vec<Notice> = cycles[1..].iter().flatten().cloned().collect();
    sink.publish(&pb, &rest);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&metrics, "dropped"), rest.len() as u64 - 2);
    assert!(
        metrics
            .encode()
            .contains("firebreak_notices_dropped_total{sink=\"slack\",severity=\"high\"}")
    );
}

#[tokio::test]
async fn webhook_mode_posts_one_message_per_notice_without_threads() {
    let server = SlackServer::start().await;
    let metrics = Arc::new(Metrics::default());
    let mut sink = SlackSink::webhook(
        &settings(&server),
        &Secret::new(server.webhook_url.clone()),
        metrics.clone(),
        None,
    )
    .expect("sink");
    let pb = playbook("#incidents", "#incidents");
    server.fail_next([Fault::RateLimited { retry_after: 1 }, Fault::ServerError]);
    let started = std::time::Instant::now();
    for notices in lifecycle() {
        sink.publish(&pb, &notices);
        sink.flush().await;
    }
    let posted = server.webhook_messages();
    assert_eq!(
        posted.len(),
        1 + REPLIES.len(),
        "one per notice, none doubled"
    );
    let text = support::slack_blocks::all_text;
    assert!(text(&posted[0]).contains("LOW · shop/checkout · opened"));
    assert!(
        text(&posted[1]).contains("escalated from low") && text(&posted[1]).contains("@oncall")
    );
    assert!(
        text(&posted[2]).contains("*rateLimit* applied")
            && text(&posted[2]).contains("incident on `shop/checkout`")
    );
    assert!(text(&posted[7]).contains("resolved after 15m 0s"));
    assert_eq!(count(&metrics, "retried"), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was waited"
    );
    assert_eq!(server.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn operator_mode_records_the_thread_and_failures_in_the_incident_status() {
    let server = SlackServer::start().await;
    let (client, api) = kube_client();
    let metrics = Arc::new(Metrics::default());
    let mut sink = SlackSink::web_api(
        &settings(&server),
        &Secret::new(TOKEN),
        metrics.clone(),
        Some(client),
    )
    .expect("sink");
    let pb = playbook("#incidents", "#incidents");
    let cycles = lifecycle();
    sink.publish(&pb, &cycles[0]);
    sink.flush().await;
    // The root update of the next cycle is refused: counted, logged, on the timeline.
    server.fail_next([Fault::Error("msg_too_long")]);
    sink.publish(&pb, &cycles[1]);
    sink.flush().await;
    drop(sink);
    let seen = tokio::time::timeout(Duration::from_secs(5), api)
        .await
        .expect("api server done")
        .expect("api task");
    let (root, _) = thread(&server);
    let path =
        format!("PATCH /apis/firebreak.dev/v1alpha1/namespaces/shop/incidents/{INCIDENT}/status");
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[0].0, path);
    assert_eq!(seen[0].1, "application/merge-patch+json");
    assert_eq!(
        seen[0].2,
        json!({ "status": { "slack": { "channel": "C0INCIDENTS", "ts": root.ts } } })
    );
    assert_eq!(seen[1].0, path);
    assert_eq!(seen[1].1, "application/json-patch+json");
    let op = &seen[1].2[0];
    assert_eq!(
        (op["op"].as_str(), op["path"].as_str()),
        (Some("add"), Some("/status/timeline/-"))
    );
    assert_eq!(op["value"]["event"], firebreak::notify::slack::FAILED_EVENT);
    let message = op["value"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("chat.update") && message.contains("msg_too_long"),
        "{message}"
    );
    assert_eq!(count(&metrics, "failed"), 1);
}
