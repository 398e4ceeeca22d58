//! Events of the workload and its pods as text: one line per event, oldest
//! first, a section per object, like `kubectl events --for`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;

/// Lines kept per object: the newest. A crash-looping pod's events are
/// aggregated by the API server (`count`), so this is rarely reached.
const PER_OBJECT: usize = 50;

/// The `events.txt` being built.
#[derive(Debug, Default)]
pub(super) struct EventsText {
    text: String,
    /// Events written (not counting those cut by [`PER_OBJECT`]).
    pub count: usize,
}

impl EventsText {
    /// Add the section of `kind`/`name` from its event list.
    pub fn add(&mut self, kind: &str, name: &str, mut events: Vec<Event>) {
        events.sort_by_key(when);
        let skipped = events.len().saturating_sub(PER_OBJECT);
        self.text.push_str(&format!("== {kind}/{name} ==\n"));
        if events.is_empty() {
            self.text.push_str("(no events)\n");
        }
        if skipped > 0 {
            self.text
                .push_str(&format!("({skipped} older events not shown)\n"));
        }
        for e in events.iter().skip(skipped) {
            self.text.push_str(&line(e));
            self.text.push('\n');
            self.count += 1;
        }
    }

    /// Note a list that could not be read, in place of its section.
    pub fn failed(&mut self, kind: &str, name: &str, error: &str) {
        self.text
            .push_str(&format!("== {kind}/{name} ==\n(not read: {error})\n"));
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

/// The time an event last happened: `lastTimestamp`, else `eventTime` (events
/// written through events.k8s.io), else `firstTimestamp`.
fn when(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
}

fn line(e: &Event) -> String {
    let at = when(e).map_or_else(|| "-".to_owned(), |t| t.to_string());
    let mut line = format!(
        "{at} {} {} {}/{}",
        e.type_.as_deref().unwrap_or("-"),
        e.reason.as_deref().unwrap_or("-"),
        e.involved_object.kind.as_deref().unwrap_or("-"),
        e.involved_object.name.as_deref().unwrap_or("-"),
    );
    if let Some(n) = e.count.filter(|n| *n > 1) {
        line.push_str(&format!(" (x{n})"));
    }
    line.push_str(": ");
    // One event, one line: multi-line messages (probe output) are joined.
    line.push_str(&e.message.as_deref().unwrap_or("").replace('\n', " "));
    line
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::event;
    use super::*;

    fn parse(values: Vec<serde_json::Value>) -> Vec<Event> {
        values
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("event"))
            .collect()
    }

    #[test]
    fn sections_list_events_oldest_first_one_line_each() {
        let mut text = EventsText::default();
        text.add(
            "Pod",
            "pricer-7d9f-aaaaa",
            parse(vec![
                event(
                    "Pod",
                    "pricer-7d9f-aaaaa",
                    "2026-03-02T09:21:00Z",
                    "BackOff",
                    "Back-off restarting failed container",
                ),
                event(
                    "Pod",
                    "pricer-7d9f-aaaaa",
                    "2026-03-02T09:20:00Z",
                    "Unhealthy",
                    "Liveness probe failed:\nHTTP 503",
                ),
            ]),
        );
        text.add("Deployment", "pricer", Vec::new());
        text.failed("Pod", "pricer-7d9f-bbbbb", "403 Forbidden");
        assert_eq!(text.count, 2);
        assert_eq!(
            text.into_text(),
            "== Pod/pricer-7d9f-aaaaa ==\n\
             2026-03-02T09:20:00Z Warning Unhealthy Pod/pricer-7d9f-aaaaa (x3): Liveness probe failed: HTTP 503\n\
             2026-03-02T09:21:00Z Warning BackOff Pod/pricer-7d9f-aaaaa (x3): Back-off restarting failed container\n\
             == Deployment/pricer ==\n(no events)\n\
             == Pod/pricer-7d9f-bbbbb ==\n(not read: 403 Forbidden)\n"
        );
    }

    #[test]
    fn only_the_newest_are_kept_per_object() {
        let events = (0..60)
            .map(|i| {
                event(
                    "Pod",
                    "p",
                    &format!("2026-03-02T09:{i:02}:00Z"),
                    "Pulled",
                    &format!("n{i}"),
                )
            })
            .collect();
        let mut text = EventsText::default();
        text.add("Pod", "p", parse(events));
        assert_eq!(text.count, 50);
        let text = text.into_text();
        assert!(text.contains("(10 older events not shown)"));
        assert!(!text.contains(": n9\n") && text.contains(": n59\n"));
    }
}
