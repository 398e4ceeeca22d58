//! A real Kafka-protocol broker for integration tests: tansu on 127.0.0.1 with
//! its own SQLite store in a temporary directory, killed on drop. `stop` and
//! `start_again` (same port, same store) simulate an outage; what the broker
//! acknowledged before it stopped is still there after.
//!
//! Needs `tansu` (0.6, features dynostore and libsql) on PATH or in
//! `FIREBREAK_TANSU`; `.ci/run` installs it. Consumers count records and never
//! trust watermarks, which tansu reports wrongly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;

const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Broker {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    store: Store,
}

/// Where the broker keeps what it acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// SQLite in the broker's directory: survives `stop` / `start_again`, one
    /// SQLite commit per produce request.
    Sqlite,
    /// In memory, lost on `stop`: closest to Kafka's own acks=all path, which
    /// does not fsync per request either.
    Memory,
}

fn tansu() -> PathBuf {
    std::env::var_os("FIREBREAK_TANSU").map_or_else(|| PathBuf::from("tansu"), PathBuf::from)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Broker {
    pub async fn start() -> Broker {
        Broker::start_with(Store::Sqlite).await
    }

    pub async fn start_with(store: Store) -> Broker {
        let mut b = Broker {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir for tansu"),
            child: None,
            store,
        };
        b.start_again().await;
        b
    }

    /// Brokers for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same port with the same store.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // tansu resolves the SQLite path against its working directory.
        let store = match self.store {
            Store::Sqlite => "sqlite://tansu.db",
            Store::Memory => "memory://tansu/",
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .expect("tansu log file");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", store])
            .current_dir(self.dir.path())
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e} (install it: see .ci/run)", tansu()));
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within {READY_TIMEOUT:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kill the broker (SIGKILL); a SQLite store stays for `start_again`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One record as an independent consumer sees it.
#[derive(Clone, Debug)]
pub struct Consumed {
    pub partition: i32,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub value: serde_json::Value,
}

impl Consumed {
    pub fn header(&self, k: &str) -> &str {
        self.headers.get(k).map_or("", String::as_str)
    }
}

/// Read `topic` from the beginning with a fresh group until `n` records or `timeout`.
pub async fn consume(bootstrap: &str, topic: &str, n: usize, timeout: Duration) -> Vec<Consumed> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("test-{}", free_port()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < n {
        let Ok(msg) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            break;
        };
        let msg = msg.expect("consume");
        let mut headers = BTreeMap::new();
        if let Some(h) = msg.headers() {
            for header in h.iter() {
                let v = header
                    .value
                    .map(|v| String::from_utf8_lossy(v).into_owned());
                headers.insert(header.key.to_owned(), v.unwrap_or_default());
            }
        }
        out.push(Consumed {
            partition: msg.partition(),
            key: msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            headers,
            value: serde_json::from_slice(msg.payload().unwrap_or_default())
                .expect("a JSON payload"),
        });
    }
    out
}
