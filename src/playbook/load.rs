//! Reading playbooks from YAML files: parse, report unknown fields, validate,
//! and name the file, line, column and field of every problem.

use std::path::{Path, PathBuf};

use super::limits::{MAX_ALIAS_REPLAYED_EVENTS, MAX_DEPTH, read_text, yaml_options};
use super::locate::{Locator, Position};
use super::model::Playbook as ValidPlaybook;
use super::problem::Problem;
use super::spec::Playbook;
use super::validate::validate;

/// The API version playbooks are written in.
pub const API_VERSION: &str = "firebreak.dev/v1alpha1";

pub use super::limits::MAX_FILE_BYTES;

/// Every playbook found and every problem, across all files read.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub playbooks: Vec<(PathBuf, ValidPlaybook)>,
    pub problems: Vec<Problem>,
    pub files: usize,
}

/// Read a file, or every `*.yaml`/`*.yml` file under a directory (sorted, recursive).
pub fn load_path(path: &Path) -> LoadReport {
    let mut report = LoadReport::default();
    let files = match yaml_files(path) {
        Ok(files) => files,
        Err(e) => {
            report.problems.push(io_problem(path, &e));
            return report;
        }
    };
    for file in files {
        report.files += 1;
        match read_text(&file) {
            Ok(text) => {
                let results = parse_documents(&text, Some(&file));
                if results.is_empty() {
                    // An empty file is a mistake (a bad redirect, a failed template),
                    // not a directory with one playbook fewer.
                    report.problems.push(Problem {
                        file: Some(file.clone()),
                        ..Problem::new("", "no playbook in the file")
                    });
                }
                for result in results {
                    match result {
                        Ok(pb) => report.playbooks.push((file.clone(), pb)),
                        Err(problems) => report.problems.extend(problems),
                    }
                }
            }
            Err(e) => report.problems.push(Problem {
                file: Some(file.clone()),
                ..Problem::new("", e.to_string())
            }),
        }
    }
    report
}

fn io_problem(path: &Path, e: &std::io::Error) -> Problem {
    Problem {
        file: Some(path.to_path_buf()),
        position: None,
        path: String::new(),
        reason: format!("cannot read: {e}"),
    }
}

fn yaml_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        // Surface a missing file as an I/O error rather than as "no playbooks".
        std::fs::metadata(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Parse a YAML stream of one or more `---`-separated Playbook documents.
pub fn parse_documents(
    text: &str,
    file: Option<&Path>,
) -> Vec<Result<ValidPlaybook, Vec<Problem>>> {
    if text.len() > MAX_FILE_BYTES {
        let p = Problem {
            file: file.map(Path::to_path_buf),
            position: None,
            path: String::new(),
            reason: format!(
                "file is {} bytes; playbooks are limited to {MAX_FILE_BYTES} bytes",
                text.len()
            ),
        };
        return vec![Err(vec![p])];
    }
    split_documents(text)
        .into_iter()
        .filter(|(doc, _)| !doc.trim().is_empty() && !is_only_comments(doc))
        .map(|(doc, first_line)| parse_document(doc, first_line, file))
        .collect()
}

fn is_only_comments(doc: &str) -> bool {
    doc.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// Split on `---` lines, remembering each document's first line so that
/// positions refer to the whole file.
fn split_documents(text: &str) -> Vec<(&str, usize)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 0;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if is_document_marker(line) {
            docs.push((&text[start..offset], start_line));
            start = offset + line.len();
            start_line = i + 1;
        }
        offset += line.len();
    }
    docs.push((&text[start..], start_line));
    docs
}

/// `---` alone or followed by a comment. Content on the marker line itself (`--- {a: 1}`)
/// is left to the parser, which refuses a second document in one piece.
fn is_document_marker(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| {
        let rest = rest.trim();
        rest.is_empty()
            || (rest.starts_with('#')
                && line
                    .as_bytes()
                    .get(3)
                    .is_some_and(|b| b.is_ascii_whitespace()))
    })
}

