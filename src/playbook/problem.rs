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
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem {
            file: None,
            position: None,
            path: path.into(),
            reason: reason.into(),
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
