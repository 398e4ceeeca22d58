//! Did an earlier attempt land? An apply whose undo (or intent) was recorded
//! before it was sent may have reached the API server although its answer, or
//! the whole process, was lost: a timeout, a SIGKILL before the outcome was
//! written. Before sending it again, read the object: if what the apply sets is
//! there, it is done, and sending it twice could act twice.

use super::drift::{first_difference, without_query};
use super::send::send;
use super::{ExecError, ExecInput, Executor, Undo, context};
use crate::act::render::{self, Request};
use crate::playbook::model::ActionKind;

impl Executor {
    /// Whether `input.action` (an apply with a recorded undo) is already in
    /// place. `false` when it cannot be told; one GET at most.
    #[tracing::instrument(skip_all, fields(key = %input.action.key))]
    pub async fn already_applied(&self, input: ExecInput<'_>) -> Result<bool, ExecError> {
        match (&input.action.action.kind, input.undo) {
            (ActionKind::Restart, Some(Undo::Restarted { at })) => {
                let mut ctx = context(&input);
                ctx.now = *at;
                let rendered = render::render_apply(&ActionKind::Restart, &ctx)?;
                let Some(request) = rendered.first() else {
                    return Ok(false);
                };
                let ours = request.body.clone().unwrap_or_default();
                let get = Request::get(without_query(&request.path));
                let (live, _) = send(&self.client, &get).await?;
                Ok(first_difference("", &ours, &live).is_none())
            }
            (
                ActionKind::RateLimit(_) | ActionKind::CircuitBreaker(_) | ActionKind::Scale(_),
                Some(_),
            )
            | (ActionKind::Rollback, Some(Undo::RolledBack { .. })) => {
                Ok(self.check_drift(input).await?.is_none())
            }
            _ => Ok(false),
        }
    }
}
