//! The stand-in's object store: what kube-apiserver keeps in etcd, reduced to
//! what Firebreak uses. Objects live under their collection path
//! (`/apis/apps/v1/deployments`, `/api/v1/pods`, …) by namespace and name;
//! every write bumps one global `resourceVersion` and is logged for watches.
//!
//! Semantics kept: `resourceVersion` preconditions on PUT (409 Conflict),
//! AlreadyExists on POST (409), NotFound (404), `metadata.generation` bumped on
//! spec changes only, the `status` subresource writing only `.status`, the
//! `scale` subresource, label and field selectors (equality), merge / JSON /
//! strategic (as merge) / server-side apply (as merge, creating when missing)
//! patches. Not kept: field management, admission, defaulting, validation.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Value, json};

/// Where a request points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `/apis/apps/v1/deployments` or `/api/v1/pods`: the collection across namespaces.
    pub collection: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parse `/api/v1/namespaces/ns/pods/p/log` and friends; `None` for other paths.
pub fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (format!("/api/{v}"), rest),
        ["apis", g, v, rest @ ..] => (format!("/apis/{g}/{v}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        rest => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    Some(Target {
        collection: format!("{prefix}/{plural}"),
        namespace,
        name: name.map(str::to_owned),
        subresource: sub.map(str::to_owned),
    })
}

/// A change, as a watch reports it.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub collection: String,
    pub kind: &'static str,
    pub object: Value,
}

#[derive(Default)]
pub struct Store {
    /// collection → (namespace, name) → object.
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    rv: u64,
    pub changes: Vec<Change>,
    uids: u64,
}

pub type Answer = (StatusCode, Value);

/// A `metav1.Status` failure, as the API server answers any error.
pub fn status(code: StatusCode, reason: &str, message: impl Into<String>) -> Answer {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message.into(), "reason": reason, "code": code.as_u16()}),
    )
}

fn not_found(t: &Target) -> Answer {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "{} \"{}\" not found",
            t.collection.rsplit('/').next().unwrap_or_default(),
            t.name.as_deref().unwrap_or_default()
        ),
    )
}

