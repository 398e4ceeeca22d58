//! Input generators and checks for `tests/fuzz_input.rs`: line edits that turn a
//! valid file into a plausible broken one, YAML-ish noise, and a PromQL shape check.

use proptest::prelude::*;
use proptest::sample::Index;

/// One edit of a text, by line (indices are proportional, so any edit applies to any text).
#[derive(Clone, Debug)]
pub enum Edit {
    Delete(Index),
    Duplicate(Index),
    Swap(Index, Index),
    /// Replace what follows the line's first `:`, else its last field, by a value.
    ReplaceValue(Index, String),
    Insert(Index, String),
    /// Cut the text at a proportional byte offset (on a character boundary).
    Truncate(Index),
}

/// Values hostile to a field: out of range, of the wrong type, YAML tricks.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e309".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("18446744073709551615w".to_owned()),
        Just("-5s".to_owned()),
        Just("0s".to_owned()),
        Just(".nan".to_owned()),
        Just("-.inf".to_owned()),
        Just("~".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_owned()),
        Just(r#"'x"} or vector(1) or {a="'"#.to_owned()),
        Just("*nowhere".to_owned()),
        Just("&a [*a]".to_owned()),
        Just("!!binary AAAA".to_owned()),
        Just("|\n  block".to_owned()),
        any::<f64>().prop_map(|x| x.to_string()),
        any::<i64>().prop_map(|x| x.to_string()),
        "[ -~]{0,30}",
        "\\PC{0,12}",
    ]
}

/// Lines to insert: unknown keys, structure, documents, anchors, noise.
fn inserted_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("  unknownField: 1".to_owned()),
        Just("spce: {}".to_owned()),
        Just("---".to_owned()),
        Just("--- # next".to_owned()),
        Just("...".to_owned()),
        Just("- [".to_owned()),
        Just("x: &a [1, 2]".to_owned()),
        Just("<<: *a".to_owned()),
        Just("\t- tab".to_owned()),
        Just("? complex key".to_owned()),
        Just("%YAML 1.2".to_owned()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<Index>().prop_map(Edit::Delete),
        1 => any::<Index>().prop_map(Edit::Duplicate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        3 => (any::<Index>(), hostile_value()).prop_map(|(i, v)| Edit::ReplaceValue(i, v)),
        2 => (any::<Index>(), inserted_line()).prop_map(|(i, l)| Edit::Insert(i, l)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// One to four edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..=4)
}

/// Apply `edits` in order to `text`.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(i) if !lines.is_empty() => {
                lines.remove(i.index(n));
            }
            Edit::Duplicate(i) if !lines.is_empty() => {
                let at = i.index(n);
                lines.insert(at, lines[at].clone());
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a.index(n), b.index(n)),
            Edit::ReplaceValue(i, value) if !lines.is_empty() => {
                let line = &mut lines[i.index(n)];
                // YAML `key: value`, else the last field (an OpenMetrics timestamp).
                *line = match (line.split_once(':'), line.rsplit_once(' ')) {
                    (Some((key, _)), _) => format!("{key}: {value}"),
                    (None, Some((head, _))) => format!("{head} {value}"),
                    (None, None) => value.clone(),
                };
            }
            Edit::Insert(i, new) => {
                let at = i.index(lines.len() + 1);
                lines.insert(at, new.clone());
            }
            Edit::Truncate(i) => {
                let mut joined = lines.join("\n");
                let mut cut = i.index(joined.len() + 1);
                while !joined.is_char_boundary(cut) {
                    cut -= 1;
                }
                joined.truncate(cut);
                lines = joined.lines().map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Short texts made of YAML's structural characters, to reach parser corners.
pub fn yaml_ish() -> impl Strategy<Value = String> {
    "([\\[\\]{}:,?|>&*!%@`'\"#\\- \\n\\t.]|[a-z0-9]{1,4}|spec|metadata|detectors|\\n  ){0,120}"
}

/// `query` with the contents of every string literal removed, if its strings are
/// terminated and its brackets balanced; `None` otherwise. Two queries with the
/// same skeleton differ only inside strings.
pub fn promql_skeleton(query: &str) -> Option<String> {
    let mut out = String::with_capacity(query.len());
    let mut open = Vec::new();
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                out.push(c);
                let quote = c;
                loop {
                    match chars.next()? {
                        '\\' if quote != '`' => {
                            chars.next()?;
                        }
                        '\n' if quote != '`' => return None,
                        c if c == quote => break,
                        _ => {}
                    }
                }
                out.push(quote);
                continue;
            }
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(want) {
                    return None;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    open.is_empty().then_some(out)
}

/// A skeleton with the inside of every `{…}` selector removed.
pub fn outside_braces(skeleton: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(skeleton.len());
    for c in skeleton.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push(c);
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.push(c);
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}
