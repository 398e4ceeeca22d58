//! Executing planned actions against the API server: the rendered requests of
//! `act::render`, plus what only the live cluster can tell (an existing
//! DestinationRule, the current replicas, the previous ReplicaSet).
//!
//! Every apply is safe to repeat after a crash: server-side apply is idempotent,
//! and what an apply resolved (a relative rate, a replica target, the previous
//! values of a patched rule) comes back in [`Undo`] and is reused rather than
//! re-read. Reverts treat an object already gone as reverted.

mod diagnostics;
mod drift;
mod landed;
mod rollback;
mod scale;
mod send;
mod traffic;
mod undo;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_drift;
#[cfg(test)]
mod tests_landed;
#[cfg(test)]
mod tests_matrix;
#[cfg(test)]
mod tests_prepare;
#[cfg(test)]
mod tests_traffic;
#[cfg(test)]
mod tests_workload;

pub use diagnostics::{Evidence, IncidentOwner, Reading, Series, Snapshot};
pub use drift::Drift;
pub use send::ExecError;
pub use undo::Undo;

use crate::act::render::{self, Method, RenderContext, Request};
use crate::incident::{Operation, PlannedAction};
use crate::playbook::model::{ActionKind, Playbook, RateLimit, RateLimitValue};

/// Sends actions' requests with one client (the operator's).
#[derive(Clone)]
pub struct Executor {
    client: kube::Client,
    /// Whether a diagnostics capture may run its `exec` (`--diagnostics-exec`).
    diagnostics_exec: bool,
    /// The client an exec streams over: by default `client`.
    stream_client: Option<kube::Client>,
}

/// One action to execute, with what the caller knows about it.
pub struct ExecInput<'a> {
    pub action: &'a PlannedAction,
    pub pb: &'a Playbook,
    /// Current request rate of the target, for relative rate limits.
    pub current_rps: Option<f64>,
    /// What the apply recorded: given for a revert, and for a repeated apply.
    pub undo: Option<&'a Undo>,
    /// When the step was first planned, not the wall clock: a repeated restart
    /// then sends the same `restartedAt` and rolls the pods only once.
    pub now: jiff::Timestamp,
}

/// One request that was sent and accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub method: Method,
    pub path: String,
    /// HTTP status code of the answer.
    pub code: u16,
}

/// What executing an action did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Requests sent, in order.
    pub sent: Vec<Sent>,
    /// In dry-run, the requests that would have been sent (nothing is sent).
    pub dry_run: Vec<Request>,
    /// What a revert or a repeated apply needs; the caller stores it.
    pub undo: Option<Undo>,
    /// For the timeline, e.g. "restored revision 7".
    pub note: Option<String>,
}

impl Executor {
    pub fn new(client: kube::Client) -> Self {
        Executor {
            client,
            diagnostics_exec: false,
            stream_client: None,
        }
    }

    /// Run diagnostics execs over `client` (one whose reads do not time out:
    /// an exec may be silent for longer than a request, and has its own timeout).
    pub fn with_stream_client(mut self, client: kube::Client) -> Self {
        self.stream_client = Some(client);
        self
    }

    /// Allow diagnostics captures to run their `exec` (off by default: it needs
    /// `pods/exec`, which is as strong as a shell in the pods).
    pub fn with_diagnostics_exec(mut self, enabled: bool) -> Self {
        self.diagnostics_exec = enabled;
        self
    }

