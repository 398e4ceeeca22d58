//! Maps field paths (`spec.detectors[0].thresholds.high`) to where they are written
//! in the YAML source, so that problems found after parsing still name a line.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

use super::limits::MAX_DEPTH;

/// 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Positions of every mapping key and sequence item of one YAML document.
#[derive(Debug, Default)]
pub struct Locator {
    positions: HashMap<String, Position>,
}

enum Frame {
    Map {
        path: String,
        expecting_key: bool,
        key: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

impl Locator {
    /// Index a document. Unparseable input yields whatever was indexed before the
    /// error: the parse error itself is reported by the deserializer.
    pub fn new(source: &str) -> Self {
        let mut positions = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(source);
        while let Some(Ok((event, span))) = parser.next_event() {
            if matches!(event, Event::Comment(..)) {
                continue;
            }
            // Deeper than any playbook: the deserializer reports the nesting itself, and
            // paths this long would make the index quadratic in the input.
            if stack.len() > MAX_DEPTH {
                break;
            }
            let pos = Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            // The path of the node this event starts, if it is a value (not a key).
            let node_path = match stack.last_mut() {
                Some(Frame::Map {
                    path,
                    expecting_key,
                    key,
                }) => {
                    if *expecting_key {
                        if let Event::Scalar(text, ..) = &event {
                            let child = join_key(path, text);
                            positions.insert(child.clone(), pos);
                            *key = Some(child);
                            *expecting_key = false;
                            continue;
                        }
                        if matches!(event, Event::MappingEnd) {
                            stack.pop();
                            continue;
                        }
                        // Complex keys are not used by playbooks; index nothing under them.
                        *expecting_key = false;
                        Some(String::from("?"))
                    } else {
                        *expecting_key = true;
                        key.take()
                    }
                }
                Some(Frame::Seq { path, index }) => {
                    if matches!(event, Event::SequenceEnd) {
                        stack.pop();
                        continue;
                    }
                    let child = format!("{path}[{index}]");
                    positions.insert(child.clone(), pos);
                    *index += 1;
                    Some(child)
                }
                None => Some(String::new()),
            };
            let path = node_path.unwrap_or_default();
            match event {
                Event::MappingStart(..) => stack.push(Frame::Map {
                    path,
                    expecting_key: true,
                    key: None,
                }),
                Event::SequenceStart(..) => stack.push(Frame::Seq { path, index: 0 }),
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        Locator { positions }
    }

    /// Where `path` is written, or its nearest written ancestor (a missing field is
    /// reported at the object that lacks it).
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(p) = self.positions.get(path) {
                return Some(*p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_items_and_nearest_ancestor() {
        let doc = "\
spec:
  detectors:
    - name: a
      thresholds:
        high: 3
    - name: b
  flow: {x: 1, y: [5, 6]}
";
        let loc = Locator::new(doc);
        let at = |p: &str| loc.find(p).map(|p| (p.line, p.column));
        assert_eq!(at("spec"), Some((1, 1)));
        assert_eq!(at("spec.detectors[0]"), Some((3, 7)));
        assert_eq!(at("spec.detectors[0].thresholds.high"), Some((5, 9)));
        assert_eq!(at("spec.detectors[1].name"), Some((6, 7)));
        assert_eq!(at("spec.flow.y[1]"), Some((7, 23)));
        // Not written: reported at the closest written parent.
        assert_eq!(at("spec.detectors[1].thresholds"), Some((6, 7)));
        assert_eq!(at("other"), None);
    }
}
