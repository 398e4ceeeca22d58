//! The real `firebreak run` binary as the operator, in its own process: its
//! kubeconfig points at the API server stand-in, and it talks to the real
//! Prometheus, the Kafka-protocol broker and the Slack stand-in. It can be
//! SIGKILLed and started again with the same identity (a container restart).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Everything a start of the operator needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub kubeconfig: PathBuf,
    pub prometheus: String,
    pub prometheus_token_file: PathBuf,
    pub kafka_brokers: String,
    pub kafka_topic: String,
    pub outbox_dir: PathBuf,
    /// The Slack Web API root and the token file; `None`: no Slack.
    pub slack: Option<(String, PathBuf)>,
    /// `FIREBREAK_LOG`.
    pub log_filter: String,
    pub log: PathBuf,
    pub extra_args: Vec<String>,
}

pub struct Operator {
    config: Config,
    identity: String,
    pub admin: SocketAddr,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Operator {
    /// Start `firebreak run` as pod `identity`; its stderr (JSON logs) is appended to `config.log`.
    pub fn start(config: Config, identity: &str) -> Operator {
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut op = Operator {
            config,
            identity: identity.to_owned(),
            admin,
            child: None,
        };
        op.spawn();
        op
    }

    fn spawn(&mut self) {
        let c = &self.config;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&c.log)
            .expect("operator log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_firebreak"));
        cmd.args(["run", "--log-json"]);
        if let Some((url, token)) = &c.slack {
            cmd.arg(format!("--slack-api-url={url}"))
                .arg("--slack-token-file")
                .arg(token);
        }
        let child = cmd
            .arg(format!("--admin-addr={}", self.admin))
            .arg(format!("--prometheus={}", c.prometheus))
            .arg("--prometheus-bearer-token-file")
            .arg(&c.prometheus_token_file)
            .args(["--prometheus-timeout", "5s"])
            .args(["--lease-namespace", "firebreak"])
            .arg(format!("--kafka-brokers={}", c.kafka_brokers))
            .arg(format!("--kafka-topic={}", c.kafka_topic))
            .arg("--outbox-dir")
            .arg(&c.outbox_dir)
            .args(["--cluster-name", "e2e"])
            .args(&c.extra_args)
            .env("KUBECONFIG", &c.kubeconfig)
            .env("POD_NAME", &self.identity)
            .env("POD_NAMESPACE", "firebreak")
            .env("FIREBREAK_LOG", &c.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start firebreak run");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown path runs (no Lease release, no outbox flush).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again after [`Self::kill`], same identity and files.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGTERM and wait for the exit (the graceful path).
    pub async fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = c.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..300 {
            if c.try_wait().ok().flatten().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `/metrics` of the admin server (empty while it does not answer).
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin);
        match reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The sum of every sample of metric `name` whose labels contain all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Everything the operator has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.config.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}
