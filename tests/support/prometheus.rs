//! A real Prometheus for integration tests: its own process on 127.0.0.1, its own
//! temporary data dir and generated config, killed on drop.
//!
//! Data comes from history backfilled before start (`promtool tsdb
//! create-blocks-from openmetrics`) and/or a [`ScrapeTarget`] whose text the test
//! replaces while Prometheus runs. `stop` and `restart` (same port, same data
//! dir) simulate an outage mid-run.
//!
//! Needs `prometheus` and `promtool` on PATH (Debian: `apt-get install -y
//! prometheus`). Uses only crates Firebreak depends on, so benches can include
//! it with `#[path = "../tests/support/prometheus.rs"] mod prometheus;`.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_http_query::response::InstantVector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How long Prometheus may take to answer `/-/ready` or to shut down.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// What the Prometheus under test starts with.
#[derive(Default)]
pub struct Builder {
    history: Vec<String>,
    blocks: Vec<PathBuf>,
    scrape: Option<(SocketAddr, Duration)>,
    rules: Option<String>,
    alertmanager: Option<SocketAddr>,
}

impl Builder {
    /// Backfill OpenMetrics text (timestamps in seconds) before start; `# EOF`
    /// is appended when missing. Retention is 100y, so old history stays.
    pub fn backfill(mut self, openmetrics: impl Into<String>) -> Self {
        let mut text = openmetrics.into();
        if !text.trim_end().ends_with("# EOF") {
            text.push_str("# EOF\n");
        }
        self.history.push(text);
        self
    }

    /// Copy TSDB blocks made earlier by [`create_blocks`] (e.g. a bench's cache).
    pub fn blocks(mut self, dir: impl Into<PathBuf>) -> Self {
        self.blocks.push(dir.into());
        self
    }

    /// Scrape `target` every `interval` with `honor_labels` and `honor_timestamps`,
    /// so the scraped text decides every label and, when given, the timestamps.
    pub fn scrape(mut self, target: &ScrapeTarget, interval: Duration) -> Self {
        self.scrape = Some((target.addr(), interval));
        self
    }

    /// Load `rules` (a rule file's YAML, whose groups state their own `interval`)
    /// and send alerts to the Alertmanager at `alertmanager`.
    pub fn alerting(mut self, rules: impl Into<String>, alertmanager: SocketAddr) -> Self {
        self.rules = Some(rules.into());
        self.alertmanager = Some(alertmanager);
        self
    }

    /// Load `rules` (a rule file's YAML), e.g. recording rules.
    pub fn rules(mut self, rules: impl Into<String>) -> Self {
        self.rules = Some(rules.into());
        self
    }

