//! The HTML page: header, summary, incidents table, then the panels grouped
//! by playbook and target. Inline CSS, no script, no external resources; the
//! markup is also well-formed XML (self-closed void elements, no named
//! entities), which the tests rely on to parse it.

use std::fmt::Write;

use super::format::{self, escape, push_escaped};
use super::panel::push_panel;
use super::style::{self, LEGEND_HEIGHT, LEGEND_WIDTH, push_legend};
use super::{IncidentRow, Report, group_panels};
use crate::severity::Severity;

const CSS: &str = "\
:root{color-scheme:light}\
body{margin:0;background:#f4f5f7;color:#212529;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}\
main{max-width:1000px;margin:0 auto;padding:24px 20px 48px}\
h1{font-size:24px;margin:0 0 4px}\
h2{font-size:18px;margin:32px 0 12px;padding-bottom:4px;border-bottom:2px solid #dee2e6}\
h3{font-size:16px;margin:28px 0 4px}\
h4{font-size:14px;margin:14px 0 6px;color:#5c636a}\
.meta{margin:0;color:#5c636a}\
.card{background:#fff;border:1px solid #dee2e6;border-radius:6px}\
dl.summary{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:10px;margin:0;padding:14px 16px}\
dl.summary div{border-left:3px solid #ced4da;padding-left:10px}\
dt{color:#5c636a;font-size:12px}\
dd{margin:0;font-size:18px;font-weight:600}\
table{border-collapse:collapse;width:100%;font-size:13px}\
th,td{padding:6px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #e9ecef}\
th{background:#f1f3f5;font-weight:600;white-space:nowrap}\
td.n{white-space:nowrap;font-variant-numeric:tabular-nums}\
.sub{color:#5c636a;font-size:12px}\
.sev{display:inline-block;padding:0 7px;border-radius:9px;border:1px solid;font-size:12px;font-weight:600;color:#212529}\
nav ul{margin:8px 0 0;padding-left:20px}\
figure{margin:0 0 10px;padding:4px}\
figure svg{display:block;width:100%;height:auto}\
svg.legend{display:block;max-width:100%;height:auto;margin-bottom:8px}\
a{color:#1864ab}\
";

/// The whole page.
pub(super) fn render(report: &Report) -> String {
    let groups = group_panels(&report.panels);
    let mut out = String::with_capacity(20_000 * report.panels.len() + 20_000);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>");
    let _ = write!(out, "<title>{}</title><style>{CSS}", escape(&report.title));
    for severity in Severity::ALL {
        // The fill at 25 % alpha behind dark text keeps badges AA-legible.
        let _ = write!(
            out,
            ".sev-{}{{background:{}40;border-color:{}}}",
            severity.as_str(),
            style::fill(severity),
            style::stroke(severity)
        );
    }
    out.push_str("</style></head><body><main><header>");
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"meta\">{} – {} UTC · step {} · {} panels</p></header>",
        escape(&report.title),
        format::time(report.from),
        format::time(report.to),
        format::duration(report.step),
        report.panels.len()
    );

    if !report.summary.is_empty() {
        out.push_str("<section><h2>Summary</h2><dl class=\"summary card\">");
        for (key, value) in &report.summary {
            let _ = write!(
                out,
                "<div><dt>{}</dt><dd>{}</dd></div>",
                escape(key),
                escape(value)
            );
        }
        out.push_str("</dl></section>");
    }

    let _ = write!(
        out,
        "<section><h2>Incidents ({})</h2>",
        report.incidents.len()
    );
    if report.incidents.is_empty() {
        out.push_str("<p class=\"meta\">No incidents opened.</p>");
    } else {
        out.push_str(
            "<div class=\"card\"><table><thead><tr><th>Incident</th><th>Playbook / target</th>\
             <th>Opened (UTC)</th><th>Resolved</th><th>Duration</th><th>Peak</th>\
             <th>Detection delay</th><th>Lead time</th><th>Actions</th></tr></thead><tbody>",
        );
        for row in &report.incidents {
            let anchor = groups
                .iter()
                .enumerate()
                .find_map(|(i, (playbook, targets))| {
                    let j = targets.iter().position(|(t, _)| *t == row.target)?;
                    (*playbook == row.playbook).then(|| format!("pb{i}-{j}"))
                });
            push_incident_row(&mut out, row, report, anchor.as_deref());
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");

    let _ = write!(out, "<section><h2>Detectors ({})</h2>", report.panels.len());
    if groups.len() > 1 {
        out.push_str("<nav><ul>");
        for (i, (playbook, targets)) in groups.iter().enumerate() {
            let panels: usize = targets.iter().map(|(_, p)| p.len()).sum();
            let _ = write!(
                out,
                "<li><a href=\"#pb{i}\">{}</a> <span class=\"sub\">{} targets, {panels} panels</span></li>",
                escape(playbook),
                targets.len()
            );
        }
        out.push_str("</ul></nav>");
    }
    let _ = write!(
        out,
        "<svg class=\"legend\" width=\"{LEGEND_WIDTH}\" height=\"{LEGEND_HEIGHT}\" viewBox=\"0 0 {LEGEND_WIDTH} {LEGEND_HEIGHT}\" font-family=\"{}\" role=\"img\"><title>Legend</title>",
        style::FONT
    );
    push_legend(&mut out, 0.0, 0.0);
    out.push_str("</svg>");
    if report.panels.is_empty() {
        out.push_str("<p class=\"meta\">No detector series.</p>");
    }
    for (i, (playbook, targets)) in groups.iter().enumerate() {
        let _ = write!(out, "<h3 id=\"pb{i}\">{}</h3>", escape(playbook));
        for (j, (target, panels)) in targets.iter().enumerate() {
            let _ = write!(out, "<h4 id=\"pb{i}-{j}\">{}</h4>", escape(target));
            for panel in panels {
                out.push_str("<figure class=\"card\">");
                push_panel(&mut out, panel, report.from, report.to, None);
                out.push_str("</figure>");
            }
        }
    }
    out.push_str("</section></main></body></html>\n");
    out
}

fn push_incident_row(out: &mut String, row: &IncidentRow, report: &Report, anchor: Option<&str>) {
    out.push_str("<tr><td class=\"n\">");
    match anchor {
        Some(anchor) => {
            let _ = write!(out, "<a href=\"#{anchor}\">{}</a>", escape(&row.id));
        }
        None => push_escaped(out, &row.id),
    }
    let _ = write!(
        out,
        "</td><td>{}<div class=\"sub\">{}</div></td><td class=\"n\">{}</td>",
        escape(&row.playbook),
        escape(&row.target),
        format::time(row.opened)
    );
    let (resolved, duration) = match row.resolved {
        Some(r) => (
            format::time(r),
            format::duration(r.duration_since(row.opened).unsigned_abs()),
        ),
        None => (
            "open at end".to_owned(),
            format!(
                "≥ {}",
                format::duration(report.to.duration_since(row.opened).unsigned_abs())
            ),
        ),
    };
    let _ = write!(
        out,
        "<td class=\"n\">{resolved}</td><td class=\"n\">{duration}</td>\
         <td><span class=\"sev sev-{peak}\">{peak}</span></td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td>",
        format::opt_duration(row.detection_delay),
        format::opt_duration(row.lead_time),
        peak = row.peak.as_str(),
    );
    if row.actions.is_empty() {
        out.push('—');
    }
    for (i, action) in row.actions.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_escaped(out, action);
    }
    out.push_str("</td></tr>");
}
