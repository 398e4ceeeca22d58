//! Thread replies (one per step after the opening) and standalone messages
//! (incoming-webhook mode, or a thread whose root is in doubt), which carry
//! the incident's identity themselves since no root stands above them.

use super::blocks::{self, Message};
use super::root::{self, RootInput, Tally, emoji};
use super::text::{self, escape};
use super::view::{Links, PlaybookView};
use crate::incident::Operation;
use crate::notify::{Notice, NoticeKind};

/// A reply in the incident's thread for `n`; `mentions` ping (escalations).
pub fn render(n: &Notice, mentions: &[String]) -> Message {
    let mentions: Vec<String> = mentions.iter().map(|m| text::mention(m)).collect();
    let line = headline(n);
    let pings: String = mentions.iter().map(|m| format!(" {m}")).collect();
    let mut m = Message::new(&format!("{}{pings}", plain(n)));
    m.link_names = !mentions.is_empty();
    m.push(blocks::section(&format!("{line}{pings}")));
    for detail in details(n) {
        m.push(detail);
    }
    m.push(blocks::context(&[format!(
        "incident `{}` · {}",
        escape(&n.incident),
        text::date(n.at)
    )]));
    m
}

/// A message that stands alone: lifecycle steps as a full summary, actions as
/// their reply preceded by which incident they belong to.
pub fn standalone(n: &Notice, view: &PlaybookView, links: &Links, mentions: &[String]) -> Message {
    let step = match n.kind {
        NoticeKind::Opened => Some("opened".to_owned()),
        NoticeKind::Escalated | NoticeKind::Deescalated => Some(format!(
            "{} from {}",
            if n.kind == NoticeKind::Escalated {
                "escalated"
            } else {
                "de-escalated"
            },
            n.previous_severity.map_or("?", |s| s.as_str())
        )),
        NoticeKind::Mitigated => Some("mitigated".to_owned()),
        NoticeKind::Resolved => Some(format!(
            "resolved after {}",
            text::duration(n.duration_seconds.unwrap_or(0))
        )),
        _ => None,
    };
    if let Some(step) = step {
        return root::render(&RootInput {
            notice: n,
            view,
            links,
            tally: &Tally::default(),
            mentions,
            step: Some(step),
        });
    }
    let mut m = render(n, mentions);
    m.blocks.insert(
        0,
        blocks::context(&[format!(
            "{} *{}* incident on `{}/{}` · playbook `{}/{}`",
            emoji(n.severity),
            n.severity.as_str().to_uppercase(),
            n.target.namespace,
            n.target.name,
            n.playbook.namespace,
            n.playbook.name
        )]),
    );
    m.text = format!(
        "{}/{}: {}",
        n.target.namespace,
        n.target.name,
        std::mem::take(&mut m.text)
    );
    m
}

fn action_name(n: &Notice) -> String {
    n.action
        .as_ref()
        .map_or_else(|| "action".to_owned(), |a| escape(&a.action))
}

/// The reply's first line, in mrkdwn.
fn headline(n: &Notice) -> String {
    let action = action_name(n);
    let dry = n.action.as_ref().is_some_and(|a| a.dry_run);
    let what = n.action.as_ref().map(|a| a.action.as_str()).unwrap_or("");
    let from = n.previous_severity.map_or("?", |s| s.as_str());
    match n.kind {
        NoticeKind::Opened => format!("{} *Opened* at {}", emoji(n.severity), n.severity),
        NoticeKind::Escalated => format!(
            ":arrow_up: *Escalated* {from} → *{}* {}",
            n.severity,
            emoji(n.severity)
        ),
        NoticeKind::Deescalated => {
            format!(":arrow_down: *De-escalated* {from} → *{}*", n.severity)
        }
        NoticeKind::ActionApplied if what == "notify" => ":mega: *Notification*".to_owned(),
        NoticeKind::ActionApplied if what == "diagnostics" => {
            let dry = if dry {
                " (dry-run: nothing captured)"
            } else {
                ""
            };
            format!(":stethoscope: *Diagnostics* captured{dry}")
        }
        NoticeKind::ActionApplied if dry => {
            format!(":test_tube: *{action}* dry-run: recorded, not applied")
        }
        NoticeKind::ActionApplied => format!(":white_check_mark: *{action}* applied"),
        NoticeKind::ActionFailed => {
            let op = match n.action.as_ref().map(|a| a.operation) {
                Some(Operation::Revert) => "revert",
                _ => "apply",
            };
            format!(":x: *{action}* {op} failed")
        }
        NoticeKind::ActionReverted if dry => {
            format!(":leftwards_arrow_with_hook: *{action}* revert (dry-run)")
        }
        NoticeKind::ActionReverted => format!(":leftwards_arrow_with_hook: *{action}* reverted"),
        NoticeKind::Mitigated => ":shield: *Mitigated*".to_owned(),
        NoticeKind::Resolved => format!(
            ":white_check_mark: *Resolved* after {}",
            text::duration(n.duration_seconds.unwrap_or(0))
        ),
    }
}

