//! Metrics, registered once and passed to whoever records them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlaybookLabels {
    pub playbook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabels {
    pub playbook: String,
    pub detector: String,
    /// `ok` or a no-data reason (`unreachable`, `timeout`, `http_status`, `query_failed`).
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NoDataLabels {
    pub playbook: String,
    pub detector: String,
    /// A [`crate::detect::Missing::reason`].
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabels {
    pub playbook: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    /// `applied`, `reverted`, `held`, `dry_run`, `failed`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `valid`, `invalid` or `error`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileErrorLabels {
    /// The error's `metric_label()` (`patch_status`, `publish_event`, …).
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `kafka` or `slack`.
    pub sink: String,
    /// `delivered`, `retried` (a transient failure, tried again), `failed`
    /// (given up), `dropped` (queue bound reached).
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    pub sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub sink: String,
    /// Severity of the incident the dropped notice belonged to.
    pub severity: String,
}

/// Every metric Firebreak exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub cycles: Family<PlaybookLabels, Counter>,
    pub cycle_seconds: Family<PlaybookLabels, Histogram>,
    pub queries: Family<QueryLabels, Counter>,
    pub query_seconds: Histogram,
    pub targets_without_data: Family<NoDataLabels, Gauge>,
    pub incidents_opened: Family<SeverityLabels, Counter>,
    pub incidents_active: Family<SeverityLabels, Gauge>,
    pub actions: Family<ActionLabels, Counter>,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_errors: Family<ReconcileErrorLabels, Counter>,
    /// Notices handed to Kafka and Slack, by sink and result.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Enqueue → confirmed delivery.
    pub delivery_seconds: Family<SinkLabels, Histogram>,
    /// Notices waiting to be delivered.
    pub queued: Family<SinkLabels, Gauge>,
    /// Notices dropped because the queue was full.
    pub dropped: Family<DropLabels, Counter>,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("firebreak");
        let cycles = Family::default();
        registry.register("cycles", "Evaluation cycles run", cycles.clone());
        let cycle_seconds = Family::<PlaybookLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        registry.register(
            "cycle_duration_seconds",
            "Wall time of one evaluation cycle (queries and engine)",
            cycle_seconds.clone(),
        );
        let queries = Family::default();
        registry.register(
            "queries",
            "Detector queries by result (ok or the no-data reason)",
            queries.clone(),
        );
        let query_seconds = Histogram::new(seconds_buckets());
        registry.register(
            "query_duration_seconds",
            "Latency of one detector query",
            query_seconds.clone(),
        );
        let targets_without_data = Family::default();
        registry.register(
            "targets_without_data",
            "Targets a detector has no value for, by reason, at the last cycle",
            targets_without_data.clone(),
        );
        let incidents_opened = Family::default();
        registry.register(
            "incidents_opened",
            "Incidents opened, by opening severity",
            incidents_opened.clone(),
        );
        let incidents_active = Family::default();
        registry.register(
            "incidents_active",
            "Open incidents by current severity",
            incidents_active.clone(),
        );
        let actions = Family::default();
        registry.register("actions", "Actions by kind and result", actions.clone());
        let reconciles = Family::default();
        registry.register(
            "reconciles",
            "Playbook reconciles by result (valid, invalid, error)",
            reconciles.clone(),
        );
        let reconcile_errors = Family::default();
        registry.register(
            "reconcile_errors",
            "Playbook reconcile failures by kind",
            reconcile_errors.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "deliveries",
            "Notices sent to Kafka and Slack, by sink and result",
            deliveries.clone(),
        );
        let delivery_seconds = Family::<SinkLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        registry.register(
            "delivery_duration_seconds",
            "From enqueue to confirmed delivery, by sink",
            delivery_seconds.clone(),
        );
        let queued = Family::default();
        registry.register(
            "notices_queued",
            "Notices waiting for delivery, by sink (the Kafka outbox, the Slack queue)",
            queued.clone(),
        );
        let dropped = Family::default();
        registry.register(
            "notices_dropped",
            "Notices dropped because the sink's queue was full, by incident severity",
            dropped.clone(),
        );
        Metrics {
            registry,
            cycles,
            cycle_seconds,
            queries,
            query_seconds,
            targets_without_data,
            incidents_opened,
            incidents_active,
            actions,
            reconciles,
            reconcile_errors,
            deliveries,
            delivery_seconds,
            queued,
            dropped,
        }
    }
}

impl Metrics {
    /// Register a metric owned by a component (e.g. its failure counter).
    pub fn register(
        &mut self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry.register(name, help, metric);
    }

    /// One evaluation cycle of `playbook` took `took`.
    pub fn record_cycle(&self, playbook: &str, took: std::time::Duration) {
        let labels = PlaybookLabels {
            playbook: playbook.to_owned(),
        };
        self.cycles.get_or_create(&labels).inc();
        self.cycle_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// One detector query: `result` is `ok` or the no-data reason.
    pub fn record_query(
        &self,
        playbook: &str,
        detector: &str,
        result: &str,
        took: std::time::Duration,
    ) {
        self.query_seconds.observe(took.as_secs_f64());
        self.queries
            .get_or_create(&QueryLabels {
                playbook: playbook.to_owned(),
                detector: detector.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// One notice delivery attempt to `sink` ended with `result`.
    pub fn record_delivery(&self, sink: &str, result: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                sink: sink.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_labels() {
        let m = Metrics::default();
        m.queries
            .get_or_create(&QueryLabels {
                playbook: "shop/checkout".into(),
                detector: "p99".into(),
                result: "unreachable".into(),
            })
            .inc();
        let text = m.encode();
        assert!(
            text.contains(
                "firebreak_queries_total{playbook=\"shop/checkout\",detector=\"p99\",result=\"unreachable\"} 1"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
