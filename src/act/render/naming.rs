//! Deterministic object names, our labels, and label selectors in query strings.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Field manager for every write, so `managedFields` tells our changes apart.
pub const MANAGER: &str = "firebreak";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const INCIDENT_LABEL: &str = "firebreak.dev/incident";

/// Object names are DNS-1123 subdomains: at most 253 characters.
const MAX_NAME: usize = 253;
/// Label values: at most 63 characters.
const MAX_LABEL_VALUE: usize = 63;

/// Labels on every object Firebreak creates (never on workloads it only patches).
pub fn labels(incident_id: &str) -> Value {
    json!({
        MANAGED_BY_LABEL: MANAGER,
        INCIDENT_LABEL: incident_label_value(incident_id),
    })
}

/// `<prefix>-<name>`, lowercased, invalid characters replaced by `-`; names too
/// long are cut and suffixed with a hash of the full name so they stay unique.
pub fn object_name(prefix: &str, name: &str) -> String {
    let full = format!("{prefix}-{name}");
    let clean: String = full
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    fit(&clean, &full, MAX_NAME)
}

/// The incident id as a valid label value (63 characters, alphanumeric ends).
pub fn incident_label_value(incident_id: &str) -> String {
    let clean: String = incident_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    fit(&clean, incident_id, MAX_LABEL_VALUE)
}

fn fit(clean: &str, full: &str, max: usize) -> String {
    let trimmed = clean.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.len() <= max && trimmed == full {
        return trimmed.to_owned();
    }
    // Changed or cut: a hash of the original keeps distinct inputs distinct.
    let hash = format!("{:08x}", fnv1a(full) as u32);
    let head = trimmed
        .get(..max.saturating_sub(hash.len() + 1))
        .unwrap_or(trimmed);
    let head = head.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

/// FNV-1a: stable across releases and platforms, unlike `DefaultHasher`.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `k1=v1,k2=v2`, percent-encoded for a `labelSelector=` query parameter.
pub fn label_selector(labels: &BTreeMap<String, String>) -> String {
    let raw: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    encode(&raw.join(","))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_valid() {
        assert_eq!(
            object_name("firebreak-ratelimit", "checkout"),
            "firebreak-ratelimit-checkout"
        );
        assert_eq!(
            object_name("firebreak-x", "Check_Out"),
            object_name("firebreak-x", "Check_Out")
        );
        let odd = object_name("firebreak-x", "Check_Out");
        assert!(odd.starts_with("firebreak-x-check-out-"), "{odd}");
        assert_ne!(odd, object_name("firebreak-x", "check-out"));
    }

    #[test]
    fn long_names_are_cut_to_253_with_a_hash() {
        let long = "a".repeat(300);
        let name = object_name("firebreak-ratelimit", &long);
        assert_eq!(name.len(), 253);
        assert_ne!(name, object_name("firebreak-ratelimit", &"a".repeat(301)));
    }

    #[test]
    fn incident_label_fits_label_rules() {
        assert_eq!(incident_label_value("inc-42"), "inc-42");
        let v = incident_label_value(&"x".repeat(100));
        assert_eq!(v.len(), 63);
        assert!(incident_label_value("inc/42").starts_with("inc-42-"));
        assert_eq!(
            labels("inc-42"),
            json!({MANAGED_BY_LABEL: "firebreak", INCIDENT_LABEL: "inc-42"})
        );
    }

    #[test]
    fn selectors_are_encoded() {
        let l = BTreeMap::from([("app".into(), "a b".into()), ("tier".into(), "web".into())]);
        assert_eq!(label_selector(&l), "app%3Da%20b%2Ctier%3Dweb");
    }
}
