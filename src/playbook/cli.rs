//! `firebreak validate`: report every problem in every playbook file.

use std::io::Write;
use std::path::PathBuf;

use super::load::load_path;

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
