//! Incident events on Kafka: CloudEvents, ordered per incident, nothing lost.
//!
//! `publish` only appends to the outbox; a delivery task drains it in order
//! through an idempotent producer (`acks=all`) and marks what the broker
//! confirmed. A failed delivery stays in the outbox and is sent again, with
//! the same `ce_id`, after a backoff; a producer hit by a fatal error (e.g. a
//! broker that forgot our producer id) is replaced.

pub mod cloudevent;
pub mod config;
mod deliver;
pub mod outbox;
mod producer;
pub mod published;
pub mod tail;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use config::{KafkaArgs, KafkaConfigError};
pub use outbox::{Outbox, OutboxError};

use super::{Notice, Sink};
use crate::playbook::model::Playbook;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::{DropLabels, SinkLabels};

const SINK: &str = "kafka";
/// Most events handed to librdkafka per dispatch.
const BATCH: usize = 500;
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a shutdown waits for the outbox to drain (what is left stays on disk).
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error(transparent)]
    Config(#[from] KafkaConfigError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("creating the Kafka producer: {0}")]
    Producer(rdkafka::error::KafkaError),
}

/// State shared by the sink (enqueue) and its delivery task.
struct Shared {
    outbox: Mutex<Outbox>,
    /// When each queued event entered the outbox in this process (for latency).
    enqueued: Mutex<HashMap<u64, Instant>>,
    wake: Notify,
    stopping: std::sync::atomic::AtomicBool,
    metrics: Arc<Metrics>,
    /// Per-event enqueue → ack latencies, kept only when asked (benchmarks).
    samples: Mutex<Option<Vec<Duration>>>,
    /// Acknowledged events per incident, for `status.eventsPublished`.
    published: Arc<published::Published>,
}

impl Shared {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        // A panic while holding the lock leaves a consistent outbox (each
        // operation is one append): keep going rather than poison everything.
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_queued(&self, n: usize) {
        self.metrics
            .queued
            .get_or_create(&SinkLabels { sink: SINK.into() })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// The Kafka sink: an outbox and the task that drains it.
pub struct KafkaSink {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl KafkaSink {
    /// Open the outbox and start delivering on the current runtime.
    /// With `client` (operator mode), each Incident's `status.eventsPublished` is kept up to date.
    pub fn start(
        args: &KafkaArgs,
        cluster: &str,
        metrics: Arc<Metrics>,
        client: Option<kube::Client>,
    ) -> Result<Self, KafkaError> {
        let outbox = match &args.outbox_dir {
            Some(dir) => Outbox::open(dir, args.outbox_capacity)?,
            None => {
                tracing::warn!(
                    "no --outbox-dir: undelivered Kafka events are kept in memory only and lost on restart"
                );
                Outbox::in_memory(args.outbox_capacity)
            }
        };
        // Fail at start on bad settings rather than on the first event.
        let config = args.producer_config()?;
        let first = producer::build(&config).map_err(KafkaError::Producer)?;
        if !outbox.is_empty() {
            tracing::info!(
                pending = outbox.len(),
                "Kafka outbox has undelivered events from a previous run"
            );
        }
        let shared = Arc::new(Shared {
            enqueued: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            metrics,
            outbox: Mutex::new(outbox),
            samples: Mutex::new(None),
            published: Arc::new(published::Published::default()),
        });
        if let Some(client) = client {
            tokio::spawn(published::write_counts(
                Arc::downgrade(&shared.published),
                client,
            ));
        }
        shared.set_queued(shared.outbox().len());
        let delivery = producer::Delivery::new(
            args.clone(),
            cluster.to_owned(),
            (config, args.client_config()?),
            first,
        );
        let worker = tokio::spawn(deliver::deliver(shared.clone(), delivery));
        tokio::spawn(deliver::sync_outbox(Arc::downgrade(&shared)));
        Ok(KafkaSink {
            shared,
            worker: Some(worker),
        })
    }

    /// Keep each event's enqueue → ack latency from now on (the histogram's
    /// buckets are too coarse for a benchmark's percentiles).
    pub fn sample_latencies(&self) {
        *self
            .shared
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    }

    /// The latencies kept since [`Self::sample_latencies`], emptied.
    pub fn take_latencies(&self) -> Vec<Duration> {
        let mut s = self
            .shared
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        s.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Events not yet confirmed by the broker.
    pub fn pending(&self) -> usize {
        self.shared.outbox().len()
    }

    /// Queue notices (the same as [`Sink::publish`], without a playbook).
    pub fn enqueue(&self, notices: &[Notice]) {
        let now = Instant::now();
        let mut fresh = Vec::with_capacity(notices.len());
        let mut gone = Vec::new();
        let mut outbox = self.shared.outbox();
        for n in notices {
            match outbox.push(n.clone()) {
                Ok((seq, dropped)) => {
                    fresh.push(seq);
                    if let Some(d) = dropped {
                        gone.push(d.seq);
                        tracing::warn!(
                            id = %d.notice.id,
                            incident = %d.notice.incident,
                            kind = d.notice.kind.as_str(),
                            severity = %d.notice.severity,
                            "Kafka outbox full: dropped the oldest lowest-severity event"
                        );
                        self.shared.metrics.record_delivery(SINK, "dropped");
                        self.shared
                            .metrics
                            .dropped
                            .get_or_create(&DropLabels {
                                sink: SINK.into(),
                                severity: d.notice.severity.as_str().into(),
                            })
                            .inc();
                    }
                }
                Err(e) => {
                    tracing::error!(id = %n.id, error = %e, "Kafka outbox write failed; event not queued");
                    self.shared.metrics.record_delivery(SINK, "failed");
                    continue;
                }
            }
        }
        let len = outbox.len();
        drop(outbox);
        let mut enq = self
            .shared
            .enqueued
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for seq in fresh {
            enq.entry(seq).or_insert(now);
        }
        for seq in gone {
            enq.remove(&seq);
        }
        drop(enq);
        self.shared.set_queued(len);
        self.shared.wake.notify_one();
    }

    /// Wait until the outbox is empty or `timeout` passes; whether it emptied.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Stop delivering (what is left stays in the outbox for the next start).
    pub async fn stop(&mut self) {
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(w) = self.worker.take() {
            w.abort();
            let _ = w.await;
        }
        if let Err(e) = self.shared.outbox().sync() {
            tracing::warn!(error = %e, "syncing the Kafka outbox at shutdown failed");
        }
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.abort();
        }
    }
}

impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        SINK
    }

    fn publish(&mut self, _pb: &Playbook, notices: &[Notice]) {
        self.enqueue(notices);
    }

    fn restore(&mut self, incident: &crate::incident::resource::Incident) {
        let published = incident.status.as_ref().and_then(|s| s.events_published);
        if let (Some(n), Some(ns)) = (published, incident.metadata.namespace.as_deref()) {
            let name = incident.metadata.name.as_deref().unwrap_or_default();
            self.shared.published.restore(ns, name, n);
        }
    }

    fn flush(&mut self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.drain(FLUSH_DEADLINE).await {
                tracing::warn!(
                    pending = self.pending(),
                    "Kafka events left in the outbox at shutdown; sent at the next start"
                );
            }
            self.stop().await;
        })
    }
}
