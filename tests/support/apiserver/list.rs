//! How lists and watch events are shaped, as kube-apiserver shapes them:
//! pages (`limit` and `continue`) and, when the client's `Accept` asks for
//! `as=PartialObjectMetadata[List]` (kube's `Api<PartialObjectMeta<K>>`),
//! metadata only, so that a client's memory is measured against what a real
//! API server would send it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::store::{Answer, status};

/// Whether the request asked for metadata only.
pub fn metadata_only(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

/// `object` as a `PartialObjectMetadata`.
pub fn as_metadata(object: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": object["metadata"],
    })
}

/// One page of `items` (all of them without `limit`). The continue token
/// carries the first page's resourceVersion, which every page reports, so a
/// watch from it sees every change made while the pages were read (objects
/// changed in between may come twice: once listed, once watched, as a client
/// must tolerate anyway). Unlike kube-apiserver, the pages are not one snapshot.
pub fn page(
    kind: &str,
    api_version: &str,
    items: Vec<Value>,
    resource_version: u64,
    params: &BTreeMap<String, String>,
    metadata: bool,
) -> Answer {
    let (rv, offset): (u64, usize) = match params.get("continue").filter(|c| !c.is_empty()) {
        None => (resource_version, 0),
        Some(token) => match token
            .split_once(':')
            .and_then(|(rv, at)| Some((rv.parse().ok()?, at.parse().ok()?)))
        {
            Some(parsed) => parsed,
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "invalid continue token",
                );
            }
        },
    };
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let total = items.len();
    let end = offset.saturating_add(limit).min(total);
    let items: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .map(|o| if metadata { as_metadata(&o) } else { o })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if end < total {
        meta["continue"] = json!(format!("{rv}:{end}"));
        meta["remainingItemCount"] = json!(total - end);
    }
    let (kind, api_version) = if metadata {
        ("PartialObjectMetadataList".to_owned(), "meta.k8s.io/v1")
    } else {
        (kind.to_owned(), api_version)
    };
    (
        StatusCode::OK,
        json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items}),
    )
}
