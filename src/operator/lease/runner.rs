//! The election loop: one attempt every retry period, leadership published on
//! a `watch` channel, the Lease released on shutdown.

use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{LeaderElector, LeaseError};

/// Source of the wall-clock time written to the Lease and used for expiry.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

impl LeaderElector {
    /// Spawn [`Self::run`]; the receiver starts `false` and follows leadership.
    pub fn spawn(
        self,
        clock: impl Clock,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (watch::Receiver<bool>, JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        (rx, tokio::spawn(self.run(clock, shutdown, tx)))
    }

    /// Try to acquire or renew every retry period and publish whether we lead.
    /// When `shutdown` completes: publish `false`, then release the Lease if
    /// ours, so a standby takes over at once (client-go's `ReleaseOnCancel`).
    pub async fn run(
        mut self,
        clock: impl Clock,
        shutdown: impl Future<Output = ()>,
        tx: watch::Sender<bool>,
    ) {
        tokio::pin!(shutdown);
        loop {
            // Checked before the attempt too, so a lapse is published on time.
            self.publish(&tx, clock.now());
            let budget = self.attempt_budget(clock.now());
            let attempt = tokio::select! {
                biased;
                () = &mut shutdown => break,
                attempt = tokio::time::timeout(budget, self.try_acquire_or_renew(clock.now())) => attempt,
            };
            let result = attempt.unwrap_or_else(|_| Err(self.timed_out(budget)));
            if let Err(error) = result {
                tracing::warn!(
                    lease = %self.config.lease_ref(),
                    identity = %self.config.identity,
                    kind = error.metric_label(),
                    %error,
                    "leader election attempt failed; retrying",
                );
            }
            self.publish(&tx, clock.now());
            let wait = self.next_wait(clock.now());
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        // Stop our own work before a standby may start.
        self.renewed_at = None;
        self.publish(&tx, clock.now());
        self.release_within_budget(clock.now()).await;
    }

    async fn release_within_budget(&mut self, now: Timestamp) {
        let budget = self.half_renew_deadline();
        let result = tokio::time::timeout(budget, self.release(now))
            .await
            .unwrap_or_else(|_| Err(self.timed_out(budget)));
        let lease = self.config.lease_ref();
        let identity = &self.config.identity;
        match result {
            Ok(true) => tracing::info!(lease, identity, "released lease"),
            Ok(false) => tracing::debug!(lease, identity, "lease not ours; nothing to release"),
            Err(error) => tracing::warn!(
                lease,
                identity,
                kind = error.metric_label(),
                %error,
                "could not release lease; standbys wait for it to expire",
            ),
        }
    }

    /// Send leadership at `now` if it changed, and log the transition.
    fn publish(&self, tx: &watch::Sender<bool>, now: Timestamp) {
        let leader = self.is_leader(now);
        if !tx.send_if_modified(|current| std::mem::replace(current, leader) != leader) {
            return;
        }
        let lease = self.config.lease_ref();
        let identity = &self.config.identity;
        let holder = self.holder().unwrap_or_default();
        if leader {
            tracing::info!(lease, identity, holder, "became leader");
        } else {
            tracing::info!(lease, identity, holder, "stopped leading");
        }
    }

    /// client-go bounds each request by half the renew deadline; a leader also
    /// never waits past the moment its leadership lapses.
    fn attempt_budget(&self, now: Timestamp) -> Duration {
        let half = self.half_renew_deadline();
        self.leadership_left(now)
            .map_or(half, |left| left.min(half))
    }

    fn next_wait(&self, now: Timestamp) -> Duration {
        let retry = self.config.retry_period;
        self.leadership_left(now)
            .map_or(retry, |left| left.min(retry))
    }

    fn half_renew_deadline(&self) -> Duration {
        self.config.renew_deadline / 2
    }

    fn timed_out(&self, after: Duration) -> LeaseError {
        LeaseError::Timeout {
            lease: self.config.lease_ref(),
            after,
        }
    }
}
