//! Everything an end-to-end run needs, started on loopback: a real Prometheus
//! scraping the synthetic workloads every second, a real Kafka-protocol broker
//! (tansu), the Slack stand-in, the Kubernetes API server stand-in seeded with
//! the workloads and playbooks, and the operator process.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster;
use super::operator::{Config, Operator};
use super::synth::{Synth, Workload};
use crate::support::apiserver::{ApiServer, Request};
use crate::support::kafka::{self, Broker, Consumed};
use crate::support::prometheus::Prometheus;
use crate::support::slack_server::{self, SlackServer};

/// Secrets the operator is given; none may ever show up in what it writes.
pub const KUBE_TOKEN: &str = "kube-e2e-4b1d6f0c9e2a7358";
pub const PROMETHEUS_TOKEN: &str = "prom-e2e-8c3a5e7f1b9d2046";
pub const SCRAPE: Duration = Duration::from_secs(1);

pub struct World {
    pub dir: tempfile::TempDir,
    pub prom: Prometheus,
    pub synth: Synth,
    pub broker: Broker,
    pub slack: SlackServer,
    pub api: ApiServer,
    pub config: Config,
    pub operator: Option<Operator>,
    /// Last, so it is released after everything above has stopped.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One world at a time per test binary: each runs the operator, Prometheus, a
/// broker and the stand-ins on time-compressed playbooks, and two of them on
/// two cores starve each other's timing (a flaky test, not a finding).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl World {
    /// Start every service with `workloads` in the cluster (labelled with
    /// `labels[i]`, the matching playbook's selector) and `playbooks` applied.
    pub async fn start(workloads: Vec<(Workload, Value)>, playbooks: &[Value]) -> World {
        let turn = ONE_AT_A_TIME.lock().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let api = ApiServer::start(KUBE_TOKEN).await;
        cluster::serve_action_groups(&api);
        for (w, labels) in &workloads {
            cluster::add_workload(&api, w, labels);
        }
        for pb in playbooks {
            cluster::add_playbook(&api, pb);
        }
        let synth = Synth::start(workloads.into_iter().map(|(w, _)| w).collect()).await;
        let prom = Prometheus::builder()
            .scrape(&synth.target, SCRAPE)
            .start()
            .await;
        prom.wait_for_data("up == 1", Duration::from_secs(30)).await;
        let broker = Broker::start().await;
        let slack = SlackServer::start().await;
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write a secret file");
            path
        };
        let config = Config {
            kubeconfig: api.kubeconfig(dir.path(), "firebreak"),
            prometheus: prom.url(),
            prometheus_token_file: write("prometheus-token", PROMETHEUS_TOKEN),
            kafka_brokers: broker.bootstrap(),
            kafka_topic: "firebreak.incidents".to_owned(),
            outbox_dir: dir.path().join("outbox"),
            slack: Some((
                slack.api_url.clone(),
                write("slack-token", slack_server::TOKEN),
            )),
            log_filter: "info".to_owned(),
            log: dir.path().join("operator.log"),
            extra_args: Vec::new(),
        };
        World {
            dir,
            prom,
            synth,
            broker,
            slack,
            api,
            config,
            operator: None,
            _turn: turn,
        }
    }

    /// Start the operator (pod `firebreak-0`) and wait until it holds the Lease.
    pub async fn start_operator(&mut self) {
        self.operator = Some(Operator::start(self.config.clone(), "firebreak-0"));
        self.wait_until(
            "the operator holds the Lease",
            Duration::from_secs(30),
            |w| w.lease_holder().as_deref() == Some("firebreak-0"),
        )
        .await;
    }

    pub fn operator(&mut self) -> &mut Operator {
        self.operator.as_mut().expect("operator started")
    }

    pub fn lease_holder(&self) -> Option<String> {
        let lease = self.api.get(
            "/apis/coordination.k8s.io/v1/leases",
            "firebreak",
            "firebreak",
        )?;
        lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
    }

    /// Poll `done` every 200 ms; panics after `timeout` with the operator's last log lines.
    pub async fn wait_until(&self, what: &str, timeout: Duration, done: impl Fn(&World) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if Instant::now() > deadline {
                let log = self
                    .operator
                    .as_ref()
                    .map(Operator::log)
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; operator log (newest first):\n{}",
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The Incidents of `namespace`, oldest first.
    pub fn incidents(&self, namespace: &str) -> Vec<Value> {
        let mut all: Vec<Value> = self
            .api
            .list(cluster::INCIDENTS)
            .into_iter()
            .filter(|i| i["metadata"]["namespace"] == namespace)
            .collect();
        all.sort_by_key(|i| {
            i["metadata"]["creationTimestamp"]
                .as_str()
                .map(str::to_owned)
        });
        all
    }

    /// Requests that change the workloads or their traffic (the actions), in order:
    /// not Firebreak's own records (Incidents, Playbook status, Events, the Lease,
    /// diagnostics ConfigMaps).
    pub fn action_requests(&self, namespace: &str) -> Vec<Request> {
        self.api
            .requests()
            .into_iter()
            .filter(|r| r.is_write() && r.path.contains(&format!("/namespaces/{namespace}/")))
            .filter(|r| {
                ![
                    "/incidents",
                    "/playbooks",
                    "/events",
                    "/leases",
                    "/configmaps",
                ]
                .iter()
                .any(|own| r.path.contains(own))
            })
            .collect()
    }

    /// Every event on the topic so far (read from the beginning by a new consumer).
    pub async fn events(&self, at_least: usize, timeout: Duration) -> Vec<Consumed> {
        kafka::consume(
            &self.broker.bootstrap(),
            &self.config.kafka_topic,
            at_least,
            timeout,
        )
        .await
    }

    pub fn log_path(&self) -> PathBuf {
        self.config.log.clone()
    }
}
