//! The shipped playbooks, time-compressed for end-to-end runs: every duration
//! the engine waits on (evaluation interval, rate and fit windows, `for`,
//! `clearFor`, cooldown, escalation, budget window) divided by one factor, so
//! that an incident that takes half an hour in a cluster plays out in a
//! minute or two. Thresholds, actions, routing and the structure stay as
//! shipped; action parameters (Envoy's own intervals) are not touched.

use std::path::Path;

use serde_json::Value;

/// Parse a duration as the playbooks write it (`90s`, `1m`, `1h30m`, `500ms`).
fn seconds(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('s', _) => 1.0,
            ('m', _) => 60.0,
            ('h', _) => 3_600.0,
            ('d', _) => 86_400.0,
            _ => return None,
        };
        total += n * unit;
    }
    number.is_empty().then_some(total)
}

fn compress_field(v: Option<&mut Value>, factor: f64, floor: f64) {
    let Some(v) = v else { return };
    if let Some(s) = v.as_str().and_then(seconds) {
        let scaled = (s / factor).max(floor);
        *v = Value::String(format!("{}ms", (scaled * 1000.0).round() as u64));
    }
}

/// Rate windows need a few scrapes (1 s apart) to hold a rate.
const WINDOW_FLOOR: f64 = 4.0;

/// The shipped playbook `name` (`playbooks/NAME.yaml`) with its timing divided by `factor`.
pub fn compressed(name: &str, factor: f64) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("playbooks")
        .join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).expect("read the shipped playbook");
    let mut pb: Value = serde_saphyr::from_str(&text).expect("the shipped playbook is YAML");
    compress_field(pb.pointer_mut("/spec/interval"), factor, 1.0);
    for path in [
        "/spec/guardrails/cooldown",
        "/spec/guardrails/escalateAfter",
    ] {
        compress_field(pb.pointer_mut(path), factor, 0.0);
    }
    compress_field(
        pb.pointer_mut("/spec/guardrails/budget/window"),
        factor,
        1.0,
    );
    let detectors = pb
        .pointer_mut("/spec/detectors")
        .and_then(Value::as_array_mut);
    for d in detectors.into_iter().flatten() {
        let Some(map) = d.as_object_mut() else {
            continue;
        };
        for (key, field) in map.iter_mut() {
            match (key.as_str(), field) {
                ("for" | "clearFor", v) => compress_field(Some(v), factor, 0.0),
                (_, Value::Object(kind)) => {
                    compress_field(kind.get_mut("window"), factor, WINDOW_FLOOR);
                    let windows = kind.get_mut("windows").and_then(Value::as_object_mut);
                    for w in windows.into_iter().flat_map(|w| w.values_mut()) {
                        compress_field(w.get_mut("long"), factor, WINDOW_FLOOR);
                        compress_field(w.get_mut("short"), factor, WINDOW_FLOOR);
                    }
                }
                _ => {}
            }
        }
    }
    pb
}

#[test]
fn durations_are_divided_and_floored() {
    assert_eq!(seconds("1h30m"), Some(5_400.0));
    assert_eq!(seconds("500ms"), Some(0.5));
    assert_eq!(seconds("abc"), None);
    let pb = compressed("traffic-surge", 15.0);
    assert_eq!(pb["spec"]["interval"], "1000ms");
    assert_eq!(pb["spec"]["detectors"][0]["for"], "4000ms");
    assert_eq!(
        pb["spec"]["detectors"][0]["requestRate"]["window"],
        "4000ms"
    );
    assert_eq!(pb["spec"]["guardrails"]["cooldown"], "80000ms");
    // Thresholds and actions as shipped.
    assert_eq!(pb["spec"]["detectors"][0]["thresholds"]["high"], 4000);
    assert_eq!(
        pb["spec"]["actions"]["high"][0]["rateLimit"]["requestsPerSecond"],
        2400
    );
}
