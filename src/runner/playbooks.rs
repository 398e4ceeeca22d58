//! Playbooks for the modes without a cluster: from files, or the embedded examples.

use std::path::{Path, PathBuf};

use crate::embedded::PLAYBOOKS;
use crate::playbook::load::{load_path, parse_documents};
use crate::playbook::model::Playbook;
use crate::playbook::problem::Problem;

/// Every problem found; one invalid playbook fails the whole set so nothing runs half-configured.
#[derive(Debug, thiserror::Error)]
#[error("invalid playbooks in {}:\n{}", .source_name, list(.problems))]
pub struct PlaybookError {
    pub source_name: String,
    pub problems: Vec<Problem>,
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The playbooks under `path`, or the embedded ones.
pub fn load_playbooks(path: Option<&Path>) -> Result<Vec<Playbook>, PlaybookError> {
    let (playbooks, problems, source_name) = match path {
        Some(p) => {
            let report = load_path(p);
            (
                report.playbooks.into_iter().map(|(_, pb)| pb).collect(),
                report.problems,
                p.display().to_string(),
            )
        }
        None => {
            let mut ok = Vec::new();
            let mut bad = Vec::new();
            for (file, text) in PLAYBOOKS {
                for r in parse_documents(text, Some(&PathBuf::from(file))) {
                    match r {
                        Ok(pb) => ok.push(pb),
                        Err(p) => bad.extend(p),
                    }
                }
            }
            (ok, bad, "the embedded playbooks".to_owned())
        }
    };
    if problems.is_empty() {
        Ok(playbooks)
    } else {
        Err(PlaybookError {
            source_name,
            problems,
        })
    }
}
