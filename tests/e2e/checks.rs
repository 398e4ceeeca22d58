//! What an incident must have left behind, checked against each service's own
//! record: the Incident resource (steps, phase), the API server's request log,
//! the Slack stand-in's messages and the events an independent consumer reads.

use std::collections::BTreeSet;

use serde_json::Value;

use super::seeds::{Seed, Write};
use super::world::World;
use crate::support::kafka::Consumed;

/// The one Incident of the seed's workload (and none for its bystanders).
pub fn incident(world: &World, seed: &Seed) -> Value {
    let all = world.incidents(seed.namespace);
    for b in seed.bystanders {
        assert!(
            all.iter().all(|i| i["spec"]["target"]["name"] != *b),
            "{}: an incident for the healthy {b}",
            seed.pattern
        );
    }
    let mine: Vec<&Value> = all
        .iter()
        .filter(|i| i["spec"]["target"]["name"] == seed.workload)
        .collect();
    assert_eq!(mine.len(), 1, "{}: incidents {mine:#?}", seed.pattern);
    mine[0].clone()
}

pub fn name(incident: &Value) -> String {
    incident["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `action (severity)` of every step, in the order the Incident lists them.
fn steps(incident: &Value) -> Vec<(String, &Value)> {
    incident["status"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let label = format!(
                "{} ({})",
                s["action"].as_str().unwrap_or_default(),
                s["severity"].as_str().unwrap_or_default()
            );
            (label, s)
        })
        .collect()
}

/// Resolved, at the expected peak, every action done for real (not dry-run), in order.
pub fn lifecycle(incident: &Value, seed: &Seed) {
    let status = &incident["status"];
    let p = seed.pattern;
    assert_eq!(status["phase"], "Resolved", "{p}: {status:#}");
    assert_eq!(status["plannedUpTo"], seed.peak, "{p}: peak");
    let steps = steps(incident);
    let labels: Vec<&str> = steps.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, seed.actions, "{p}: steps");
    for (label, s) in &steps {
        assert_eq!(s["state"]["state"], "Done", "{p}: {label}: {s:#}");
        assert_ne!(s["state"]["dryRun"], true, "{p}: {label} ran dry");
    }
    let reverted: Vec<&str> = steps
        .iter()
        .filter(|(_, s)| !s["revert"].is_null())
        .map(|(l, s)| {
            assert_eq!(s["revert"]["state"], "Done", "{p}: revert of {l}: {s:#}");
            l.as_str()
        })
        .collect();
    let expected: Vec<&str> = seed
        .revert_writes
        .iter()
        .map(|w| {
            if w.path.contains("envoyfilters") {
                "rateLimit (high)"
            } else {
                "circuitBreaker (high)"
            }
        })
        .collect();
    assert_eq!(reverted, expected, "{p}: reverts");
}

/// The writes to workloads and traffic objects, in order, each answered 2xx,
/// with the content type and body fields the seed names.
pub fn writes(world: &World, seed: &Seed) {
    let (ns, p) = (seed.namespace, seed.pattern);
    let prefix = format!("/namespaces/{ns}/");
    let sent = world.action_requests(ns);
    let got: Vec<(String, String)> = sent
        .iter()
        .map(|r| {
            let tail = r
                .path
                .split_once(&prefix)
                .map_or(r.path.as_str(), |(_, t)| t);
            (r.method.to_string(), tail.to_owned())
        })
        .collect();
    let want: Vec<&Write> = seed.writes.iter().chain(seed.revert_writes).collect();
    let want_paths: Vec<(String, String)> = want
        .iter()
        .map(|w| (w.method.to_owned(), w.path.to_owned()))
        .collect();
    assert_eq!(got, want_paths, "{p}: API writes");
    for (r, w) in sent.iter().zip(want) {
        let what = format!("{p}: {} {}", w.method, w.path);
        assert!(
            (200..300).contains(&r.status),
            "{what} answered {}",
            r.status
        );
        assert_eq!(
            r.content_type.as_deref(),
            w.content_type,
            "{what}: content type"
        );
        let body = r.body.clone().unwrap_or(Value::Null);
        for (pointer, expected) in w.body {
            let found = body.pointer(pointer);
            match *expected {
                "*" => assert!(found.is_some(), "{what}: no {pointer} in {body}"),
                literal => {
                    let want: Value = serde_json::from_str(literal).expect("a JSON literal");
                    assert_eq!(found, Some(&want), "{what}: {pointer} in {body}");
                }
            }
        }
    }
}

