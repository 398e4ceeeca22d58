//! Secrets out of captured text before it is stored: a ConfigMap is readable by
//! anyone who may read ConfigMaps in the namespace, a wider audience than the
//! pod's logs. Values are replaced by [`REDACTED`]; keys, header names and URL
//! hosts stay, so a reader still sees what was there.

use std::sync::LazyLock;

use regex::{Captures, Regex};

pub(super) const REDACTED: &str = "[REDACTED]";

/// Keys whose value is a secret in `key=value`, `key: value` and JSON
/// `"key": "value"` forms, matched case-insensitively anywhere in a name
/// (`DB_PASSWORD`, `x-api-key`, `aws_secret_access_key`).
const KEYS: &str = r"(?:password|passwd|pwd|passphrase|secret[_-]?access[_-]?key|client[_-]?secret|secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|token|credentials?|session[_-]?id|cookie)";

/// `(pattern, replacement)`, applied in order; `$n` refers to the pattern's groups.
fn rules() -> Vec<(String, String)> {
    let r = REDACTED;
    vec![
        // PEM private keys (may span lines).
        (
            r"(?s)(-----BEGIN [A-Z ]*PRIVATE KEY-----).*?(-----END [A-Z ]*PRIVATE KEY-----)".into(),
            format!("${{1}}{r}${{2}}"),
        ),
        // Authorization headers: keep the header and scheme, drop the credential.
        (
            r#"(?i)\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|digest|negotiate|token)\s+)?)[^\s"',;]+"#.into(),
            format!("${{1}}{r}"),
        ),
        // A bearer token outside a header ("using Bearer abc…").
        (
            r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*".into(),
            format!("${{1}}{r}"),
        ),
        // Credentials in URLs: scheme://user:password@host.
        (
            r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+@".into(),
            format!("${{1}}{r}@"),
        ),
        // key: "value" and "key": "value" (quotes kept, so JSON stays JSON).
        (
            format!(r#"(?i)({KEYS}["']?\s*[:=]\s*)"[^"]*""#),
            format!("${{1}}\"{r}\""),
        ),
        (
            format!(r"(?i)({KEYS}[']?\s*[:=]\s*)'[^']*'"),
            format!("${{1}}'{r}'"),
        ),
        // key=value, key: value (unquoted, up to a separator).
        (
            format!(r#"(?i)({KEYS}["']?\s*[:=]\s*)(?:\[REDACTED\]|[^\s,;&"'}}\]]+)"#),
            format!("${{1}}{r}"),
        ),
        // JSON Web Tokens: base64url header starting `{"` (eyJ), payload, signature.
        (
            r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*".into(),
            r.into(),
        ),
        // AWS access key ids (AKIA… long-term, ASIA… temporary, other principals).
        (
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b".into(),
            r.into(),
        ),
        // Slack bot, user, app and refresh tokens.
        (
            r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9\-]{8,}".into(),
            r.into(),
        ),
        // GitHub tokens.
        (r"\bgh[pousr]_[A-Za-z0-9]{30,}\b".into(), r.into()),
    ]
}

/// The compiled rules. The patterns are constants: a test checks every one
/// compiles, so none is dropped here in practice.
static RULES: LazyLock<Vec<(Regex, String)>> = LazyLock::new(|| {
    rules()
        .into_iter()
        .filter_map(|(pattern, replacement)| {
            let compiled = Regex::new(&pattern);
            if let Err(e) = &compiled {
                tracing::error!(error = %e, "a redaction pattern does not compile");
            }
            compiled.ok().map(|re| (re, replacement))
        })
        .collect()
});

/// `text` with every secret the rules know replaced, and how many were.
pub(super) fn redact(text: &str) -> (String, usize) {
    let mut out = text.to_owned();
    let mut count = 0;
    for (re, replacement) in RULES.iter() {
        if !re.is_match(&out) {
            continue;
        }
        let replaced = re.replace_all(&out, |caps: &Captures| {
            let mut dst = String::new();
            caps.expand(replacement, &mut dst);
            // Already redacted (a second pass, or an earlier rule): not counted again.
            if caps.get(0).map(|m| m.as_str()) != Some(dst.as_str()) {
                count += 1;
            }
            dst
        });
        out = replaced.into_owned();
    }
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(RULES.len(), rules().len());
    }

    #[test]
    fn secrets_are_replaced_and_their_context_kept() {
        let table = [
            (
                "GET /api Authorization: Bearer abc.def-123",
                "GET /api Authorization: Bearer [REDACTED]",
            ),
            (
                r#"headers={"authorization": "Basic dXNlcjpwYXNz"}"#,
                r#"headers={"authorization": "Basic [REDACTED]"}"#,
            ),
            (
                "proxy-authorization=Negotiate YIIabc",
                "proxy-authorization=Negotiate [REDACTED]",
            ),
            (
                "retrying with bearer sk-live_4f9a",
                "retrying with bearer [REDACTED]",
            ),
            (
                "connect password=hunter2 user=app",
                "connect password=[REDACTED] user=app",
            ),
            (
                r#"{"user":"app","password":"hunter2","port":5432}"#,
                r#"{"user":"app","password":"[REDACTED]","port":5432}"#,
            ),
            ("DB_PASSWORD: 's3cr3t'", "DB_PASSWORD: '[REDACTED]'"),
            ("token=abc123&page=2", "token=[REDACTED]&page=2"),
            (
                "config api_key=AbC123 x-api-key: zzz",
                "config api_key=[REDACTED] x-api-key: [REDACTED]",
            ),
            ("client_secret: abc", "client_secret: [REDACTED]"),
            ("secret=topsecret", "secret=[REDACTED]"),
            (
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key=[REDACTED]",
            ),
            ("key id AKIAIOSFODNN7EXAMPLE used", "key id [REDACTED] used"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk end",
                "jwt [REDACTED] end",
            ),
            (
                "slack xoxb-1234567890-abcdefghij and xoxp-98765-43210-zyxwv",
                "slack [REDACTED] and [REDACTED]",
            ),
            (
                "dial postgres://app:hunter2@db.shop:5432/orders",
                "dial postgres://app:[REDACTED]@db.shop:5432/orders",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----",
            ),
            (
                "github ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "github [REDACTED]",
            ),
        ];
        for (input, want) in table {
            let (got, n) = redact(input);
            assert_eq!(got, want, "{input}");
            assert!(n >= 1, "{input}: counted {n}");
        }
    }

    #[test]
    fn ordinary_lines_are_left_alone() {
        for line in [
            "2026-03-02T09:24:00Z INFO served GET /checkout 200 in 12ms",
            "tokens: 5 of 10 used; max_tokens=10",
            "basic validation passed for order 42",
            "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space",
            "url=https://shop.example/checkout?page=2",
        ] {
            assert_eq!(redact(line), (line.to_owned(), 0), "{line}");
        }
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let (once, n) = redact("password=hunter2 Authorization: Bearer abc");
        assert_eq!(n, 2);
        assert_eq!(redact(&once), (once.clone(), 0));
    }
}
