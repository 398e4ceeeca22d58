//! What an apply learned that its revert (or a repeat of the apply) needs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Stored in the Incident's mitigation ledger by the caller and handed back
/// with the revert, and with any repeat of the apply (after a crash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Undo {
    /// A relative limit resolved at apply time; a repeat applies the same number.
    #[serde(rename_all = "camelCase")]
    RateLimit { requests_per_second: u32 },
    /// Firebreak created this DestinationRule; revert deletes it.
    #[serde(rename_all = "camelCase")]
    CreatedDestinationRule { name: String },
    /// Firebreak applied its fields into someone else's DestinationRule.
    #[serde(rename_all = "camelCase")]
    PatchedDestinationRule {
        name: String,
        /// JSON pointer of each field Firebreak set → its previous value as
        /// JSON text, `None` where it was absent (revert removes it).
        previous: BTreeMap<String, Option<String>>,
    },
    /// Replicas before the apply, and the count the apply set.
    #[serde(rename_all = "camelCase")]
    Scale { previous: u32, target: u32 },
    /// The Deployment revision a rollback restored, and a digest of its pod
    /// template (the template itself is too large for the ledger): a drift
    /// check compares the live template's digest with it.
    #[serde(rename_all = "camelCase")]
    RolledBack {
        revision: u64,
        template_digest: String,
    },
    /// The time a restart stamps on the pod template, recorded before it is
    /// sent: sent again after a crash, the same stamp rolls nothing a second time.
    #[serde(rename_all = "camelCase")]
    Restarted { at: jiff::Timestamp },
}

/// FNV-1a (64 bit) over a canonical form of `value` (object keys sorted), in
/// hex: stable across processes and versions, unlike `DefaultHasher`.
pub fn digest(value: &Value) -> String {
    fn feed(hash: &mut u64, bytes: &[u8]) {
        for b in bytes {
            *hash ^= u64::from(*b);
            *hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn walk(hash: &mut u64, value: &Value) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                feed(hash, b"{");
                for key in keys {
                    feed(hash, Value::String(key.clone()).to_string().as_bytes());
                    feed(hash, b":");
                    walk(hash, &map[key]);
                    feed(hash, b",");
                }
                feed(hash, b"}");
            }
            Value::Array(items) => {
                feed(hash, b"[");
                for item in items {
                    walk(hash, item);
                    feed(hash, b",");
                }
                feed(hash, b"]");
            }
            scalar => feed(hash, scalar.to_string().as_bytes()),
        }
    }
    let mut hash = 0xcbf2_9ce4_8422_2325;
    walk(&mut hash, value);
    format!("{hash:016x}")
}

/// The previous values, in `existing`, of the fields `ours` sets, keyed by
/// JSON pointer under `base`. Where `existing` lacks a whole object we set,
/// the object is recorded as absent rather than each of its fields, so a
/// revert removes it instead of leaving `{}` behind; `base` itself is never
/// recorded, so a revert leaves its other fields alone.
pub fn previous_values(
    base: &str,
    ours: &Value,
    existing: Option<&Value>,
) -> BTreeMap<String, Option<String>> {
    let empty = Value::Object(Map::new());
    let existing = existing.filter(|e| e.is_object()).unwrap_or(&empty);
    let mut out = BTreeMap::new();
    collect(base, ours, Some(existing), &mut out);
    out
}

fn collect(
    pointer: &str,
    ours: &Value,
    existing: Option<&Value>,
    out: &mut BTreeMap<String, Option<String>>,
) {
    match (ours, existing) {
        (Value::Object(ours), Some(Value::Object(existing))) => {
            for (key, value) in ours {
                let child = format!("{pointer}/{}", escape(key));
                match existing.get(key) {
                    None | Some(Value::Null) => {
                        out.insert(child, None);
                    }
                    Some(previous) => collect(&child, value, Some(previous), out),
                }
            }
        }
        (_, None | Some(Value::Null)) => {
            out.insert(pointer.to_owned(), None);
        }
        (_, Some(previous)) => {
            out.insert(pointer.to_owned(), Some(previous.to_string()));
        }
    }
}

