//! The four severities a detector and an incident can be at.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `low < medium < high < critical`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// 1 for low … 4 for critical; used where a severity travels as a number (PromQL).
    pub fn rank(self) -> u8 {
        self as u8 + 1
    }

    /// The next severity up, if any.
    pub fn next(self) -> Option<Severity> {
        Severity::ALL.get(self.rank() as usize).copied()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One optional value per severity; the YAML shape `{low: …, medium: …, high: …, critical: …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerSeverity<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<T>,
}

impl<T> Default for PerSeverity<T> {
    fn default() -> Self {
        PerSeverity {
            low: None,
            medium: None,
            high: None,
            critical: None,
        }
    }
}

impl<T> PerSeverity<T> {
    pub fn get(&self, s: Severity) -> Option<&T> {
        match s {
            Severity::Low => self.low.as_ref(),
            Severity::Medium => self.medium.as_ref(),
            Severity::High => self.high.as_ref(),
            Severity::Critical => self.critical.as_ref(),
        }
    }

    pub fn set(&mut self, s: Severity, value: T) {
        let slot = match s {
            Severity::Low => &mut self.low,
            Severity::Medium => &mut self.medium,
            Severity::High => &mut self.high,
            Severity::Critical => &mut self.critical,
        };
        *slot = Some(value);
    }

    /// The values that are present, lowest severity first.
    pub fn iter(&self) -> impl Iterator<Item = (Severity, &T)> {
        Severity::ALL
            .into_iter()
            .filter_map(move |s| self.get(s).map(|v| (s, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_rank() {
        assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
        assert_eq!(Severity::Critical.rank(), 4);
        assert_eq!(Severity::High.next(), Some(Severity::Critical));
        assert_eq!(Severity::Critical.next(), None);
    }
}
