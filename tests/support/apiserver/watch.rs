//! Watch streams: `?watch=true&resourceVersion=N` answers, one JSON line per
//! change after N in the collection (and namespace, and selectors), as the API
//! server streams them, until `timeoutSeconds` (at most 5 minutes); metadata
//! only when the client asked for `PartialObjectMetadata`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::Instant;

use super::Shared;
use super::list::as_metadata;
use super::store::{Target, matches, selector};

struct Filter {
    target: Target,
    labels: Vec<(String, String)>,
    fields: Vec<(String, String)>,
}

pub(super) fn stream(
    shared: Shared,
    target: Target,
    params: &BTreeMap<String, String>,
    metadata: bool,
) -> Response {
    let since: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs)
        .min(Duration::from_secs(300));
    let filter = Arc::new(Filter {
        target,
        labels: selector(params.get("labelSelector").map(String::as_str)),
        fields: selector(params.get("fieldSelector").map(String::as_str)),
    });
    let deadline = Instant::now() + timeout;
    let changes = futures::stream::unfold((shared, since), move |(shared, mut last)| {
        let filter = Arc::clone(&filter);
        async move {
            loop {
                // Armed before looking, so a change between the look and the
                // wait still wakes us.
                let changed = Arc::clone(&shared.changed);
                let notified = changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let lines: String = {
                    let inner = shared.lock();
                    let changes = &inner.store.changes;
                    // In resourceVersion order: skip what this watch has seen.
                    let from = changes.partition_point(|c| c.rv <= last);
                    let lines = changes[from..]
                        .iter()
                        .filter(|c| c.collection == filter.target.collection)
                        .filter(|c| {
                            let ns = c.object["metadata"]["namespace"]
                                .as_str()
                                .unwrap_or_default();
                            filter
                                .target
                                .namespace
                                .as_deref()
                                .is_none_or(|want| want == ns)
                        })
                        .filter(|c| matches(&c.object, &filter.labels, &filter.fields))
                        .map(|c| {
                            let object = if metadata {
                                as_metadata(&c.object)
                            } else {
                                c.object.clone()
                            };
                            format!("{}\n", json!({"type": c.kind, "object": object}))
                        })
                        .collect();
                    last = inner.store.resource_version();
                    lines
                };
                if !lines.is_empty() {
                    return Some((Ok::<_, Infallible>(Bytes::from(lines)), (shared, last)));
                }
                tokio::select! {
                    () = &mut notified => {}
                    () = tokio::time::sleep_until(deadline) => return None,
                }
            }
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(changes),
    )
        .into_response()
}
