//! The live half in recorded mode: the same detectors recorded by Prometheus,
//! in two rule layouts measured in turn (twice each, so that drift weighs on
//! both): `firebreak rules` (one group per playbook, the pod mapping recorded
//! first and shared) and, as the same-run baseline, the layout it replaced (one
//! group per detector, each rule mapping pods itself).

use std::time::Duration;

use firebreak::detect::prometheus::PrometheusSource;
use firebreak::playbook::model::Playbook;
use firebreak::playbook::rules::{Layout, RuleFile, RuleGroup, rule_file};
use firebreak::runner::QueryMode;

use super::prometheus::Prometheus;
use super::{LIVE_WORKLOADS, cycles, standalone_rss, time_queries};

const ROUNDS: usize = 2;

/// One group per detector, each rule self-contained: the layout before the
/// mapping was shared.
fn per_detector_groups(pb: &Playbook) -> RuleFile {
    let groups = rule_file([pb], Layout::SelfContained).groups;
    RuleFile {
        groups: groups
            .into_iter()
            .flat_map(|g| {
                let (name, interval) = (g.name, g.interval);
                g.rules.into_iter().map(move |rule| RuleGroup {
                    name: format!("{name}/{}", rule.labels["detector"]),
                    interval: interval.clone(),
                    rules: vec![rule],
                })
            })
            .collect(),
    }
}

pub async fn recorded_half(prom: &Prometheus, src: &PrometheusSource, pb: &Playbook) {
    let layouts = [
        (
            "one group per detector, each mapping pods itself (before)",
            per_detector_groups(pb),
        ),
        (
            "`firebreak rules`: one group, the pod mapping recorded first",
            rule_file([pb], Layout::Shared),
        ),
    ];
    println!(
        "  query mode recorded (rules at the playbook's interval, {}), {ROUNDS} rounds:",
        pb.interval
    );
    for round in 1..=ROUNDS {
        for (label, file) in &layouts {
            prom.set_rules(&serde_saphyr::to_string(file).expect("rules YAML"))
                .await;
            wait_for_fresh_signals(prom, pb).await;
            println!("   round {round}, {label}:");
            cycles(prom, pb, QueryMode::Recorded).await;
            if round == ROUNDS {
                println!(
                    "    baseline: each query alone, p50: {}",
                    time_queries(src, pb, QueryMode::Recorded).await
                );
            }
            print_rule_groups(prom, pb).await;
        }
    }
    standalone_rss(prom, QueryMode::Recorded).await;
}

/// Until every detector has a value per workload and every group of the newly
/// loaded rules has evaluated at least twice (the second one at steady state).
async fn wait_for_fresh_signals(prom: &Prometheus, pb: &Playbook) {
    for d in &pb.detectors {
        prom.wait_for_data(
            &format!(
                "count(firebreak_signal{{detector=\"{}\"}}) >= {LIVE_WORKLOADS}",
                d.name
            ),
            Duration::from_secs(300),
        )
        .await;
    }
    tokio::time::sleep(2 * pb.interval.as_std()).await;
}

async fn print_rule_groups(prom: &Prometheus, pb: &Playbook) {
    let groups = prom.rule_groups().await;
    let total: f64 = groups.iter().map(|g| g.seconds).sum();
    let each: Vec<String> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| match &r.error {
            Some(e) => format!("{} {:.2} s ({e})", r.name, r.seconds),
            None => format!("{} {:.2} s", r.name, r.seconds),
        })
        .collect();
    println!(
        "    in Prometheus: {} group(s), last evaluations {total:.2} s in all every {}: {}",
        groups.len(),
        pb.interval,
        each.join(", ")
    );
}
