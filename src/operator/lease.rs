//! Leader election on a `coordination.k8s.io/v1` Lease, following client-go's
//! `tools/leaderelection` (LeaseLock, `ReleaseOnCancel`).
//!
//! Only `get`, `create` and `update` are sent: the chart grants exactly those on
//! the Lease, and an update carrying the observed `resourceVersion` is the
//! compare-and-swap that lets at most one candidate win a round.
//!
//! Expiry is judged on the local clock, as client-go does: another holder's
//! record is expired once it has not changed for `leaseDurationSeconds` since
//! *we* first saw it. Its `renewTime` is never compared with our clock, so
//! clock skew between nodes cannot make two leaders.

mod runner;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Client, Error as KubeError};

pub use runner::{Clock, SystemClock};

/// Field manager recorded in the Lease's `managedFields` for our writes.
pub const DEFAULT_FIELD_MANAGER: &str = "firebreak";

/// Where the Lease lives, who we are, and client-go's three timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Lease object name (the chart's `leaderElection.leaseName`).
    pub name: String,
    /// Namespace of the Lease (the chart's release namespace).
    pub namespace: String,
    /// `holderIdentity` we write: the pod name, unique among candidates.
    pub identity: String,
    /// How long others wait, from their last observed change, before taking over.
    pub lease_duration: Duration,
    /// How long a leader keeps acting without a successful renewal.
    pub renew_deadline: Duration,
    /// Interval between attempts to acquire or renew.
    pub retry_period: Duration,
    /// `fieldManager` of our writes, as shown in the Lease's `managedFields`.
    pub field_manager: String,
}

impl LeaseConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaseConfig {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            field_manager: DEFAULT_FIELD_MANAGER.to_owned(),
        }
    }

    /// client-go's checks (`NewLeaderElector`): the leader must give up before
    /// anyone may take over, and must get more than one try before giving up.
    fn validate(&self) -> Result<Timing, LeaseError> {
        let invalid = |reason| Err(LeaseError::InvalidConfig(reason));
        if self.name.is_empty() || self.namespace.is_empty() {
            return invalid("lease name and namespace must not be empty");
        }
        if self.identity.is_empty() {
            return invalid("identity must not be empty");
        }
        if self.lease_duration.as_secs() < 1 {
            return invalid("lease duration must be at least 1s");
        }
        if self.lease_duration <= self.renew_deadline {
            return invalid("lease duration must be greater than the renew deadline");
        }
        // In f64 so that no configured value can overflow the product.
        let retries = self.renew_deadline.as_secs_f64() / 1.2;
        if self.retry_period.is_zero() || retries <= self.retry_period.as_secs_f64() {
            return invalid("renew deadline must be greater than 1.2 × the retry period (> 0)");
        }
        let Ok(lease_secs) = i32::try_from(self.lease_duration.as_secs()) else {
            return invalid("lease duration is too long");
        };
        let Ok(renew_deadline) = SignedDuration::try_from(self.renew_deadline) else {
            return invalid("renew deadline is too long");
        };
        Ok(Timing {
            lease_secs,
            renew_deadline,
        })
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What failed while electing; API failures keep the Kubernetes error.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("invalid leader election config: {0}")]
    InvalidConfig(&'static str),
    #[error("reading lease {lease}: {source}")]
    Get { lease: String, source: KubeError },
    #[error("creating lease {lease}: {source}")]
    Create { lease: String, source: KubeError },
    #[error("updating lease {lease}: {source}")]
    Update { lease: String, source: KubeError },
    #[error("releasing lease {lease}: {source}")]
    Release { lease: String, source: KubeError },
    #[error("lease {lease} request timed out after {after:?}")]
    Timeout { lease: String, after: Duration },
}

impl LeaseError {
    /// Short label for failure metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            LeaseError::InvalidConfig(_) => "invalid_config",
            LeaseError::Get { .. } => "get",
            LeaseError::Create { .. } => "create",
            LeaseError::Update { .. } => "update",
            LeaseError::Release { .. } => "release",
            LeaseError::Timeout { .. } => "timeout",
        }
    }
}

