//! The root message of an incident's thread: what on-call reads at a glance.
//! Severity as colour (the attachment bar) and emoji (the header, also on
//! mobile where attachments may fold), the workload, the playbook, each
//! detector's reading against its threshold with a Prometheus graph link, the
//! phase, and a tally of the actions. Updated in place as the incident moves.

use super::blocks::{self, MAX_TEXT, Message};
use super::text::{self, escape};
use super::view::{Links, PlaybookView};
use crate::notify::{Notice, NoticeKind, NoticeReading};
use crate::playbook::detector::Comparison;
use crate::severity::Severity;

/// Readings listed in full; the rest are counted, so 500 detectors still fit.
pub const MAX_READINGS: usize = 20;

/// What the thread's replies did so far, shown in the root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub applied: u32,
    pub dry_run: u32,
    pub failed: u32,
    pub reverted: u32,
}

impl Tally {
    pub fn count(&mut self, n: &Notice) {
        // A notify step is the thread itself, not an action on the workload.
        if n.action.as_ref().is_some_and(|a| a.action == "notify") {
            return;
        }
        let dry = n.action.as_ref().is_some_and(|a| a.dry_run);
        match (n.kind, dry) {
            (NoticeKind::ActionApplied, true) => self.dry_run += 1,
            (NoticeKind::ActionApplied, false) => self.applied += 1,
            (NoticeKind::ActionFailed, _) => self.failed += 1,
            (NoticeKind::ActionReverted, _) => self.reverted += 1,
            _ => {}
        }
    }

    fn line(&self) -> Option<String> {
        let parts: Vec<String> = [
            (self.applied, "applied"),
            (self.dry_run, "dry-run"),
            (self.failed, "failed"),
            (self.reverted, "reverted"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        (!parts.is_empty()).then(|| format!("*Actions:* {}", parts.join(" · ")))
    }
}

/// Colour of the attachment bar: Slack's own palette, green once resolved.
pub fn colour(severity: Severity, phase: &str) -> &'static str {
    if phase == "resolved" {
        return "#2EB67D";
    }
    match severity {
        Severity::Low => "#36C5F0",
        Severity::Medium => "#ECB22E",
        Severity::High => "#E8762D",
        Severity::Critical => "#E01E5A",
    }
}

/// Emoji for a severity (Slack short codes, rendered in headers and mrkdwn).
pub fn emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => ":large_blue_circle:",
        Severity::Medium => ":large_yellow_circle:",
        Severity::High => ":large_orange_circle:",
        Severity::Critical => ":red_circle:",
    }
}

/// What the root is rendered from.
pub struct RootInput<'a> {
    pub notice: &'a Notice,
    pub view: &'a PlaybookView,
    pub links: &'a Links,
    pub tally: &'a Tally,
    /// Mentions of the route the root is posted under (already empty when quiet).
    pub mentions: &'a [String],
    /// Replaces the phase in the headline: a standalone message says which step it is.
    pub step: Option<String>,
}

/// The root message for the incident's state in `input.notice`.
pub fn render(input: &RootInput<'_>) -> Message {
    let n = input.notice;
    let resolved = n.phase == "resolved";
    let icon = if resolved {
        ":white_check_mark:"
    } else {
        emoji(n.severity)
    };
    let state = input.step.clone().unwrap_or_else(|| n.phase.clone());
    let headline = format!(
        "{icon} {} · {}/{} · {state}",
        n.severity.as_str().to_uppercase(),
        n.target.namespace,
        n.target.name
    );
    let mentions: Vec<String> = input.mentions.iter().map(|m| text::mention(m)).collect();
    let fallback = format!(
        "{}{icon} {} incident on {}/{}: {state} (playbook {}/{})",
        mentions.iter().map(|m| format!("{m} ")).collect::<String>(),
        n.severity.as_str().to_uppercase(),
        n.target.namespace,
        n.target.name,
        n.playbook.namespace,
        n.playbook.name,
    );
    let mut m = Message::new(&fallback).with_colour(colour(n.severity, &n.phase));
    m.link_names = !mentions.is_empty();
    m.push(blocks::header(&headline));
    if !mentions.is_empty() {
        m.push(blocks::section(&mentions.join(" ")));
    }
    m.push_coloured(blocks::fields(&facts(n)));
    // Keep room for the tally, the links and the footer.
    for s in blocks::packed_sections("*Detectors*", &reading_lines(n, input.view, input.links)) {
        if m.room() <= 3 || !m.push_coloured(s) {
            break;
        }
    }
    if let Some(line) = input.tally.line() {
        m.push_coloured(blocks::section(&line));
    }
    let mut links = Vec::new();
    if let Some(url) = input.links.dashboard(n) {
        links.push(format!("<{url}|Grafana dashboard>"));
    }
    links.push(format!(
        "`kubectl -n {} get incident {}`",
        n.playbook.namespace, n.incident
    ));
    m.push_coloured(blocks::context(&links));
    m.push_coloured(blocks::context(&[format!(
        "Firebreak · incident `{}` · as of {}",
        escape(&n.incident),
        text::date(n.at)
    )]));
    m
}

