//! Kafka settings: flags and environment, rendered as librdkafka properties.

use std::path::PathBuf;

use rdkafka::ClientConfig;

use super::cloudevent::Mode;

/// Kafka sink settings; off unless `--kafka-brokers` is set.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KafkaArgs {
    /// Bootstrap brokers, `host:port[,host:port…]`; empty: no Kafka events.
    #[arg(long, env = "FIREBREAK_KAFKA_BROKERS", default_value = "")]
    pub kafka_brokers: String,
    #[arg(
        long,
        env = "FIREBREAK_KAFKA_TOPIC",
        default_value = "firebreak.incidents"
    )]
    pub kafka_topic: String,
    /// CloudEvents layout: `binary` (ce_* headers) or `structured` (one JSON document).
    #[arg(long, value_enum, env = "FIREBREAK_KAFKA_MODE", default_value_t = Mode::Binary)]
    pub kafka_mode: Mode,
    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (librdkafka `security.protocol`).
    #[arg(long, env = "FIREBREAK_KAFKA_SECURITY_PROTOCOL")]
    pub kafka_security_protocol: Option<String>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[arg(long, env = "FIREBREAK_KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,
    #[arg(long, env = "FIREBREAK_KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,
    /// File holding the SASL password (a mounted Secret), read at start.
    #[arg(long, env = "FIREBREAK_KAFKA_SASL_PASSWORD_FILE")]
    pub kafka_sasl_password_file: Option<PathBuf>,
    /// Extra librdkafka properties, `key=value`, repeatable (e.g. `ssl.ca.location=/etc/kafka/ca.pem`).
    #[arg(long = "kafka-option", value_parser = parse_option)]
    pub kafka_options: Vec<(String, String)>,
    /// Create the topic at start when it is missing (needs the broker's permission).
    #[arg(long, env = "FIREBREAK_KAFKA_CREATE_TOPIC", default_value_t = true, action = clap::ArgAction::Set)]
    pub kafka_create_topic: bool,
    /// Partitions of a topic Firebreak creates.
    #[arg(long, env = "FIREBREAK_KAFKA_PARTITIONS", default_value_t = 3)]
    pub kafka_partitions: i32,
    /// Replication factor of a topic Firebreak creates.
    #[arg(long, env = "FIREBREAK_KAFKA_REPLICATION", default_value_t = 1)]
    pub kafka_replication: i32,
    /// Directory of the persisted outbox; without it, undelivered events are lost on restart.
    #[arg(long, env = "FIREBREAK_OUTBOX_DIR")]
    pub outbox_dir: Option<PathBuf>,
    /// Most events kept undelivered; beyond it the oldest lowest-severity ones are dropped.
    #[arg(long, env = "FIREBREAK_OUTBOX_CAPACITY", default_value_t = 100_000)]
    pub outbox_capacity: usize,
}

fn parse_option(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, got {s:?}"))?;
    if k.trim().is_empty() {
        return Err(format!("empty key in {s:?}"));
    }
    Ok((k.trim().to_owned(), v.to_owned()))
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaConfigError {
    #[error("reading the Kafka SASL password from {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--kafka-sasl-mechanism needs --kafka-sasl-username and --kafka-sasl-password-file")]
    SaslIncomplete,
}

impl KafkaArgs {
    pub fn enabled(&self) -> bool {
        !self.kafka_brokers.trim().is_empty()
    }

    /// librdkafka properties of the producer: idempotent, every in-sync replica acks.
    pub fn producer_config(&self) -> Result<ClientConfig, KafkaConfigError> {
        let mut c = self.client_config()?;
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            // librdkafka's default, 5 min: through a broker outage it keeps the
            // events queued and sends them on reconnect. A timeout would make the
            // idempotent producer bump its epoch and everything in flight go back
            // to the outbox to be sent again; the outbox, not this, covers a crash.
            .set("message.timeout.ms", "300000")
            .set("linger.ms", "1")
            .set("compression.type", "none");
        Ok(c)
    }

    /// Properties every client shares: brokers, security, pass-through options.
    pub fn client_config(&self) -> Result<ClientConfig, KafkaConfigError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.kafka_brokers.trim());
        c.set("client.id", "firebreak");
        if let Some(p) = &self.kafka_security_protocol {
            c.set("security.protocol", p);
        }
        if let Some(m) = &self.kafka_sasl_mechanism {
            let (Some(user), Some(file)) =
                (&self.kafka_sasl_username, &self.kafka_sasl_password_file)
            else {
                return Err(KafkaConfigError::SaslIncomplete);
            };
            let password = std::fs::read_to_string(file)
                .map_err(|source| KafkaConfigError::PasswordFile {
                    path: file.clone(),
                    source,
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            c.set("sasl.mechanism", m)
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
        for (k, v) in &self.kafka_options {
            c.set(k, v);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_is_idempotent_with_acks_all_and_options_pass_through() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let args = KafkaArgs {
            kafka_brokers: "127.0.0.1:9092".into(),
            kafka_security_protocol: Some("SASL_SSL".into()),
            kafka_sasl_mechanism: Some("SCRAM-SHA-512".into()),
            kafka_sasl_username: Some("firebreak".into()),
            kafka_sasl_password_file: Some(pw),
            kafka_options: vec![("ssl.ca.location".into(), "/ca.pem".into())],
            ..Default::default()
        };
        let c = args.producer_config().unwrap();
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("sasl.password"), Some("s3cret"));
        assert_eq!(c.get("ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
    }

    #[test]
    fn sasl_without_credentials_is_refused() {
        let args = KafkaArgs {
            kafka_brokers: "b:9092".into(),
            kafka_sasl_mechanism: Some("PLAIN".into()),
            ..Default::default()
        };
        assert!(matches!(
            args.client_config(),
            Err(KafkaConfigError::SaslIncomplete)
        ));
        assert_eq!(
            parse_option("a=b=c").unwrap(),
            ("a".to_owned(), "b=c".to_owned())
        );
        assert!(parse_option("novalue").is_err());
    }
}