impl Store {
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, t: &Target) -> Option<&Value> {
        self.objects
            .get(&t.collection)?
            .get(&(t.namespace.clone().unwrap_or_default(), t.name.clone()?))
    }

    /// Objects of the collection (one namespace or all) matching the selectors.
    pub fn list(
        &self,
        t: &Target,
        labels: &[(String, String)],
        fields: &[(String, String)],
    ) -> Vec<Value> {
        self.objects
            .get(&t.collection)
            .into_iter()
            .flatten()
            .filter(|((ns, _), _)| t.namespace.as_ref().is_none_or(|want| want == ns))
            .map(|(_, o)| o)
            .filter(|o| matches(o, labels, fields))
            .cloned()
            .collect()
    }

    /// Store `object` as it comes (test setup and writes), stamping metadata.
    pub fn put(&mut self, collection: &str, mut object: Value) -> Value {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let old = self
            .objects
            .get(collection)
            .and_then(|c| c.get(&(ns.clone(), name.clone())));
        let generation = match old {
            None => 1,
            Some(old) => {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                if old.get("spec") == object.get("spec") {
                    g
                } else {
                    g + 1
                }
            }
        };
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        let uid = match old.and_then(|o| o["metadata"]["uid"].as_str()) {
            Some(u) => u.to_owned(),
            None => {
                self.uids += 1;
                format!("00000000-0000-4000-8000-{:012x}", self.uids)
            }
        };
        let created = old
            .and_then(|o| o["metadata"]["creationTimestamp"].as_str())
            .map_or_else(|| jiff::Timestamp::now().to_string(), str::to_owned);
        self.rv += 1;
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = json!(self.rv.to_string());
        meta["uid"] = json!(uid);
        meta["generation"] = json!(generation);
        meta["creationTimestamp"] = json!(created);
        self.objects
            .entry(collection.to_owned())
            .or_default()
            .insert((ns, name), object.clone());
        self.changes.push(Change {
            rv: self.rv,
            collection: collection.to_owned(),
            kind,
            object: object.clone(),
        });
        object
    }

    pub fn create(&mut self, t: &Target, mut body: Value) -> Answer {
        if body["metadata"]["name"].as_str().is_none_or(str::is_empty) {
            let Some(prefix) = body["metadata"]["generateName"].as_str().map(str::to_owned) else {
                return status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "metadata.name: Required value",
                );
            };
            self.uids += 1;
            body["metadata"]["name"] = json!(format!("{prefix}{:05x}", self.uids));
        }
        if let Some(ns) = &t.namespace {
            body["metadata"]["namespace"] = json!(ns);
        }
        let name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = Target {
            name: Some(name.clone()),
            subresource: None,
            ..t.clone()
        };
        if self.get(&key).is_some() {
            return status(
                StatusCode::CONFLICT,
                "AlreadyExists",
                format!("\"{name}\" already exists"),
            );
        }
        (StatusCode::CREATED, self.put(&t.collection, body))
    }

    /// PUT of the object or its status.
    pub fn replace(&mut self, t: &Target, body: Value) -> Answer {
        let Some(current) = self.get(t).cloned() else {
            return not_found(t);
        };
        let sent = body["metadata"]["resourceVersion"].as_str();
        if sent.is_some_and(|rv| Some(rv) != current["metadata"]["resourceVersion"].as_str()) {
            return status(
                StatusCode::CONFLICT,
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
            );
        }
        let next = match t.subresource.as_deref() {
            Some("status") => {
                let mut next = current;
                next["status"] = body.get("status").cloned().unwrap_or(Value::Null);
                next
            }
            _ => {
                let mut next = body;
                // The status subresource is the only way to change status.
                next["status"] = current.get("status").cloned().unwrap_or(Value::Null);
                next["metadata"]["namespace"] = current["metadata"]["namespace"].clone();
                next
            }
        };
        (StatusCode::OK, self.put(&t.collection, strip_nulls(next)))
    }

    pub fn patch(&mut self, t: &Target, content_type: &str, body: Value) -> Answer {
        let apply = content_type.starts_with("application/apply-patch");
        let current = match (self.get(t).cloned(), apply) {
            (Some(c), _) => c,
            (None, true) => {
                let mut body = body;
                body["metadata"]["namespace"] = json!(t.namespace.clone().unwrap_or_default());
                return (
                    StatusCode::CREATED,
                    self.put(&t.collection, strip_nulls(body)),
                );
            }
            (None, false) => return not_found(t),
        };
        let sub = t.subresource.as_deref();
        let mut view = match sub {
            Some("scale") => scale_of(&current),
            _ => current.clone(),
        };
        if content_type.starts_with("application/json-patch") {
            let ops: json_patch::Patch = match serde_json::from_value(body) {
                Ok(p) => p,
                Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()),
            };
            if let Err(e) = json_patch::patch(&mut view, &ops) {
                return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string());
            }
        } else {
            json_patch::merge(&mut view, &body);
        }
        let next = match sub {
            Some("scale") => {
                let mut next = current;
                next["spec"]["replicas"] = view["spec"]["replicas"].clone();
                next
            }
            Some("status") => {
                let mut next = current;
                next["status"] = view.get("status").cloned().unwrap_or(Value::Null);
                next
            }
            _ => {
                view["status"] = current.get("status").cloned().unwrap_or(Value::Null);
                view
            }
        };
        let stored = self.put(&t.collection, strip_nulls(next));
        let answer = if sub == Some("scale") {
            scale_of(&stored)
        } else {
            stored
        };
        (StatusCode::OK, answer)
    }

    pub fn delete(&mut self, t: &Target) -> Answer {
        let key = (
            t.namespace.clone().unwrap_or_default(),
            t.name.clone().unwrap_or_default(),
        );
        let Some(object) = self
            .objects
            .get_mut(&t.collection)
            .and_then(|c| c.remove(&key))
        else {
            return not_found(t);
        };
        self.rv += 1;
        self.changes.push(Change {
            rv: self.rv,
            collection: t.collection.clone(),
            kind: "DELETED",
            object: object.clone(),
        });
        (StatusCode::OK, object)
    }

    /// GET of an object or its `status` / `scale` subresource.
    pub fn read(&self, t: &Target) -> Answer {
        match (self.get(t), t.subresource.as_deref()) {
            (None, _) => not_found(t),
            (Some(o), Some("scale")) => (StatusCode::OK, scale_of(o)),
            (Some(o), _) => (StatusCode::OK, o.clone()),
        }
    }
}

/// The `autoscaling/v1` Scale of a workload.
fn scale_of(o: &Value) -> Value {
    json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"],
                     "resourceVersion": o["metadata"]["resourceVersion"]},
        "spec": {"replicas": o["spec"]["replicas"]},
        "status": {"replicas": o["status"]["replicas"]},
    })
}

/// Null fields are absent in what the API server stores.
fn strip_nulls(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.retain(|_, x| !x.is_null());
        for x in map.values_mut() {
            *x = strip_nulls(std::mem::take(x));
        }
    }
    v
}

/// `k=v,k2=v2` (equality only, as Firebreak sends).
pub fn selector(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim_end_matches('=').to_owned(), v.to_owned()))
        .collect()
}

pub fn matches(o: &Value, labels: &[(String, String)], fields: &[(String, String)]) -> bool {
    let label_ok = labels
        .iter()
        .all(|(k, v)| o["metadata"]["labels"][k].as_str() == Some(v.as_str()));
    let field_ok = fields.iter().all(|(path, v)| {
        let found = path.split('.').try_fold(o, |cur, key| cur.get(key));
        found.and_then(Value::as_str) == Some(v.as_str())
    });
    label_ok && field_ok
}
