//! A reader for the OpenMetrics text format with timestamps, as `promtool tsdb
//! create-blocks-from openmetrics` takes it: enough to load recorded scenarios.

use std::collections::BTreeMap;

use crate::playbook::problem::{MAX_REASON_CHARS, shorten};

/// One series: metric name, labels and time-ordered samples (unix milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(i64, f64)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

/// Parse a whole exposition. Samples need timestamps; series keep the file's order
/// of samples and must be non-decreasing in time (OpenMetrics requires it).
pub fn parse(text: &str) -> Result<Vec<Series>, ParseError> {
    let mut index: BTreeMap<(String, BTreeMap<String, String>), usize> = BTreeMap::new();
    let mut series: Vec<Series> = Vec::new();
    let mut saw_eof = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        // A scenario line can be arbitrarily long; the error stays one readable line.
        let err = |reason: String| ParseError {
            line: line_no,
            reason: shorten(&reason, MAX_REASON_CHARS),
        };
        let line = raw.trim_end();
        if saw_eof {
            if line.is_empty() {
                continue;
            }
            return Err(err("content after # EOF".to_owned()));
        }
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels, rest) = parse_series_id(line).map_err(err)?;
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .ok_or_else(|| err("missing value".to_owned()))
            .and_then(|v| parse_value(v).map_err(err))?;
        let ts = fields
            .next()
            .ok_or_else(|| err("missing timestamp (scenarios need one per sample)".to_owned()))?;
        let ts: f64 = ts
            .parse()
            .map_err(|_| err(format!("invalid timestamp {ts:?}")))?;
        if !ts.is_finite() {
            return Err(err("timestamp must be finite".to_owned()));
        }
        let ms = (ts * 1000.0).round() as i64;
        // The cast saturates; a time outside jiff's range (years -9999..=9999) would
        // also make "now minus sample time" overflow when the scenario is replayed.
        if jiff::Timestamp::from_millisecond(ms).is_err() {
            return Err(err(format!("timestamp {ts} is out of range")));
        }
        let key = (name, labels);
        let at = match index.get(&key) {
            Some(at) => *at,
            None => {
                index.insert(key.clone(), series.len());
                series.push(Series {
                    name: key.0,
                    labels: key.1,
                    samples: Vec::new(),
                });
                series.len() - 1
            }
        };
        let s = &mut series[at];
        if s.samples.last().is_some_and(|(last, _)| *last > ms) {
            return Err(err(format!("samples of {} go back in time", s.name)));
        }
        s.samples.push((ms, value));
    }
    if !saw_eof {
        return Err(ParseError {
            // Lines are numbered from 1, also in an empty file.
            line: text.lines().count().max(1),
            reason: "missing # EOF".to_owned(),
        });
    }
    Ok(series)
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v.parse().map_err(|_| format!("invalid value {v:?}")),
    }
}

type SeriesId<'a> = (String, BTreeMap<String, String>, &'a str);

fn parse_series_id(line: &str) -> Result<SeriesId<'_>, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("missing value")?;
    let name = &line[..name_end];
    if name.is_empty() || !crate::playbook::validate::is_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("expected label=\"value\"")?;
            let label = rest[..eq].trim();
            if !crate::playbook::validate::is_label_name(label) {
                return Err(format!("invalid label name {label:?}"));
            }
            let (value, after) = quoted(&rest[eq + 1..])?;
            labels.insert(label.to_owned(), value);
            rest = after;
        }
    }
    Ok((name.to_owned(), labels, rest))
}

/// A double-quoted label value with `\\`, `\"` and `\n` escapes; returns the rest.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let body = s
        .trim_start()
        .strip_prefix('"')
        .ok_or("label value must be quoted")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, e @ ('\\' | '"'))) => out.push(e),
                _ => return Err("invalid escape in label value".to_owned()),
            },
            _ => out.push(c),
        }
    }
    Err("unterminated label value".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_series_with_labels_and_timestamps() {
        let text = "# TYPE x gauge\nx{a=\"1\",b=\"q\\\"z\"} 0.5 100\nx{a=\"1\",b=\"q\\\"z\"} 2 101.5\ny 3 100\n# EOF\n";
        let s = parse(text).expect("valid");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels["b"], "q\"z");
        assert_eq!(s[0].samples, vec![(100_000, 0.5), (101_500, 2.0)]);
        assert_eq!(s[1].name, "y");
    }

    #[test]
    fn rejections_name_the_line() {
        for (text, line, needle) in [
            ("x 1\n# EOF\n", 1, "missing timestamp"),
            ("x 1 10\nx 1 5\n# EOF\n", 2, "back in time"),
            ("x{a=1} 1 10\n# EOF\n", 1, "quoted"),
            ("x 1 10\n", 1, "missing # EOF"),
            ("x one 10\n# EOF\n", 1, "invalid value"),
            ("# EOF\nx 1 1\n", 2, "after # EOF"),
            ("", 1, "missing # EOF"),
            ("x 1 1e300\n# EOF\n", 1, "out of range"),
            ("x 1 -1e17\n# EOF\n", 1, "out of range"),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.reason.contains(needle), "{text:?}: {}", e.reason);
        }
    }
}