    /// Backfill, write the config, start Prometheus and wait until it is ready.
    pub async fn start(self) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir for Prometheus");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("create the data dir");
        for (i, text) in self.history.iter().enumerate() {
            let file = dir.path().join(format!("history-{i}.om"));
            std::fs::write(&file, text).expect("write the OpenMetrics history");
            create_blocks(&file, &data);
        }
        for src in &self.blocks {
            copy_dir(src, &data);
        }
        let config = dir.path().join("prometheus.yml");
        let mut yaml = config_yaml(self.scrape);
        // Always a rule file, so that `set_rules` can load rules later.
        let rules = dir.path().join("rules.yml");
        std::fs::write(&rules, self.rules.as_deref().unwrap_or("groups: []\n"))
            .expect("write rules.yml");
        yaml.push_str(&format!("rule_files: [\"{}\"]\n", rules.display()));
        if let Some(am) = self.alertmanager {
            yaml.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{am}\"]\n"
            ));
        }
        std::fs::write(&config, yaml).expect("write prometheus.yml");

        let mut prom = Prometheus {
            port: free_port(),
            log: dir.path().join("prometheus.log"),
            rules,
            config,
            data,
            child: None,
            _dir: dir,
        };
        // A free port can be taken between probing and Prometheus' bind: retry.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match prom.spawn_and_wait().await {
                Ok(()) => return prom,
                Err(e) if attempts < 3 && e.contains("address already in use") => {
                    prom.port = free_port();
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// `promtool tsdb create-blocks-from openmetrics FILE OUT`; panics with its output on failure.
pub fn create_blocks(file: &std::path::Path, out: &std::path::Path) {
    let output = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(file)
        .arg(out)
        .output()
        .expect("run promtool (apt-get install -y prometheus)");
    assert!(
        output.status.success(),
        "promtool create-blocks-from openmetrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `promtool tsdb create-blocks-from rules`: evaluate the recording rules in
/// `rules` against the Prometheus at `url` from `start` to `end` (Unix seconds)
/// every `step`, writing TSDB blocks under `out` (what users run to backfill
/// new recording rules over history). Panics with promtool's output on failure.
pub fn create_blocks_from_rules(
    url: &str,
    rules: &std::path::Path,
    (start, end): (i64, i64),
    step: Duration,
    out: &std::path::Path,
) {
    let output = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "rules"])
        .arg(format!("--url={url}"))
        .arg(format!("--start={start}"))
        .arg(format!("--end={end}"))
        .arg(format!("--eval-interval={}s", step.as_secs()))
        .arg(format!("--output-dir={}", out.display()))
        .arg(rules)
        .output()
        .expect("run promtool (apt-get install -y prometheus)");
    assert!(
        output.status.success(),
        "promtool create-blocks-from rules failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).expect("create block dir");
    for entry in std::fs::read_dir(src).expect("read block cache") {
        let entry = entry.expect("block cache entry");
        let to = dst.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).expect("copy block file");
        }
    }
}

