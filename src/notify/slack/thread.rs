//! One incident's Slack thread: where its root is, what the root should show,
//! and the messages still to send, in order. Pure state; the delivery round
//! in `threads.rs` does the calls.
//!
//! One root per incident: the root is posted once, to the channel of the
//! route of the incident's opening severity (or, when that severity has no
//! route, of the first routed severity it reaches; else the default channel).
//! Steps after the opening are replies. An escalation into a severity whose
//! route names another channel keeps the thread where it is: the escalation
//! reply is broadcast to the thread's channel (`reply_broadcast`, unless the
//! route is quiet) and a short cross-post with a link to the thread goes to
//! the new channel, with that route's mentions.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::time::Instant;

use super::blocks::Message;
use super::root::Tally;
use super::view::PlaybookView;
use crate::incident::resource::SlackThread;
use crate::notify::{Notice, NoticeKind};
use crate::playbook::spec::SlackRoute;
use crate::severity::Severity;

/// A notice taken from the queue, with the playbook as it was when published.
pub struct Queued {
    pub view: Arc<PlaybookView>,
    pub notice: Notice,
    pub enqueued: Instant,
}

/// A thread a previous process recorded in the Incident status.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    pub namespace: String,
    pub incident: String,
    pub thread: SlackThread,
    pub opened: Severity,
    pub tally: Tally,
}

/// Where the root message is.
#[derive(Clone, Debug, PartialEq)]
pub enum Root {
    /// Not in Slack (never sent, or refused): safe to post.
    Unposted,
    Posted(SlackThread),
    /// `chat.postMessage` went out and no answer came: it may be in Slack. Never
    /// posted again; later steps go out as standalone messages instead.
    Unknown,
}

/// What a queued step sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The opening: done when the root is posted.
    Root,
    Reply {
        mentions: bool,
        broadcast: bool,
    },
    /// A link to the thread in another channel (escalation into another route).
    CrossPost {
        channel: String,
    },
}

/// A step waiting to be sent.
#[derive(Debug)]
pub struct Pending {
    pub notice: Notice,
    pub step: Step,
    pub enqueued: Instant,
    /// Rounds in which Slack was unavailable for it.
    pub rounds: u32,
    /// Counted in the `notices_queued` gauge (cross-posts are not notices).
    pub counted: bool,
}

pub struct Thread {
    pub namespace: String,
    pub incident: String,
    pub root: Root,
    /// The newest step: what the root shows.
    pub latest: Option<Notice>,
    pub view: Option<Arc<PlaybookView>>,
    /// Opening severity: chooses the root's channel and mentions.
    pub opened: Option<Severity>,
    /// The channel (as configured) the root was posted to.
    pub home: Option<String>,
    pub tally: Tally,
    pub queue: VecDeque<Pending>,
    /// The root as Slack shows it; an update is sent only when it differs.
    pub shown: Option<Message>,
    /// The root needs rendering again.
    pub dirty: bool,
    pub permalink: Option<String>,
    pub touched: Instant,
    seen: HashSet<String>,
}

impl Thread {
    pub fn new(namespace: &str, incident: &str) -> Self {
        Thread {
            namespace: namespace.to_owned(),
            incident: incident.to_owned(),
            root: Root::Unposted,
            latest: None,
            view: None,
            opened: None,
            home: None,
            tally: Tally::default(),
            queue: VecDeque::new(),
            shown: None,
            dirty: false,
            permalink: None,
            touched: Instant::now(),
            seen: HashSet::new(),
        }
    }

    /// Continue a thread a previous process posted; what it shows is unknown, so
    /// the next step updates it.
    pub fn restored(r: Restored) -> Self {
        let mut t = Thread::new(&r.namespace, &r.incident);
        t.root = Root::Posted(r.thread);
        t.opened = Some(r.opened);
        t.tally = r.tally;
        t
    }

