//! Reducing a series to what a plot of a given width can show.
//!
//! Dense series keep the minimum and the maximum of each pixel column, in
//! time order (the "min/max" or M4-without-ends scheme), so a one-sample
//! spike is never averaged away while the output stays at most two points
//! per column. Gaps (`None`, NaN, ±inf) end a segment so the line breaks.

use jiff::Timestamp;

/// Consecutive drawable points as (x, value); x is in pixel columns from the
/// plot's left edge (0 ..= columns).
pub(super) type Segment = Vec<(f64, f64)>;

/// The series `points` (in time order) as segments for a plot `columns`
/// pixels wide spanning `from..=to`; samples outside that range are dropped.
pub(super) fn decimate(
    points: &[(Timestamp, Option<f64>)],
    from: Timestamp,
    to: Timestamp,
    columns: usize,
) -> Vec<Segment> {
    let columns = columns.max(1);
    let start = from.as_millisecond();
    let span = (to.as_millisecond() - start).max(1) as f64;
    let x_of = |t: Timestamp| (t.as_millisecond() - start) as f64 / span * columns as f64;
    let in_range = |t: &Timestamp| (from..=to).contains(t);
    // Sparse series are drawn as they are: decimating would only move points.
    let bucketed = points.iter().filter(|(t, _)| in_range(t)).count() > 2 * columns;

    let mut segments = Vec::new();
    let mut current = Segment::new();
    let mut column: Option<Column> = None;
    for (seq, (t, v)) in points.iter().enumerate() {
        if !in_range(t) {
            continue;
        }
        let Some(v) = v.filter(|v| v.is_finite()) else {
            if let Some(c) = column.take() {
                c.flush(&mut current);
            }
            if !current.is_empty() {
                segments.push(std::mem::take(&mut current));
            }
            continue;
        };
        let x = x_of(*t);
        if !bucketed {
            current.push((x, v));
            continue;
        }
        let index = (x.floor().max(0.0) as usize).min(columns - 1);
        match &mut column {
            Some(c) if c.index == index => c.add(seq, v),
            _ => {
                if let Some(c) = column.take() {
                    c.flush(&mut current);
                }
                column = Some(Column::new(index, seq, v));
            }
        }
    }
    if let Some(c) = column {
        c.flush(&mut current);
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// The extremes seen in one pixel column, with their order in the input.
struct Column {
    index: usize,
    min: (usize, f64),
    max: (usize, f64),
}

impl Column {
    fn new(index: usize, seq: usize, v: f64) -> Column {
        Column {
            index,
            min: (seq, v),
            max: (seq, v),
        }
    }

    fn add(&mut self, seq: usize, v: f64) {
        if v < self.min.1 {
            self.min = (seq, v);
        }
        if v > self.max.1 {
            self.max = (seq, v);
        }
    }

    /// Appends the extremes in time order, snapped to the column's left edge
    /// so that the pair draws as one vertical stroke.
    fn flush(self, out: &mut Segment) {
        let x = self.index as f64;
        let (first, second) = if self.min.0 <= self.max.0 {
            (self.min, self.max)
        } else {
            (self.max, self.min)
        };
        out.push((x, first.1));
        if second.0 != first.0 {
            out.push((x, second.1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_772_323_200 + second).expect("timestamp")
    }

    fn series(values: &[Option<f64>]) -> Vec<(Timestamp, Option<f64>)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (at(i as i64), *v))
            .collect()
    }

    fn values(segments: &[Segment]) -> Vec<f64> {
        segments.iter().flatten().map(|(_, v)| *v).collect()
    }

    #[test]
    fn dense_series_keeps_global_min_and_max_and_two_points_per_column() {
        let mut raw: Vec<Option<f64>> =
            (0..20_160).map(|i| Some((i as f64 * 0.01).sin())).collect();
        raw[7_777] = Some(42.0); // a one-sample spike
        raw[12_345] = Some(-42.0);
        let points = series(&raw);
        let segments = decimate(&points, at(0), at(20_159), 900);
        assert_eq!(segments.len(), 1);
        let kept = values(&segments);
        assert!(kept.len() <= 1800, "{}", kept.len());
        assert!(kept.contains(&42.0) && kept.contains(&-42.0));
        // x stays in the plot and never goes backwards.
        let xs: Vec<f64> = segments[0].iter().map(|(x, _)| *x).collect();
        assert!(xs.windows(2).all(|w| w[0] <= w[1]));
        assert!(xs.iter().all(|x| (0.0..900.0).contains(x)));
    }

    #[test]
    fn extremes_of_a_column_stay_in_time_order() {
        // 30 samples into 10 columns: the max comes before the min in column 0.
        let mut raw = vec![Some(0.0); 30];
        raw[0] = Some(5.0);
        raw[2] = Some(-5.0);
        let segments = decimate(&series(&raw), at(0), at(30), 10);
        assert_eq!(&segments[0][..2], &[(0.0, 5.0), (0.0, -5.0)]);
        // A flat column collapses to one point.
        assert_eq!(segments[0][2], (1.0, 0.0));
    }

    #[test]
    fn gaps_break_segments_in_both_regimes() {
        let raw = [
            Some(1.0),
            Some(2.0),
            None,
            Some(3.0),
            Some(f64::NAN),
            Some(4.0),
            Some(5.0),
        ];
        let sparse = decimate(&series(&raw), at(0), at(6), 900);
        assert_eq!(values(&sparse), [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(sparse.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1, 2]);

        let mut dense: Vec<Option<f64>> = vec![Some(1.0); 5_000];
        dense[2_000..2_100].fill(None);
        dense[4_000] = Some(f64::INFINITY);
        let segments = decimate(&series(&dense), at(0), at(5_000), 100);
        assert_eq!(segments.len(), 3);
        assert!(values(&segments).iter().all(|v| *v == 1.0));
    }

    #[test]
    fn all_gaps_empty_and_out_of_range_give_nothing() {
        assert!(decimate(&series(&[None, Some(f64::NAN)]), at(0), at(1), 900).is_empty());
        assert!(decimate(&[], at(0), at(1), 900).is_empty());
        let outside = decimate(&series(&[Some(1.0), Some(2.0)]), at(10), at(20), 900);
        assert!(outside.is_empty());
        let single = decimate(&series(&[Some(7.0)]), at(0), at(0), 900);
        assert_eq!(single, [vec![(0.0, 7.0)]]);
    }
}
