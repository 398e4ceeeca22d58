//! The replay timeline as text for people or JSON lines for machines.

use std::io::Write;

use serde::Serialize;

use crate::act::render::Request;
use crate::engine::{Event, EventKind};
use crate::incident::{Operation, PlannedAction, StepState};
use crate::playbook::model::{ActionKind, Playbook};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// One exact request an action would send.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The Slack message a `notify` action would post.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlackPreview {
    pub channel: String,
    pub text: String,
}

/// A timeline entry: an engine event, plus for issued actions what they would send.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(flatten)]
    pub event: Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<RequestView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackPreview>,
    /// Why the requests could not be rendered (e.g. a relative rate limit without a rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub render_error: Option<String>,
}

impl From<Event> for Entry {
    fn from(event: Event) -> Self {
        Entry {
            event,
            requests: None,
            slack: None,
            render_error: None,
        }
    }
}

impl Entry {
    pub fn issued(
        event: Event,
        pb: &Playbook,
        action: &PlannedAction,
        rendered: Result<Vec<Request>, String>,
    ) -> Self {
        let mut entry = Entry::from(event);
        if let ActionKind::Notify { message } = &action.action.kind {
            entry.slack = pb.route_for(action.severity).map(|route| {
                let mut text = format!(
                    "[{}] {} incident {} (playbook {})",
                    action.severity.as_str().to_uppercase(),
                    action.target,
                    action.incident,
                    pb.id
                );
                if let Some(m) = message {
                    text.push_str(": ");
                    text.push_str(m);
                }
                if !route.quiet && !route.mentions.is_empty() {
                    text = format!("{} {text}", route.mentions.join(" "));
                }
                SlackPreview {
                    channel: route.channel.clone(),
                    text,
                }
            });
            return entry;
        }
        match rendered {
            Ok(requests) => {
                entry.requests = Some(
                    requests
                        .into_iter()
                        .map(|r| RequestView {
                            method: r.method.to_string(),
                            path: r.path,
                            content_type: r.content_type.map(str::to_owned),
                            body: r.body,
                            note: r.note,
                        })
                        .collect(),
                )
            }
            Err(e) => entry.render_error = Some(e),
        }
        entry
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    scenario: &'a str,
    #[serde(flatten)]
    entry: &'a Entry,
}

/// Write one scenario's timeline.
pub fn write(
    out: &mut dyn Write,
    format: Format,
    scenario: &str,
    entries: &[Entry],
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for entry in entries {
                serde_json::to_writer(&mut *out, &JsonLine { scenario, entry })?;
                out.write_all(b"\n")?;
            }
        }
        Format::Text => {
            writeln!(out, "== scenario {scenario}")?;
            for entry in entries {
                write_text(out, entry)?;
            }
            write_summary(out, entries)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Write entries as they happen (live mode): text lines, or bare JSON objects.
pub fn write_stream(out: &mut dyn Write, format: Format, entries: &[Entry]) -> std::io::Result<()> {
    for entry in entries {
        match format {
            Format::Json => {
                serde_json::to_writer(&mut *out, entry)?;
                out.write_all(b"\n")?;
            }
            Format::Text => write_text(out, entry)?,
        }
    }
    out.flush()
}

fn write_text(out: &mut dyn Write, entry: &Entry) -> std::io::Result<()> {
    let e = &entry.event;
    let what = match &e.kind {
        EventKind::DetectorChanged {
            detector,
            from,
            to,
            value,
            threshold,
        } => {
            let mut s = format!("detector {detector}: {from} -> {to}");
            if let Some(v) = value {
                s.push_str(&format!(" (value {}", short(*v)));
                if let Some(t) = threshold {
                    s.push_str(&format!(", threshold {}", short(*t)));
                }
                s.push(')');
            }
            s
        }
        EventKind::IncidentOpened { severity } => format!("INCIDENT OPENED at {severity}"),
        EventKind::IncidentEscalated { from, to, cause } => {
            format!("incident escalated {from} -> {to} ({cause:?})")
        }
        EventKind::IncidentDeescalated { from, to } => {
            format!("incident de-escalated {from} -> {to}")
        }
        EventKind::IncidentMitigated => "incident mitigated".to_owned(),
        EventKind::IncidentResolved { duration_seconds } => {
            format!(
                "INCIDENT RESOLVED after {}",
                crate::duration::Duration::from_secs(duration_seconds.unsigned_abs())
            )
        }
        EventKind::ActionIssued {
            key,
            action,
            severity,
            operation,
            dry_run,
            ..
        } => {
            let op = match operation {
                Operation::Apply => "apply",
                Operation::Revert => "revert",
            };
            let mode = if *dry_run { " (dry-run)" } else { "" };
            format!("action {action} {op} [{severity}]{mode} key={key}")
        }
        EventKind::ActionHeld { key, hold } => format!("action held: {key}: {hold}"),
        EventKind::ActionFinished {
            outcome: StepState::Done { .. },
            ..
        } => return Ok(()),
        EventKind::ActionFinished { key, outcome, .. } => format!("action {key}: {outcome:?}"),
        EventKind::ActionRetrying {
            key,
            attempt,
            reason,
            retry_at,
            ..
        } => format!("action {key}: attempt {attempt} failed: {reason}; retry at {retry_at}"),
        EventKind::MitigationDrifted {
            key,
            detail,
            response,
        } => format!("mitigation {key} drifted: {detail}; {response}"),
    };
    writeln!(
        out,
        "{} {:<28} {what}",
        e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        e.target.to_string()
    )?;
    if let Some(s) = &entry.slack {
        writeln!(out, "{:>24}slack {}: {}", "", s.channel, s.text)?;
    }
    for r in entry.requests.iter().flatten() {
        let body = r.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
        let ct = r.content_type.as_deref().unwrap_or("");
        writeln!(out, "{:>24}{} {} {ct} {body}", "", r.method, r.path)?;
        if let Some(n) = &r.note {
            writeln!(out, "{:>24}  note: {n}", "")?;
        }
    }
    if let Some(err) = &entry.render_error {
        writeln!(out, "{:>24}cannot render: {err}", "")?;
    }
    Ok(())
}

fn write_summary(out: &mut dyn Write, entries: &[Entry]) -> std::io::Result<()> {
    let opened: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.event.kind, EventKind::IncidentOpened { .. }))
        .collect();
    let actions = entries
        .iter()
        .filter(|e| {
            matches!(
                e.event.kind,
                EventKind::ActionIssued {
                    operation: Operation::Apply,
                    ..
                }
            )
        })
        .count();
    let reverts = entries
        .iter()
        .filter(|e| {
            matches!(
                e.event.kind,
                EventKind::ActionIssued {
                    operation: Operation::Revert,
                    ..
                }
            )
        })
        .count();
    writeln!(
        out,
        "-- {} incident(s), {actions} action(s), {reverts} revert(s)",
        opened.len()
    )
}

fn short(v: f64) -> String {
    if v.abs() >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').to_owned()
    }
}
