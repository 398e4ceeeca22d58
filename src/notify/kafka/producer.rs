//! One delivery round: hand a batch to librdkafka in order, await every report.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::cloudevent;
use super::config::KafkaArgs;
use super::outbox::Queued;

pub fn build(config: &ClientConfig) -> Result<FutureProducer, KafkaError> {
    config.create()
}

/// Events handed to librdkafka, each with its pending delivery report.
pub type InFlight = Vec<(u64, DeliveryFuture)>;

/// The producer (rebuilt after a fatal error) and the topic it writes.
pub struct Delivery {
    args: KafkaArgs,
    cluster: String,
    config: ClientConfig,
    /// Without the producer-only properties, for the admin client.
    admin_config: ClientConfig,
    producer: Option<FutureProducer>,
    topic_checked: bool,
}

impl Delivery {
    /// `configs`: the producer's and the admin client's.
    pub fn new(
        args: KafkaArgs,
        cluster: String,
        (config, admin_config): (ClientConfig, ClientConfig),
        producer: FutureProducer,
    ) -> Self {
        Delivery {
            topic_checked: !args.kafka_create_topic,
            args,
            cluster,
            config,
            admin_config,
            producer: Some(producer),
        }
    }

    /// Hand `batch` to librdkafka in order, without waiting for the broker. Stops
    /// early (the rest waits for a later call, keeping the order) when librdkafka's
    /// queue is full or a producer cannot be made.
    pub async fn dispatch(&mut self, batch: &[Queued]) -> InFlight {
        self.check_topic().await;
        let producer = match &self.producer {
            Some(p) => p.clone(),
            None => match build(&self.config) {
                Ok(p) => {
                    self.producer = Some(p.clone());
                    p
                }
                Err(e) => {
                    tracing::error!(error = %e, "creating the Kafka producer failed");
                    return Vec::new();
                }
            },
        };
        let topic = self.args.kafka_topic.as_str();
        let mut inflight = Vec::with_capacity(batch.len());
        for q in batch {
            let record = match cloudevent::record(&q.notice, &self.cluster, self.args.kafka_mode) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(id = %q.notice.id, error = %e, "encoding a CloudEvent failed");
                    break;
                }
            };
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (k, v) in &record.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v.as_bytes()),
                });
            }
            let fr = FutureRecord::to(topic)
                .key(&record.key)
                .payload(&record.value)
                .headers(headers);
            match producer.send_result(fr) {
                Ok(fut) => inflight.push((q.seq, fut)),
                Err((e, _)) => {
                    tracing::debug!(error = %e, "librdkafka refused an event; sent later");
                    break;
                }
            }
        }
        inflight
    }

    /// After failed deliveries: replace a producer hit by a fatal error (e.g. a
    /// broker that forgot our producer id), and check the topic again.
    pub fn recover(&mut self) {
        if let Some(p) = &self.producer
            && let Some((code, reason)) = p.client().fatal_error()
        {
            tracing::warn!(
                ?code,
                reason,
                "Kafka producer hit a fatal error; creating a new one"
            );
            self.producer = None;
        }
        self.topic_checked = !self.args.kafka_create_topic;
    }

    /// Create the topic if that is allowed and not done yet (at start, and again
    /// after failures: a broker may have lost it).
    pub async fn check_topic(&mut self) {
        if !self.topic_checked {
            self.topic_checked = self.ensure_topic().await;
        }
    }

    /// Create the topic if it is missing; whether it now exists.
    async fn ensure_topic(&self) -> bool {
        let admin: AdminClient<DefaultClientContext> = match self.admin_config.create() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "creating the Kafka admin client failed");
                return false;
            }
        };
        let topic = NewTopic::new(
            &self.args.kafka_topic,
            self.args.kafka_partitions,
            TopicReplication::Fixed(self.args.kafka_replication),
        );
        let opts = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(5)))
            .request_timeout(Some(Duration::from_secs(5)));
        match admin.create_topics([&topic], &opts).await {
            Ok(results) => results.into_iter().all(|r| match r {
                Ok(name) => {
                    tracing::info!(topic = name, "created the Kafka topic");
                    true
                }
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => true,
                Err((name, code)) => {
                    tracing::warn!(topic = name, ?code, "creating the Kafka topic failed");
                    false
                }
            }),
            Err(e) => {
                tracing::warn!(error = %e, "creating the Kafka topic failed; retried before the next send");
                false
            }
        }
    }
}
