//! The evaluator's "act" step: each cleared action is prepared (its undo
//! written to the Incident before anything changes), executed, and its outcome
//! recorded; transient failures go back to the engine to be retried.

use jiff::Timestamp;

use super::Evaluator;
use crate::act::execute::{ExecError, ExecInput};
use crate::detect::MetricSource;
use crate::engine::{DetectorResult, Event};
use crate::incident::{Operation, PlannedAction};
use crate::operator::catalog::Entry;
use crate::playbook::model::{ActionKind, Playbook};

impl<S: MetricSource> Evaluator<S> {
    /// Execute one cleared action and record its outcome; returns the engine's events.
    pub(super) async fn execute(
        &mut self,
        entry: &Entry,
        action: &PlannedAction,
        results: &[DetectorResult],
        now: Timestamp,
    ) -> Vec<Event> {
        let pb = &entry.playbook;
        match &action.action.kind {
            // Done = handed to the Slack sink, whose delivery is asynchronous (its
            // failures show in delivery metrics and the timeline). Without Slack the
            // step is a dry-run: never claimed as sent.
            ActionKind::Notify { .. } => {
                let recorded = PlannedAction {
                    dry_run: action.dry_run || !self.notifier.has_sink("slack"),
                    ..action.clone()
                };
                return self.engine.record_outcome(&recorded, Ok(()), now);
            }
            ActionKind::Diagnostics(_) if !action.dry_run && !action.action.dry_run => {
                return self.capture_diagnostics(entry, action, results, now).await;
            }
            _ => {}
        }
        match self.landed(entry, action, results, now).await {
            Ok(true) => return self.engine.record_outcome(action, Ok(()), now),
            Ok(false) => {}
            Err(e) => return self.failed(pb, action, &e, now),
        }
        match self.send(entry, action, results, now).await {
            Ok(()) => self.engine.record_outcome(action, Ok(()), now),
            Err(e) => self.failed(pb, action, &e, now),
        }
    }

    /// Whether an earlier attempt of this apply landed: its undo was recorded
    /// before it was sent, then the answer or the process was lost (a timeout,
    /// a crash before its outcome was written). Then it is done, not sent again.
    async fn landed(
        &mut self,
        entry: &Entry,
        action: &PlannedAction,
        results: &[DetectorResult],
        now: Timestamp,
    ) -> Result<bool, ExecError> {
        let pb = &entry.playbook;
        let undo = self.engine.undo_of(action);
        if undo.is_none() || action.operation != Operation::Apply {
            return Ok(false);
        }
        let input = ExecInput {
            action,
            pb,
            current_rps: crate::runner::dry_run::current_rps(pb, results, &action.target),
            undo: undo.as_ref(),
            now,
        };
        match self.executor.already_applied(input).await {
            Ok(true) => {
                tracing::info!(playbook = %pb.id, key = %action.key, "already in place: an earlier attempt landed; not sent again");
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) if e.is_transient() => Err(e),
            // Unknown: send it; every apply is idempotent for what it sets.
            Err(e) => {
                tracing::debug!(key = %action.key, error = %e, "could not tell whether the apply landed");
                Ok(false)
            }
        }
    }

    /// Prepare (recording the undo first) and execute `action`, keeping what the
    /// executor recorded. A retry or a re-apply reuses the recorded undo, so it
    /// neither re-reads nor, for a relative scale, adds twice.
    pub(super) async fn send(
        &mut self,
        entry: &Entry,
        action: &PlannedAction,
        results: &[DetectorResult],
        now: Timestamp,
    ) -> Result<(), ExecError> {
        let pb = &entry.playbook;
        let current_rps = crate::runner::dry_run::current_rps(pb, results, &action.target);
        let mut undo = self.engine.undo_of(action);
        if undo.is_none() && action.operation == Operation::Apply {
            let input = ExecInput {
                action,
                pb,
                current_rps,
                undo: None,
                now,
            };
            let prepared = self.executor.prepare(input).await?;
            if prepared.undo.is_some() {
                // Persist what the apply will need to be undone or repeated before
                // writing anything: a crash after the write must not lose it.
                self.engine.record_undo(action, prepared.undo.clone(), None);
                self.persist(entry, action).await?;
                undo = prepared.undo;
            }
        }
        let input = ExecInput {
            action,
            pb,
            current_rps,
            undo: undo.as_ref(),
            now,
        };
        let done = self.executor.execute(input).await?;
        tracing::info!(playbook = %pb.id, key = %action.key, sent = done.sent.len(), "action executed");
        self.engine.record_undo(action, done.undo, done.note);
        Ok(())
    }

    /// Record a failed execution: a transient error (5xx, 409, 429, timeout,
    /// transport) is retried after a backoff in playbook intervals; anything
    /// else (403, 404, 422, a refusal) fails the step at once.
    pub(super) fn failed(
        &mut self,
        pb: &Playbook,
        action: &PlannedAction,
        e: &ExecError,
        now: Timestamp,
    ) -> Vec<Event> {
        tracing::warn!(
            playbook = %action.playbook,
            target = %action.target,
            incident = %action.incident,
            key = %action.key,
            error = %e,
            kind = e.metric_label(),
            transient = e.is_transient(),
            "action failed"
        );
        if e.is_transient() {
            self.engine
                .record_transient_failure(action, e.to_string(), pb.interval, now)
        } else {
            self.engine.record_outcome(action, Err(e.to_string()), now)
        }
    }

    /// Write the incident's current record now (the ledger before a change);
    /// the Incident's uid once written.
    pub(super) async fn persist(
        &mut self,
        entry: &Entry,
        action: &PlannedAction,
    ) -> Result<Option<String>, ExecError> {
        let Some(record) = self
            .engine
            .record(&action.playbook, &action.target.name, &action.incident)
            .cloned()
        else {
            return Ok(None);
        };
        self.writer
            .sync(entry, &record, &[], &[])
            .await
            .map_err(|e| {
                tracing::warn!(incident = %action.incident, error = %e, "writing the ledger failed; the action waits for it");
                ExecError::Ledger(e.to_string())
            })
    }
}
