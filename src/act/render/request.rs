//! The request type renders produce, and its one-line form for the dry-run timeline.

use std::fmt;

use serde_json::Value;

use super::naming::MANAGER;

/// Server-side apply; the body is JSON, which is valid YAML.
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";
/// RFC 7386 JSON merge patch.
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// Kubernetes strategic merge patch (built-in types only).
pub const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";
/// RFC 6902 JSON patch.
pub const JSON_PATCH: &str = "application/json-patch+json";
/// Plain JSON body (create).
pub const JSON: &str = "application/json";

/// One request to the API server.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Path including the query string, e.g. `?fieldManager=firebreak&force=true`.
    pub path: String,
    pub content_type: Option<&'static str>,
    pub body: Option<Value>,
    /// Human note for what is only resolved at apply time.
    pub note: Option<String>,
}

impl Request {
    pub(crate) fn get(path: String) -> Self {
        Request {
            method: Method::Get,
            path,
            content_type: None,
            body: None,
            note: None,
        }
    }

    pub(crate) fn delete(path: String) -> Self {
        Request {
            method: Method::Delete,
            ..Request::get(path)
        }
    }

    /// Server-side apply of `body` to the object at `path`, as manager [`MANAGER`].
    /// `force` takes over fields other managers own: a mitigation must win.
    pub(crate) fn apply(path: &str, body: Value) -> Self {
        Request {
            method: Method::Patch,
            path: format!("{path}?fieldManager={MANAGER}&force=true"),
            content_type: Some(APPLY_PATCH),
            body: Some(body),
            note: None,
        }
    }

    /// A non-apply patch; `fieldManager` still names us in `managedFields`.
    pub(crate) fn patch(path: &str, content_type: &'static str, body: Value) -> Self {
        Request {
            method: Method::Patch,
            path: format!("{path}?fieldManager={MANAGER}"),
            content_type: Some(content_type),
            body: Some(body),
            note: None,
        }
    }

    pub(crate) fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// One line for the dry-run timeline: `METHOD path {compact body}  # note`.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(body) = &self.body {
            write!(f, " {body}")?;
        }
        if let Some(note) = &self.note {
            write!(f, "  # {note}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn display_is_one_line_with_compact_body_and_note() {
        let r = Request::patch("/x", MERGE_PATCH, json!({"spec": {"replicas": 3}})).with_note("n");
        assert_eq!(
            r.to_string(),
            r#"PATCH /x?fieldManager=firebreak {"spec":{"replicas":3}}  # n"#
        );
        assert_eq!(Request::delete("/y".into()).to_string(), "DELETE /y");
        assert_eq!(Method::Post.to_string(), "POST");
        assert_eq!(Method::Put.to_string(), "PUT");
    }
}
