//! The delivery task: drains the outbox through the producer, records what the
//! broker acknowledged, and fsyncs the outbox off the enqueue path.

use std::sync::Arc;
use std::time::Instant;

use super::{BACKOFF_MAX, BACKOFF_MIN, BATCH, SINK, Shared, outbox, producer};
use crate::telemetry::metrics::SinkLabels;

/// Fsync the outbox log periodically, off the enqueue path; ends with the sink.
pub(super) async fn sync_outbox(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(outbox::SYNC_EVERY);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some((path, file)) = shared.outbox().due_for_sync() else {
            continue;
        };
        drop(shared);
        let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
        if let Ok(Err(e)) = synced {
            tracing::warn!(path = %path.display(), error = %e, "syncing the Kafka outbox failed");
        }
    }
}

type Report = (
    u64,
    Result<
        rdkafka::producer::future_producer::OwnedDeliveryResult,
        futures::channel::oneshot::Canceled,
    >,
);

/// The delivery task. Pipelined: new events are handed to librdkafka while
/// earlier ones await their acks, so latency is one broker round trip. After a
/// failure nothing new is sent until every in-flight event has its report;
/// then, after a backoff, everything undelivered is sent again from the head,
/// in order (same `ce_id`).
pub(super) async fn deliver(shared: Arc<Shared>, mut delivery: producer::Delivery) {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;

    let mut inflight: FuturesUnordered<futures::future::BoxFuture<'static, Report>> =
        FuturesUnordered::new();
    // The lowest sequence number not yet handed to librdkafka.
    let mut next = 0u64;
    let mut failing = false;
    let mut backoff = BACKOFF_MIN;
    // Subscribers may start before the first incident: the topic exists from the start.
    delivery.check_topic().await;
    loop {
        if !failing {
            let batch = shared.outbox().peek_from(next, BATCH);
            if !batch.is_empty() {
                let sent = delivery.dispatch(&batch).await;
                match sent.last() {
                    Some((seq, _)) => next = seq + 1,
                    // Nothing taken (no producer, queue full): retry after a pause.
                    None if inflight.is_empty() => failing = true,
                    None => {}
                }
                for (seq, fut) in sent {
                    inflight.push(Box::pin(async move { (seq, fut.await) }));
                }
            }
        }
        if inflight.is_empty() {
            if failing {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                delivery.recover();
                failing = false;
                next = 0;
                continue;
            }
            if shared.outbox().peek_from(next, 1).is_empty() {
                if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                shared.wake.notified().await;
            }
            continue;
        }
        let first = tokio::select! {
            r = inflight.next() => r,
            () = shared.wake.notified(), if !failing => None,
        };
        let Some(first) = first else { continue };
        // Take every report that is ready, to record them in one write.
        let mut reports = vec![first];
        while let Some(Some(r)) = futures::FutureExt::now_or_never(inflight.next()) {
            reports.push(r);
        }
        let failed = settle(&shared, reports);
        if failed > 0 {
            failing = true;
        } else if !failing {
            backoff = BACKOFF_MIN;
        }
    }
}

/// Record delivery reports: acknowledged events leave the outbox. Returns how many failed.
fn settle(shared: &Shared, reports: Vec<Report>) -> usize {
    let now = Instant::now();
    let mut delivered = Vec::with_capacity(reports.len());
    let mut failed = 0;
    let mut first_error = None;
    for (seq, r) in reports {
        match r {
            Ok(Ok(_)) => delivered.push(seq),
            Ok(Err((e, _))) => {
                first_error.get_or_insert(e);
                failed += 1;
            }
            Err(_canceled) => failed += 1,
        }
    }
    if let Some(e) = first_error {
        tracing::warn!(error = %e, failed, "Kafka deliveries failed; they stay in the outbox and are sent again");
    }
    {
        let mut enq = shared.enqueued.lock().unwrap_or_else(|e| e.into_inner());
        let mut samples = shared.samples.lock().unwrap_or_else(|e| e.into_inner());
        let hist = shared
            .metrics
            .delivery_seconds
            .get_or_create(&SinkLabels { sink: SINK.into() });
        for seq in &delivered {
            if let Some(t) = enq.remove(seq) {
                let took = now.duration_since(t);
                hist.observe(took.as_secs_f64());
                if let Some(s) = samples.as_mut() {
                    s.push(took);
                }
            }
        }
    }
    let len = {
        let mut outbox = shared.outbox();
        for seq in &delivered {
            if let Some(q) = outbox.get(*seq) {
                shared
                    .published
                    .delivered(&q.notice.playbook.namespace, &q.notice.incident);
            }
        }
        if let Err(e) = outbox.done(&delivered) {
            // They were delivered; at worst they are sent again after a restart
            // (same ce_id, so subscribers can drop the duplicate).
            tracing::error!(error = %e, "recording delivered Kafka events failed");
        }
        outbox.len()
    };
    shared.set_queued(len);
    for _ in &delivered {
        shared.metrics.record_delivery(SINK, "delivered");
    }
    for _ in 0..failed {
        shared.metrics.record_delivery(SINK, "retried");
    }
    failed
}
