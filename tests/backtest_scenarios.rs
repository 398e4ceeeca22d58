//! The replay scenarios, loaded into a real Prometheus as history, give the same
//! timeline through `backtest` (range queries, chunked) as through `replay`.

mod support;

use std::collections::BTreeSet;

use firebreak::backtest::{self, Options};
use firebreak::detect::file_source::FileSource;
use firebreak::detect::prometheus::{PrometheusArgs, PrometheusSource};
use firebreak::replay::{Format, ReplayArgs, SCENARIOS, load_playbooks, replay_scenario};
use firebreak::runner::QueryMode;
use indicatif::ProgressBar;
use support::prometheus::Prometheus;

fn replay_args() -> ReplayArgs {
    ReplayArgs {
        scenarios: Vec::new(),
        playbooks: None,
        output: Format::Json,
        out: None,
        step: None,
        kill_switch: false,
    }
}

/// All scenarios in one OpenMetrics document (one TYPE line for the shared family).
fn all_scenarios() -> String {
    let mut text = String::from("# TYPE firebreak_signal gauge\n");
    for (_, scenario) in SCENARIOS {
        for line in scenario.lines() {
            if !line.starts_with('#') && !line.trim().is_empty() {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_gives_the_same_timeline_through_backtest_as_through_replay() {
    let prom = Prometheus::builder()
        .backfill(all_scenarios())
        .start()
        .await;
    let source = PrometheusSource::new(&PrometheusArgs::for_url(prom.url())).unwrap();
    let shipped = load_playbooks(None).unwrap();
    for (name, text) in SCENARIOS {
        let replayed = replay_scenario(name, text, &shipped, &replay_args())
            .await
            .unwrap();
        assert!(!replayed.is_empty(), "{name}: empty replay");
        // Backtest the playbooks this scenario exercises, over the scenario's span.
        let ids: BTreeSet<String> = replayed
            .iter()
            .map(|e| e.event.playbook.to_string())
            .collect();
        let playbooks: Vec<_> = shipped
            .iter()
            .filter(|pb| ids.contains(&pb.id.to_string()))
            .cloned()
            .collect();
        let (from, to) = FileSource::parse(text).unwrap().span().unwrap();
        // Small chunks, so that chunk boundaries fall inside the incidents.
        for max_points in [backtest::DEFAULT_MAX_POINTS, 97] {
            let opts = Options {
                from,
                to,
                step: None,
                mode: QueryMode::Recorded,
                max_points,
                keep_series: false,
            };
            let result =
                backtest::backtest(&source, &playbooks, &opts, &ProgressBar::hidden()).await;
            assert_eq!(
                result.entries.len(),
                replayed.len(),
                "{name} (max_points {max_points}): different number of timeline entries"
            );
            for (i, (b, r)) in result.entries.iter().zip(&replayed).enumerate() {
                assert_eq!(b, r, "{name} (max_points {max_points}): entry {i} differs");
            }
            let opened = replayed
                .iter()
                .filter(|e| {
                    matches!(
                        e.event.kind,
                        firebreak::engine::EventKind::IncidentOpened { .. }
                    )
                })
                .count();
            assert_eq!(result.summary.incidents_opened, opened, "{name}");
        }
    }
}
