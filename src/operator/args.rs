//! `firebreak run` flags of the operator mode (the rest are shared with
//! `--standalone`); every flag reads the environment variable the Helm chart sets.

use std::net::SocketAddr;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Operator")]
pub struct OperatorArgs {
    /// Record every action instead of applying it (global dry-run).
    #[arg(long, env = "FIREBREAK_DRY_RUN", default_value_t = false)]
    pub dry_run: bool,
    /// Only the holder of the Lease evaluates and acts (run 2+ replicas with this on).
    #[arg(long, env = "FIREBREAK_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    #[arg(long, env = "FIREBREAK_LEASE_NAME", default_value = "firebreak")]
    pub lease_name: String,
    /// Default: the pod's namespace (`POD_NAMESPACE`).
    #[arg(long, env = "FIREBREAK_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Action kinds this operator may run, comma separated (what its RBAC grants);
    /// others are refused and recorded as failed. Empty: all.
    #[arg(
        long,
        env = "FIREBREAK_ACTIONS",
        value_delimiter = ',',
        value_parser = ["notify", "diagnostics", "rateLimit", "circuitBreaker", "rollback", "scale", "restart"]
    )]
    pub actions: Vec<String>,
    /// Let the diagnostics action run a playbook's `exec` (e.g. a thread dump).
    /// Needs `pods/exec` RBAC, as strong as a shell in the pods; when off, the
    /// rest is captured and the exec is noted as skipped.
    #[arg(long, env = "FIREBREAK_DIAGNOSTICS_EXEC", default_value_t = false)]
    pub diagnostics_exec: bool,
    /// Keep a prometheus-operator `PrometheusRule` recording each valid playbook's
    /// detectors (owned by the Playbook); pair with `--query-mode recorded`.
    #[arg(long, env = "FIREBREAK_RECORDING_RULES", default_value_t = false)]
    pub recording_rules: bool,
    /// Labels of those `PrometheusRule`s (`key=value`, comma separated), for the
    /// Prometheus `ruleSelector`, e.g. `release=kube-prometheus-stack`.
    #[arg(long, env = "FIREBREAK_RECORDING_RULE_LABELS", value_delimiter = ',', value_parser = parse_label)]
    pub recording_rule_labels: Vec<(String, String)>,
    /// Namespaces to watch, comma separated; empty: the whole cluster.
    #[arg(long, env = "FIREBREAK_WATCH_NAMESPACES", value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,
}

/// `key=value`.
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?}: expected key=value"))
}

/// Where the operator serves `/metrics`, `/healthz` and `/readyz` unless `--admin-addr` says.
pub const DEFAULT_ADMIN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8080);

impl OperatorArgs {
    /// Our identity in the Lease: the pod name, else the host name.
    pub fn identity() -> String {
        std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "firebreak".to_owned())
    }

    pub fn lease_namespace(&self) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".to_owned())
    }
}
