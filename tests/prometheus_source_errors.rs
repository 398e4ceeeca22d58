//! Each way a Prometheus query can fail reaches the engine as its own
//! `SourceError` (the detectors' no-data reason), against a real Prometheus
//! and against small HTTP servers that misbehave the way proxies do.

mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use firebreak::detect::SourceError;
use firebreak::detect::prometheus::{PrometheusArgs, PrometheusSource};
use jiff::Timestamp;
use support::prometheus::{Prometheus, ScrapeTarget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The flags as an operator passes them.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    prometheus: PrometheusArgs,
}

fn source(args: &[&str]) -> PrometheusSource {
    let cli = Cli::try_parse_from(["firebreak"].iter().chain(args)).expect("flags");
    PrometheusSource::new(&cli.prometheus).expect("source")
}

/// 2024-05-01T10:00:00Z; history is five minutes of one request counter in payments.
const START: i64 = 1_714_557_600;

fn payments_history() -> String {
    let series = r#"http_requests_total{namespace="payments",pod="pay-0",workload="pay"}"#;
    let lines: String = (0..=20)
        .map(|i| format!("{series} {} {}\n", 1000 + 30 * i, START + 15 * i))
        .collect();
    format!("# TYPE http_requests counter\n{lines}# EOF\n")
}

#[tokio::test]
async fn a_query_without_matching_series_is_an_empty_result() {
    let prom = Prometheus::builder()
        .backfill(payments_history())
        .start()
        .await;
    let source = source(&["--prometheus", &prom.url()]);
    let at = Timestamp::from_second(START + 300).expect("time");
    let query = |ns: &str| {
        format!(
            "sum by (namespace, workload) (rate(http_requests_total{{namespace=\"{ns}\"}}[5m]))"
        )
    };

    let shop = source.instant(&query("shop"), at).await;
    assert_eq!(shop, Ok(vec![]));
    // The same query finds the namespace that has data: 30 requests per 15 s.
    let payments = source.instant(&query("payments"), at).await.expect("query");
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert!((payments[0].value - 2.0).abs() < 1e-9, "{payments:?}");
}

#[tokio::test]
async fn invalid_promql_is_a_query_error_with_prometheus_message() {
    let prom = Prometheus::builder().start().await;
    let source = source(&["--prometheus", &prom.url()]);

    let err = source
        .instant(
            "sum by (namespace, workload) (rate(up[5m])",
            Timestamp::now(),
        )
        .await;
    match err {
        Err(SourceError::Query(message)) => assert!(
            message.contains("bad_data") && message.contains("unclosed left parenthesis"),
            "{message}"
        ),
        other => panic!("want Query with Prometheus' parse error, got {other:?}"),
    }
    // Valid PromQL of the wrong shape is a query error too, not an empty result.
    let scalar = source.instant("1 + 1", Timestamp::now()).await;
    assert!(matches!(scalar, Err(SourceError::Query(_))), "{scalar:?}");
}

/// A proxy's answer with `status`, `content_type` and `body`.
fn answer(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn a_proxy_error_page_is_an_http_error_whatever_its_body() {
    let nginx = "<html><head><title>502 Bad Gateway</title></head>\
                 <body><center><h1>502 Bad Gateway</h1></center></body></html>";
    // API gateways answer in JSON, but not in Prometheus' envelope.
    let gateway = r#"{"message":"An invalid response was received from the upstream server"}"#;
    let pages = [
        answer("502 Bad Gateway", "text/html", nginx),
        answer(
            "502 Bad Gateway",
            "application/json; charset=utf-8",
            gateway,
        ),
    ];
    for page in pages {
        let (url, server) = fake_server(Some(page.clone())).await;
        let source = source(&["--prometheus", &url]);
        let bad_gateway = Err(SourceError::Http {
            status: 502,
            message: "Bad Gateway".to_owned(),
        });
        let now = Timestamp::now();
        assert_eq!(source.instant("up", now).await, bad_gateway, "{page}");
        let range = source.range("up", now, now, Duration::from_secs(15)).await;
        assert_eq!(range.map(|_| ()), bad_gateway.map(|_| ()), "{page}");
        server.abort();
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_after_the_flag() {
    let (url, server) = fake_server(None).await;
    let source = source(&["--prometheus", &url, "--prometheus-timeout", "1s"]);

    let started = Instant::now();
    let err = source.instant("up", Timestamp::now()).await;
    let took = started.elapsed();
    assert!(matches!(err, Err(SourceError::Timeout(_))), "{err:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "gave up after {took:?}, want about 1s"
    );
    server.abort();
}

#[tokio::test]
async fn a_stopped_prometheus_is_unreachable_and_a_restart_serves_the_same_data() {
    let target =
        ScrapeTarget::start("firebreak_test_value{namespace=\"shop\",workload=\"checkout\"} 42\n")
            .await;
    let mut prom = Prometheus::builder()
        .scrape(&target, Duration::from_secs(1))
        .start()
        .await;
    let source = source(&["--prometheus", &prom.url()]);
    let first = prom
        .wait_for_data("firebreak_test_value", Duration::from_secs(30))
        .await;
    // `at` has whole seconds: the first one at or after the first sample.
    let at = Timestamp::from_second(first[0].sample().timestamp().ceil() as i64).expect("time");
    let before = source
        .instant("firebreak_test_value", at)
        .await
        .expect("query");
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        (before[0].workload.as_str(), before[0].value),
        ("checkout", 42.0)
    );

    // The test changes the value live; the next scrapes pick it up. Only once
    // the clock is past `at`: a scrape between the first sample and `at` must
    // still see 42, or the answer at `at` changes under the test.
    while Timestamp::now() < at + Duration::from_millis(200) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    target.set("firebreak_test_value{namespace=\"shop\",workload=\"checkout\"} 7\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = source
            .instant("firebreak_test_value", Timestamp::now())
            .await;
        if now
            .as_ref()
            .is_ok_and(|v| v.first().is_some_and(|v| v.value == 7.0))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new value never scraped: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    prom.stop().await;
    let down = source.instant("firebreak_test_value", at).await;
    assert!(matches!(down, Err(SourceError::Unreachable(_))), "{down:?}");

    prom.restart().await;
    let after = source.instant("firebreak_test_value", at).await;
    assert_eq!(
        after,
        Ok(before),
        "same data dir, same answer at the same time"
    );
}

/// An HTTP server on 127.0.0.1 that reads each request and answers `response`,
/// or, with `None`, accepts and never answers.
async fn fake_server(response: Option<String>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let mut silent = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            match &response {
                Some(r) => {
                    read_request(&mut stream).await;
                    let _ = stream.write_all(r.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
                None => silent.push(stream),
            }
        }
    });
    (url, server)
}

/// Read headers and body, so closing after the answer does not reset the
/// connection under a client still sending.
async fn read_request(stream: &mut TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}
