//! `firebreak validate`: report every problem in every playbook file.

use std::io::Write;
use std::path::PathBuf;

use super::load::load_path;
use super::rules::Layout;

/// Validate all paths, print one line per problem and a summary; `Ok(true)` when all are valid.
/// With `queries`, also print the PromQL each detector of a valid playbook runs.
pub fn validate_paths(
    paths: &[PathBuf],
    queries: bool,
    out: &mut impl Write,
) -> std::io::Result<bool> {
    let mut problems = 0;
    let mut valid = 0;
    let mut files = 0;
    for path in paths {
        let report = load_path(path);
        files += report.files;
        for (file, pb) in &report.playbooks {
            valid += 1;
            writeln!(out, "ok      {} ({})", pb.id, file.display())?;
            if queries {
                for d in &pb.detectors {
                    let q = super::promql::render(d, &pb.target, &pb.id.namespace);
                    writeln!(out, "        {}: {q}", d.name)?;
                }
            }
        }
        for p in &report.problems {
            problems += 1;
            writeln!(out, "invalid {p}")?;
        }
    }
    writeln!(
        out,
        "{valid} valid playbook(s), {problems} problem(s) in {files} file(s)"
    )?;
    Ok(problems == 0 && files > 0)
}

/// How `firebreak rules` writes the recording rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesFormat {
    /// A Prometheus rule file (`rule_files:`, `promtool`).
    #[default]
    File,
    /// prometheus-operator `PrometheusRule` objects, one per playbook.
    PrometheusRule,
}

/// Print the recording rules of every playbook under `paths`; `Ok(false)` (and
/// every problem on `err`) when any playbook is invalid, printing nothing else.
pub fn render_rules(
    paths: &[PathBuf],
    format: RulesFormat,
    layout: Layout,
    labels: &std::collections::BTreeMap<String, String>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<bool> {
    let mut playbooks = Vec::new();
    let mut problems = 0;
    for path in paths {
        let report = load_path(path);
        for p in &report.problems {
            problems += 1;
            writeln!(err, "invalid {p}")?;
        }
        playbooks.extend(report.playbooks.into_iter().map(|(_, pb)| pb));
    }
    if problems > 0 {
        return Ok(false);
    }
    let yaml = match format {
        RulesFormat::File => serde_saphyr::to_string(&super::rules::rule_file(&playbooks, layout)),
        RulesFormat::PrometheusRule => serde_saphyr::to_string_multiple(
            &playbooks
                .iter()
                .map(|pb| super::rules::prometheus_rule(pb, layout, labels))
                .collect::<Vec<_>>(),
        ),
    };
    out.write_all(yaml.map_err(std::io::Error::other)?.as_bytes())?;
    Ok(true)
}
