//! A real Alertmanager (Debian's `prometheus-alertmanager`) on loopback, routing
//! every alert to a webhook receiver served here, which reports each
//! notification's status (`firing`/`resolved`) with its arrival instant.
//! Killed on drop. Started as TESTBED.md says: no HA gossip, loopback only.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use tokio::sync::mpsc;

pub const BINARY: &str = "prometheus-alertmanager";

/// The routing timers the bench states; Alertmanager's defaults are 30s / 5m / 4h.
pub struct Timers {
    pub group_wait: &'static str,
    pub group_interval: &'static str,
    pub repeat_interval: &'static str,
}

/// One webhook notification as it arrived.
#[derive(Debug)]
pub struct Notification {
    pub at: Instant,
    pub firing: bool,
}

pub struct Alertmanager {
    pub addr: SocketAddr,
    child: Child,
    server: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Serve the webhook, start Alertmanager routing to it with `timers`, wait until
    /// ready. `Err` when the binary is missing or does not become ready.
    pub async fn start(
        timers: &Timers,
    ) -> Result<(Alertmanager, mpsc::UnboundedReceiver<Notification>), String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let hook = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind webhook: {e}"))?;
        let hook_addr = hook.local_addr().map_err(|e| e.to_string())?;
        let app = Router::new().route(
            "/",
            post(move |body: Bytes| {
                // Stamped when the whole notification has arrived.
                let at = Instant::now();
                let status = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["status"].as_str().map(str::to_owned));
                let _ = tx.send(Notification {
                    at,
                    firing: status.as_deref() == Some("firing"),
                });
                async { "ok" }
            }),
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(hook, app).await;
        });

        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = dir.path().join("alertmanager.yml");
        let yaml = format!(
            "route:\n  receiver: bench\n  group_by: [alertname]\n  group_wait: {}\n  group_interval: {}\n  repeat_interval: {}\nreceivers:\n  - name: bench\n    webhook_configs:\n      - url: http://{hook_addr}/\n        send_resolved: true\n",
            timers.group_wait, timers.group_interval, timers.repeat_interval
        );
        std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.path().join("alertmanager.log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            // Empty: no HA gossip listener (it would bind 0.0.0.0:9094).
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!("cannot run {BINARY} ({e}): apt-get install -y prometheus-alertmanager")
            })?;
        let am = Alertmanager {
            addr,
            child,
            server,
            dir,
        };
        am.wait_ready().await?;
        Ok((am, rx))
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let url = format!("http://{}/-/ready", self.addr);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let answer = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log =
            std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default();
        Err(format!("{BINARY} not ready after 30 s:\n{log}"))
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.server.abort();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
