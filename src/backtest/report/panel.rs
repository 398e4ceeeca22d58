//! One chart as an `<svg>` element: the decimated series, dashed thresholds
//! with labels, shaded incident windows, UTC time axis and value axis.
//!
//! The same element is inlined in the HTML page and nested (with a `y`
//! offset) in the standalone SVG document, so both look alike.

use std::fmt::Write;

use jiff::Timestamp;

use super::decimate::{Segment, decimate};
use super::format::{self, push_coord, push_escaped};
use super::scale::{ValueAxis, time_ticks};
use super::style::{FONT, GRID, INK, MUTED, SHADE_OPACITY, fill, stroke};
use super::{IncidentWindow, Panel};
use crate::playbook::detector::Comparison;
use crate::severity::Severity;

/// Width of a panel in SVG user units.
pub(super) const WIDTH: f64 = 960.0;
/// Height of a panel in SVG user units.
pub(super) const HEIGHT: f64 = 236.0;
/// Plot area: left edge, top edge, size. The right margin holds threshold labels.
pub(super) const LEFT: f64 = 64.0;
pub(super) const TOP: f64 = 38.0;
pub(super) const PLOT_W: f64 = 784.0;
pub(super) const PLOT_H: f64 = 160.0;
const RIGHT: f64 = LEFT + PLOT_W;
const BOTTOM: f64 = TOP + PLOT_H;
/// Vertical room a threshold label needs.
const LABEL_GAP: f64 = 12.0;

/// Maps time and value to pixels within the plot area.
struct Frame {
    start: i64,
    span: f64,
    axis: ValueAxis,
}

impl Frame {
    fn x(&self, t: Timestamp) -> f64 {
        let f = (t.as_millisecond() - self.start) as f64 / self.span;
        LEFT + f.clamp(0.0, 1.0) * PLOT_W
    }

    fn y(&self, v: f64) -> f64 {
        BOTTOM - self.axis.fraction(v).clamp(0.0, 1.0) * PLOT_H
    }
}

/// Appends the panel's `<svg>` element; `y` places it inside an enclosing SVG.
pub(super) fn push_panel(
    out: &mut String,
    panel: &Panel,
    from: Timestamp,
    to: Timestamp,
    y: Option<f64>,
) {
    let segments = decimate(&panel.points, from, to, PLOT_W as usize);
    let extent = segments
        .iter()
        .flatten()
        .map(|(_, v)| *v)
        .chain(panel.thresholds.iter().map(|(_, v)| *v))
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        });
    let frame = Frame {
        start: from.as_millisecond(),
        span: (to.as_millisecond() - from.as_millisecond()).max(1) as f64,
        axis: ValueAxis::new(extent, 4),
    };

    let _ = write!(out, "<svg");
    if let Some(y) = y {
        let _ = write!(out, r#" x="0" y="{y}""#);
    }
    let _ = write!(
        out,
        r#" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}" role="img"><title>"#
    );
    push_escaped(
        out,
        &format!("{} — {} ({})", panel.detector, panel.target, panel.playbook),
    );
    out.push_str("</title>");
    push_heading(out, panel);
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="#fff" stroke="#ced4da"/>"##
    );
    // Grid first: the translucent shading tints it, the bands cover it.
    push_axes(out, &frame, from, to);
    for window in &panel.incidents {
        push_incident(out, &frame, window, from, to);
    }
    push_thresholds(out, &frame, panel);
    push_series(out, &frame, &segments);
    if segments.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="15" fill="{MUTED}" stroke="#fff" stroke-width="6" paint-order="stroke">no data</text>"##,
            LEFT + PLOT_W / 2.0,
            TOP + PLOT_H / 2.0 + 5.0
        );
    }
    out.push_str("</svg>");
}

fn push_heading(out: &mut String, panel: &Panel) {
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="20"><tspan font-size="14" font-weight="600" fill="{INK}">"#
    );
    push_escaped(out, &panel.detector);
    let _ = write!(
        out,
        r#"</tspan><tspan dx="10" font-size="12" fill="{MUTED}">"#
    );
    let side = match panel.comparison {
        Comparison::Above => "fires at or above",
        Comparison::Below => "fires at or below",
    };
    push_escaped(
        out,
        &format!("{} · {} · {side} threshold", panel.target, panel.playbook),
    );
    out.push_str("</tspan></text>");
}

