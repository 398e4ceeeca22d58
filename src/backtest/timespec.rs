//! Points in time on the command line: RFC 3339, Unix seconds, `now`, `now-7d`.

use jiff::Timestamp;

use crate::duration::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    At(Timestamp),
    /// `now` minus this much.
    Ago(Duration),
}

impl TimeSpec {
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            TimeSpec::At(t) => t,
            TimeSpec::Ago(d) => now - d.signed(),
        }
    }
}

impl std::str::FromStr for TimeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "now" {
            return Ok(TimeSpec::Ago(Duration::from_secs(0)));
        }
        if let Some(ago) = s.strip_prefix("now-") {
            return ago
                .parse::<Duration>()
                .map(TimeSpec::Ago)
                .map_err(|e| format!("{s:?}: {e}"));
        }
        if let Ok(secs) = s.parse::<i64>() {
            return Timestamp::from_second(secs)
                .map(TimeSpec::At)
                .map_err(|e| format!("{s:?}: {e}"));
        }
        s.parse::<Timestamp>().map(TimeSpec::At).map_err(|_| {
            format!("{s:?}: expected RFC 3339 (2026-03-01T00:00:00Z), Unix seconds, now or now-7d")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let now: Timestamp = "2026-03-08T00:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<TimeSpec>().unwrap().resolve(now).to_string();
        assert_eq!(at("now"), "2026-03-08T00:00:00Z");
        assert_eq!(at("now-7d"), "2026-03-01T00:00:00Z");
        assert_eq!(at("now-1h30m"), "2026-03-07T22:30:00Z");
        assert_eq!(at("1772409600"), "2026-03-02T00:00:00Z");
        assert_eq!(at("2026-03-04T14:00:00Z"), "2026-03-04T14:00:00Z");
        assert!(
            "yesterday"
                .parse::<TimeSpec>()
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!("now-7x".parse::<TimeSpec>().is_err());
    }
}
