//! The `firebreak` command: wires the CLI to the library. No logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "firebreak",
    version,
    about = "Automated incident response for Kubernetes"
)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "FIREBREAK_LOG", default_value = "warn", global = true)]
    log: String,
    /// Log as JSON lines instead of text.
    #[arg(
        long,
        env = "FIREBREAK_LOG_JSON",
        default_value_t = false,
        global = true
    )]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay a recorded scenario through the engine (dry-run) and print the timeline.
    Replay(firebreak::replay::ReplayArgs),
    /// Run the engine live against Prometheus. `--standalone`: playbooks from files,
    /// actions in dry-run, the timeline printed as it happens (shadow mode).
    Run(Box<firebreak::standalone::RunArgs>),
    /// Replay playbooks over Prometheus history (dry-run) and report what they would have done.
    Backtest(Box<firebreak::backtest::BacktestArgs>),
    /// Validate playbook files; exits non-zero and lists every problem if any is invalid.
    Validate {
        /// Playbook files or directories (searched recursively for *.yaml, *.yml).
        #[arg(default_value = "playbooks")]
        paths: Vec<PathBuf>,
        /// Also print the PromQL query each detector runs.
        #[arg(long)]
        queries: bool,
    },
    /// Print Prometheus recording rules for the playbooks' detectors (`--query-mode recorded`).
    Rules {
        /// Playbook files or directories (searched recursively for *.yaml, *.yml).
        #[arg(default_value = "playbooks")]
        paths: Vec<PathBuf>,
        /// A rule file, or prometheus-operator `PrometheusRule` objects.
        #[arg(long, value_enum, default_value_t = firebreak::playbook::cli::RulesFormat::File)]
        format: firebreak::playbook::cli::RulesFormat,
        /// Rules for `promtool tsdb create-blocks-from rules`, which evaluates each
        /// rule on its own: every rule maps pods to workloads itself instead of
        /// reading the mapping its group records first. Same values, more work.
        #[arg(long)]
        backfill: bool,
        /// Labels for the `PrometheusRule` objects (`key=value`), for Prometheus' `ruleSelector`.
        #[arg(long = "label", value_parser = firebreak::operator::args::parse_label)]
        labels: Vec<(String, String)>,
    },
    /// Print the CustomResourceDefinitions generated from the Rust types.
    Crd,
    /// Incident events on Kafka: follow them, or print their JSON Schema.
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// Print the incident events on the topic as subscribers receive them.
    Tail(Box<firebreak::notify::kafka::tail::TailArgs>),
    /// Print the JSON Schema of the event payload (`schemas/incident-event.v1.json`).
    Schema,
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    firebreak::telemetry::init_logging(&cli.log, cli.log_json)?;
    match cli.command {
        Command::Replay(args) => {
            let stdout = std::io::stdout();
            firebreak::replay::run(&args, &mut stdout.lock()).context("replay failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let mut stdout = std::io::stdout();
            runtime
                .block_on(firebreak::standalone::run(&args, &mut stdout))
                .context("run failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backtest(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let mut stdout = std::io::stdout();
            runtime
                .block_on(firebreak::backtest::run(&args, &mut stdout))
                .context("backtest failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { paths, queries } => {
            let ok = firebreak::playbook::cli::validate_paths(
                &paths,
                queries,
                &mut std::io::stdout().lock(),
            )?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Rules {
            paths,
            format,
            backfill,
            labels,
        } => {
            use firebreak::playbook::rules::Layout;
            let ok = firebreak::playbook::cli::render_rules(
                &paths,
                format,
                if backfill {
                    Layout::SelfContained
                } else {
                    Layout::Shared
                },
                &labels.into_iter().collect(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Crd => {
            print!("{}", firebreak::crd::render_all()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Events(EventsCommand::Tail(args)) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let mut stdout = std::io::stdout();
            runtime
                .block_on(firebreak::notify::kafka::tail::tail(&args, &mut stdout))
                .context("events tail failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Events(EventsCommand::Schema) => {
            let schema = firebreak::notify::notice::json_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn diagnostics_exec_is_off_unless_asked_for() {
        use clap::Parser;
        let exec = |args: &[&str]| match super::Cli::try_parse_from(args).map(|c| c.command) {
            Ok(super::Command::Run(run)) => run.operator.diagnostics_exec,
            other => panic!("{other:?}"),
        };
        assert!(!exec(&["firebreak", "run"]));
        assert!(exec(&["firebreak", "run", "--diagnostics-exec"]));
    }
}