fn facts(n: &Notice) -> Vec<String> {
    let mut severity = format!("*Severity*\n{}", n.severity);
    if let Some(prev) = n.previous_severity {
        severity.push_str(&format!(" (was {prev})"));
    }
    let mut f = vec![
        format!(
            "*Workload*\n{} `{}/{}`",
            n.target.kind, n.target.namespace, n.target.name
        ),
        format!("*Playbook*\n`{}/{}`", n.playbook.namespace, n.playbook.name),
        severity,
        format!("*Phase*\n{}", n.phase),
        format!("*Opened*\n{}", text::date(n.opened_at)),
    ];
    if let Some(d) = n.duration_seconds {
        f.push(format!("*Duration*\n{}", text::duration(d)));
    }
    f
}

/// One line per detector, firing first (highest severity first), then no data, then the rest.
fn reading_lines(n: &Notice, view: &PlaybookView, links: &Links) -> Vec<String> {
    let mut readings: Vec<&NoticeReading> = n.readings.iter().collect();
    readings.sort_by_key(|r| {
        let class = match (r.severity, &r.no_data) {
            (Some(_), _) => 0,
            (None, Some(_)) => 1,
            (None, None) => 2,
        };
        (class, std::cmp::Reverse(r.severity), r.detector.clone())
    });
    let mut lines: Vec<String> = readings
        .iter()
        .take(MAX_READINGS)
        .map(|r| reading_line(r, view, links))
        .collect();
    if readings.len() > MAX_READINGS {
        lines.push(format!(
            "… and {} more detectors (`kubectl -n {} get incident {} -o yaml`)",
            readings.len() - MAX_READINGS,
            n.playbook.namespace,
            n.incident
        ));
    }
    if lines.is_empty() {
        lines.push("_no reading recorded yet_".to_owned());
    }
    lines
}

fn reading_line(r: &NoticeReading, view: &PlaybookView, links: &Links) -> String {
    let detector = view.detector(&r.detector);
    let above = detector.is_none_or(|d| d.comparison == Comparison::Above);
    let name = format!("*{}*", escape(&r.detector));
    let body = match (r.value, r.severity, &r.no_data) {
        (_, None, Some(reason)) => format!(":white_circle: {name} no data: {}", escape(reason)),
        (Some(v), Some(s), _) => {
            let sign = if above { "≥" } else { "≤" };
            let threshold = r
                .threshold
                .map(|t| format!(" {sign} {}", text::number(t)))
                .unwrap_or_default();
            format!("{} {name} {}{threshold} ({s})", emoji(s), text::number(v))
        }
        (Some(v), None, _) => {
            let threshold = r
                .threshold
                .map(|t| format!(" (threshold {})", text::number(t)))
                .unwrap_or_default();
            format!(":large_green_circle: {name} {}{threshold}", text::number(v))
        }
        (None, _, _) => format!(":white_circle: {name} no value"),
    };
    let graph = detector.and_then(|d| links.graph(&d.promql));
    match graph {
        Some(url) if text::chars(&body) + text::chars(&url) + 12 <= MAX_TEXT => {
            format!("• {body} · <{url}|graph>")
        }
        _ => format!("• {body}"),
    }
}
