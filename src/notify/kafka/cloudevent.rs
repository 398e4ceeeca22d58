//! Notices as CloudEvents 1.0 on Kafka (the Kafka protocol binding).
//!
//! Binary mode (the default): the event attributes are `ce_*` headers and the
//! record value is the notice JSON. Structured mode: the whole event, attributes
//! and `data`, is one JSON document with `content-type:
//! application/cloudevents+json`. Either way the record key is the incident id,
//! so one incident's events share a partition and stay ordered.

use serde_json::json;

use crate::notify::Notice;

pub const SPEC_VERSION: &str = "1.0";
/// Prefix of every event type; the notice kind follows (`opened`, `action.applied`, …).
pub const TYPE_PREFIX: &str = "dev.firebreak.incident.";
/// Where the payload's JSON Schema lives in the repository.
pub const DATA_SCHEMA: &str = "https://firebreak.dev/schemas/incident-event.v1.json";

/// How events are laid out in a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Attributes in `ce_*` headers, the notice JSON as the value.
    #[default]
    Binary,
    /// One `application/cloudevents+json` document holding attributes and data.
    Structured,
}

/// A record ready for the producer.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub key: String,
    pub headers: Vec<(&'static str, String)>,
    pub value: Vec<u8>,
}

/// `/clusters/<cluster>/namespaces/<ns>/playbooks/<name>`: a URI-reference naming
/// the playbook that decided, unique across clusters.
pub fn source(cluster: &str, notice: &Notice) -> String {
    format!(
        "/clusters/{cluster}/namespaces/{}/playbooks/{}",
        notice.playbook.namespace, notice.playbook.name
    )
}

pub fn event_type(notice: &Notice) -> String {
    format!("{TYPE_PREFIX}{}", notice.kind.as_str())
}

/// The time as RFC 3339 with a `Z` offset, as CloudEvents asks.
fn time(notice: &Notice) -> String {
    notice.at.to_string()
}

/// The record for `notice` in `mode`.
pub fn record(notice: &Notice, cluster: &str, mode: Mode) -> Result<Record, serde_json::Error> {
    let key = notice.incident.clone();
    match mode {
        Mode::Binary => Ok(Record {
            key,
            headers: vec![
                ("ce_specversion", SPEC_VERSION.to_owned()),
                ("ce_id", notice.id.clone()),
                ("ce_source", source(cluster, notice)),
                ("ce_type", event_type(notice)),
                ("ce_time", time(notice)),
                ("ce_subject", notice.subject()),
                ("ce_dataschema", DATA_SCHEMA.to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
            value: serde_json::to_vec(notice)?,
        }),
        Mode::Structured => {
            let doc = json!({
                "specversion": SPEC_VERSION,
                "id": notice.id,
                "source": source(cluster, notice),
                "type": event_type(notice),
                "time": time(notice),
                "subject": notice.subject(),
                "dataschema": DATA_SCHEMA,
                "datacontenttype": "application/json",
                "data": notice,
            });
            Ok(Record {
                key,
                headers: vec![(
                    "content-type",
                    "application/cloudevents+json; charset=UTF-8".to_owned(),
                )],
                value: serde_json::to_vec(&doc)?,
            })
        }
    }
}
