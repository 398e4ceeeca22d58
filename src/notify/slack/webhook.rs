//! Incoming-webhook mode, for teams without a bot: one self-contained message
//! per notice, in order. A webhook can neither reply in a thread nor edit a
//! message, and posts only to the channel it was created for, so there is no
//! thread, no root updated in place, and the routes' channels are ignored
//! (their mentions and `quiet` still apply). Only notices whose severity the
//! playbook routes are posted.

use std::collections::VecDeque;

use tokio::time::Instant;
use tracing::{debug, error};

use super::client::Webhook;
use super::reply;
use super::retry::CallError;
use super::status::StatusWriter;
use super::thread::{Pending, Queued, Step};
use super::view::{Links, PlaybookView};
use super::worker::{Deliverer, Done, Meter};

/// Rounds a message may wait for Slack before it is given up.
const MAX_ROUNDS: u32 = 10;
/// Messages kept waiting; the oldest is dropped beyond it.
const MAX_WAITING: usize = 1000;

pub struct Hook {
    hook: Webhook,
    links: Links,
    meter: Meter,
    status: StatusWriter,
    queue: VecDeque<(std::sync::Arc<PlaybookView>, Pending)>,
}

impl Hook {
    pub fn new(hook: Webhook, links: Links, meter: Meter, status: StatusWriter) -> Self {
        Hook {
            hook,
            links,
            meter,
            status,
            queue: VecDeque::new(),
        }
    }
}

impl Deliverer for Hook {
    fn accept(&mut self, q: Queued) {
        if q.view.route_for(q.notice.severity).is_none() {
            debug!(incident = %q.notice.incident, "no Slack route for this severity; not posted");
            self.meter.left_queue();
            return;
        }
        if self.queue.len() >= MAX_WAITING
            && let Some((_, p)) = self.queue.pop_front()
        {
            error!(incident = %p.notice.incident, notice = %p.notice.id, "Slack webhook backlog full; oldest message dropped");
            self.meter.failed(&p);
        }
        let pending = Pending {
            notice: q.notice,
            step: Step::Reply {
                mentions: true,
                broadcast: false,
            },
            enqueued: q.enqueued,
            rounds: 0,
            counted: true,
        };
        self.queue.push_back((q.view, pending));
    }

    fn has_work(&self) -> bool {
        !self.queue.is_empty() || self.status.has_pending()
    }

    async fn round(&mut self) -> bool {
        let blocked = self.send_all().await;
        self.status.flush().await;
        blocked
    }

    fn paused_until(&self) -> Option<Instant> {
        self.hook.paused_until()
    }
}

impl Hook {
    async fn send_all(&mut self) -> bool {
        while let Some((view, p)) = self.queue.front() {
            let n = &p.notice;
            let mentions = view
                .route_for(n.severity)
                .filter(|r| !r.quiet)
                .map(|r| r.mentions.clone())
                .unwrap_or_default();
            let message = reply::standalone(n, view, &self.links, &mentions);
            let sent = self.hook.post(&message).await;
            let Some((view, mut p)) = self.queue.pop_front() else {
                break;
            };
            match sent {
                Ok(()) => self.meter.done(&p, Done::Sent),
                Err(CallError::Unavailable(reason)) if p.rounds + 1 < MAX_ROUNDS => {
                    debug!(notice = %p.notice.id, %reason, "Slack webhook unavailable; the message waits");
                    p.rounds += 1;
                    self.queue.push_front((view, p));
                    return true;
                }
                Err(e) => {
                    // Unknown (no answer): not sent again, a webhook has no idempotency either.
                    error!(incident = %p.notice.incident, notice = %p.notice.id, result = e.metric_label(), error = %e, "Slack webhook message given up");
                    self.status.failure(
                        &p.notice.playbook.namespace,
                        &p.notice.incident,
                        format!("Slack webhook message for {}: {e}", p.notice.kind.as_str()),
                        p.notice.action.as_ref().map(|a| a.key.clone()),
                    );
                    self.meter.failed(&p);
                }
            }
        }
        false
    }
}
