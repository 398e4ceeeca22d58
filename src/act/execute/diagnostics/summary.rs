//! `summary.txt`, the first thing to read in a capture, and the one-line note
//! that goes into the Incident's step (and from there into the Slack thread).

use super::pods::Selection;
use super::reads::Failure;
use super::store::Packed;
use crate::act::render::RenderContext;
use crate::act::render::diagnostics::Limits;

/// What a capture did, for the summary and the note.
pub(super) struct Report<'a> {
    pub ctx: &'a RenderContext<'a>,
    pub at: jiff::Timestamp,
    pub limits: Limits,
    pub selection: &'a Selection,
    pub logs: usize,
    pub events: usize,
    /// What became of the exec, when the spec asks for one.
    pub exec: Option<String>,
    pub failures: &'a [Failure],
    pub redactions: usize,
    pub names: &'a [String],
}

impl Report<'_> {
    pub fn summary(&self, packed: &Packed) -> String {
        let ctx = self.ctx;
        let s = self.selection;
        let mut out = format!(
            "Firebreak diagnostics for incident {}\ntarget: {} {}\ncaptured at: {}\n",
            ctx.incident_id,
            ctx.kind.as_str(),
            ctx.target,
            self.at
        );
        out.push_str(&format!(
            "bounds: {} pods, {} lines and {} bytes per log, previous logs {}\n\n",
            self.limits.max_pods,
            self.limits.tail_lines,
            self.limits.max_log_bytes,
            if self.limits.previous { "on" } else { "off" }
        ));
        out.push_str(&format!(
            "pods: {} of the target's {}, most affected first",
            s.chosen.len(),
            s.of_target
        ));
        if s.others > 0 {
            out.push_str(&format!(
                " ({} more matched the labels but belong to another workload)",
                s.others
            ));
        }
        out.push('\n');
        for pod in &s.chosen {
            out.push_str(&format!("  {}\n", pod.describe()));
        }
        if let Some(exec) = &self.exec {
            out.push_str(&format!("\nexec: {exec}\n"));
        }
        out.push_str(&format!("\nfiles ({} values redacted):\n", self.redactions));
        for p in &packed.placed {
            let name = self.names.get(p.map).map_or("?", String::as_str);
            out.push_str(&format!("  {} {} bytes in {name}", p.key, p.bytes));
            if let Some(from) = p.cut_from {
                out.push_str(&format!(" (cut from {from} bytes: size budget)"));
            }
            out.push('\n');
        }
        for (key, bytes) in &packed.omitted {
            out.push_str(&format!(
                "  {key} {bytes} bytes NOT STORED: size budget used up\n"
            ));
        }
        if !self.failures.is_empty() {
            out.push_str("\nnot captured:\n");
            for f in self.failures {
                out.push_str(&format!("  {}: {}\n", f.what, f.error));
            }
        }
        out
    }

    /// One line: what was captured and where, then what went wrong.
    pub fn note(&self, packed: &Packed) -> String {
        let mut note = format!(
            "captured {} ({}, {}) into {} {}",
            counted(self.selection.chosen.len(), "pod"),
            counted(self.logs, "log"),
            counted(self.events, "event"),
            if self.names.len() == 1 {
                "ConfigMap"
            } else {
                "ConfigMaps"
            },
            self.names.join(", ")
        );
        if let Some(exec) = &self.exec {
            note.push_str(&format!("; exec {exec}"));
        }
        if !self.failures.is_empty() {
            note.push_str(&format!(
                "; {} failed (see summary.txt)",
                counted(self.failures.len(), "read")
            ));
        }
        let cut = packed
            .placed
            .iter()
            .filter(|p| p.cut_from.is_some())
            .count();
        if cut + packed.omitted.len() > 0 {
            note.push_str(&format!(
                "; size budget: {} cut, {} left out",
                counted(cut, "file"),
                packed.omitted.len()
            ));
        }
        note
    }
}

/// `1 pod`, `3 pods`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
