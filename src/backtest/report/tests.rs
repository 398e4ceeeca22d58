//! Whole-document tests: well-formed XML, escaping, shading positions, edge
//! cases and output size.

use std::time::Duration;

use jiff::Timestamp;
use quick_xml::events::Event;

use super::style::{SHADE_OPACITY, fill};
use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn at(second: i64) -> Timestamp {
    ts("2026-03-01T00:00:00Z") + jiff::SignedDuration::from_secs(second)
}

/// 10 hours at 30 s: a wave with a spike, a gap and an incident.
fn panel(playbook: &str, detector: &str, target: &str) -> Panel {
    let points = (0..1200)
        .map(|i| {
            let v = match i {
                300..=330 => None,
                700 => Some(0.31),
                _ => Some(0.04 + 0.02 * (i as f64 / 40.0).sin()),
            };
            (at(i * 30), v)
        })
        .collect();
    Panel {
        playbook: playbook.to_owned(),
        detector: detector.to_owned(),
        target: target.to_owned(),
        comparison: Comparison::Above,
        thresholds: vec![
            (Severity::Medium, 0.05),
            (Severity::High, 0.1),
            (Severity::Critical, 0.2),
        ],
        points,
        incidents: vec![IncidentWindow {
            id: "inc-1".to_owned(),
            opened: at(2 * 3600),
            resolved: Some(at(5 * 3600)),
            severities: vec![
                (at(2 * 3600), Severity::Medium),
                (at(3 * 3600), Severity::High),
            ],
        }],
    }
}

fn report(panels: Vec<Panel>) -> Report {
    Report {
        title: "Backtest 2026-03-01".to_owned(),
        from: at(0),
        to: at(10 * 3600),
        step: Duration::from_secs(30),
        summary: vec![
            ("incidents opened".to_owned(), "1".to_owned()),
            ("actions".to_owned(), "2".to_owned()),
        ],
        incidents: vec![IncidentRow {
            id: "inc-1".to_owned(),
            playbook: "shop/checkout-slo".to_owned(),
            target: "shop/checkout".to_owned(),
            opened: at(2 * 3600),
            resolved: Some(at(5 * 3600 + 150)),
            peak: Severity::High,
            actions: vec!["rateLimit (high)".to_owned(), "notify (medium)".to_owned()],
            detection_delay: Some(Duration::from_secs(150)),
            lead_time: None,
        }],
        panels,
    }
}

fn sample() -> Report {
    report(vec![panel(
        "shop/checkout-slo",
        "error-ratio",
        "shop/checkout",
    )])
}

/// What a document holds once parsed as XML.
#[derive(Default)]
struct Parsed {
    /// Element name and attributes (unescaped), in document order.
    elements: Vec<(String, Vec<(String, String)>)>,
    /// All character data, unescaped.
    text: String,
}

impl Parsed {
    fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [(String, String)]> {
        self.elements
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, a)| a.as_slice())
    }
}

/// Parses `doc` as XML, panicking on anything not well-formed: mismatched or
/// unclosed tags, bad attributes, unknown entities, several roots.
fn parse(doc: &str) -> Parsed {
    let mut reader = quick_xml::Reader::from_str(doc);
    reader.config_mut().check_end_names = true;
    let mut parsed = Parsed::default();
    let (mut depth, mut roots) = (0usize, 0usize);
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let start = match &event {
            Event::Start(e) | Event::Empty(e) => Some(e),
            _ => None,
        };
        if let Some(e) = start {
            if depth == 0 {
                roots += 1;
            }
            let attrs = e
                .attributes()
                .map(|a| {
                    let a = a.expect("attribute");
                    let key = a.key.as_ref().to_owned();
                    (
                        key,
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .expect("attribute value")
                            .into_owned(),
                    )
                })
                .collect();
            let name = e.name().as_ref().to_owned();
            parsed.elements.push((name, attrs));
        }
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.checked_sub(1).expect("balanced tags"),
            Event::Text(t) => parsed.text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().expect("char ref") {
                    Some(c) => c,
                    None => match r.xml10_content().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("entity &{other}; is not defined in XML"),
                    },
                };
                parsed.text.push(c);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unclosed elements");
    assert_eq!(roots, 1, "one root element");
    parsed
}