    /// Captures diagnostics into ConfigMaps owned by the Incident in `evidence`,
    /// or in dry-run only renders the requests. Separate from
    /// [`Executor::execute`] because only the caller has the Incident's uid and
    /// the readings.
    #[tracing::instrument(skip_all, fields(
        playbook = %input.action.playbook,
        target = %input.action.target,
        incident = %input.action.incident,
        key = %input.action.key,
    ))]
    pub async fn capture_diagnostics(
        &self,
        input: ExecInput<'_>,
        evidence: &Evidence,
    ) -> Result<Outcome, ExecError> {
        let planned = input.action;
        let ctx = context(&input);
        if planned.dry_run || planned.action.dry_run {
            return dry_run(&input, &ctx);
        }
        let ActionKind::Diagnostics(spec) = &planned.action.kind else {
            return Err(ExecError::NotExecutable(planned.action.kind.as_str()));
        };
        let outcome = {
            let exec = self
                .diagnostics_exec
                .then(|| self.stream_client.as_ref().unwrap_or(&self.client));
            diagnostics::capture(&self.client, spec, &ctx, evidence, exec).await?
        };
        tracing::info!(
            action = "diagnostics",
            requests = outcome.sent.len(),
            note = outcome.note.as_deref().unwrap_or(""),
            "executed"
        );
        Ok(outcome)
    }

    /// Resolves what an apply depends on, reading but not writing: the rate a
    /// relative limit comes to, the DestinationRule a breaker goes into and the
    /// values it replaces, the replica target. Recording the returned undo
    /// before calling [`Executor::execute`] with it closes the window in which
    /// a crash after the write would let a repeat add replicas twice. Nothing
    /// to resolve (revert, dry-run, undo already given, other actions): the
    /// given undo back.
    #[tracing::instrument(skip_all, fields(
        playbook = %input.action.playbook,
        target = %input.action.target,
        incident = %input.action.incident,
        key = %input.action.key,
    ))]
    pub async fn prepare(&self, input: ExecInput<'_>) -> Result<Outcome, ExecError> {
        let planned = input.action;
        let nothing = Outcome {
            undo: input.undo.cloned(),
            ..Outcome::default()
        };
        if planned.dry_run
            || planned.action.dry_run
            || planned.operation == Operation::Revert
            || input.undo.is_some()
        {
            return Ok(nothing);
        }
        let ctx = context(&input);
        let (sent, undo) = match &planned.action.kind {
            ActionKind::RateLimit(rl) => {
                let rps = render::resolve_rps(rl.limit, ctx.current_rps)?;
                let undo = Undo::RateLimit {
                    requests_per_second: rps,
                };
                (Vec::new(), Some(undo))
            }
            ActionKind::CircuitBreaker(cb) => {
                traffic::circuit_breaker_prepare(&self.client, cb, &ctx).await?
            }
            ActionKind::Scale(s) => {
                let (read, undo) = scale::prepare(&self.client, s, &ctx).await?;
                (vec![read], Some(undo))
            }
            ActionKind::Restart => (Vec::new(), Some(Undo::Restarted { at: input.now })),
            _ => return Ok(nothing),
        };
        Ok(Outcome {
            sent,
            undo,
            ..Outcome::default()
        })
    }

    /// Applies or reverts `input.action`, or in dry-run only renders it.
    #[tracing::instrument(skip_all, fields(
        playbook = %input.action.playbook,
        target = %input.action.target,
        incident = %input.action.incident,
        key = %input.action.key,
    ))]
    pub async fn execute(&self, input: ExecInput<'_>) -> Result<Outcome, ExecError> {
        let planned = input.action;
        let ctx = context(&input);
        if planned.dry_run || planned.action.dry_run {
            return dry_run(&input, &ctx);
        }
        let kind = &planned.action.kind;
        let outcome = match (planned.operation, kind) {
            (_, ActionKind::Notify { .. } | ActionKind::Diagnostics(_)) => {
                return Err(ExecError::NotExecutable(kind.as_str()));
            }
            (Operation::Apply, ActionKind::RateLimit(rl)) => {
                traffic::rate_limit_apply(&self.client, rl, &ctx, input.undo).await?
            }
            (Operation::Apply, ActionKind::CircuitBreaker(cb)) => {
                traffic::circuit_breaker_apply(&self.client, cb, &ctx, input.undo).await?
            }
            (Operation::Revert, ActionKind::CircuitBreaker(cb)) => {
                traffic::circuit_breaker_revert(&self.client, cb, &ctx, input.undo).await?
            }
            (Operation::Apply, ActionKind::Rollback) => {
                rollback::apply(&self.client, &ctx, &planned.key.0).await?
            }
            (Operation::Apply, ActionKind::Scale(s)) => {
                scale::apply(&self.client, s, &ctx, input.undo).await?
            }
            (Operation::Revert, ActionKind::Scale(s)) => {
                scale::revert(&self.client, s, &ctx, input.undo).await?
            }
            (Operation::Apply, ActionKind::Restart) => {
                let mut ctx = ctx;
                if let Some(Undo::Restarted { at }) = input.undo {
                    ctx.now = *at;
                }
                Outcome {
                    sent: send_all(&self.client, &render::render_apply(kind, &ctx)?).await?,
                    undo: input.undo.cloned(),
                    ..Outcome::default()
                }
            }
            // Rate limit: delete what the apply created. Rollback and restart
            // render no revert: they are not reversible.
            (
                Operation::Revert,
                ActionKind::RateLimit(_) | ActionKind::Rollback | ActionKind::Restart,
            ) => Outcome {
                sent: revert_all(&self.client, &render::render_revert(kind, &ctx)?).await?,
                ..Outcome::default()
            },
        };
        tracing::info!(
            action = kind.as_str(),
            operation = ?planned.operation,
            requests = outcome.sent.len(),
            note = outcome.note.as_deref().unwrap_or(""),
            "executed"
        );
        Ok(outcome)
    }
}

