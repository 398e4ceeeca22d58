//! Block Kit, within Slack's limits: every constructor here cuts its text to
//! the limit of its block, and [`Message`] keeps at most 50 blocks, so nothing
//! Firebreak renders is refused with `invalid_blocks` or `msg_too_long`.
//! Limits: <https://docs.slack.dev/reference/block-kit/blocks> (50 blocks per
//! message, section text 3,000 characters, header 150, section fields 10 of 2,000).

use serde::Serialize;
use serde_json::{Value, json};

use super::text::{chars, truncate};

/// Blocks in one message, counting those inside attachments.
pub const MAX_BLOCKS: usize = 50;
/// Text of a section block (and of a context element).
pub const MAX_TEXT: usize = 3000;
/// Text of a header block.
pub const MAX_HEADER: usize = 150;
/// Fields of a section block, and the text of each.
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD: usize = 2000;
/// Elements of a context block.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
/// The top-level `text`: Slack accepts far more, but it is only the
/// notification and fallback line, so it stays as short as a section.
pub const MAX_FALLBACK: usize = MAX_TEXT;

const CUT: &str = " …";

/// One message as sent to `chat.postMessage`/`chat.update` or an incoming
/// webhook; the caller adds `channel`, `ts`, `thread_ts`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Message {
    /// Notification and fallback text; carries the mentions so that they ping.
    pub text: String,
    pub blocks: Vec<Value>,
    /// At most one, holding the coloured part (see [`Attachment`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Links `@handle` user groups in the text (`link_names`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub link_names: bool,
}

/// A legacy attachment used only for its `color` bar: Block Kit has no colour,
/// and severity at a glance is the point of the root message. Its blocks are
/// ordinary Block Kit blocks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attachment {
    pub color: String,
    pub fallback: String,
    pub blocks: Vec<Value>,
}

impl Message {
    pub fn new(text: &str) -> Self {
        Message {
            text: truncate(text, MAX_FALLBACK, CUT),
            ..Message::default()
        }
    }

    /// Blocks at the top level and in attachments.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
            + self
                .attachments
                .iter()
                .map(|a| a.blocks.len())
                .sum::<usize>()
    }

    /// Room left for blocks.
    pub fn room(&self) -> usize {
        MAX_BLOCKS.saturating_sub(self.block_count())
    }

    /// Add `block` at the top level if there is room; false when the message is full.
    pub fn push(&mut self, block: Value) -> bool {
        let fits = self.room() > 0;
        if fits {
            self.blocks.push(block);
        }
        fits
    }

    /// Add `block` to the coloured attachment if there is room.
    pub fn push_coloured(&mut self, block: Value) -> bool {
        let fits = self.room() > 0;
        if let (true, Some(a)) = (fits, self.attachments.last_mut()) {
            a.blocks.push(block);
            return true;
        }
        false
    }

    pub fn with_colour(mut self, color: &str) -> Self {
        self.attachments = vec![Attachment {
            color: color.to_owned(),
            fallback: self.text.clone(),
            blocks: Vec::new(),
        }];
        self
    }
}

/// Large bold plain text (emoji codes rendered).
pub fn header(text: &str) -> Value {
    json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate(text, MAX_HEADER, "…"), "emoji": true },
    })
}

/// A `mrkdwn` section; text beyond the limit is cut with `cut` as its last words.
pub fn section_cut(text: &str, cut: &str) -> Value {
    json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": truncate(text, MAX_TEXT, cut) },
    })
}

pub fn section(text: &str) -> Value {
    section_cut(text, CUT)
}

/// Two-column label/value pairs; at most 10.
pub fn fields(items: &[String]) -> Value {
    let fields: Vec<Value> = items
        .iter()
        .take(MAX_FIELDS)
        .map(|f| json!({ "type": "mrkdwn", "text": truncate(f, MAX_FIELD, CUT) }))
        .collect();
    json!({ "type": "section", "fields": fields })
}

/// Small grey text; at most 10 elements.
pub fn context(items: &[String]) -> Value {
    let elements: Vec<Value> = items
        .iter()
        .filter(|e| !e.is_empty())
        .take(MAX_CONTEXT_ELEMENTS)
        .map(|e| json!({ "type": "mrkdwn", "text": truncate(e, MAX_TEXT, CUT) }))
        .collect();
    json!({ "type": "context", "elements": elements })
}

/// Lines packed into as few sections as the text limit allows, each line whole
/// (a line longer than a section is cut).
pub fn packed_sections(title: &str, lines: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut current = title.to_owned();
    for line in lines {
        let extra = chars(line) + usize::from(!current.is_empty());
        if !current.is_empty() && chars(&current) + extra > MAX_TEXT {
            out.push(section(&current));
            current.clear();
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(section(&current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(block: &Value) -> &str {
        block["text"]["text"].as_str().unwrap_or_default()
    }

    #[test]
    fn constructors_cut_to_block_kit_limits() {
        let long = "x".repeat(5000);
        assert_eq!(chars(text_of(&header(&long))), MAX_HEADER);
        assert_eq!(chars(text_of(&section(&long))), MAX_TEXT);
        let f = fields(&vec![long.clone(); 12]);
        let f = f["fields"].as_array().map(Vec::len);
        assert_eq!(f, Some(MAX_FIELDS));
        assert_eq!(chars(&Message::new(&long).text), MAX_FALLBACK);
    }

    #[test]
    fn a_message_holds_at_most_50_blocks_attachments_included() {
        let mut m = Message::new("t").with_colour("#E01E5A");
        for i in 0..30 {
            assert!(m.push(section(&format!("top {i}"))));
        }
        let mut coloured = 0;
        while m.push_coloured(section("more")) {
            coloured += 1;
        }
        assert_eq!(coloured, 20);
        assert_eq!(m.block_count(), MAX_BLOCKS);
        assert!(!m.push(section("one too many")));
    }

    #[test]
    fn packed_sections_keep_lines_whole_and_under_the_limit() {
        let lines: Vec<String> = (0..100)
            .map(|i| format!("{i:03} {}", "y".repeat(96)))
            .collect();
        let sections = packed_sections("*Title*", &lines);
        assert!(sections.len() >= 4, "{}", sections.len());
        for s in &sections {
            let t = text_of(s);
            assert!(chars(t) <= MAX_TEXT);
            assert!(t.lines().all(|l| l == "*Title*" || chars(l) == 100), "{t}");
        }
    }
}