/// Each top-level `<svg>…</svg>` inside the HTML page.
fn inline_svgs(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("closed svg") + start + "</svg>".len();
        found.push(&rest[start..end]);
        rest = &rest[end..];
    }
    found
}

#[test]
fn svg_document_is_well_formed_xml() {
    let doc = render_svg(&sample());
    let parsed = parse(&doc);
    assert_eq!(parsed.elements[0].0, "svg");
    assert_eq!(parsed.named("svg").count(), 2, "document and one panel");
    assert!(parsed.text.contains("Backtest 2026-03-01"));
    assert!(parsed.text.contains("incidents opened"));
    assert!(parsed.text.contains("high ≥ 0.1"));
}

#[test]
fn html_is_well_formed_xml_and_each_svg_parses_alone() {
    let page = render_html(&report(vec![
        panel("shop/checkout-slo", "error-ratio", "shop/checkout"),
        panel("shop/checkout-slo", "latency", "shop/cart"),
        panel("web/frontend", "error-ratio", "web/frontend"),
    ]));
    let parsed = parse(&page);
    assert_eq!(parsed.named("svg").count(), 4, "legend and three panels");
    let svgs = inline_svgs(&page);
    assert_eq!(svgs.len(), 4);
    for svg in svgs {
        parse(svg);
    }
    // Grouped by playbook, then target, with anchors the incident links to.
    assert_eq!(parsed.named("h3").count(), 2);
    assert_eq!(parsed.named("h4").count(), 3);
    let links: Vec<&str> = parsed
        .named("a")
        .filter_map(|a| Parsed::attr(a, "href"))
        .collect();
    assert_eq!(links, ["#pb0-0", "#pb0", "#pb1"], "incident, then nav");
    assert!(!page.contains("<script"), "no JavaScript");
    assert!(
        !page.contains("http") && !page.contains("src="),
        "no external resources"
    );
}