/// A JSON merge patch (RFC 7386) putting every recorded field back: its
/// previous value, or `null` (delete) where there was none. Fields not in
/// `previous` are not mentioned, so nobody else's change is undone.
pub fn restore_patch(previous: &BTreeMap<String, Option<String>>) -> Value {
    let mut patch = Value::Object(Map::new());
    for (pointer, value) in previous {
        let value = value
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null);
        let mut node = &mut patch;
        let keys: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
        let Some((last, parents)) = keys.split_last() else {
            continue;
        };
        for key in parents {
            if !node.get(key).is_some_and(Value::is_object) {
                node[key.as_str()] = Value::Object(Map::new());
            }
            node = &mut node[key.as_str()];
        }
        node[last.as_str()] = value;
    }
    patch
}

/// RFC 6901 escaping of one pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(key: &str) -> String {
    key.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn records_leaves_we_set_and_absent_objects_whole() {
        let ours = json!({
            "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s"},
            "connectionPool": {"tcp": {"maxConnections": 100}},
        });
        let existing = json!({
            "outlierDetection": {"consecutive5xxErrors": 7, "minHealthPercent": 20},
            "loadBalancer": {"simple": "ROUND_ROBIN"},
        });
        let previous = previous_values("/spec/trafficPolicy", &ours, Some(&existing));
        assert_eq!(
            previous,
            BTreeMap::from([
                ("/spec/trafficPolicy/connectionPool".into(), None),
                (
                    "/spec/trafficPolicy/outlierDetection/consecutive5xxErrors".into(),
                    Some("7".into())
                ),
                ("/spec/trafficPolicy/outlierDetection/interval".into(), None),
            ])
        );
        assert_eq!(
            restore_patch(&previous),
            json!({"spec": {"trafficPolicy": {
                "connectionPool": null,
                "outlierDetection": {"consecutive5xxErrors": 7, "interval": null},
            }}})
        );
    }

    #[test]
    fn no_existing_policy_removes_each_top_field() {
        let ours = json!({"outlierDetection": {"interval": "10s"}});
        let previous = previous_values("/spec/trafficPolicy", &ours, None);
        assert_eq!(
            previous,
            BTreeMap::from([("/spec/trafficPolicy/outlierDetection".into(), None)])
        );
        assert_eq!(
            restore_patch(&previous),
            json!({"spec": {"trafficPolicy": {"outlierDetection": null}}})
        );
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let ours = json!({"a/b": {"c~d": 1}});
        let previous = previous_values("", &ours, Some(&json!({"a/b": {"c~d": "x"}})));
        assert_eq!(
            previous,
            BTreeMap::from([("/a~1b/c~0d".into(), Some("\"x\"".into()))])
        );
        assert_eq!(restore_patch(&previous), json!({"a/b": {"c~d": "x"}}));
    }

    #[test]
    fn digest_ignores_key_order_and_sees_any_change() {
        let a = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"image": "a:1", "name": "a"}]}});
        let b: Value = serde_json::from_str(
            r#"{"spec": {"containers": [{"name": "a", "image": "a:1"}]}, "metadata": {"labels": {"app": "x"}}}"#,
        )
        .unwrap();
        assert_eq!(digest(&a), digest(&b));
        let mut c = a.clone();
        c["spec"]["containers"][0]["image"] = json!("a:2");
        assert_ne!(digest(&a), digest(&c));
        assert_eq!(digest(&json!({})).len(), 16);
    }

    #[test]
    fn undo_round_trips_as_json() {
        let undo = Undo::Scale {
            previous: 3,
            target: 5,
        };
        let text = serde_json::to_string(&undo).unwrap();
        assert_eq!(text, r#"{"scale":{"previous":3,"target":5}}"#);
        assert_eq!(serde_json::from_str::<Undo>(&text).unwrap(), undo);
        // The ledger embeds it in the Incident CRD: one object per variant.
        let schema = serde_json::to_value(schemars::schema_for!(Undo)).unwrap();
        let variants: Vec<_> = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["required"][0].as_str().unwrap())
            .collect();
        assert_eq!(
            variants,
            [
                "rateLimit",
                "createdDestinationRule",
                "patchedDestinationRule",
                "scale",
                "rolledBack",
                "restarted"
            ]
        );
    }
}
