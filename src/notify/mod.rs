//! Telling the world: incident lifecycle notices fanned out to sinks (Kafka
//! CloudEvents, Slack threads). Sinks only enqueue: delivery runs in their own
//! tasks and never blocks detection or actions.

pub mod args;
pub mod kafka;
pub mod notice;
pub mod slack;

pub use notice::{Notice, NoticeKind, NoticeReading, Notices};

use crate::engine::Event;
use crate::incident::resource::Incident as IncidentResource;
use crate::incident::{Incident, IncidentId};
use crate::playbook::model::Playbook;

/// Somewhere notices go. `publish` must return at once (queue, then deliver).
pub trait Sink: Send + Sync {
    fn name(&self) -> &'static str;
    fn publish(&mut self, pb: &Playbook, notices: &[Notice]);
    /// Continue an incident a previous process recorded (e.g. its Slack thread).
    fn restore(&mut self, _incident: &IncidentResource) {}
    /// At shutdown: deliver what is queued, within the sink's own short deadline.
    fn flush(&mut self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The notice builder and the configured sinks.
#[derive(Default)]
pub struct Notifier {
    notices: Notices,
    sinks: Vec<Box<dyn Sink>>,
}

impl Notifier {
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Notifier {
            notices: Notices::default(),
            sinks,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Whether a sink of this name (`kafka`, `slack`) is configured.
    pub fn has_sink(&self, name: &str) -> bool {
        self.sinks.iter().any(|s| s.name() == name)
    }

    /// Continue an incident recorded by a previous leader: its readings and
    /// whatever each sink keeps (the Slack thread).
    pub fn restore(&mut self, pb: &Playbook, incident: &IncidentResource) {
        if let Some(status) = &incident.status {
            let readings = status
                .readings
                .iter()
                .map(|r| NoticeReading {
                    detector: r.detector.clone(),
                    value: r.value,
                    threshold: r.severity.and_then(|s| {
                        pb.detectors
                            .iter()
                            .find(|d| d.name == r.detector)?
                            .threshold(s)
                    }),
                    severity: r.severity,
                    no_data: r.no_data.clone(),
                    at: r.at.0,
                })
                .collect();
            self.notices.seed(pb, &incident.spec.target.name, readings);
        }
        for sink in &mut self.sinks {
            sink.restore(incident);
        }
    }

    /// Give every sink its chance to deliver what is queued (at shutdown).
    pub async fn flush(&mut self) {
        for sink in &mut self.sinks {
            sink.flush().await;
        }
    }

    /// Build the notices for one evaluation's events and hand them to every sink.
    pub fn notify<'a>(
        &mut self,
        pb: &Playbook,
        events: &[Event],
        record: impl Fn(&str, &IncidentId) -> Option<&'a Incident>,
    ) -> Vec<Notice> {
        let notices = self.build(pb, events, record);
        self.publish(pb, &notices);
        notices
    }

    /// The notices of `events`, not yet handed to any sink (the operator writes
    /// them to the Incident first: see `IncidentStatus::pending_notices`).
    pub fn build<'a>(
        &mut self,
        pb: &Playbook,
        events: &[Event],
        record: impl Fn(&str, &IncidentId) -> Option<&'a Incident>,
    ) -> Vec<Notice> {
        self.notices.build(pb, events, record)
    }

    /// Hand `notices` to every sink.
    pub fn publish(&mut self, pb: &Playbook, notices: &[Notice]) {
        if !notices.is_empty() {
            for sink in &mut self.sinks {
                sink.publish(pb, notices);
            }
        }
    }
}
