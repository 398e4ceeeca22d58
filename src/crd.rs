//! CustomResourceDefinitions generated from the Rust types (`firebreak crd`).

use kube::CustomResourceExt;

use crate::incident::resource::Incident;
use crate::playbook::Playbook;

/// All CRDs as one YAML stream, in a stable order.
pub fn render_all() -> Result<String, serde_saphyr::SerializeError> {
    let crds = [Playbook::crd(), Incident::crd()];
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use kube::core::cel::validate_cel;
    use serde_json::json;

    use super::*;
    use crate::playbook::detector::{
        Comparison, MemoryLeakSpec, THRESHOLDS_DECREASE_MESSAGE, THRESHOLDS_DECREASE_RULE,
        THRESHOLDS_INCREASE_MESSAGE, THRESHOLDS_INCREASE_RULE,
    };
    use crate::playbook::validate::validate;
    use crate::severity::PerSeverity;

    const DETECTOR: &str =
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/detectors";

    #[test]
    fn the_playbook_crd_orders_thresholds_with_cel_rules_and_bounds_detectors() {
        let crd = serde_json::to_value(Playbook::crd()).expect("crd");
        let detectors = crd.pointer(DETECTOR).expect("detectors schema");
        assert_eq!(
            detectors["maxItems"], 32,
            "bounds the rules' estimated cost"
        );
        assert_eq!(
            detectors["items"]["x-kubernetes-validations"],
            json!([
                {"rule": THRESHOLDS_INCREASE_RULE, "message": THRESHOLDS_INCREASE_MESSAGE, "fieldPath": ".thresholds"},
                {"rule": THRESHOLDS_DECREASE_RULE, "message": THRESHOLDS_DECREASE_MESSAGE, "fieldPath": ".thresholds"},
            ])
        );
        let yaml = render_all().expect("yaml");
        assert!(yaml.contains("self.thresholds.critical > self.thresholds.high"));
        assert!(yaml.contains("self.thresholds.critical < self.thresholds.high"));
    }

    fn thresholds(values: [Option<f64>; 4]) -> PerSeverity<f64> {
        let [low, medium, high, critical] = values;
        PerSeverity {
            low,
            medium,
            high,
            critical,
        }
    }

    /// One row: the first detector's thresholds, comparison and kind.
    struct Row {
        name: &'static str,
        thresholds: [Option<f64>; 4],
        comparison: Option<Comparison>,
        memory_leak: bool,
        /// The rule's message expected to fail, if any.
        fails: Option<&'static str>,
    }

    const fn row(name: &'static str, thresholds: [Option<f64>; 4]) -> Row {
        Row {
            name,
            thresholds,
            comparison: None,
            memory_leak: false,
            fails: None,
        }
    }

    /// The API server's verdict (kube's CEL evaluator), and validate.rs's
    /// verdict on threshold order alone.
    fn verdicts(r: &Row) -> (Result<(), Vec<String>>, bool) {
        let mut pb = Playbook::test();
        let d = &mut pb.spec.detectors[0];
        d.thresholds = thresholds(r.thresholds);
        d.comparison = r.comparison;
        if r.memory_leak {
            d.latency = None;
            d.memory_leak = Some(MemoryLeakSpec::default());
        }
        let cel =
            validate_cel(&pb).map_err(|errors| errors.iter().map(|e| e.message.clone()).collect());
        let ordered = match validate(&pb) {
            Ok(_) => true,
            Err(problems) => !problems.iter().any(|p| {
                p.reason.starts_with("must be greater") || p.reason.starts_with("must be less")
            }),
        };
        (cel, ordered)
    }

    #[test]
    fn cel_rules_accept_and_reject_what_validate_does() {
        let (x, none) = (Some, None::<f64>);
        let rows = [
            row(
                "above, all four increasing",
                [x(1.0), x(2.0), x(3.0), x(4.0)],
            ),
            row("above, gaps increasing", [x(1.0), none, none, x(4.0)]),
            row("above, one threshold", [none, none, x(0.5), none]),
            row("above, none (sloBurnRate-style)", [none, none, none, none]),
            Row {
                fails: Some(THRESHOLDS_INCREASE_MESSAGE),
                ..row("above, high below low", [x(1.0), none, x(0.5), none])
            },
            Row {
                fails: Some(THRESHOLDS_INCREASE_MESSAGE),
                ..row("above, equal", [none, x(2.0), x(2.0), none])
            },
            Row {
                fails: Some(THRESHOLDS_INCREASE_MESSAGE),
                ..row("above, critical lowest", [x(1.0), x(2.0), x(3.0), x(0.5)])
            },
            Row {
                comparison: Some(Comparison::Below),
                ..row("below, decreasing", [x(48.0), x(24.0), x(6.0), x(1.0)])
            },
            Row {
                comparison: Some(Comparison::Below),
                fails: Some(THRESHOLDS_DECREASE_MESSAGE),
                ..row("below, increasing", [x(1.0), none, x(6.0), none])
            },
            Row {
                memory_leak: true,
                ..row(
                    "memoryLeak defaults to below",
                    [x(48.0), none, none, x(1.0)],
                )
            },
            Row {
                memory_leak: true,
                fails: Some(THRESHOLDS_DECREASE_MESSAGE),
                ..row("memoryLeak increasing", [x(1.0), none, none, x(48.0)])
            },
            Row {
                memory_leak: true,
                comparison: Some(Comparison::Above),
                ..row("memoryLeak, explicit above", [x(1.0), none, none, x(48.0)])
            },
        ];
        for r in &rows {
            let (cel, ordered) = verdicts(r);
            let want = r.fails.map_or(Ok(()), |m| Err(vec![m.to_owned()]));
            assert_eq!(cel, want, "{}", r.name);
            assert_eq!(
                cel.is_ok(),
                ordered,
                "{}: CEL and validate.rs disagree",
                r.name
            );
        }
    }

    #[test]
    fn the_shipped_playbooks_pass_the_cel_rules() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        let mut checked = 0;
        for file in std::fs::read_dir(dir).expect("playbooks/") {
            let path = file.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let pb: Playbook = serde_saphyr::from_str(&text).expect("a playbook");
            let verdict = validate_cel(&pb).map_err(|e| e.to_string());
            assert_eq!(verdict, Ok(()), "{}", path.display());
            checked += 1;
        }
        assert!(checked >= 5, "{checked}");
    }

    #[test]
    fn a_detector_without_thresholds_passes_the_rules() {
        // As stored by an API server that did not default `thresholds: {}`.
        let mut object = serde_json::to_value(Playbook::test()).expect("json");
        let detector = object["spec"]["detectors"][0]
            .as_object_mut()
            .expect("object");
        detector.remove("thresholds");
        detector.insert("comparison".into(), json!("below"));
        let crd = serde_json::to_value(Playbook::crd()).expect("crd");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let verdict = kube::core::cel::Validator::new().validate(schema, &object, None);
        assert_eq!(verdict.map_err(|e| e.to_string()), Ok(()));
    }
}
