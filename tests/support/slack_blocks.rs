//! Messages as the Slack stand-in keeps them, and the Block Kit checks it makes
//! (<https://docs.slack.dev/reference/block-kit/blocks>).

use serde_json::Value;

/// One accepted message, as it stands now.
#[derive(Clone, Debug, PartialEq)]
pub struct Msg {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub broadcast: bool,
    /// The payload last accepted (posted, then each update).
    pub body: Value,
    pub updates: usize,
}

impl Msg {
    /// Every text of the message (fallback and blocks, attachments included), joined.
    pub fn all_text(&self) -> String {
        all_text(&self.body)
    }
}

/// Every text of a message payload, joined.
pub fn all_text(body: &Value) -> String {
    let mut out = vec![body["text"].as_str().unwrap_or_default().to_owned()];
    collect_text(body, &mut out);
    out.join("\n")
}

fn collect_text(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if o.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t == "mrkdwn" || t == "plain_text")
                && let Some(t) = o.get("text").and_then(Value::as_str)
            {
                out.push(t.to_owned());
            }
            o.values().for_each(|v| collect_text(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_text(v, out)),
        _ => {}
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Block Kit limits and required fields.
pub fn shape(v: &Value) -> Vec<String> {
    let mut p = Vec::new();
    if chars(&v["text"]) == 0 {
        p.push("no text fallback".to_owned());
    }
    let Some(blocks) = v["blocks"].as_array() else {
        p.push("no blocks array".to_owned());
        return p;
    };
    let mut all: Vec<&Value> = blocks.iter().collect();
    for a in v["attachments"].as_array().into_iter().flatten() {
        if !a["color"]
            .as_str()
            .is_some_and(|c| c.starts_with('#') && c.len() == 7)
        {
            p.push(format!("attachment colour {}", a["color"]));
        }
        all.extend(a["blocks"].as_array().into_iter().flatten());
    }
    if all.len() > 50 {
        p.push(format!("{} blocks", all.len()));
    }
    for b in all {
        match b["type"].as_str().unwrap_or_default() {
            "header" if b["text"]["type"] != "plain_text" || chars(&b["text"]["text"]) > 150 => {
                p.push(format!(
                    "header of {} characters",
                    chars(&b["text"]["text"])
                ));
            }
            "header" => {}
            "section" => {
                let fields = b["fields"].as_array();
                if b["text"].is_null() && fields.is_none() {
                    p.push("section without text or fields".to_owned());
                }
                if chars(&b["text"]["text"]) > 3000 {
                    p.push(format!(
                        "section text of {} characters",
                        chars(&b["text"]["text"])
                    ));
                }
                if let Some(f) = fields
                    && (f.len() > 10 || f.iter().any(|f| chars(&f["text"]) > 2000))
                {
                    p.push("section fields beyond 10 × 2,000".to_owned());
                }
            }
            "context" => {
                let e = b["elements"].as_array().map_or(&[][..], Vec::as_slice);
                if e.is_empty() || e.len() > 10 || e.iter().any(|e| chars(&e["text"]) > 3000) {
                    p.push("context elements beyond 10 × 3,000".to_owned());
                }
            }
            other => p.push(format!("unexpected block type {other:?}")),
        }
    }
    p
}
