//! History for one playbook, fetched in chunks with `query_range` so that no
//! request asks for more points per series than the server allows (Prometheus
//! refuses over 11,000), then served step by step to the engine.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::detect::Missing;
use crate::detect::RangeSeries;
use crate::detect::prometheus::PrometheusSource;
use crate::engine::DetectorResult;
use crate::playbook::model::Playbook;
use crate::runner::QueryMode;
use crate::runner::query::range_query;

/// Values of one detector over a chunk: per workload, one slot per step (`None`: no sample).
type Columns = HashMap<String, Vec<Option<f64>>>;

/// One playbook's detector values for `len` steps from `start_ms`.
#[derive(Debug)]
pub struct Chunk {
    pub start_ms: i64,
    pub step_ms: i64,
    pub len: usize,
    pub detectors: Vec<Result<Columns, Missing>>,
}

impl Chunk {
    /// Whether `at_ms` falls on this chunk's grid.
    pub fn covers(&self, at_ms: i64) -> bool {
        self.index(at_ms).is_some()
    }

    fn index(&self, at_ms: i64) -> Option<usize> {
        let off = at_ms - self.start_ms;
        if off < 0 || off % self.step_ms != 0 {
            return None;
        }
        let i = usize::try_from(off / self.step_ms).ok()?;
        (i < self.len).then_some(i)
    }

    /// The detector results at `at_ms`, shaped like a live cycle's.
    pub fn results_at(&self, at_ms: i64) -> Vec<DetectorResult> {
        let i = self.index(at_ms);
        self.detectors
            .iter()
            .map(|d| match d {
                Err(m) => Err(m.clone()),
                Ok(cols) => Ok(cols
                    .iter()
                    .filter_map(|(w, vals)| Some((w.clone(), (*vals.get(i?)?)?)))
                    .collect()),
            })
            .collect()
    }
}

/// The chunks covering `[from, to]` at `step_ms`, each at most `max_points` steps.
pub fn plan(from: Timestamp, to: Timestamp, step_ms: i64, max_points: usize) -> Vec<(i64, usize)> {
    let (a, b) = (from.as_millisecond(), to.as_millisecond());
    if b < a || step_ms <= 0 {
        return Vec::new();
    }
    let total = usize::try_from((b - a) / step_ms).unwrap_or(0) + 1;
    let per = max_points.max(1);
    (0..total)
        .step_by(per)
        .map(|i| {
            let offset = i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(step_ms);
            (a + offset, per.min(total - i))
        })
        .collect()
}

/// Fetch every detector of `pb` for the chunk `(start_ms, len)`, concurrently.
pub async fn fetch(
    source: &PrometheusSource,
    pb: &Playbook,
    mode: QueryMode,
    (start_ms, len): (i64, usize),
    step_ms: i64,
) -> Chunk {
    let end_ms = start_ms + step_ms * i64::try_from(len.saturating_sub(1)).unwrap_or(0);
    let step = std::time::Duration::from_millis(u64::try_from(step_ms).unwrap_or(1));
    let (Ok(start), Ok(end)) = (
        Timestamp::from_millisecond(start_ms),
        Timestamp::from_millisecond(end_ms),
    ) else {
        return failed(pb, (start_ms, len), step_ms, "time range out of bounds");
    };
    let queries = pb.detectors.iter().map(|d| {
        let q = range_query(pb, d, mode);
        async move { source.range(&q, start, end, step).await }
    });
    let detectors = futures::future::join_all(queries)
        .await
        .into_iter()
        .map(|r| {
            let series = r.map_err(Missing::from)?;
            Ok(columns(series, &pb.id.namespace, (start_ms, len), step_ms))
        })
        .collect();
    Chunk {
        start_ms,
        step_ms,
        len,
        detectors,
    }
}

/// `namespace`'s series on the chunk's grid, one column per workload. Several
/// series of one workload (recorded with and without a `playbook` label) merge
/// as PromQL's `max` does: the larger value, and any value over NaN.
fn columns(
    series: Vec<RangeSeries>,
    namespace: &str,
    (start_ms, len): (i64, usize),
    step_ms: i64,
) -> Columns {
    let mut cols = Columns::new();
    for s in series.into_iter().filter(|s| s.namespace == namespace) {
        let col = cols.entry(s.workload).or_insert_with(|| vec![None; len]);
        for (t, v) in s.samples {
            let off = t - start_ms;
            if off >= 0
                && off % step_ms == 0
                && let Some(slot) = usize::try_from(off / step_ms)
                    .ok()
                    .and_then(|i| col.get_mut(i))
            {
                *slot = Some(match *slot {
                    Some(old) if !(old < v || old.is_nan()) => old,
                    _ => v,
                });
            }
        }
    }
    cols
}

/// A chunk whose every detector failed for `reason`.
pub fn failed(pb: &Playbook, (start_ms, len): (i64, usize), step_ms: i64, reason: &str) -> Chunk {
    let m = Missing::QueryFailed(reason.to_owned());
    Chunk {
        start_ms,
        step_ms,
        len,
        detectors: pb.detectors.iter().map(|_| Err(m.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn plan_covers_the_range_without_overlap_or_gap() {
        // 7 days at 30 s = 20,161 points (both ends included).
        let chunks = plan(ts(0), ts(7 * 86_400), 30_000, 10_000);
        assert_eq!(
            chunks,
            vec![(0, 10_000), (300_000_000, 10_000), (600_000_000, 161)]
        );
        let total: usize = chunks.iter().map(|c| c.1).sum();
        assert_eq!(total, 20_161);
    }

    #[test]
    fn plan_of_an_empty_or_reversed_range() {
        assert_eq!(plan(ts(10), ts(10), 15_000, 100), vec![(10_000, 1)]);
        assert!(plan(ts(10), ts(0), 15_000, 100).is_empty());
    }

    fn series(workload: &str, samples: &[(i64, f64)]) -> RangeSeries {
        RangeSeries {
            namespace: "shop".into(),
            workload: workload.into(),
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn series_of_one_workload_merge_as_max_does() {
        let cols = columns(
            vec![
                series("a", &[(0, 1.0), (10, f64::NAN), (20, 5.0), (30, 2.0)]),
                series("a", &[(0, 3.0), (10, 4.0), (20, f64::NAN)]),
                series("b", &[(5, 9.0), (10, 7.0), (40, 1.0)]),
                RangeSeries {
                    namespace: "other".into(),
                    ..series("c", &[(0, 1.0)])
                },
            ],
            "shop",
            (0, 4),
            10,
        );
        assert_eq!(cols["a"], [Some(3.0), Some(4.0), Some(5.0), Some(2.0)]);
        // Off the grid or past the chunk: dropped.
        assert_eq!(cols["b"], [None, Some(7.0), None, None]);
        assert!(!cols.contains_key("c"));
    }

    #[test]
    fn results_follow_the_grid_and_keep_gaps() {
        let mut cols = Columns::new();
        cols.insert("a".into(), vec![Some(1.0), None, Some(3.0)]);
        let chunk = Chunk {
            start_ms: 1_000,
            step_ms: 500,
            len: 3,
            detectors: vec![Ok(cols), Err(Missing::Timeout("slow".into()))],
        };
        let at = |ms| chunk.results_at(ms);
        assert_eq!(at(2_000)[0].as_ref().unwrap().get("a"), Some(&3.0));
        assert!(at(1_500)[0].as_ref().unwrap().is_empty());
        assert_eq!(at(1_000)[1], Err(Missing::Timeout("slow".into())));
        assert!(chunk.covers(2_000) && !chunk.covers(2_500) && !chunk.covers(1_250));
    }
}