#[test]
fn names_with_markup_render_as_text() {
    let evil = r#"<script>alert("x")</script> & co"#;
    let mut r = report(vec![panel(evil, evil, evil)]);
    r.title = evil.to_owned();
    r.summary.push((evil.to_owned(), evil.to_owned()));
    r.incidents[0].playbook = evil.to_owned();
    r.incidents[0].actions.push(evil.to_owned());
    r.panels[0].incidents[0].id = evil.to_owned();
    for doc in [render_html(&r), render_svg(&r)] {
        assert!(!doc.contains("<script"), "markup leaked");
        assert!(doc.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
        let parsed = parse(&doc);
        assert!(
            parsed.text.matches(evil).count() >= 5,
            "names readable as text"
        );
    }
}

#[test]
fn incident_window_shades_each_severity_segment_at_its_x() {
    let parsed = parse(&render_svg(&sample()));
    let shades: Vec<(String, String, String)> = parsed
        .named("rect")
        .filter(|a| Parsed::attr(a, "fill-opacity") == Some(SHADE_OPACITY))
        .map(|a| {
            let get = |k| Parsed::attr(a, k).unwrap_or_default().to_owned();
            (get("x"), get("width"), get("fill"))
        })
        .collect();
    // 10 h over 784 px from x = 64: 02:00 -> 220.8, 03:00 -> 299.2, 05:00 -> 456.
    assert_eq!(
        shades,
        [
            ("220.8".into(), "78.4".into(), fill(Severity::Medium).into()),
            ("299.2".into(), "156.8".into(), fill(Severity::High).into()),
        ]
    );
    assert!(
        parsed
            .text
            .contains("inc-1 · high · from 2026-03-01 03:00 · resolved 2026-03-01 05:00")
    );
}

#[test]
fn open_incident_shades_to_the_right_edge_and_outside_ones_are_skipped() {
    let mut p = panel("pb", "d", "t");
    p.incidents = vec![
        IncidentWindow {
            id: "open".to_owned(),
            opened: at(9 * 3600),
            resolved: None,
            severities: vec![(at(9 * 3600), Severity::Critical)],
        },
        IncidentWindow {
            id: "before".to_owned(),
            opened: at(-7200),
            resolved: Some(at(-3600)),
            severities: vec![],
        },
    ];
    let parsed = parse(&render_svg(&report(vec![p])));
    let shades: Vec<(String, String)> = parsed
        .named("rect")
        .filter(|a| Parsed::attr(a, "fill-opacity") == Some(SHADE_OPACITY))
        .map(|a| {
            let get = |k| Parsed::attr(a, k).unwrap_or_default().to_owned();
            (get("x"), get("width"))
        })
        .collect();
    assert_eq!(shades, [("769.6".to_owned(), "78.4".to_owned())]);
    assert!(parsed.text.contains("open at end"));
}

#[test]
fn edge_case_series_render() {
    let mut gaps = panel("pb", "all-gaps", "t");
    gaps.points
        .iter_mut()
        .for_each(|p| p.1 = if p.0 == at(0) { Some(f64::NAN) } else { None });
    gaps.thresholds.clear();
    let mut single = panel("pb", "single", "t");
    single.points = vec![(at(3600), Some(-2.5e9))];
    let mut flat = panel("pb", "flat", "t");
    flat.points.iter_mut().for_each(|p| p.1 = Some(0.0));
    flat.thresholds = vec![(Severity::Low, -1e-6), (Severity::High, 5e12)];
    flat.comparison = Comparison::Below;
    let doc = render_svg(&report(vec![gaps, single, flat]));
    let parsed = parse(&doc);
    assert_eq!(parsed.text.matches("no data").count(), 1);
    assert_eq!(parsed.named("circle").count(), 1, "a lone sample is a dot");
    assert!(parsed.text.contains("high ≤ 5T") && parsed.text.contains("low ≤ -1e-6"));
    assert!(!doc.contains("NaN") && !doc.contains("inf"));
}

#[test]
fn gaps_split_the_series_path() {
    let parsed = parse(&render_svg(&sample()));
    let series = parsed
        .named("path")
        .find(|a| Parsed::attr(a, "fill") == Some("none"))
        .and_then(|a| Parsed::attr(a, "d"))
        .expect("series path")
        .to_owned();
    assert_eq!(series.matches('M').count(), 2, "one gap, two sub-paths");
}

#[test]
fn incident_table_shows_durations() {
    let parsed = parse(&render_html(&sample()));
    for want in ["2m30s", "3h2m30s", "—", "rateLimit (high), notify (medium)"] {
        assert!(parsed.text.contains(want), "{want}");
    }
}

#[test]
fn output_is_deterministic() {
    let r = sample();
    assert_eq!(render_html(&r), render_html(&r));
    assert_eq!(render_svg(&r), render_svg(&r));
}

#[test]
fn week_at_30s_over_400_panels_stays_small() {
    // 7 days at 30 s = 20,160 points; noisy so that no column collapses.
    let from = at(0);
    let points: Vec<(Timestamp, Option<f64>)> = (0..20_160)
        .map(|i: i64| {
            let noise = ((i * 7919) % 1000) as f64 / 1000.0;
            (
                from + jiff::SignedDuration::from_secs(i * 30),
                Some(noise * 1e4),
            )
        })
        .collect();
    let mut r = sample();
    r.to = from + jiff::SignedDuration::from_secs(7 * 86_400);
    r.panels = (0..400)
        .map(|i| {
            let mut p = panel(
                "pb",
                &format!("detector-{i}"),
                &format!("ns/target-{}", i % 40),
            );
            p.points = points.clone();
            p
        })
        .collect();
    let html = render_html(&r);
    let svg = render_svg(&r);
    assert!(html.len() < 10_000_000, "html is {} bytes", html.len());
    assert!(svg.len() < 10_000_000, "svg is {} bytes", svg.len());
}
