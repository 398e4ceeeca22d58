//! A metric source over a recorded scenario: the value each detector computes,
//! stored as `firebreak_signal{detector, namespace, workload[, playbook]}`.

use std::collections::HashMap;

use jiff::Timestamp;

use super::openmetrics::{self, Series};
use super::source::{DetectorQuery, MetricSource, SourceError, WorkloadValue};

/// Name of the series a scenario stores detector values under.
pub const SIGNAL_METRIC: &str = "firebreak_signal";
/// Like Prometheus' default lookback: an older sample is stale.
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Detector values read from an OpenMetrics scenario file.
#[derive(Debug)]
pub struct FileSource {
    /// Series by detector name.
    by_detector: HashMap<String, Vec<Series>>,
    first: Option<i64>,
    last: Option<i64>,
}

impl FileSource {
    pub fn parse(text: &str) -> Result<Self, openmetrics::ParseError> {
        let mut by_detector: HashMap<String, Vec<Series>> = HashMap::new();
        let mut first = None::<i64>;
        let mut last = None::<i64>;
        for s in openmetrics::parse(text)? {
            if s.name != SIGNAL_METRIC {
                continue;
            }
            if let (Some((a, _)), Some((b, _))) = (s.samples.first(), s.samples.last()) {
                first = Some(first.map_or(*a, |f| f.min(*a)));
                last = Some(last.map_or(*b, |l| l.max(*b)));
            }
            if let Some(d) = s.labels.get("detector") {
                by_detector.entry(d.clone()).or_default().push(s);
            }
        }
        Ok(FileSource {
            by_detector,
            first,
            last,
        })
    }

    /// First and last sample time of the scenario.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        let a = Timestamp::from_millisecond(self.first?).ok()?;
        let b = Timestamp::from_millisecond(self.last?).ok()?;
        Some((a, b))
    }

    /// Whether the scenario holds any series for `detector` in `namespace`.
    pub fn has_detector(&self, detector: &str, namespace: &str) -> bool {
        self.by_detector.get(detector).is_some_and(|v| {
            v.iter()
                .any(|s| s.labels.get("namespace").is_some_and(|n| n == namespace))
        })
    }

    fn value_at(series: &Series, at_ms: i64) -> Option<f64> {
        let idx = series.samples.partition_point(|(t, _)| *t <= at_ms);
        let (t, v) = *series.samples.get(idx.checked_sub(1)?)?;
        (at_ms - t <= LOOKBACK_MS).then_some(v)
    }
}

impl MetricSource for FileSource {
    async fn query(
        &self,
        q: &DetectorQuery,
        at: Timestamp,
    ) -> Result<Vec<WorkloadValue>, SourceError> {
        let at_ms = at.as_millisecond();
        let Some(series) = self.by_detector.get(&q.detector) else {
            return Ok(Vec::new());
        };
        Ok(series
            .iter()
            .filter(|s| {
                s.labels
                    .get("namespace")
                    .is_some_and(|n| *n == q.playbook.namespace)
            })
            .filter(|s| {
                s.labels
                    .get("playbook")
                    .is_none_or(|p| *p == q.playbook.name)
            })
            .filter_map(|s| {
                Some(WorkloadValue {
                    namespace: q.playbook.namespace.clone(),
                    workload: s.labels.get("workload")?.clone(),
                    value: Self::value_at(s, at_ms)?,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::PlaybookId;

    #[tokio::test]
    async fn a_range_is_the_instant_values_at_each_step() {
        let source = FileSource::parse(
            "# TYPE firebreak_signal gauge\n\
             firebreak_signal{detector=\"p99\",namespace=\"shop\",workload=\"checkout\"} 0.2 1000\n\
             firebreak_signal{detector=\"p99\",namespace=\"shop\",workload=\"checkout\"} 0.9 1060\n\
             # EOF\n",
        )
        .expect("scenario");
        let q = DetectorQuery {
            playbook: PlaybookId {
                namespace: "shop".into(),
                name: "checkout".into(),
            },
            detector: "p99".into(),
            promql: String::new(),
        };
        let at = |s: i64| Timestamp::from_second(s).expect("valid");
        let step = std::time::Duration::from_secs(30);
        let series = source
            .query_range(&q, at(970), at(1060), step)
            .await
            .expect("range");
        assert_eq!(series.len(), 1);
        assert_eq!(
            series[0].samples,
            [(1_000_000, 0.2), (1_030_000, 0.2), (1_060_000, 0.9)]
        );
        let zero = source
            .query_range(&q, at(970), at(1060), std::time::Duration::ZERO)
            .await;
        assert!(zero.is_err(), "a zero step would never end");
    }
}
