//! `status.eventsPublished` of each Incident (operator mode): how many of its
//! events the broker has acknowledged, written by a JSON merge patch on the
//! status subresource at most every [`EVERY`]. The incident writer PUTs the
//! status with its `resourceVersion` and keeps this field when it re-reads after
//! the 409 our patch causes. A count restored from the status is the base, so a
//! new leader keeps counting.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};

use crate::incident::resource::Incident;

const EVERY: Duration = Duration::from_secs(5);
/// Entries untouched this long are forgotten (their incident is long over).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Count {
    namespace: String,
    total: u64,
    written: Option<u64>,
    touched: Instant,
}

/// Counts per incident, shared by the delivery task and the writer task.
#[derive(Debug, Default)]
pub struct Published {
    counts: Mutex<HashMap<String, Count>>,
}

impl Published {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Count>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The count a previous leader recorded.
    pub fn restore(&self, namespace: &str, incident: &str, published: u64) {
        let mut counts = self.counts();
        let c = counts.entry(incident.to_owned()).or_insert_with(|| Count {
            namespace: namespace.to_owned(),
            total: 0,
            written: None,
            touched: Instant::now(),
        });
        c.total = c.total.max(published);
        c.written = Some(c.total);
    }

    /// One event of `incident` acknowledged by the broker.
    pub fn delivered(&self, namespace: &str, incident: &str) {
        let mut counts = self.counts();
        let c = counts.entry(incident.to_owned()).or_insert_with(|| Count {
            namespace: namespace.to_owned(),
            total: 0,
            written: None,
            touched: Instant::now(),
        });
        c.total += 1;
        c.touched = Instant::now();
    }

    /// `(namespace, incident, count)` not written yet.
    fn due(&self) -> Vec<(String, String, u64)> {
        let mut counts = self.counts();
        counts.retain(|_, c| c.touched.elapsed() < FORGET_AFTER || c.written != Some(c.total));
        counts
            .iter()
            .filter(|(_, c)| c.written != Some(c.total))
            .map(|(id, c)| (c.namespace.clone(), id.clone(), c.total))
            .collect()
    }

    fn written(&self, incident: &str, count: u64) {
        if let Some(c) = self.counts().get_mut(incident) {
            c.written = Some(count.max(c.written.unwrap_or(0)));
        }
    }
}

/// Write the counts that changed, every [`EVERY`], until the sink is dropped.
pub async fn write_counts(published: Weak<Published>, client: kube::Client) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        let Some(p) = published.upgrade() else { return };
        for (namespace, incident, count) in p.due() {
            let api: Api<Incident> = Api::namespaced(client.clone(), &namespace);
            let patch = serde_json::json!({"status": {"eventsPublished": count}});
            match api
                .patch_status(&incident, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => p.written(&incident, count),
                // Created at the end of the cycle that opened it: tried again next tick.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    tracing::warn!(incident, error = %e, "writing eventsPublished failed; retried");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_continue_from_the_restored_value_and_are_due_once() {
        let p = Published::default();
        p.restore("shop", "inc-1", 4);
        assert!(p.due().is_empty(), "a restored count is already written");
        p.delivered("shop", "inc-1");
        p.delivered("shop", "inc-2");
        let mut due = p.due();
        due.sort();
        assert_eq!(
            due,
            [
                ("shop".to_owned(), "inc-1".to_owned(), 5),
                ("shop".to_owned(), "inc-2".to_owned(), 1)
            ]
        );
        p.written("inc-1", 5);
        p.written("inc-2", 1);
        assert!(p.due().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_count_is_patched_into_the_status_once_the_incident_exists() {
        use crate::operator::testing_writers::{Reply, expect, mock_client, served};
        use http::Method;

        const STATUS: &str = "/apis/firebreak.dev/v1alpha1/namespaces/shop/incidents/inc-1/status?";
        let (client, server) = mock_client("shop");
        let server = server.run(vec![
            // Not created yet: tried again at the next tick.
            expect(
                Method::PATCH,
                STATUS,
                Reply::not_found("incidents.firebreak.dev", "inc-1"),
            ),
            expect(
                Method::PATCH,
                STATUS,
                Reply::ok(serde_json::json!({
                    "apiVersion": "firebreak.dev/v1alpha1", "kind": "Incident",
                    "metadata": {"name": "inc-1", "namespace": "shop", "resourceVersion": "8"},
                    "spec": {"playbook": "pb", "target": {"kind": "Deployment", "name": "api"},
                             "openedAt": "2026-03-02T10:00:00Z", "openedSeverity": "high"},
                    "status": {"eventsPublished": 2},
                })),
            ),
        ]);
        let p = std::sync::Arc::new(Published::default());
        p.delivered("shop", "inc-1");
        p.delivered("shop", "inc-1");
        let task = tokio::spawn(write_counts(std::sync::Arc::downgrade(&p), client));
        while !p.due().is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        drop(p);
        task.await.unwrap();
        let received = served(server).await;
        assert_eq!(received.len(), 2);
        for r in &received {
            assert_eq!(
                r.content_type.as_deref(),
                Some("application/merge-patch+json")
            );
            assert_eq!(
                r.body,
                Some(serde_json::json!({"status": {"eventsPublished": 2}}))
            );
        }
    }
}
