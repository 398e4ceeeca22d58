//! Colours, fonts and the legend shared by the HTML and the SVG output.

use std::fmt::Write;

use crate::severity::Severity;

/// Font stack for SVG text; DejaVu Sans is the usual fallback on Linux.
pub(super) const FONT: &str =
    "system-ui, -apple-system, &#39;Segoe UI&#39;, Roboto, &#39;DejaVu Sans&#39;, sans-serif";

/// The series line.
pub(super) const INK: &str = "#212529";
/// Secondary text (axes, subtitles).
pub(super) const MUTED: &str = "#5c636a";
/// Grid lines and frames.
pub(super) const GRID: &str = "#e9ecef";
/// Opacity of incident shading.
pub(super) const SHADE_OPACITY: &str = "0.18";

/// Line and text colour of a severity: at least 3:1 against white, so
/// dashed lines and labels stay legible (WCAG 1.4.11).
pub(super) fn stroke(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "#1f78b4",
        Severity::Medium => "#b7791f",
        Severity::High => "#d9480f",
        Severity::Critical => "#c92a2a",
    }
}

/// Shading colour of a severity; brighter than [`stroke`] since it is drawn
/// translucent.
pub(super) fn fill(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "#4dabf7",
        Severity::Medium => "#f0ad4e",
        Severity::High => "#ff7a2f",
        Severity::Critical => "#e03131",
    }
}

/// Width of [`push_legend`]'s drawing.
pub(super) const LEGEND_WIDTH: f64 = 720.0;
/// Height of [`push_legend`]'s drawing.
pub(super) const LEGEND_HEIGHT: f64 = 22.0;

/// Rough advance of a 12 px sans-serif character, for laying out the legend.
const CHAR: f64 = 6.6;

/// Appends the legend (series, thresholds per severity, incident shading)
/// as SVG elements with its top-left corner at (`x`, `y`).
pub(super) fn push_legend(out: &mut String, x: f64, y: f64) {
    let mid = y + 11.0;
    let base = mid + 4.0;
    let mut cx = x;
    let label = |out: &mut String, cx: &mut f64, text: &str, gap: f64| {
        let _ = write!(out, r#"<text x="{cx}" y="{base}">{text}</text>"#);
        *cx += text.len() as f64 * CHAR + gap;
    };
    let _ = write!(
        out,
        r#"<g font-size="12" fill="{MUTED}"><path d="M{cx} {mid}h22" stroke="{INK}" stroke-width="1.5"/>"#
    );
    cx += 28.0;
    label(out, &mut cx, "value", 24.0);
    label(out, &mut cx, "thresholds:", 4.0);
    for severity in Severity::ALL {
        let _ = write!(
            out,
            r#"<path d="M{cx} {mid}h22" stroke="{}" stroke-width="1.5" stroke-dasharray="5 3"/>"#,
            stroke(severity)
        );
        cx += 28.0;
        label(out, &mut cx, severity.as_str(), 16.0);
    }
    cx += 12.0;
    for severity in Severity::ALL {
        let _ = write!(
            out,
            r#"<rect x="{cx}" y="{}" width="6" height="14" fill="{}" fill-opacity="0.45"/>"#,
            mid - 7.0,
            fill(severity),
        );
        cx += 6.0;
    }
    cx += 6.0;
    label(out, &mut cx, "incident, by severity", 0.0);
    out.push_str("</g>");
}