/// The fallback text: the headline without formatting.
fn plain(n: &Notice) -> String {
    let action = n.action.as_ref().map_or("action", |a| a.action.as_str());
    let subject = format!("{}/{}", n.target.namespace, n.target.name);
    match n.kind {
        NoticeKind::Opened => format!("{subject}: opened at {}", n.severity),
        NoticeKind::Escalated => format!("{subject}: escalated to {}", n.severity),
        NoticeKind::Deescalated => format!("{subject}: de-escalated to {}", n.severity),
        NoticeKind::ActionApplied => format!("{subject}: {action} applied"),
        NoticeKind::ActionFailed => format!("{subject}: {action} failed"),
        NoticeKind::ActionReverted => format!("{subject}: {action} reverted"),
        NoticeKind::Mitigated => format!("{subject}: mitigated"),
        NoticeKind::Resolved => format!("{subject}: resolved"),
    }
}

/// Sections under the headline: the error, the note, the notify message, the diagnostics summary.
fn details(n: &Notice) -> Vec<serde_json::Value> {
    let Some(a) = &n.action else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(error) = &a.error {
        out.push(blocks::section(&format!("```{}```", escape(error))));
    }
    if let Some(message) = &a.message {
        out.push(blocks::section(&escape(message)));
    }
    if let Some(note) = &a.note {
        if a.action == "diagnostics" {
            let pointer = capture_pointer(note, &n.playbook.namespace);
            out.push(blocks::section_cut(
                &format!("```{}```", escape(note)),
                &format!("\n_Truncated._ Full capture: {pointer}"),
            ));
        } else {
            out.push(blocks::section(&escape(note)));
        }
    }
    out
}

/// Where the full diagnostics capture is: the ConfigMap the note names
/// (`configmap/<name>`, `ConfigMap <name>` or `<namespace>/<name>`), else the namespace.
pub fn capture_pointer(note: &str, namespace: &str) -> String {
    let lower = note.to_ascii_lowercase();
    let named = ["configmap/", "configmap "].iter().find_map(|key| {
        let at = lower.find(key)? + key.len();
        let rest = note[at..].trim_start_matches(['`', '"', '\'', ' ']);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/'))
            .collect();
        let name = name.trim_end_matches(['.', '/']);
        (!name.is_empty()).then(|| name.to_owned())
    });
    match named {
        Some(name) => {
            let (ns, name) = name.split_once('/').unwrap_or((namespace, &name));
            format!("`kubectl -n {ns} get configmap {name} -o yaml`")
        }
        None => format!(
            "the incident's diagnostics ConfigMap (`kubectl -n {namespace} get configmaps`)"
        ),
    }
}

/// The note an escalation leaves in another channel: what, and where the thread is.
pub fn crosspost(
    n: &Notice,
    permalink: Option<&str>,
    thread_channel: &str,
    mentions: &[String],
) -> Message {
    let mentions: Vec<String> = mentions.iter().map(|m| text::mention(m)).collect();
    let pings: String = mentions.iter().map(|m| format!("{m} ")).collect();
    let from = n.previous_severity.map_or("?", |s| s.as_str());
    let subject = format!("{}/{}", n.target.namespace, n.target.name);
    let thread = match permalink {
        Some(url) => format!("<{url}|the incident thread>"),
        None => format!("the thread in <#{thread_channel}>"),
    };
    let mut m = Message::new(&format!(
        "{pings}{subject} escalated to {} (from {from})",
        n.severity
    ));
    m.link_names = !mentions.is_empty();
    m.push(blocks::section(&format!(
        "{pings}{} *{}* `{subject}` escalated from {from} · follow {thread}",
        emoji(n.severity),
        n.severity.as_str().to_uppercase()
    )));
    m.push(blocks::context(&[format!(
        "playbook `{}/{}` · incident `{}`",
        n.playbook.namespace,
        n.playbook.name,
        escape(&n.incident)
    )]));
    m
}