fn context<'a>(input: &'a ExecInput<'_>) -> RenderContext<'a> {
    let planned = input.action;
    RenderContext {
        incident_id: &planned.incident.0,
        target: &planned.target,
        kind: input.pb.target.kind,
        match_labels: &input.pb.target.match_labels,
        current_rps: input.current_rps,
        current_replicas: None,
        existing_destination_rule: None,
        now: input.now,
    }
}

/// The requests that would be sent, with what the apply recorded filled in.
fn dry_run(input: &ExecInput<'_>, ctx: &RenderContext<'_>) -> Result<Outcome, ExecError> {
    let mut ctx = *ctx;
    let mut kind = input.action.action.kind.clone();
    match input.undo {
        Some(Undo::Scale { previous, .. }) => ctx.current_replicas = Some(*previous),
        Some(Undo::PatchedDestinationRule { name, .. }) => {
            ctx.existing_destination_rule = Some(name);
        }
        Some(Undo::RateLimit {
            requests_per_second,
        }) => {
            if let ActionKind::RateLimit(rl) = &mut kind {
                *rl = fixed_rate(rl, *requests_per_second);
            }
        }
        Some(Undo::Restarted { at }) => ctx.now = *at,
        Some(Undo::CreatedDestinationRule { .. } | Undo::RolledBack { .. }) | None => {}
    }
    let dry_run = match input.action.operation {
        Operation::Apply => render::render_apply(&kind, &ctx)?,
        Operation::Revert => {
            let mut requests = render::render_revert(&kind, &ctx)?;
            // The renderer only knows the release; the values to put back are ours.
            if let (
                ActionKind::CircuitBreaker(_),
                Some(Undo::PatchedDestinationRule { name, previous }),
            ) = (&kind, input.undo)
            {
                requests.push(traffic::restore_request(&ctx, name, previous));
            }
            requests
        }
    };
    Ok(Outcome {
        dry_run,
        ..Outcome::default()
    })
}

/// `rl` with its limit fixed to `rps` (a relative limit resolved earlier).
fn fixed_rate(rl: &RateLimit, rps: u32) -> RateLimit {
    RateLimit {
        limit: RateLimitValue::RequestsPerSecond(rps),
        ..rl.clone()
    }
}

/// Sends a revert's `requests` in order; a 404 is an object already gone.
async fn revert_all(client: &kube::Client, requests: &[Request]) -> Result<Vec<Sent>, ExecError> {
    let mut sent = Vec::with_capacity(requests.len());
    for request in requests {
        sent.extend(send::send_revert(client, request).await?);
    }
    Ok(sent)
}

/// Sends `requests` in order, stopping at the first failure.
async fn send_all(client: &kube::Client, requests: &[Request]) -> Result<Vec<Sent>, ExecError> {
    let mut sent = Vec::with_capacity(requests.len());
    for request in requests {
        sent.extend(send::send_idempotent(client, request).await?);
    }
    Ok(sent)
}
