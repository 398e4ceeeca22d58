//! The standalone SVG document: title, summary lines, incident lines, the
//! legend, then every panel stacked vertically (same order as the HTML).

use std::fmt::Write;

use super::format::{self, escape, push_escaped};
use super::panel::{self, push_panel};
use super::style::{FONT, INK, LEGEND_HEIGHT, MUTED, push_legend, stroke};
use super::{Report, group_panels};

const MARGIN: f64 = 24.0;
const LINE: f64 = 19.0;
/// Space between stacked panels.
const PANEL_GAP: f64 = 8.0;

/// The whole document.
pub(super) fn render(report: &Report) -> String {
    let mut body = String::with_capacity(20_000 * report.panels.len() + 10_000);
    let _ = write!(
        body,
        r#"<text x="{MARGIN}" y="36" font-size="22" font-weight="700" fill="{INK}">{}</text>"#,
        escape(&report.title)
    );
    let _ = write!(
        body,
        r#"<text x="{MARGIN}" y="58" font-size="13" fill="{MUTED}">{} – {} UTC · step {} · {} panels</text>"#,
        format::time(report.from),
        format::time(report.to),
        format::duration(report.step),
        report.panels.len()
    );
    let mut y = 70.0;

    if !report.summary.is_empty() {
        y = heading(&mut body, "Summary", y);
        for (key, value) in &report.summary {
            y += LINE;
            let _ = write!(
                body,
                r#"<text x="{MARGIN}" y="{y}" font-size="13"><tspan fill="{MUTED}">"#
            );
            push_escaped(&mut body, key);
            let _ = write!(body, r#":</tspan> <tspan font-weight="600" fill="{INK}">"#);
            push_escaped(&mut body, value);
            body.push_str("</tspan></text>");
        }
    }

    y = heading(
        &mut body,
        &format!("Incidents ({})", report.incidents.len()),
        y,
    );
    for row in &report.incidents {
        y += LINE;
        let _ = write!(
            body,
            r#"<text x="{MARGIN}" y="{y}" font-size="12" fill="{INK}"><tspan font-weight="600">"#
        );
        push_escaped(&mut body, &row.id);
        let _ = write!(
            body,
            r#"</tspan> <tspan fill="{}" font-weight="600">{}</tspan> <tspan fill="{MUTED}">"#,
            stroke(row.peak),
            row.peak.as_str()
        );
        let resolved = row
            .resolved
            .map_or_else(|| "open at end".to_owned(), format::time);
        let mut line = format!(
            "{} → {} · {} – {resolved} · delay {} · lead {}",
            row.playbook,
            row.target,
            format::time(row.opened),
            format::opt_duration(row.detection_delay),
            format::opt_duration(row.lead_time),
        );
        if !row.actions.is_empty() {
            let _ = write!(line, " · {}", row.actions.join(", "));
        }
        push_escaped(&mut body, &line);
        body.push_str("</tspan></text>");
    }
    if report.incidents.is_empty() {
        y += LINE;
        let _ = write!(
            body,
            r#"<text x="{MARGIN}" y="{y}" font-size="12" fill="{MUTED}">No incidents opened.</text>"#
        );
    }

    y = heading(
        &mut body,
        &format!("Detectors ({})", report.panels.len()),
        y,
    );
    push_legend(&mut body, MARGIN, y + 8.0);
    y += LEGEND_HEIGHT + 16.0;
    for (_, targets) in group_panels(&report.panels) {
        for (_, panels) in targets {
            for p in panels {
                push_panel(&mut body, p, report.from, report.to, Some(y));
                y += panel::HEIGHT + PANEL_GAP;
            }
        }
    }
    let height = y + MARGIN;

    let mut out = String::with_capacity(body.len() + 1_000);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-family=\"{FONT}\">\
         <title>{}</title><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>",
        escape(&report.title),
        w = panel::WIDTH,
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Writes a section heading below `y` and returns the new baseline.
fn heading(out: &mut String, text: &str, y: f64) -> f64 {
    let y = y + 34.0;
    let _ = write!(
        out,
        r#"<text x="{MARGIN}" y="{y}" font-size="16" font-weight="700" fill="{INK}">"#
    );
    push_escaped(out, text);
    out.push_str("</text>");
    let _ = write!(
        out,
        r##"<path d="M{MARGIN} {}h{}" stroke="#dee2e6" stroke-width="1.5"/>"##,
        y + 6.0,
        panel::WIDTH - 2.0 * MARGIN
    );
    y + 6.0
}
