//! `firebreak events tail`: print the incident events on the topic, as a
//! subscriber receives them (the "anomaly → Kafka event → subscribers" pattern).

use std::io::Write;

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use serde_json::{Map, Value, json};

use super::config::{KafkaArgs, KafkaConfigError};
use crate::runner::Format;

#[derive(clap::Args, Debug, Clone)]
pub struct TailArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Start at the oldest retained event instead of new ones only.
    #[arg(long)]
    pub from_beginning: bool,
    /// Consumer group (default: a fresh one, so every event is seen and nothing is committed).
    #[arg(long)]
    pub group: Option<String>,
    /// Exit after this many events.
    #[arg(long)]
    pub max: Option<u64>,
    /// Exit when no event arrives for this long (e.g. `10s`).
    #[arg(long)]
    pub idle_timeout: Option<crate::duration::Duration>,
    /// `text` for people, `json` for one JSON object per line (headers, key, data).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("--kafka-brokers (FIREBREAK_KAFKA_BROKERS) is required")]
    NoBrokers,
    #[error(transparent)]
    Config(#[from] KafkaConfigError),
    #[error("Kafka consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("writing: {0}")]
    Write(#[from] std::io::Error),
}

/// Print events until `--max`, `--idle-timeout` or Ctrl-C; returns how many were printed.
pub async fn tail(args: &TailArgs, out: &mut (dyn Write + Send)) -> Result<u64, TailError> {
    if !args.kafka.enabled() {
        return Err(TailError::NoBrokers);
    }
    let mut config = args.kafka.client_config()?;
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| format!("firebreak-tail-{}", std::process::id()));
    config
        .set("group.id", &group)
        .set(
            "enable.auto.commit",
            if args.group.is_some() {
                "true"
            } else {
                "false"
            },
        )
        .set(
            "auto.offset.reset",
            if args.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        );
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[args.kafka.kafka_topic.as_str()])?;
    let idle = args.idle_timeout.map(|d| d.as_std());
    let mut printed = 0;
    while args.max.is_none_or(|m| printed < m) {
        let next = consumer.recv();
        let msg = match idle {
            Some(t) => match tokio::time::timeout(t, next).await {
                Ok(m) => m?,
                Err(_) => break,
            },
            None => tokio::select! {
                m = next => m?,
                _ = tokio::signal::ctrl_c() => break,
            },
        };
        write_event(out, &msg, args.output)?;
        printed += 1;
    }
    Ok(printed)
}

fn header_map(msg: &BorrowedMessage<'_>) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(h) = msg.headers() {
        for header in h.iter() {
            let v = header
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned());
            map.insert(header.key.to_owned(), json!(v));
        }
    }
    map
}

fn write_event(
    out: &mut (dyn Write + Send),
    msg: &BorrowedMessage<'_>,
    format: Format,
) -> std::io::Result<()> {
    let headers = header_map(msg);
    let payload = msg.payload().unwrap_or_default();
    let value: Value = serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    // Structured mode carries the attributes in the body, binary mode in headers.
    let (attrs, data) = if headers.contains_key("ce_type") {
        let attrs: Map<String, Value> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("ce_")?.to_owned(), v.clone())))
            .collect();
        (attrs, value)
    } else {
        let mut doc = value.as_object().cloned().unwrap_or_default();
        let data = doc.remove("data").unwrap_or(Value::Null);
        (doc, data)
    };
    let key = msg.key().map(|k| String::from_utf8_lossy(k).into_owned());
    match format {
        Format::Json => {
            let line = json!({
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": key,
                "attributes": attrs,
                "data": data,
            });
            writeln!(out, "{line}")
        }
        Format::Text => {
            let s = |k: &str| {
                attrs
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_owned()
            };
            let kind = s("type");
            let kind = kind
                .strip_prefix(super::cloudevent::TYPE_PREFIX)
                .unwrap_or(&kind);
            let severity = data.get("severity").and_then(Value::as_str).unwrap_or("-");
            let mut line = format!(
                "{}  {:<16} {:<8} {}",
                s("time"),
                kind,
                severity,
                s("subject")
            );
            if let Some(a) = data.get("action").and_then(Value::as_object) {
                let name = a.get("action").and_then(Value::as_str).unwrap_or("?");
                line.push_str(&format!("  {name}"));
                if a.get("dryRun").and_then(Value::as_bool) == Some(true) {
                    line.push_str(" (dry-run)");
                }
                if let Some(e) = a.get("error").and_then(Value::as_str) {
                    line.push_str(&format!(": {e}"));
                }
            }
            writeln!(out, "{line}  [{}]", s("id"))
        }
    }
}
