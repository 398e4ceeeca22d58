//! Text for the report: escaping and compact numbers, times and durations.

use std::fmt::Write;

use jiff::Timestamp;

/// Appends `text` escaped for XML and HTML, in text and in quoted attributes.
/// Characters XML 1.0 forbids (most C0 controls) become U+FFFD so that a
/// stray control character in a playbook name cannot break the document.
pub(super) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// `text` escaped for XML and HTML.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// Appends a pixel coordinate with at most one decimal ("12", "12.5").
pub(super) fn push_coord(out: &mut String, v: f64) {
    let tenths = (v * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    let (whole, frac) = (tenths.abs() / 10, tenths.abs() % 10);
    // Writing to a String cannot fail.
    let _ = if frac == 0 {
        write!(out, "{sign}{whole}")
    } else {
        write!(out, "{sign}{whole}.{frac}")
    };
}

/// A pixel coordinate with at most one decimal.
pub(super) fn coord(v: f64) -> String {
    let mut out = String::new();
    push_coord(&mut out, v);
    out
}

const SI: [&str; 5] = ["", "k", "M", "G", "T"];

/// A value with at most four significant digits: SI suffixes from 1000 up
/// to 10^15, an exponent beyond that and below 0.001 ("1.5k", "0.25", "2e-6").
pub(super) fn value(v: f64) -> String {
    if !v.is_finite() {
        return "NaN".to_owned();
    }
    let a = v.abs();
    if a == 0.0 {
        return "0".to_owned();
    }
    if !(1e-3..1e15).contains(&a) {
        return exponent(v, 3);
    }
    let mut power = if a < 1e3 {
        0
    } else {
        ((a.log10() / 3.0).floor() as usize).min(SI.len() - 1)
    };
    let mut text = significant(v / 1e3f64.powi(power as i32), 4);
    // Rounding can carry into the next power ("999.96k" -> "1000k" -> "1M").
    if power + 1 < SI.len() && text.trim_start_matches('-').starts_with("1000") {
        power += 1;
        text = significant(v / 1e3f64.powi(power as i32), 4);
    }
    text + SI[power]
}

/// Tick labels for multiples of `step`: enough decimals to tell neighbours
/// apart (all labels of an axis share them), with the suffix of the largest.
pub(super) fn tick_labels(ticks: &[f64], step: f64) -> Vec<String> {
    let largest = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    if largest != 0.0 && !(1e-3..1e15).contains(&largest) {
        let digits = (largest.log10().floor() - step.log10().floor()).max(0.0) as usize;
        return ticks.iter().map(|&t| exponent(t, digits)).collect();
    }
    let power = if largest < 1e3 {
        0
    } else {
        ((largest.log10() / 3.0).floor() as usize).min(SI.len() - 1)
    };
    let scale = 1e3f64.powi(power as i32);
    // The small epsilon keeps 0.1 (stored as 0.1000…01) at one decimal.
    let decimals = (-((step / scale).log10() + 1e-9).floor()).max(0.0) as usize;
    ticks
        .iter()
        .map(|&t| {
            if t == 0.0 && power > 0 {
                "0".to_owned() // not "0k"
            } else {
                let t = if t == 0.0 { 0.0 } else { t / scale }; // no "-0"
                format!("{t:.decimals$}{}", SI[power])
            }
        })
        .collect()
}

/// `v` rounded to `digits` significant digits, trailing zeros trimmed.
fn significant(v: f64, digits: i32) -> String {
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    trim_zeros(format!("{v:.decimals$}"))
}

/// `v` in exponent form with at most `decimals` mantissa decimals ("1.5e-6").
fn exponent(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$e}");
    match text.split_once('e') {
        Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa.to_owned())),
        None => text,
    }
}

fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A UTC time for tables and tooltips, seconds only when not zero.
pub(super) fn time(t: Timestamp) -> String {
    if t.as_second() % 60 == 0 && t.subsec_nanosecond() == 0 {
        t.strftime("%Y-%m-%d %H:%M").to_string()
    } else {
        t.strftime("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// A duration the way playbooks write them ("2m30s", "1h5m", "0s").
pub(super) fn duration(d: std::time::Duration) -> String {
    crate::duration::Duration::from(d).to_string()
}

/// An optional duration, "—" when absent.
pub(super) fn opt_duration(d: Option<std::time::Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_turns_markup_into_text() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'co'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"
        );
        assert_eq!(escape("a\u{0}b\u{1b}c\td"), "a\u{FFFD}b\u{FFFD}c\td");
        assert_eq!(escape("café – ok"), "café – ok");
    }

    #[test]
    fn coords_have_at_most_one_decimal() {
        assert_eq!(coord(12.0), "12");
        assert_eq!(coord(12.345), "12.3");
        assert_eq!(coord(-0.04), "0");
        assert_eq!(coord(-3.25), "-3.3");
        assert_eq!(coord(0.96), "1");
    }

    #[test]
    fn values_have_four_significant_digits_and_si_suffixes() {
        let cases = [
            (0.0, "0"),
            (0.9, "0.9"),
            (0.123456, "0.1235"),
            (12.0, "12"),
            (999.94, "999.9"),
            (999.96, "1k"),
            (1500.0, "1.5k"),
            (-2_345_678.0, "-2.346M"),
            (999_960.0, "1M"),
            (7.2e9, "7.2G"),
            (0.00123, "0.00123"),
            (0.00002, "2e-5"),
            (1.5e-9, "1.5e-9"),
            (3.2e18, "3.2e18"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(value(v), want, "{v}");
        }
    }

    #[test]
    fn tick_labels_tell_neighbours_apart() {
        assert_eq!(tick_labels(&[0.0, 0.5, 1.0], 0.5), ["0.0", "0.5", "1.0"]);
        assert_eq!(tick_labels(&[-20.0, 0.0, 20.0], 20.0), ["-20", "0", "20"]);
        assert_eq!(
            tick_labels(&[1_000_000.0, 1_000_020.0], 20.0),
            ["1.00000M", "1.00002M"]
        );
        assert_eq!(tick_labels(&[-2e3, 0.0, 2e3], 2e3), ["-2k", "0", "2k"]);
        assert_eq!(tick_labels(&[1e-6, 2e-6], 1e-6), ["1e-6", "2e-6"]);
        assert_eq!(tick_labels(&[-0.0, 0.1], 0.1), ["0.0", "0.1"]);
    }

    #[test]
    fn times_and_durations_are_compact() {
        let t: Timestamp = "2026-03-01T12:05:00Z".parse().expect("timestamp");
        assert_eq!(time(t), "2026-03-01 12:05");
        let t: Timestamp = "2026-03-01T12:05:30Z".parse().expect("timestamp");
        assert_eq!(time(t), "2026-03-01 12:05:30");
        assert_eq!(duration(std::time::Duration::from_secs(150)), "2m30s");
        assert_eq!(opt_duration(None), "—");
        assert_eq!(opt_duration(Some(std::time::Duration::ZERO)), "0s");
    }
}
