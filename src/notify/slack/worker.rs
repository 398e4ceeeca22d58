//! The delivery task: takes notices from the bounded queue, in bursts, and
//! runs delivery rounds; retries what Slack could not take with a growing
//! delay; answers flush requests at shutdown. Detection and actions never wait
//! for it: the sink only `try_send`s into the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::thread::{Pending, Queued, Restored, Step};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::SinkLabels;

/// Delay before retrying a round that left work waiting; doubles while Slack
/// stays unavailable.
const RETRY_MIN: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Notices taken per burst: one round covers them all.
const BURST: usize = 256;

/// What the sink tells the task besides notices.
pub enum Control {
    Restore(Restored),
    Flush(oneshot::Sender<()>),
}

/// A delivery mode (threads, webhook).
pub trait Deliverer: Send + 'static {
    fn accept(&mut self, q: Queued);
    fn restore(&mut self, _r: Restored) {}
    /// Anything waiting for another round.
    fn has_work(&self) -> bool;
    /// Deliver what can be; true when something waits for Slack to be available.
    fn round(&mut self) -> impl Future<Output = bool> + Send;
    /// Until when Slack asked us to wait (`Retry-After`).
    fn paused_until(&self) -> Option<Instant>;
}

/// Run `d` until the sink is dropped.
pub async fn run<D: Deliverer>(
    mut d: D,
    mut notices: mpsc::Receiver<Queued>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let mut delay = RETRY_MIN;
    let mut retry_at: Option<Instant> = None;
    let mut control_open = true;
    loop {
        let wake = if d.has_work() {
            let at = retry_at.unwrap_or_else(Instant::now);
            Some(d.paused_until().map_or(at, |p| p.max(at)))
        } else {
            None
        };
        tokio::select! {
            biased;
            c = control.recv(), if control_open => match c {
                Some(Control::Restore(r)) => {
                    d.restore(r);
                    continue;
                }
                Some(Control::Flush(done)) => {
                    while let Ok(q) = notices.try_recv() {
                        d.accept(q);
                    }
                    d.round().await;
                    let _ = done.send(());
                    continue;
                }
                None => {
                    control_open = false;
                    continue;
                }
            },
            q = notices.recv() => match q {
                Some(q) => {
                    d.accept(q);
                    for _ in 1..BURST {
                        match notices.try_recv() {
                            Ok(q) => d.accept(q),
                            Err(_) => break,
                        }
                    }
                }
                None => return,
            },
            () = sleep_until(wake), if wake.is_some() => {}
        }
        let blocked = d.round().await;
        delay = if blocked {
            (delay * 2).min(RETRY_MAX)
        } else {
            RETRY_MIN
        };
        retry_at = Some(Instant::now() + if blocked { delay } else { RETRY_MIN });
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How a step left the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// Slack took the message.
    Sent,
    /// Already delivered by the root message.
    Shown,
    /// Nothing to send after all.
    Moot,
}

/// The sink's metrics, labelled `sink="slack"`.
#[derive(Clone)]
pub struct Meter {
    metrics: Arc<Metrics>,
}

const SINK: &str = "slack";

impl Meter {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Meter { metrics }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn labels() -> SinkLabels {
        SinkLabels {
            sink: SINK.to_owned(),
        }
    }

    pub fn enqueued(&self) {
        self.metrics.queued.get_or_create(&Self::labels()).inc();
    }

    /// A notice left without a step (a duplicate, or not routed to Slack).
    pub fn left_queue(&self) {
        self.metrics.queued.get_or_create(&Self::labels()).dec();
    }

    fn leave(&self, p: &Pending) {
        if p.counted {
            self.left_queue();
        }
    }

    pub fn skipped(&self, p: &Pending) {
        self.leave(p);
    }

    pub fn done(&self, p: &Pending, done: Done) {
        if done == Done::Sent {
            self.metrics.record_delivery(SINK, "delivered");
        }
        if done != Done::Moot && p.counted && matches!(p.step, Step::Root | Step::Reply { .. }) {
            self.metrics
                .delivery_seconds
                .get_or_create(&Self::labels())
                .observe(p.enqueued.elapsed().as_secs_f64());
        }
        self.leave(p);
    }

    pub fn failed(&self, p: &Pending) {
        self.metrics.record_delivery(SINK, "failed");
        self.leave(p);
    }

    /// A call that is not a queued step: the root post or update.
    pub fn delivered_call(&self) {
        self.metrics.record_delivery(SINK, "delivered");
    }

    pub fn failed_call(&self) {
        self.metrics.record_delivery(SINK, "failed");
    }
}
