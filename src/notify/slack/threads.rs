//! Web API mode: one thread per incident. Each delivery round, per incident:
//! post the root if it is not in Slack yet, else update it once if what it
//! should show changed (a burst of steps costs one `chat.update`), then send
//! the queued replies in order. A reply Slack could not take now (rate limit,
//! outage) waits for the next round, and those after it wait behind it.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::blocks::Message;
use super::client::SlackApi;
use super::reply;
use super::retry::CallError;
use super::root::{self, RootInput};
use super::status::StatusWriter;
use super::thread::{Pending, Queued, Restored, Root, Step, Thread};
use super::view::Links;
use super::worker::{Deliverer, Done, Meter};
use crate::incident::resource::SlackThread;

/// Rounds a step may wait for Slack before it is given up.
const MAX_ROUNDS: u32 = 10;
/// How long a resolved incident's thread is remembered (late reverts still reply to it).
const RETAIN: Duration = Duration::from_secs(6 * 3600);

/// What a round needs besides the threads.
struct Io {
    api: SlackApi,
    links: Links,
    default_channel: Option<String>,
    meter: Meter,
    status: StatusWriter,
}

pub struct Threads {
    io: Io,
    threads: BTreeMap<String, Thread>,
}

impl Threads {
    pub fn new(
        api: SlackApi,
        links: Links,
        default_channel: Option<String>,
        meter: Meter,
        status: StatusWriter,
    ) -> Self {
        Threads {
            io: Io {
                api,
                links,
                default_channel,
                meter,
                status,
            },
            threads: BTreeMap::new(),
        }
    }
}

fn key(namespace: &str, incident: &str) -> String {
    format!("{namespace}/{incident}")
}

impl Deliverer for Threads {
    fn accept(&mut self, q: Queued) {
        let n = &q.notice;
        let t = self
            .threads
            .entry(key(&n.playbook.namespace, &n.incident))
            .or_insert_with(|| Thread::new(&n.playbook.namespace, &n.incident));
        if t.accept(q, self.io.default_channel.as_deref()) == 0 {
            self.io.meter.left_queue();
        }
    }

    fn restore(&mut self, r: Restored) {
        let k = key(&r.namespace, &r.incident);
        match self.threads.get(&k).map(|t| &t.root) {
            Some(Root::Posted(_)) => {}
            _ => {
                info!(incident = %r.incident, namespace = %r.namespace, channel = %r.thread.channel, "continuing the Slack thread");
                self.threads.insert(k, Thread::restored(r));
            }
        }
    }

    fn has_work(&self) -> bool {
        self.io.status.has_pending() || self.threads.values().any(Thread::has_work)
    }

    async fn round(&mut self) -> bool {
        let mut blocked = false;
        for t in self.threads.values_mut() {
            if t.has_work() {
                blocked |= self.io.deliver(t).await;
            }
        }
        self.io.status.flush().await;
        self.threads.retain(|_, t| !t.finished(RETAIN));
        blocked
    }

    fn paused_until(&self) -> Option<Instant> {
        self.io.api.paused_until()
    }
}

impl Io {
    fn root_message(&self, t: &Thread) -> Option<Message> {
        let (view, latest) = (t.view.as_deref()?, t.latest.as_ref()?);
        Some(root::render(&RootInput {
            notice: latest,
            view,
            links: &self.links,
            tally: &t.tally,
            mentions: &t.root_mentions(),
            step: None,
        }))
    }

    /// One round for one incident; true when something waits for Slack to be available.
    async fn deliver(&mut self, t: &mut Thread) -> bool {
        let mut blocked = false;
        if t.root == Root::Unposted && t.dirty {
            blocked |= self.post_root(t).await;
        } else if t.dirty
            && let Root::Posted(th) = t.root.clone()
        {
            blocked |= self.update_root(t, &th).await;
        }
        blocked | self.send_queue(t).await
    }

    async fn post_root(&mut self, t: &mut Thread) -> bool {
        let default = self.default_channel.as_deref();
        let (Some(home), Some(message)) = (t.home_channel(default), self.root_message(t)) else {
            debug!(incident = %t.incident, "no Slack route for this incident; not posted");
            for p in t.queue.drain(..) {
                self.meter.skipped(&p);
            }
            t.dirty = false;
            return false;
        };
        match self.api.post_message(&home, &message, None).await {
            Ok(posted) => {
                info!(incident = %t.incident, channel = %posted.channel, ts = %posted.ts, "Slack thread opened");
                let thread = SlackThread {
                    channel: posted.channel,
                    ts: posted.ts,
                };
                t.root = Root::Posted(thread.clone());
                t.home = Some(home);
                t.shown = Some(message);
                t.dirty = false;
                self.meter.delivered_call();
                self.status.thread(&t.namespace, &t.incident, thread).await;
                false
            }
            Err(CallError::Unavailable(reason)) => {
                warn!(incident = %t.incident, %reason, "Slack unavailable; the root waits for the next round");
                true
            }
            Err(e) => {
                // Unknown: never posted again. Rejected: nothing queued can go anywhere now.
                error!(incident = %t.incident, call = "chat.postMessage", result = e.metric_label(), error = %e, "Slack root message failed");
                self.failed(t, "chat.postMessage (root)", &e, None);
                if matches!(e, CallError::Unknown(_)) {
                    self.meter.failed_call();
                    t.root = Root::Unknown;
                } else {
                    for p in t.queue.drain(..) {
                        self.meter.failed(&p);
                    }
                }
                t.dirty = false;
                false
            }
        }
    }

