//! Bounds on playbook input, enforced before and while parsing so that a hostile or
//! broken file costs little: it is refused with a message naming the limit, never
//! read whole into memory, never allowed to recurse deeply or expand aliases.
//!
//! A shipped playbook is ~2 KiB, ~300 YAML events and 8 levels deep
//! (`spec.actions.high[0].diagnostics.exec.command[0]`); every limit here is
//! orders of magnitude above that.

use std::io::Read;
use std::path::Path;

use serde_saphyr::options::AliasLimits;
use serde_saphyr::{Budget, Options};

/// Larger files are refused before parsing. A Kubernetes object cannot exceed
/// ~1.5 MiB (etcd's default request limit), so no real playbook comes close.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Nesting of mappings and sequences (block or flow).
pub const MAX_DEPTH: usize = 32;

/// Alias (`*ref`) uses per document; anchors are rare in playbooks.
pub const MAX_ALIASES: usize = 100;

/// Events that aliases may replay in total: what stops "billion laughs", where
/// a handful of aliases expand to billions of nodes.
pub const MAX_ALIAS_REPLAYED_EVENTS: usize = 10_000;

/// Parser events per document (every scalar, key and collection start/end).
pub const MAX_EVENTS: usize = 100_000;

/// Why a playbook file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("file is {size} bytes; playbooks are limited to {MAX_FILE_BYTES} bytes")]
    TooLarge { size: u64 },
    #[error("not UTF-8 text: invalid byte at line {line}, column {column}")]
    NotUtf8 { line: usize, column: usize },
}

/// Read a playbook file as UTF-8 text, refusing files over [`MAX_FILE_BYTES`]
/// without reading them (and without trusting the size the file system reports:
/// a pipe or `/dev/zero` has none).
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > MAX_FILE_BYTES as u64 {
        return Err(ReadError::TooLarge { size });
    }
    let mut bytes = Vec::new();
    // One byte more than allowed tells "exactly at the limit" from "over it".
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        ReadError::NotUtf8 {
            line: valid.iter().filter(|b| **b == b'\n').count() + 1,
            column,
        }
    })
}

/// serde-saphyr options for one playbook document: its defaults (duplicate keys
/// are errors, non-finite untyped floats are refused) with the budget tightened
/// to the limits above.
pub fn yaml_options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ALIASES;
    budget.max_events = MAX_EVENTS;
    budget.max_nodes = MAX_EVENTS;
    budget.max_total_scalar_bytes = 2 * MAX_FILE_BYTES;
    budget.max_documents = 1;
    let mut aliases = AliasLimits::default();
    aliases.max_total_replayed_events = MAX_ALIAS_REPLAYED_EVENTS;
    aliases.max_replay_stack_depth = MAX_DEPTH;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits = aliases;
    options
}