/// Validated timings in the units the algorithm compares.
#[derive(Clone, Copy, Debug)]
struct Timing {
    lease_secs: i32,
    renew_deadline: SignedDuration,
}

/// The last record seen and the local time it was first seen
/// (client-go's `observedRecord` / `observedTime`).
#[derive(Clone, Debug)]
struct Observed {
    lease: Lease,
    since: Timestamp,
}

/// One candidate for leadership of one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    timing: Timing,
    observed: Option<Observed>,
    /// Local time of our last successful acquire or renew.
    renewed_at: Option<Timestamp>,
}

impl LeaderElector {
    /// Validate `config` (as client-go does) and start as a follower.
    pub fn new(client: Client, config: LeaseConfig) -> Result<Self, LeaseError> {
        let timing = config.validate()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            timing,
            observed: None,
            renewed_at: None,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Whether we may act as leader at `now`: the last acquire or renew succeeded
    /// less than the renew deadline ago, and nobody has taken the Lease since.
    pub fn is_leader(&self, now: Timestamp) -> bool {
        self.leadership_left(now).is_some()
    }

    /// `holderIdentity` of the last record seen, if any.
    pub fn holder(&self) -> Option<&str> {
        let spec = self.observed.as_ref()?.lease.spec.as_ref()?;
        spec.holder_identity.as_deref().filter(|h| !h.is_empty())
    }

    /// One round of client-go's `tryAcquireOrRenew`: `Ok(true)` if we hold the
    /// Lease afterwards, `Ok(false)` if someone else does or won a race (409).
    /// Any other API error is returned; leadership then lasts until the renew
    /// deadline (see [`Self::is_leader`]) and the caller retries.
    pub async fn try_acquire_or_renew(&mut self, now: Timestamp) -> Result<bool, LeaseError> {
        let Some(current) = self.get().await? else {
            return self.create(now).await;
        };
        let since = self.observe(current.clone(), now);
        let old = current.spec.clone().unwrap_or_default();
        let holder = old.holder_identity.as_deref().unwrap_or_default();
        let mine = holder == self.config.identity;
        if !holder.is_empty() && !mine && !self.expired(&old, since, now) {
            tracing::debug!(lease = %self.config.lease_ref(), holder, "lease held by another candidate");
            self.renewed_at = None;
            return Ok(false);
        }
        let spec = if mine {
            // Renewal keeps the acquisition and transition count.
            LeaseSpec {
                acquire_time: old.acquire_time.or(Some(MicroTime(now))),
                lease_transitions: Some(old.lease_transitions.unwrap_or(0)),
                ..self.held_spec(now)
            }
        } else {
            tracing::info!(lease = %self.config.lease_ref(), identity = %self.config.identity, holder, "taking over lease");
            LeaseSpec {
                lease_transitions: Some(old.lease_transitions.unwrap_or(0).saturating_add(1)),
                ..self.held_spec(now)
            }
        };
        let next = Lease {
            spec: Some(spec),
            ..current
        };
        match self
            .api
            .replace(&self.config.name, &self.post_params(), &next)
            .await
        {
            Ok(stored) => Ok(self.won(stored, now)),
            Err(e) if is_conflict(&e) => Ok(self.lost_race("update")),
            Err(source) => Err(LeaseError::Update {
                lease: self.config.lease_ref(),
                source,
            }),
        }
    }

    /// client-go's `ReleaseOnCancel`: if the last record seen is ours, write it
    /// back with no holder and a 1 s duration so a standby takes over at its
    /// next retry instead of waiting out the lease. `Ok(true)` if written.
    pub async fn release(&mut self, now: Timestamp) -> Result<bool, LeaseError> {
        // Whatever the outcome, we stop leading once release is asked for.
        self.renewed_at = None;
        let Some(observed) = self.observed.clone() else {
            return Ok(false);
        };
        let old = observed.lease.spec.clone().unwrap_or_default();
        if old.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(false);
        }
        let released = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(String::new()),
                lease_duration_seconds: Some(1),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(old.lease_transitions.unwrap_or(0)),
                ..LeaseSpec::default()
            }),
            ..observed.lease
        };
        match self
            .api
            .replace(&self.config.name, &self.post_params(), &released)
            .await
        {
            Ok(stored) => {
                self.observe(stored, now);
                Ok(true)
            }
            // Someone changed it since we last saw it: it is no longer ours to release.
            Err(e) if is_conflict(&e) => Ok(false),
            Err(source) => Err(LeaseError::Release {
                lease: self.config.lease_ref(),
                source,
            }),
        }
    }

    /// Time left before our leadership lapses, if we are leader at `now`.
    fn leadership_left(&self, now: Timestamp) -> Option<Duration> {
        let renewed_at = self.renewed_at?;
        let left = self
            .timing
            .renew_deadline
            .checked_sub(now.duration_since(renewed_at))?;
        Duration::try_from(left).ok().filter(|d| !d.is_zero())
    }

    async fn get(&self) -> Result<Option<Lease>, LeaseError> {
        match self.api.get(&self.config.name).await {
            Ok(lease) => Ok(Some(lease)),
            Err(KubeError::Api(status)) if status.code == 404 || status.is_not_found() => Ok(None),
            Err(source) => Err(LeaseError::Get {
                lease: self.config.lease_ref(),
                source,
            }),
        }
    }

    async fn create(&mut self, now: Timestamp) -> Result<bool, LeaseError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                lease_transitions: Some(0),
                ..self.held_spec(now)
            }),
        };
        match self.api.create(&self.post_params(), &lease).await {
            Ok(stored) => Ok(self.won(stored, now)),
            // 409 AlreadyExists: another candidate created it first.
            Err(e) if is_conflict(&e) => Ok(self.lost_race("create")),
            Err(source) => Err(LeaseError::Create {
                lease: self.config.lease_ref(),
                source,
            }),
        }
    }

    /// Record `lease` as seen at `now`; returns when its content was first seen.
    fn observe(&mut self, lease: Lease, now: Timestamp) -> Timestamp {
        let since = match &self.observed {
            Some(prev) if prev.lease.spec == lease.spec => prev.since,
            _ => now,
        };
        self.observed = Some(Observed { lease, since });
        since
    }

    /// Expired once unchanged, as seen locally, for the record's own duration
    /// (so a released lease, written with 1 s, frees up at once).
    fn expired(&self, spec: &LeaseSpec, since: Timestamp, now: Timestamp) -> bool {
        let secs = spec
            .lease_duration_seconds
            .filter(|s| *s > 0)
            .unwrap_or(self.timing.lease_secs);
        now.duration_since(since) >= SignedDuration::from_secs(i64::from(secs))
    }

    /// The fields every write of ours sets; callers fill the transitions.
    fn held_spec(&self, now: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.timing.lease_secs),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }
    }

    fn won(&mut self, stored: Lease, now: Timestamp) -> bool {
        self.observe(stored, now);
        self.renewed_at = Some(now);
        tracing::debug!(lease = %self.config.lease_ref(), identity = %self.config.identity, "lease held");
        true
    }

    /// A 409 means our view was stale and someone else wrote the Lease: step
    /// down now rather than at the renew deadline, and re-read next round.
    fn lost_race(&mut self, op: &'static str) -> bool {
        tracing::debug!(lease = %self.config.lease_ref(), identity = %self.config.identity, op, "lost lease race (409)");
        self.renewed_at = None;
        false
    }

    fn post_params(&self) -> PostParams {
        PostParams {
            dry_run: false,
            field_manager: Some(self.config.field_manager.clone()),
        }
    }
}

/// 409 with reason `Conflict` (stale `resourceVersion`) or `AlreadyExists`.
/// kube's `Status::is_conflict` only matches the reason, so check the code too.
fn is_conflict(error: &KubeError) -> bool {
    matches!(error, KubeError::Api(s) if s.code == 409 || s.is_conflict() || s.is_already_exists())
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