/// One Slack thread: the root the Incident names, posted once and updated in
/// place, with the steps as replies; no second root for the incident anywhere.
pub fn slack_thread(world: &World, incident: &Value, seed: &Seed) {
    let p = seed.pattern;
    let thread = &incident["status"]["slack"];
    let (channel, ts) = (thread["channel"].as_str(), thread["ts"].as_str());
    let (Some(channel), Some(ts)) = (channel, ts) else {
        panic!("{p}: no Slack thread in the Incident status: {thread}")
    };
    let messages = world.slack.messages();
    let root = messages
        .iter()
        .find(|m| m.channel == channel && m.ts == ts && m.thread_ts.is_none())
        .unwrap_or_else(|| panic!("{p}: root {channel}/{ts} not in Slack"));
    assert!(root.updates >= 1, "{p}: root never updated");
    assert!(
        root.all_text().contains(seed.workload),
        "{p}: {}",
        root.all_text()
    );
    let replies = world.slack.replies(ts);
    assert!(
        replies.len() >= seed.actions.len(),
        "{p}: {} replies for {} steps",
        replies.len(),
        seed.actions.len()
    );
    // Other top-level messages naming the workload can only be cross-posts linking here.
    for m in messages
        .iter()
        .filter(|m| m.thread_ts.is_none() && m.ts != ts)
    {
        if m.all_text().contains(seed.workload) {
            assert_ne!(
                m.channel,
                channel,
                "{p}: a second root in {channel}: {}",
                m.all_text()
            );
        }
    }
    assert!(
        world.slack.violations().is_empty(),
        "{:?}",
        world.slack.violations()
    );
}

/// The incident's CloudEvents: keyed by the incident, opened first, every
/// action applied (and reverted) once, resolved, no `ce_id` twice.
pub fn kafka_events(events: &[Consumed], incident: &Value, seed: &Seed) {
    let p = seed.pattern;
    let name = name(incident);
    let mine: Vec<&Consumed> = events
        .iter()
        .filter(|e| e.key.as_deref() == Some(&name))
        .collect();
    let ids: BTreeSet<&str> = mine.iter().map(|e| e.header("ce_id")).collect();
    assert_eq!(ids.len(), mine.len(), "{p}: a ce_id twice");
    let types: Vec<&str> = mine
        .iter()
        .map(|e| {
            e.header("ce_type")
                .trim_start_matches("dev.firebreak.incident.")
        })
        .collect();
    assert_eq!(types.first(), Some(&"opened"), "{p}: {types:?}");
    assert!(types.contains(&"resolved"), "{p}: {types:?}");
    let partitions: BTreeSet<i32> = mine.iter().map(|e| e.partition).collect();
    assert_eq!(partitions.len(), 1, "{p}: one incident, one partition");
    let subject = format!("{}/{}", seed.namespace, seed.workload);
    assert!(
        mine.iter().all(|e| e.header("ce_subject") == subject),
        "{p}: subject"
    );
    let of = |kind: &str| -> Vec<String> {
        mine.iter()
            .filter(|e| e.header("ce_type").ends_with(kind))
            .map(|e| {
                let a = &e.value["action"];
                format!(
                    "{} ({})",
                    a["action"].as_str().unwrap_or("?"),
                    a["severity"].as_str().unwrap_or("?")
                )
            })
            .collect()
    };
    assert_eq!(of(".action.applied"), seed.actions, "{p}: applied events");
    assert_eq!(
        of(".action.reverted").len(),
        seed.revert_writes.len(),
        "{p}: reverted events"
    );
}

/// Slack and Kafka get the same notices: every one but `opened` (the root) is
/// one reply in the thread, none twice (by text, which names the step and time).
pub fn slack_replies_match_events(
    world: &World,
    events: &[Consumed],
    incident: &Value,
    what: &str,
) {
    let name = name(incident);
    let ids: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.key.as_deref() == Some(&name))
        .map(|e| e.header("ce_id"))
        .collect();
    let ts = incident["status"]["slack"]["ts"]
        .as_str()
        .unwrap_or_default();
    let replies = world.slack.replies(ts);
    let texts: BTreeSet<String> = replies.iter().map(|m| m.body.to_string()).collect();
    assert_eq!(texts.len(), replies.len(), "{what}: a reply posted twice");
    assert_eq!(
        replies.len(),
        ids.len() - 1,
        "{what}: {} replies for {} events (one is the root)",
        replies.len(),
        ids.len()
    );
}

/// The incident's events, deduplicated by `ce_id`, are exactly the steps of its
/// timeline (as the Incident resource records them) that make an event, in order.
/// The incident's events on the topic against its timeline; returns how many.
pub fn events_match_timeline(events: &[Consumed], incident: &Value) -> usize {
    let name = name(incident);
    let mut seen = BTreeSet::new();
    let got: Vec<&str> = events
        .iter()
        .filter(|e| e.key.as_deref() == Some(&name))
        .filter(|e| seen.insert(e.header("ce_id").to_owned()))
        .map(|e| {
            e.header("ce_type")
                .trim_start_matches("dev.firebreak.incident.")
        })
        .collect();
    let timeline = incident["status"]["timeline"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        incident["status"]["timelineDropped"].is_null(),
        "{name}: the timeline was cut; this check needs all of it"
    );
    let want: Vec<&str> = timeline
        .iter()
        .filter_map(|t| {
            let message = t["message"].as_str().unwrap_or_default();
            Some(match t["event"].as_str()? {
                "incidentOpened" => "opened",
                "incidentEscalated" => "escalated",
                "incidentDeescalated" => "deescalated",
                "incidentMitigated" => "mitigated",
                "incidentResolved" => "resolved",
                "actionFinished" if message.contains("failed") => "action.failed",
                "actionFinished" if message.starts_with("Apply") && message.ends_with("done") => {
                    "action.applied"
                }
                "actionFinished" if message.starts_with("Revert") && message.ends_with("done") => {
                    "action.reverted"
                }
                _ => return None,
            })
        })
        .collect();
    assert_eq!(got, want, "{name}: events against the timeline");
    want.len()
}