    async fn update_root(&mut self, t: &mut Thread, th: &SlackThread) -> bool {
        let Some(message) = self.root_message(t) else {
            return false;
        };
        if t.shown.as_ref() == Some(&message) {
            t.dirty = false;
            return false;
        }
        match self.api.update(&th.channel, &th.ts, &message).await {
            Ok(()) => {
                debug!(incident = %t.incident, "Slack root updated");
                t.shown = Some(message);
                t.dirty = false;
                false
            }
            Err(e @ CallError::Rejected(_)) => {
                warn!(incident = %t.incident, call = "chat.update", error = %e, "Slack root update refused");
                self.failed(t, "chat.update (root)", &e, None);
                self.meter.failed_call();
                // Not retried until the next step changes it again.
                t.dirty = false;
                false
            }
            Err(e) => {
                warn!(incident = %t.incident, call = "chat.update", error = %e, "Slack root update waits for the next round");
                true
            }
        }
    }

    async fn send_queue(&mut self, t: &mut Thread) -> bool {
        while let Some(p) = t.queue.front() {
            let sent = match (&p.step, t.root.clone()) {
                (_, Root::Unposted) => return false,
                // The root post delivered it (counted there); a link to a thread in doubt is moot.
                (Step::Root, Root::Posted(_)) => Ok(Done::Shown),
                (Step::Root, Root::Unknown) | (Step::CrossPost { .. }, Root::Unknown) => {
                    Ok(Done::Moot)
                }
                (
                    Step::Reply {
                        mentions,
                        broadcast,
                    },
                    Root::Posted(th),
                ) => {
                    let mentions = if *mentions {
                        t.mentions_for(p.notice.severity)
                    } else {
                        Vec::new()
                    };
                    let message = reply::render(&p.notice, &mentions);
                    let thread = Some((th.ts.as_str(), *broadcast));
                    self.api
                        .post_message(&th.channel, &message, thread)
                        .await
                        .map(|_| Done::Sent)
                }
                (Step::Reply { .. }, Root::Unknown) => {
                    self.standalone(t, &t.queue[0]).await.map(|()| Done::Sent)
                }
                (Step::CrossPost { channel }, Root::Posted(th)) => {
                    let channel = channel.clone();
                    self.crosspost(t, &th, &channel).await.map(|()| Done::Sent)
                }
            };
            let Some(mut p) = t.queue.pop_front() else {
                break;
            };
            match sent {
                Ok(done) => self.meter.done(&p, done),
                Err(CallError::Unavailable(reason)) if p.rounds + 1 < MAX_ROUNDS => {
                    p.rounds += 1;
                    debug!(incident = %t.incident, notice = %p.notice.id, %reason, "Slack unavailable; the step waits");
                    t.queue.push_front(p);
                    return true;
                }
                Err(e) => {
                    error!(incident = %t.incident, notice = %p.notice.id, kind = p.notice.kind.as_str(), result = e.metric_label(), error = %e, "Slack message given up");
                    let key = p.notice.action.as_ref().map(|a| a.key.clone());
                    self.failed(
                        t,
                        &format!("message for {}", p.notice.kind.as_str()),
                        &e,
                        key,
                    );
                    self.meter.failed(&p);
                }
            }
        }
        false
    }

    /// A step of a thread whose root is in doubt: a message that stands alone.
    async fn standalone(&mut self, t: &Thread, p: &Pending) -> Result<(), CallError> {
        let default = self.default_channel.as_deref();
        let (Some(view), Some(channel)) =
            (t.view.as_deref(), t.channel_for(p.notice.severity, default))
        else {
            return Ok(());
        };
        let mentions = t.mentions_for(p.notice.severity);
        let message = reply::standalone(&p.notice, view, &self.links, &mentions);
        self.api
            .post_message(&channel, &message, None)
            .await
            .map(|_| ())
    }

    async fn crosspost(
        &mut self,
        t: &mut Thread,
        th: &SlackThread,
        channel: &str,
    ) -> Result<(), CallError> {
        if t.permalink.is_none() {
            match self.api.permalink(&th.channel, &th.ts).await {
                Ok(link) => t.permalink = Some(link),
                // The cross-post still names the channel of the thread.
                Err(e) => debug!(incident = %t.incident, error = %e, "no permalink for the thread"),
            }
        }
        let Some(p) = t.queue.front() else {
            return Ok(());
        };
        let mentions = t.mentions_for(p.notice.severity);
        let message = reply::crosspost(&p.notice, t.permalink.as_deref(), &th.channel, &mentions);
        self.api
            .post_message(channel, &message, None)
            .await
            .map(|_| ())
    }

    /// A failure goes to the metrics (by the caller), the log, and the incident's timeline.
    fn failed(&mut self, t: &Thread, what: &str, e: &CallError, key: Option<String>) {
        self.status
            .failure(&t.namespace, &t.incident, format!("Slack {what}: {e}"), key);
    }
}
