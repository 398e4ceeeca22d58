//! Syntax checks for names that end up in Kubernetes objects and PromQL.

/// RFC 1123 label: what Kubernetes requires of namespace and most object names.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`); also valid as a Kubernetes label name part.
pub fn is_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && s.len() <= 63
}

/// Kubernetes label key: optional DNS-1123 subdomain prefix and `/`, then a name of
/// at most 63 characters `[A-Za-z0-9._-]`, starting and ending alphanumeric
/// (e.g. `app.kubernetes.io/name`).
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    prefix_ok
        && !name.is_empty()
        && name.len() <= 63
        && alnum(name.bytes().next())
        && alnum(name.bytes().last())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Kubernetes label value: empty, or at most 63 characters `[A-Za-z0-9._-]` starting
/// and ending alphanumeric. Values go into `labelSelector=` query strings, where a
/// `,` or `!` would add requirements of the writer's choosing.
pub fn is_label_value(s: &str) -> bool {
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    s.is_empty()
        || (s.len() <= 63
            && alnum(s.bytes().next())
            && alnum(s.bytes().last())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
}

/// Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        && s.len() <= 200
}

/// A comma-separated list of PromQL label matchers (`a="x", b!~"y.*"`), the only
/// thing allowed inside the braces a built-in detector appends it to. Checking the
/// full grammar keeps a matcher from closing the brace and injecting PromQL.
pub fn valid_matchers(s: &str) -> Result<(), String> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty".to_owned());
    }
    loop {
        let name_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &rest[..name_len];
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            return Err(format!("expected a label name at {rest:?}"));
        }
        rest = rest[name_len..].trim_start();
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("expected =, !=, =~ or !~ after {name:?}"))?;
        rest = rest[op.len()..].trim_start();
        rest = skip_string(rest)
            .ok_or_else(|| format!("expected a double-quoted value after {name}{op}"))?;
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(());
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("expected ',' between matchers at {rest:?}"))?
            .trim_start();
        if rest.is_empty() {
            return Ok(());
        }
    }
}

/// Skip a double-quoted PromQL string with backslash escapes; `None` if unterminated.
fn skip_string(s: &str) -> Option<&str> {
    let body = s.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(&body[i + 1..]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_accept_promql_label_matchers_only() {
        for ok in [
            r#"container="app""#,
            r#"a="x", b!~"y.*""#,
            r#"route!="/h\"z""#,
            r#"a="1","#,
        ] {
            assert!(valid_matchers(ok).is_ok(), "{ok}");
        }
        for bad in [
            r#"a="x"} or vector(1) or {b="y""#,
            r#"a=x"#,
            r#"a="x" b="y""#,
            r#""#,
            r#"a="unterminated"#,
            r#"1a="x""#,
        ] {
            assert!(valid_matchers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_label_key("app") && is_label_key("app.kubernetes.io/name"));
        assert!(is_label_key("example.com/Team_1"));
        assert!(is_label_value("") && is_label_value("v1.2_x-y") && !is_label_value("-a"));
        for bad in ["a,b=c", "a b", "x!", &"x".repeat(64)] {
            assert!(!is_label_value(bad), "{bad:?}");
        }
        for bad in [
            "",
            "/name",
            "Example.com/x",
            "a/b/c",
            "-app",
            "app-",
            &"x".repeat(64),
        ] {
            assert!(!is_label_key(bad), "{bad:?}");
        }
        assert!(is_dns_label("checkout-api") && !is_dns_label("Checkout") && !is_dns_label("-a"));
        assert!(is_metric_name("http:requests:rate5m") && !is_metric_name("5xx"));
        assert!(is_label_name("app") && !is_label_name("9a"));
    }
}
