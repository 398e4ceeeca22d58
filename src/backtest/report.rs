//! The self-contained report of `firebreak backtest`: one HTML page or one SVG
//! document that plots each detector's series with its thresholds and shades
//! the incident windows.
//!
//! Pure rendering: data in, `String` out, no I/O and no clock, so the same
//! input always gives the same bytes. Series are decimated to the plot width
//! (min and max per pixel column) so a week at 30 s over hundreds of panels
//! stays a few megabytes without losing spikes.
//!
//! Output is built with `write!` into a `String`, which cannot fail; the
//! submodules discard that `fmt::Result` with `let _ =`.

mod decimate;
mod document;
mod format;
mod html;
mod panel;
mod scale;
mod style;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::playbook::detector::Comparison;
use crate::severity::Severity;

/// Everything the report shows.
#[derive(Clone, Debug)]
pub struct Report {
    /// Heading, e.g. "Backtest 2026-03-01T00:00Z – 2026-03-08T00:00Z".
    pub title: String,
    /// Start of the replayed range; the left edge of every chart.
    pub from: Timestamp,
    /// End of the replayed range; the right edge of every chart.
    pub to: Timestamp,
    /// Evaluation step.
    pub step: Duration,
    /// Key/value lines shown at the top (e.g. "incidents opened" -> "3").
    pub summary: Vec<(String, String)>,
    /// The incidents table under the summary.
    pub incidents: Vec<IncidentRow>,
    /// One chart per (playbook, detector, target).
    pub panels: Vec<Panel>,
}

/// One row of the incidents table.
#[derive(Clone, Debug)]
pub struct IncidentRow {
    /// Incident id, also shown in the tooltips of the shaded windows.
    pub id: String,
    /// "namespace/name" of the playbook.
    pub playbook: String,
    /// "namespace/workload".
    pub target: String,
    /// When the incident opened.
    pub opened: Timestamp,
    /// When it resolved; `None` while still open at the end of the range.
    pub resolved: Option<Timestamp>,
    /// Highest severity reached.
    pub peak: Severity,
    /// Actions taken, e.g. "rateLimit (high)".
    pub actions: Vec<String>,
    /// First threshold crossing -> opened.
    pub detection_delay: Option<Duration>,
    /// Opened -> peak severity first reached.
    pub lead_time: Option<Duration>,
}

/// One chart: a detector's series for one target.
#[derive(Clone, Debug)]
pub struct Panel {
    /// "namespace/name" of the playbook.
    pub playbook: String,
    /// Detector name.
    pub detector: String,
    /// "namespace/workload".
    pub target: String,
    /// Which side of the thresholds fires.
    pub comparison: Comparison,
    /// Thresholds, ascending severity.
    pub thresholds: Vec<(Severity, f64)>,
    /// Samples in time order; `None` or a non-finite value is a gap.
    pub points: Vec<(Timestamp, Option<f64>)>,
    /// Incident windows to shade.
    pub incidents: Vec<IncidentWindow>,
}

/// The time an incident was open, split by severity.
#[derive(Clone, Debug)]
pub struct IncidentWindow {
    /// Incident id, shown in the tooltip.
    pub id: String,
    /// When the incident opened.
    pub opened: Timestamp,
    /// When it resolved; `None` = still open at the end of the range.
    pub resolved: Option<Timestamp>,
    /// Severity changes, the first at `opened`; each segment is shaded in its colour.
    pub severities: Vec<(Timestamp, Severity)>,
}

/// One HTML file: inline CSS and one inline `<svg>` per panel, no external
/// resources and no JavaScript. It is also well-formed XML.
pub fn render_html(report: &Report) -> String {
    html::render(report)
}

/// One standalone SVG document: title, summary lines, incidents and all
/// panels stacked vertically.
pub fn render_svg(report: &Report) -> String {
    document::render(report)
}

/// Panels grouped by playbook, then by target, each in order of first appearance.
type Groups<'a> = Vec<(&'a str, Vec<(&'a str, Vec<&'a Panel>)>)>;

fn group_panels(panels: &[Panel]) -> Groups<'_> {
    let mut groups: Groups<'_> = Vec::new();
    let mut playbooks: HashMap<&str, usize> = HashMap::new();
    let mut targets: HashMap<(&str, &str), usize> = HashMap::new();
    for panel in panels {
        let i = *playbooks.entry(&panel.playbook).or_insert_with(|| {
            groups.push((&panel.playbook, Vec::new()));
            groups.len() - 1
        });
        let list = &mut groups[i].1;
        let j = *targets
            .entry((&panel.playbook, &panel.target))
            .or_insert_with(|| {
                list.push((&panel.target, Vec::new()));
                list.len() - 1
            });
        list[j].1.push(panel);
    }
    groups
}