    /// Take a notice in; returns how many steps were queued (0: a duplicate).
    pub fn accept(&mut self, q: Queued, default_channel: Option<&str>) -> usize {
        let mut n = q.notice;
        if !self.seen.insert(n.id.clone()) {
            return 0;
        }
        // Steps after the resolution (reverts) carry neither readings nor the
        // duration; the root keeps showing the last known ones.
        if let Some(prev) = &self.latest {
            if n.readings.is_empty() {
                n.readings = prev.readings.clone();
            }
            if n.duration_seconds.is_none() && n.phase == "resolved" {
                n.duration_seconds = prev.duration_seconds;
            }
        }
        self.touched = Instant::now();
        if self.opened.is_none() {
            self.opened = Some(match n.kind {
                NoticeKind::Opened => n.severity,
                _ => n.previous_severity.unwrap_or(n.severity).min(n.severity),
            });
        }
        self.view = Some(q.view.clone());
        self.tally.count(&n);
        let mut steps = Vec::new();
        match n.kind {
            NoticeKind::Opened => steps.push(Step::Root),
            NoticeKind::Escalated => {
                let route = q.view.route_for(n.severity);
                let loud = route.is_some_and(|r| !r.quiet);
                steps.push(Step::Reply {
                    mentions: loud,
                    broadcast: loud,
                });
                let home = self.home_channel(default_channel);
                if let Some(r) = route
                    && home.as_deref().is_some_and(|h| h != r.channel)
                {
                    steps.push(Step::CrossPost {
                        channel: r.channel.clone(),
                    });
                }
            }
            _ => steps.push(Step::Reply {
                mentions: false,
                broadcast: false,
            }),
        }
        let count = steps.len();
        for (i, step) in steps.into_iter().enumerate() {
            self.queue.push_back(Pending {
                notice: n.clone(),
                step,
                enqueued: q.enqueued,
                rounds: 0,
                counted: i == 0,
            });
        }
        self.latest = Some(n);
        self.dirty = true;
        count
    }

    /// The route the root is posted under: the opening severity's, else the
    /// current severity's (the first one routed).
    pub fn home_route(&self) -> Option<&SlackRoute> {
        let view = self.view.as_deref()?;
        self.opened
            .and_then(|s| view.route_for(s))
            .or_else(|| view.route_for(self.latest.as_ref()?.severity))
    }

    /// Where the root is or will be.
    pub fn home_channel(&self, default_channel: Option<&str>) -> Option<String> {
        self.home.clone().or_else(|| {
            self.home_route()
                .map(|r| r.channel.clone())
                .or_else(|| default_channel.map(str::to_owned))
        })
    }

    /// Mentions of the root (none when its route is quiet).
    pub fn root_mentions(&self) -> Vec<String> {
        self.home_route()
            .filter(|r| !r.quiet)
            .map(|r| r.mentions.clone())
            .unwrap_or_default()
    }

    /// Mentions of a step's own severity (escalations, standalone messages).
    pub fn mentions_for(&self, severity: Severity) -> Vec<String> {
        self.view
            .as_deref()
            .and_then(|v| v.route_for(severity))
            .filter(|r| !r.quiet)
            .map(|r| r.mentions.clone())
            .unwrap_or_default()
    }

    /// Channel of a step's own severity, for standalone messages.
    pub fn channel_for(&self, severity: Severity, default_channel: Option<&str>) -> Option<String> {
        self.view
            .as_deref()
            .and_then(|v| v.route_for(severity))
            .map(|r| r.channel.clone())
            .or_else(|| self.home_channel(default_channel))
    }

    /// Something still to send or show.
    pub fn has_work(&self) -> bool {
        // `dirty`: the root is to be posted or updated (cleared once done or given up).
        let root = self.dirty && self.latest.is_some() && self.root != Root::Unknown;
        !self.queue.is_empty() || root
    }

    /// Resolved, everything sent, and quiet for `retain`: safe to forget (reverts
    /// that follow a resolution arrive within a few cycles).
    pub fn finished(&self, retain: std::time::Duration) -> bool {
        let resolved = self.latest.as_ref().is_some_and(|n| n.phase == "resolved");
        resolved && !self.has_work() && self.touched.elapsed() >= retain
    }
}
