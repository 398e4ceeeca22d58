//! What the Slack messages need from a playbook, taken when notices are
//! published (the delivery task never sees the playbook itself), and the
//! links to Prometheus and Grafana they carry.

use reqwest::Url;

use crate::notify::Notice;
use crate::playbook::detector::Comparison;
use crate::playbook::model::Playbook;
use crate::playbook::promql;
use crate::playbook::spec::SlackRoute;
use crate::severity::{PerSeverity, Severity};

/// The Slack-relevant part of a playbook.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaybookView {
    pub routes: PerSeverity<SlackRoute>,
    pub detectors: Vec<DetectorView>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DetectorView {
    pub name: String,
    pub comparison: Comparison,
    /// The detector's batched query, as the operator runs it.
    pub promql: String,
}

impl PlaybookView {
    pub fn of(pb: &Playbook) -> Self {
        PlaybookView {
            routes: pb.notify.clone(),
            detectors: pb
                .detectors
                .iter()
                .map(|d| DetectorView {
                    name: d.name.clone(),
                    comparison: d.comparison,
                    promql: promql::render(d, &pb.target, &pb.id.namespace),
                })
                .collect(),
        }
    }

    /// Same rule as [`Playbook::route_for`]: a severity's own route, else the nearest lower one.
    pub fn route_for(&self, severity: Severity) -> Option<&SlackRoute> {
        Severity::ALL
            .into_iter()
            .rev()
            .filter(|s| *s <= severity)
            .find_map(|s| self.routes.get(s))
    }

    pub fn detector(&self, name: &str) -> Option<&DetectorView> {
        self.detectors.iter().find(|d| d.name == name)
    }
}

/// Where people click through to; both optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Links {
    /// Prometheus as people reach it (not the in-cluster Service URL).
    pub prometheus: Option<Url>,
    /// A Grafana dashboard taking `var-namespace` and `var-workload`.
    pub grafana: Option<Url>,
}

impl Links {
    /// The Prometheus graph of `expr` over the last hour.
    pub fn graph(&self, expr: &str) -> Option<String> {
        let mut url = self.prometheus.clone()?;
        let path = format!("{}/graph", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut()
            .clear()
            .append_pair("g0.expr", expr)
            .append_pair("g0.tab", "0")
            .append_pair("g0.range_input", "1h");
        Some(url.into())
    }

    /// The dashboard for the incident's workload, from 15 minutes before it opened
    /// to 15 minutes after it resolved (or now).
    pub fn dashboard(&self, n: &Notice) -> Option<String> {
        let mut url = self.grafana.clone()?;
        let margin = 15 * 60 * 1000;
        let from = n.opened_at.as_millisecond() - margin;
        let to = match (n.phase.as_str(), n.duration_seconds) {
            ("resolved", Some(d)) => (from + margin + d * 1000 + margin).to_string(),
            _ => "now".to_owned(),
        };
        url.query_pairs_mut()
            .append_pair("var-namespace", &n.target.namespace)
            .append_pair("var-workload", &n.target.name)
            .append_pair("from", &from.to_string())
            .append_pair("to", &to);
        Some(url.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_link_encodes_the_query() {
        let links = Links {
            prometheus: Url::parse("https://prom.example.com/prometheus/").ok(),
            grafana: None,
        };
        let url = links.graph(r#"sum by (workload) (rate(x{code=~"5.."}[5m])) > 1"#);
        assert_eq!(
            url.as_deref(),
            Some(
                "https://prom.example.com/prometheus/graph?g0.expr=sum+by+%28workload%29+%28rate%28x%7Bcode%3D%7E%225..%22%7D%5B5m%5D%29%29+%3E+1&g0.tab=0&g0.range_input=1h"
            )
        );
        assert_eq!(Links::default().graph("up"), None);
    }
}
