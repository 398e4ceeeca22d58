//! The backtest summary for people.

use std::io::Write;

use super::Summary;

fn dur(secs: i64) -> String {
    crate::duration::Duration::from_secs(secs.unsigned_abs()).to_string()
}

pub fn write_text(out: &mut dyn Write, s: &Summary) -> std::io::Result<()> {
    writeln!(
        out,
        "Backtest {} .. {}: {} playbook(s), {} target(s), {} evaluation(s)",
        s.from, s.to, s.playbooks, s.targets, s.evaluations
    )?;
    let by_sev: Vec<String> = s
        .by_peak_severity
        .iter()
        .rev()
        .map(|(sev, n)| format!("{sev} {n}"))
        .collect();
    let by_sev = if by_sev.is_empty() {
        String::new()
    } else {
        format!(" (peak: {})", by_sev.join(", "))
    };
    writeln!(out, "incidents opened: {}{by_sev}", s.incidents_opened)?;
    let actions: Vec<String> = s
        .actions_by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    writeln!(
        out,
        "actions applied: {}{}",
        s.actions_by_kind.values().sum::<usize>(),
        if actions.is_empty() {
            String::new()
        } else {
            format!(" ({})", actions.join(", "))
        }
    )?;
    for g in &s.gaps {
        writeln!(
            out,
            "no data: {} {}: {} evaluation(s) ({})",
            g.playbook, g.detector, g.steps, g.reason
        )?;
    }
    for inc in &s.incidents {
        writeln!(out)?;
        writeln!(
            out,
            "incident {} ({} on {})",
            inc.id, inc.playbook, inc.target
        )?;
        let resolved = inc.resolved.map_or_else(
            || "still open at the end".to_owned(),
            |r| format!("resolved {r}"),
        );
        writeln!(
            out,
            "  opened {} at {}, peak {}, {resolved}",
            inc.opened, inc.opened_severity, inc.peak
        )?;
        let delay = inc
            .detection_delay_seconds
            .map_or_else(|| "-".to_owned(), dur);
        writeln!(
            out,
            "  detection delay {delay}, lead time to peak {}",
            dur(inc.lead_time_seconds)
        )?;
        if !inc.actions.is_empty() {
            writeln!(out, "  actions: {}", inc.actions.join(", "))?;
        }
    }
    Ok(())
}
