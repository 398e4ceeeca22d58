//! Query answers (`data` of `/api/v1/query` and `/api/v1/query_range`), decoded
//! straight into what detectors read: a series' `namespace` and `workload` labels
//! and its float samples. `prometheus-http-query`'s response types buffer the
//! whole answer first (a `#[serde(flatten)]` field) and allocate a `String` per
//! sample value; a week's backtest reads millions of samples, and a live cycle
//! 10,000 series per detector.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

/// `data`: Prometheus writes `resultType` before `result`, which lets serde
/// decode the result in place.
#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub(super) enum Data {
    Vector(Vec<Point>),
    Matrix(Vec<Series>),
    Scalar(IgnoredAny),
    String(IgnoredAny),
}

/// The two labels a detector's result is keyed by; others are skipped unread.
#[derive(Deserialize)]
pub(super) struct Labels {
    pub namespace: Option<String>,
    pub workload: Option<String>,
}

/// One series of an instant vector. `value` is absent for native histograms.
#[derive(Deserialize)]
pub(super) struct Point {
    pub metric: Labels,
    pub value: Option<Sample>,
}

/// One series of a range vector.
#[derive(Deserialize)]
pub(super) struct Series {
    pub metric: Labels,
    #[serde(default)]
    pub values: Vec<Sample>,
}

/// `[<unix seconds>, "<value>"]`, as milliseconds and a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Sample {
    pub at_ms: i64,
    pub value: f64,
}

impl<'de> Deserialize<'de> for Sample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(SampleVisitor)
    }
}

struct SampleVisitor;

impl<'de> Visitor<'de> for SampleVisitor {
    type Value = Sample;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sample [<unix seconds>, \"<value>\"]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sample, A::Error> {
        let secs: f64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let Float(value) = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(Sample {
            at_ms: (secs * 1000.0).round() as i64,
            value,
        })
    }
}

/// A float written as a JSON string (`"0.25"`, `"NaN"`, `"+Inf"`), read without
/// an allocation.
struct Float(f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a float inside a JSON string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Float, E> {
                s.parse()
                    .map(Float)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_keeps_the_workload_labels_and_every_sample() {
        let json = r#"{"resultType":"matrix","result":[
            {"metric":{"__name__":"x","namespace":"risk","workload":"pricer","pod":"p-1"},
             "values":[[1772409600,"0.5"],[1772409630.5,"NaN"],[1772409660,"+Inf"]]},
            {"metric":{"namespace":"risk"},"values":[]}]}"#;
        let Data::Matrix(m) = serde_json::from_str(json).expect("matrix") else {
            panic!("not a matrix");
        };
        assert_eq!(m[0].metric.namespace.as_deref(), Some("risk"));
        assert_eq!(m[0].metric.workload.as_deref(), Some("pricer"));
        let v = &m[0].values;
        assert_eq!((v[0].at_ms, v[0].value), (1_772_409_600_000, 0.5));
        assert_eq!(v[1].at_ms, 1_772_409_630_500);
        assert!(v[1].value.is_nan());
        assert_eq!(v[2].value, f64::INFINITY);
        assert_eq!(m[1].metric.workload, None);
    }

    #[test]
    fn a_vector_and_the_other_result_types() {
        let json = r#"{"resultType":"vector","result":[
            {"metric":{"namespace":"a","workload":"w"},"value":[1.5,"-2e3"]},
            {"metric":{"namespace":"a","workload":"h"},"histogram":[1.5,{"count":"1"}]}]}"#;
        let Data::Vector(v) = serde_json::from_str(json).expect("vector") else {
            panic!("not a vector");
        };
        let s = v[0].value.expect("a float sample");
        assert_eq!((s.at_ms, s.value), (1_500, -2000.0));
        assert!(v[1].value.is_none());
        let scalar = r#"{"resultType":"scalar","result":[1.5,"1"]}"#;
        assert!(matches!(serde_json::from_str(scalar), Ok(Data::Scalar(_))));
    }

    #[test]
    fn a_malformed_sample_is_an_error_that_says_what_was_expected() {
        for bad in [r#"[1, 2]"#, r#"[1]"#, r#"[1, "x"]"#, r#"[1, "1", 3]"#] {
            let json =
                format!(r#"{{"resultType":"vector","result":[{{"metric":{{}},"value":{bad}}}]}}"#);
            let e = serde_json::from_str::<Data>(&json).err().expect("rejected");
            assert!(
                e.to_string().contains("float") || e.to_string().contains("sample"),
                "{e}"
            );
        }
    }
}