fn push_axes(out: &mut String, frame: &Frame, from: Timestamp, to: Timestamp) {
    let _ = write!(out, r#"<path stroke="{GRID}" d=""#);
    for (v, _) in &frame.axis.ticks {
        out.push('M');
        push_coord(out, LEFT);
        out.push(' ');
        push_coord(out, frame.y(*v));
        let _ = write!(out, "h{PLOT_W}");
    }
    let ticks = time_ticks(from, to, 8);
    for tick in &ticks {
        out.push('M');
        push_coord(out, frame.x(tick.at));
        let _ = write!(out, " {TOP}v{PLOT_H}");
    }
    out.push_str(r#""/>"#);

    let _ = write!(
        out,
        r#"<g font-size="11" fill="{MUTED}" text-anchor="end">"#
    );
    for (v, label) in &frame.axis.ticks {
        let _ = write!(out, r#"<text x="{}" y=""#, LEFT - 6.0);
        push_coord(out, frame.y(*v) + 4.0);
        let _ = write!(out, r#"">{}</text>"#, format::escape(label));
    }
    out.push_str(r#"</g><g font-size="11" fill=""#);
    let _ = write!(out, r#"{MUTED}" text-anchor="middle">"#);
    for tick in &ticks {
        let x = format::coord(frame.x(tick.at));
        let _ = write!(
            out,
            r#"<text x="{x}" y="{}">{}</text>"#,
            BOTTOM + 15.0,
            tick.label
        );
        if let Some(date) = &tick.date {
            let _ = write!(
                out,
                r#"<text x="{x}" y="{}" font-weight="600">{date}</text>"#,
                BOTTOM + 29.0
            );
        }
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="start">UTC</text></g>"#,
        RIGHT + 26.0, // clear of a date label centred on the right edge
        BOTTOM + 15.0
    );
}

fn push_thresholds(out: &mut String, frame: &Frame, panel: &Panel) {
    let sign = match panel.comparison {
        Comparison::Above => "≥",
        Comparison::Below => "≤",
    };
    let mut lines: Vec<(f64, Severity, f64)> = panel
        .thresholds
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|&(s, v)| (frame.y(v), s, v))
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    for &(y, severity, _) in &lines {
        let _ = write!(out, r#"<path d="M{LEFT} "#);
        push_coord(out, y);
        let _ = write!(
            out,
            r#"h{PLOT_W}" stroke="{}" stroke-width="1.3" stroke-dasharray="6 4"/>"#,
            stroke(severity)
        );
    }
    // Labels sit in the right margin, pushed apart so close thresholds stay readable.
    let mut label_y: Vec<f64> = Vec::with_capacity(lines.len());
    for (i, (y, ..)) in lines.iter().enumerate() {
        let wanted = y + 4.0;
        label_y.push(match i {
            0 => wanted,
            _ => wanted.max(label_y[i - 1] + LABEL_GAP),
        });
    }
    let mut floor = BOTTOM + 4.0;
    for y in label_y.iter_mut().rev() {
        *y = y.min(floor);
        floor = *y - LABEL_GAP;
    }
    let _ = write!(out, r#"<g font-size="11" font-weight="600">"#);
    for ((_, severity, value), y) in lines.iter().zip(label_y) {
        let _ = write!(out, r#"<text x="{}" y=""#, RIGHT + 6.0);
        push_coord(out, y);
        let _ = write!(
            out,
            r#"" fill="{}">{} {sign} {}</text>"#,
            stroke(*severity),
            severity.as_str(),
            format::value(*value)
        );
    }
    out.push_str("</g>");
}

fn push_series(out: &mut String, frame: &Frame, segments: &[Segment]) {
    let mut lines = String::new();
    let mut dots = String::new();
    for segment in segments {
        if let [(x, v)] = segment.as_slice() {
            let _ = write!(
                dots,
                r#"<circle cx="{}" cy="{}" r="2"/>"#,
                format::coord(LEFT + x),
                format::coord(frame.y(*v))
            );
            continue;
        }
        let mut last: Option<(i64, i64)> = None;
        for &(x, v) in segment {
            let (x, y) = (LEFT + x, frame.y(v));
            let (xt, yt) = ((x * 10.0).round() as i64, (y * 10.0).round() as i64);
            match last {
                None => {
                    lines.push('M');
                    push_coord(&mut lines, x);
                    lines.push(' ');
                    push_coord(&mut lines, y);
                }
                Some(prev) if prev == (xt, yt) => continue,
                // Two extremes of one pixel column: a vertical stroke.
                Some((px, _)) if px == xt => {
                    lines.push('V');
                    push_coord(&mut lines, y);
                }
                Some(_) => {
                    lines.push('L');
                    push_coord(&mut lines, x);
                    lines.push(' ');
                    push_coord(&mut lines, y);
                }
            }
            last = Some((xt, yt));
        }
    }
    if !lines.is_empty() {
        let _ = write!(
            out,
            r#"<path fill="none" stroke="{INK}" stroke-width="1.3" stroke-linejoin="round" stroke-linecap="round" d="{lines}"/>"#
        );
    }
    if !dots.is_empty() {
        let _ = write!(out, r#"<g fill="{INK}">{dots}</g>"#);
    }
}

/// Shades each severity segment of `window`, from its start to the next
/// change, the resolution or the right edge, with a solid band on top.
fn push_incident(
    out: &mut String,
    frame: &Frame,
    window: &IncidentWindow,
    from: Timestamp,
    to: Timestamp,
) {
    let end = window.resolved.unwrap_or(to).min(to);
    if end < from || window.opened > to {
        return;
    }
    let mut segments: Vec<(Timestamp, Timestamp, Option<Severity>)> = Vec::new();
    for (i, &(at, severity)) in window.severities.iter().enumerate() {
        let start = at.max(window.opened);
        let stop = window
            .severities
            .get(i + 1)
            .map_or(end, |&(next, _)| next.min(end));
        if stop >= start && stop >= from && start <= to {
            segments.push((start, stop, Some(severity)));
        }
    }
    if segments.is_empty() {
        segments.push((window.opened, end, None));
    }
    let x0 = frame.x(window.opened);
    let _ = write!(out, "<g>");
    for (start, stop, severity) in segments {
        let x = frame.x(start);
        let w = (frame.x(stop) - x).max(1.0); // a short incident stays visible
        let (shade, band) = severity.map_or(("#adb5bd", "#868e96"), |s| (fill(s), stroke(s)));
        let (x, w) = (format::coord(x), format::coord(w));
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{TOP}" width="{w}" height="{PLOT_H}" fill="{shade}" fill-opacity="{SHADE_OPACITY}"><title>"#
        );
        let resolved = match window.resolved {
            Some(r) if r <= stop => format!("resolved {}", format::time(r)),
            _ if stop >= to => "open at end".to_owned(),
            _ => format!("until {}", format::time(stop)),
        };
        push_escaped(
            out,
            &format!(
                "{} · {} · from {} · {resolved}",
                window.id,
                severity.map_or("unknown", Severity::as_str),
                format::time(start),
            ),
        );
        let _ = write!(
            out,
            r#"</title></rect><rect x="{x}" y="{TOP}" width="{w}" height="4" fill="{band}"/>"#
        );
    }
    let width = frame.x(end) - x0;
    if width >= 6.0 * window.id.chars().count() as f64 + 6.0 {
        let _ = write!(out, r#"<text x=""#);
        push_coord(out, x0 + 1.0);
        // Above the plot, clear of thresholds and the series.
        let _ = write!(out, r#"" y="{}" font-size="10" fill="{MUTED}">"#, TOP - 4.0);
        push_escaped(out, &window.id);
        out.push_str("</text>");
    }
    out.push_str("</g>");
}
