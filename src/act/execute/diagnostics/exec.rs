//! The optional exec (a thread dump, `jcmd 1 Thread.print`): a WebSocket exec
//! through kube's `Api::<Pod>::exec`, bounded in time and in output.
//!
//! At the timeout the connection is dropped. The API server then closes the
//! stream to the kubelet; whether the process is killed is up to the container
//! runtime, so the command should be one that ends by itself.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, AttachedProcess};
use tokio::io::{AsyncRead, AsyncReadExt};

/// What an exec produced: stdout and stderr as far as they were read.
#[derive(Debug, Default)]
pub(super) struct Output {
    pub stdout: Bounded,
    pub stderr: Bounded,
    /// The `metav1.Status` the API server sends at exit (`Success`, or the exit code).
    pub status: Option<String>,
    pub timed_out: bool,
}

/// A stream read to its end, keeping at most `limit` bytes.
#[derive(Debug, Default)]
pub(super) struct Bounded {
    pub bytes: Vec<u8>,
    pub total: usize,
    limit: usize,
}

impl Bounded {
    fn new(limit: usize) -> Self {
        Bounded {
            limit,
            ..Bounded::default()
        }
    }

    /// Read `reader` to its end. Past the limit the rest is read and dropped, so
    /// the process is not blocked on a full pipe and its exit status arrives.
    async fn drain(&mut self, reader: Option<impl AsyncRead + Unpin>) {
        let Some(mut reader) = reader else { return };
        let mut chunk = [0u8; 8192];
        while let Ok(n) = reader.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            self.total += n;
            let room = self.limit.saturating_sub(self.bytes.len());
            self.bytes.extend_from_slice(&chunk[..n.min(room)]);
        }
    }

    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.total > self.bytes.len() {
            text.push_str(&format!(
                "\n[firebreak: output cut at {} of {} bytes]\n",
                self.bytes.len(),
                self.total
            ));
        }
        text
    }
}

/// Run `command` in `pod`/`container` for at most `timeout`, keeping at most
/// `limit` bytes of stdout (and of stderr). The error is the API's answer to
/// the upgrade (403 without `pods/exec`, 404 for a pod gone) or the timeout.
pub(super) async fn run(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    container: &str,
    command: &[String],
    timeout: Duration,
    limit: usize,
) -> Result<Output, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), ns);
    let params = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let process = tokio::time::timeout_at(deadline, api.exec(pod, command.to_vec(), &params))
        .await
        .map_err(|_| format!("no connection within {}s", timeout.as_secs()))?
        .map_err(|e| match e {
            kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
            other => other.to_string(),
        })?;
    Ok(collect(process, deadline, limit).await)
}

async fn collect(
    mut process: AttachedProcess,
    deadline: tokio::time::Instant,
    limit: usize,
) -> Output {
    let (mut stdout, mut stderr) = (Bounded::new(limit), Bounded::new(limit));
    let (out, err, status) = (process.stdout(), process.stderr(), process.take_status());
    let reading = async {
        tokio::join!(stdout.drain(out), stderr.drain(err));
    };
    // Whatever was read by the deadline is kept: a partial thread dump still helps.
    let timed_out = tokio::time::timeout_at(deadline, reading).await.is_err();
    let mut exit = None;
    if !timed_out
        && let Some(status) = status
        && let Ok(Some(s)) = tokio::time::timeout_at(deadline, status).await
    {
        // "Success", or the failure's message (which carries the exit code).
        exit = s.message.filter(|m| !m.is_empty()).or(s.status);
    }
    // Dropping the process aborts its message loop and closes the connection.
    drop(process);
    Output {
        stdout,
        stderr,
        status: exit,
        timed_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_past_the_limit_is_read_and_dropped() {
        let mut out = Bounded::new(10);
        out.drain(Some(&b"0123456789abcdef"[..])).await;
        assert_eq!((out.bytes.as_slice(), out.total), (&b"0123456789"[..], 16));
        assert_eq!(
            out.text(),
            "0123456789\n[firebreak: output cut at 10 of 16 bytes]\n"
        );
        let mut none = Bounded::new(10);
        none.drain(None::<&[u8]>).await;
        assert_eq!(none.text(), "");
    }
}