fn config_yaml(scrape: Option<(SocketAddr, Duration)>) -> String {
    let Some((addr, interval)) = scrape else {
        return "global:\n  scrape_interval: 1m\n".to_owned();
    };
    let every = format!("{}ms", interval.as_millis());
    format!(
        r#"global:
  scrape_interval: {every}
  scrape_timeout: {every}
scrape_configs:
  - job_name: test
    honor_labels: true
    honor_timestamps: true
    static_configs:
      - targets: ["{addr}"]
"#
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("probe a free port")
}

/// A rule group's last evaluation (`/api/v1/rules`).
pub struct GroupEvaluation {
    pub name: String,
    pub seconds: f64,
    pub rules: Vec<RuleEvaluation>,
}

pub struct RuleEvaluation {
    pub name: String,
    pub seconds: f64,
    pub error: Option<String>,
}

/// A running (or stopped) Prometheus; killed on drop.
pub struct Prometheus {
    port: u16,
    log: PathBuf,
    rules: PathBuf,
    config: PathBuf,
    data: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Base URL of the HTTP API, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Graceful shutdown (`POST /-/quit`, so the WAL is flushed), then wait for
    /// the process to exit; killed if it does not within the deadline.
    pub async fn stop(&mut self) {
        let url = format!("{}/-/quit", self.url());
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let quit = reqwest::Client::new().post(url).send().await;
        let deadline = Instant::now() + READY_TIMEOUT;
        while quit.is_ok() && Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                self.child = None;
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        self.kill();
    }

    /// Start again on the same port with the same data dir, and wait until ready.
    pub async fn restart(&mut self) {
        self.stop().await;
        if let Err(e) = self.spawn_and_wait().await {
            panic!("restart: {e}");
        }
    }

    /// Replace the loaded rules (a rule file's YAML) and reload the config.
    pub async fn set_rules(&self, rules: &str) {
        std::fs::write(&self.rules, rules).expect("write rules.yml");
        let reload = reqwest::Client::new()
            .post(format!("{}/-/reload", self.url()))
            .send()
            .await
            .expect("reload Prometheus");
        assert!(
            reload.status().is_success(),
            "reload failed: {}",
            reload.text().await.unwrap_or_default()
        );
    }

    /// Each rule group's last evaluation, from `/api/v1/rules`.
    pub async fn rule_groups(&self) -> Vec<GroupEvaluation> {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/rules", self.url()))
            .send()
            .await
            .expect("GET /api/v1/rules")
            .json()
            .await
            .expect("rules JSON");
        let seconds = |v: &serde_json::Value| v["evaluationTime"].as_f64().unwrap_or(f64::NAN);
        body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| GroupEvaluation {
                name: g["name"].as_str().unwrap_or_default().to_owned(),
                seconds: seconds(g),
                rules: g["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| RuleEvaluation {
                        // A detector's rule by its detector, others by what they record.
                        name: r["labels"]["detector"]
                            .as_str()
                            .or(r["name"].as_str())
                            .unwrap_or_default()
                            .to_owned(),
                        seconds: seconds(r),
                        error: r["lastError"]
                            .as_str()
                            .filter(|e| !e.is_empty())
                            .map(str::to_owned),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Evaluate `promql` now; panics on any error (this is for test setup).
    pub async fn query(&self, promql: &str) -> Vec<InstantVector> {
        let client =
            prometheus_http_query::Client::try_from(self.url().as_str()).expect("Prometheus URL");
        let result = client.query(promql).get().await;
        let result = result.unwrap_or_else(|e| panic!("query {promql:?}: {e}"));
        result.data().as_vector().cloned().unwrap_or_default()
    }

    /// Poll `promql` until it returns at least one series (the first scrape
    /// takes a few seconds: target discovery is throttled to 5 s).
    pub async fn wait_for_data(&self, promql: &str, timeout: Duration) -> Vec<InstantVector> {
        let deadline = Instant::now() + timeout;
        loop {
            let series = self.query(promql).await;
            if !series.is_empty() {
                return series;
            }
            assert!(
                Instant::now() < deadline,
                "no data for {promql:?} after {timeout:?}; Prometheus log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("open {}: {e}", self.log.display()))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", self.config.display()))
            .arg(format!("--storage.tsdb.path={}", self.data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .args([
                "--web.enable-remote-write-receiver",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=100y",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe: nobody drains a pipe, and a full one blocks Prometheus.
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run prometheus ({e}): apt-get install -y prometheus"))?;
        self.child = Some(child);

        let client = reqwest::Client::new();
        let ready = format!("{}/-/ready", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "prometheus exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                ));
            }
            let answer = client
                .get(&ready)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(format!(
                    "prometheus not ready after {READY_TIMEOUT:?}:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last lines Prometheus logged (its stderr), for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `/metrics` endpoint on 127.0.0.1 serving whatever text the test last set
/// (Prometheus text format 0.0.4). Plain HTTP/1.1, one request per connection.
pub struct ScrapeTarget {
    addr: SocketAddr,
    text: Arc<Mutex<String>>,
    server: tokio::task::JoinHandle<()>,
}

impl ScrapeTarget {
    /// Listen on a free port of the current tokio runtime, serving `text`.
    pub async fn start(text: impl Into<String>) -> ScrapeTarget {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind scrape target");
        let addr = listener.local_addr().expect("scrape target address");
        let text = Arc::new(Mutex::new(text.into()));
        let served = Arc::clone(&text);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&served)));
            }
        });
        ScrapeTarget { addr, text, server }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replace the exposed text; the next scrape sees it.
    pub fn set(&self, text: impl Into<String>) {
        *self.text.lock().expect("scrape text lock") = text.into();
    }

    /// The shared text itself, for tests that edit it in place.
    pub fn text(&self) -> Arc<Mutex<String>> {
        Arc::clone(&self.text)
    }
}

impl Drop for ScrapeTarget {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(mut stream: tokio::net::TcpStream, text: Arc<Mutex<String>>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 2048];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let metrics = request.starts_with(b"GET /metrics ");
    let (status, body) = if metrics {
        ("200 OK", text.lock().expect("scrape text lock").clone())
    } else {
        ("404 Not Found", "not found\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
