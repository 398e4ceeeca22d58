//! Slack `mrkdwn` text: escaping, truncation within Block Kit's character
//! limits, and the numbers, durations and dates a message shows.

use jiff::Timestamp;

/// Escape the three characters Slack's formatting reserves (`&`, `<`, `>`);
/// anything else must stay as is or Slack shows the entity verbatim.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Number of characters, as Block Kit counts its limits.
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` characters, `suffix` included, when it is longer.
/// An entity (`&amp;`) cut in half is dropped whole, so Slack never shows a stray `&am`.
pub fn truncate(s: &str, max: usize, suffix: &str) -> String {
    if chars(s) <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(chars(suffix));
    let mut head: String = s.chars().take(keep).collect();
    if let Some(amp) = head.rfind('&')
        && !head[amp..].contains(';')
    {
        head.truncate(amp);
    }
    // A code block cut open would swallow the suffix: close it first.
    if head.matches("```").count() % 2 == 1 {
        head = head.chars().take(keep.saturating_sub(4)).collect();
        if head.matches("```").count() % 2 == 1 {
            head.push_str("\n```");
        }
    }
    head.push_str(suffix);
    head
}

/// A reading as people read it: integers without decimals, else at most 3 decimals.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "0" || s == "-0" {
        // Too small for 3 decimals: keep its magnitude visible.
        format!("{v:.2e}")
    } else {
        s.to_owned()
    }
}

/// `1h 5m`, `14m 3s`, `42s`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, _) => format!("{m}m {sec}s"),
        _ => format!("{h}h {m}m"),
    }
}

/// A date Slack renders in each reader's time zone, with the UTC time as fallback.
pub fn date(t: Timestamp) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time_secs}}|{}>",
        t.as_second(),
        t.strftime("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// A mention as Slack expects it: `<!subteam^…>`/`<@U…>` as given, `@here`,
/// `@channel`, `@everyone` as special mentions; other `@handles` stay text and
/// are linked by `link_names` (user groups).
pub fn mention(m: &str) -> String {
    match m.trim() {
        "@here" | "here" => "<!here>".to_owned(),
        "@channel" | "channel" => "<!channel>".to_owned(),
        "@everyone" | "everyone" => "<!everyone>".to_owned(),
        m if m.starts_with('<') && m.ends_with('>') => m.to_owned(),
        m => escape(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reserved_characters_only() {
        assert_eq!(
            escape("a < b && c > \"d\""),
            "a &lt; b &amp;&amp; c &gt; \"d\""
        );
    }

    #[test]
    fn truncates_by_characters_with_the_suffix_inside_the_limit() {
        let s = "é".repeat(50);
        let t = truncate(&s, 20, "…");
        assert_eq!(chars(&t), 20);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("short", 20, "…"), "short");
    }

    #[test]
    fn truncation_drops_a_cut_entity_and_closes_a_code_block() {
        let t = truncate("abc &amp; def", 8, "…");
        assert_eq!(t, "abc …");
        let t = truncate(&format!("```{}```", "x".repeat(100)), 30, " (cut)");
        assert!(chars(&t) <= 30, "{t}");
        assert_eq!(t.matches("```").count(), 2, "{t}");
        assert!(t.ends_with(" (cut)"));
    }

    #[test]
    fn numbers_durations_mentions() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1.23456), "1.235");
        assert_eq!(number(0.0001), "1.00e-4");
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(843), "14m 3s");
        assert_eq!(duration(3900), "1h 5m");
        assert_eq!(mention("@here"), "<!here>");
        assert_eq!(mention("<!subteam^S012>"), "<!subteam^S012>");
        assert_eq!(mention("@oncall"), "@oncall");
    }
}