/// Parse and validate one document; `line_offset` is the number of lines before it.
pub fn parse_document(
    doc: &str,
    line_offset: usize,
    file: Option<&Path>,
) -> Result<ValidPlaybook, Vec<Problem>> {
    // Indexing positions costs a second parse: only done for a document with problems.
    let locate = |problems: Vec<Problem>| {
        let locator = Locator::new(doc);
        problems
            .into_iter()
            .map(|p| {
                let mut p = p.located(file, &locator);
                if let Some(pos) = p.position.as_mut() {
                    pos.line += line_offset;
                }
                p
            })
            .collect()
    };
    let mut unknown = Vec::new();
    let mut failed_at = String::new();
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(doc, yaml_options(), |de| {
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
        let result: Result<Playbook, _> =
            serde_ignored::deserialize(tracked, |p| unknown.push(ignored_path(&p)));
        if result.is_err() {
            failed_at = track.path().to_string();
        }
        result
    });
    let playbook = match parsed {
        Ok(pb) => pb,
        Err(e) => {
            let position = e.location().map(|l| Position {
                line: l.line() as usize,
                column: l.column() as usize,
            });
            let path = if failed_at == "." {
                String::new()
            } else {
                failed_at
            };
            let (path, reason) = plain_words(path, first_line(&e.to_string()));
            let p = Problem {
                position,
                ..Problem::new(path, reason)
            };
            return Err(locate(vec![p]));
        }
    };
    // kube's generated root type neither reads nor checks `apiVersion` and `kind`.
    let mut problems: Vec<Problem> = unknown
        .into_iter()
        .filter(|path| path != "apiVersion" && path != "kind")
        .map(|path| Problem::new(path, "unknown field"))
        .collect();
    problems.extend(type_meta_problems(doc));
    let validated = validate(&playbook);
    match validated {
        Ok(pb) if problems.is_empty() => Ok(pb),
        Ok(_) => Err(locate(problems)),
        Err(more) => {
            problems.extend(more);
            Err(locate(problems))
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    api_version: Option<String>,
    kind: Option<String>,
}

fn type_meta_problems(doc: &str) -> Vec<Problem> {
    let Ok(meta) = serde_saphyr::from_str_with_options::<TypeMeta>(doc, yaml_options()) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let expected = [
        ("apiVersion", meta.api_version, API_VERSION),
        ("kind", meta.kind, "Playbook"),
    ];
    for (field, value, want) in expected {
        match value {
            Some(v) if v == want => {}
            Some(v) => problems.push(Problem::new(field, format!("expected {want:?}, got {v:?}"))),
            None => problems.push(Problem::new(field, format!("required ({want:?})"))),
        }
    }
    problems
}

/// serde-saphyr renders a source snippet under the message; the first line is the reason.
/// Its own `error: line L column C:` prefix repeats what the problem already says.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    let line = line.strip_prefix("error:").map_or(line, str::trim_start);
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((_, reason)) => reason.to_owned(),
        None => line.to_owned(),
    }
}

/// serde-saphyr's messages for the breaches a hostile file provokes, in the words
/// of a playbook author; the limits are in `limits.rs`.
fn plain_words(path: String, reason: String) -> (String, String) {
    // serde_path_to_error writes `?` for the key it failed on; a duplicate names it.
    if let Some(rest) = reason.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        let parent = path
            .strip_suffix('?')
            .unwrap_or(&path)
            .trim_end_matches('.');
        let path = if parent.is_empty() {
            key.to_owned()
        } else {
            format!("{parent}.{key}")
        };
        return (path, "written twice (duplicate key)".to_owned());
    }
    let reason = match reason.as_str() {
        "recursion limit exceeded" => format!("nested deeper than {MAX_DEPTH} levels"),
        "invalid u32" => "must be a whole number from 0 to 4294967295".to_owned(),
        "invalid floating point" => "not a finite number".to_owned(),
        "expected sequence start" => "expected a list".to_owned(),
        "expected mapping start" => "expected a mapping (key: value)".to_owned(),
        "expected string scalar" => "expected a single value, not a list or mapping".to_owned(),
        r if r.starts_with("alias replay limit exceeded") => format!(
            "aliases expand to more than {MAX_ALIAS_REPLAYED_EVENTS} nodes (limit against alias bombs)"
        ),
        _ => reason,
    };
    (path, reason)
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        P::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.to_string()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}
