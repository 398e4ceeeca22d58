//! A problem found in a playbook: where it is and why it is wrong.

use std::fmt;
use std::path::PathBuf;

use super::locate::{Locator, Position};

/// One reason a playbook is rejected. Displayed as
/// `file:line:column: field.path: reason`, the shape editors and CI logs link.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub file: Option<PathBuf>,
    pub position: Option<Position>,
    /// Field path such as `spec.detectors[0].thresholds.high`; empty for the document.
    pub path: String,
    pub reason: String,
}

impl Problem {
    /// Over-long paths and reasons are cut in the middle (see [`shorten`]).
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem {
            file: None,
            position: None,
            path: shorten(&path.into(), MAX_PATH_CHARS),
            reason: shorten(&reason.into(), MAX_REASON_CHARS),
        }
    }

    /// Attach the file name and, unless already known, the source position.
    pub fn located(mut self, file: Option<&std::path::Path>, locator: &Locator) -> Self {
        self.file = file.map(|f| f.to_path_buf());
        if self.position.is_none() {
            self.position = locator.find(&self.path);
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("<input>")?,
        }
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Problems echo what was written (a name, a duration, a key); a hostile file can
/// make that megabytes long. One problem stays one readable line.
pub const MAX_REASON_CHARS: usize = 240;
pub const MAX_PATH_CHARS: usize = 160;

/// `text` if at most `max` characters, else its start and end around ` … `: the
/// start shows which value it was, the end usually says why it was refused.
pub fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(3);
    let head = keep * 2 / 3;
    let tail = keep - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start} … {end}")
}

/// Collects problems under a moving field path while validating.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<Problem>,
}

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.list.push(Problem::new(path, reason));
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_echoes_are_cut_in_the_middle() {
        assert_eq!(shorten("short", 10), "short");
        let long = format!("duration \"{}s\" is too large", "9".repeat(1000));
        let cut = shorten(&long, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(
            cut.starts_with("duration \"999") && cut.ends_with("is too large"),
            "{cut}"
        );
        // Multi-byte characters are never split.
        assert_eq!(shorten(&"é".repeat(50), 10).chars().count(), 10);
    }
}
