//! One capture, as a pipeline: pods → logs → events → exec → files → ConfigMaps.

use k8s_openapi::api::core::v1::{Event, Pod};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::send::send;
use super::super::{ExecError, Outcome, Sent};
use super::events::EventsText;
use super::evidence::Evidence;
use super::pods::{self, Selection};
use super::reads::Reads;
use super::redact::redact;
use super::store::{self, Budget, File, key};
use super::{exec, summary};
use crate::act::render::diagnostics::{
    Limits, config_map_name, events_path, exec_path, log_path, pods_path,
};
use crate::act::render::{Method, RenderContext};
use crate::playbook::action::{DiagnosticsSpec, ExecSpec};

/// What `exec` says when the operator does not allow it.
const EXEC_DISABLED: &str =
    "skipped: disabled (enable with --diagnostics-exec, the chart's diagnostics.exec)";

pub(in super::super) async fn capture(
    client: &kube::Client,
    spec: &DiagnosticsSpec,
    ctx: &RenderContext<'_>,
    evidence: &Evidence,
    // The client an allowed exec runs on (one without a read timeout: an exec
    // has its own), `None` when exec is off.
    exec_client: Option<&kube::Client>,
) -> Result<Outcome, ExecError> {
    let mut g = Gather {
        reads: Reads::new(client),
        redactions: 0,
        ns: &ctx.target.namespace,
        limits: Limits::of(spec),
    };
    let selection = g.pods(ctx).await;
    let mut logs = g.logs(&selection).await;
    let events = g.events(ctx, &selection).await;
    let exec = match &spec.exec {
        None => None,
        Some(e) => match exec_client {
            None => Some(EXEC_DISABLED.to_owned()),
            Some(c) => Some(g.exec(c, e, &selection, &mut logs).await),
        },
    };
    if !g.reads.any() {
        // Nothing but our own readings: not worth calling a capture (RBAC, API down).
        return Err(g.reads.first_error.unwrap_or(ExecError::Unexpected {
            path: pods_path(g.ns, ctx.match_labels),
            message: "nothing could be read".to_owned(),
        }));
    }

    let events_count = events.count;
    let log_count = logs.iter().filter(|f| f.key.starts_with("pod.")).count();
    let mut files = vec![
        File::new("readings.json".into(), to_json(&evidence.readings)),
        File::new("prometheus.json".into(), to_json(&evidence.snapshot)),
        File::new("events.txt".into(), g.redact(&events.into_text())),
    ];
    // Exec output first (asked for explicitly), then logs, most affected pod first.
    logs.sort_by_key(|f| !f.key.starts_with("exec."));
    files.extend(logs);
    let packed = store::pack(files, &Budget::DEFAULT);
    let names: Vec<String> = (0..packed.maps.len())
        .map(|i| config_map_name(ctx.incident_id, i))
        .collect();
    let report = summary::Report {
        ctx,
        at: evidence.snapshot.end,
        limits: g.limits,
        selection: &selection,
        logs: log_count,
        events: events_count,
        exec,
        failures: &g.reads.failures,
        redactions: g.redactions,
        names: &names,
    };
    let summary = store::fit_summary(report.summary(&packed), &Budget::DEFAULT);
    let note = report.note(&packed);
    let mut sent = g.reads.sent;
    for request in store::requests(packed, summary, ctx, &evidence.owner) {
        sent.push(send(client, &request).await?.1);
    }
    Ok(Outcome {
        sent,
        note: Some(note),
        ..Outcome::default()
    })
}

/// The reads of one capture and what they need.
struct Gather<'a> {
    reads: Reads<'a>,
    /// Values redacted so far.
    redactions: usize,
    ns: &'a str,
    limits: Limits,
}

impl Gather<'_> {
    fn redact(&mut self, text: &str) -> String {
        let (out, n) = redact(text);
        self.redactions += n;
        out
    }

    /// The target's pods, most affected first, at most `maxPods`.
    async fn pods(&mut self, ctx: &RenderContext<'_>) -> Selection {
        let path = pods_path(self.ns, ctx.match_labels);
        let Some(list) = self.reads.json("pod list", path).await else {
            return Selection::default();
        };
        match items::<Pod>(list) {
            Ok(listed) => pods::select(listed, &ctx.target.name, self.limits.max_pods),
            Err(e) => {
                self.reads.note("pod list", e);
                Selection::default()
            }
        }
    }

    /// Each chosen container's log, and its previous instance's if it restarted.
    async fn logs(&mut self, selection: &Selection) -> Vec<File> {
        let mut files = Vec::new();
        for pod in &selection.chosen {
            for c in &pod.containers {
                // `previous=true` for a container that never restarted is a 400.
                let previous = self.limits.previous && c.restarts > 0;
                for prev in [false].into_iter().chain(previous.then_some(true)) {
                    let which = if prev { "previous" } else { "current" };
                    let what = format!("{which} log of {}/{}", pod.name, c.name);
                    let path = log_path(self.ns, &pod.name, &c.name, &self.limits, prev);
                    let Some(text) = self.reads.text(&what, path).await else {
                        continue;
                    };
                    let suffix: &[&str] = if prev { &["previous", "log"] } else { &["log"] };
                    let k = key(&[&["pod", pod.name.as_str(), c.name.as_str()], suffix].concat());
                    let text = self.redact(&mark_limit(text, &self.limits));
                    files.push(File::new(k, text));
                }
            }
        }
        files
    }

    /// Events of the workload, then of each chosen pod.
    async fn events(&mut self, ctx: &RenderContext<'_>, selection: &Selection) -> EventsText {
        let mut text = EventsText::default();
        let objects = std::iter::once((ctx.kind.as_str(), ctx.target.name.as_str()))
            .chain(selection.chosen.iter().map(|p| ("Pod", p.name.as_str())));
        for (kind, name) in objects {
            // Names are DNS subdomains: nothing in them needs encoding in a query.
            let what = format!("events of {kind}/{name}");
            let Some(list) = self
                .reads
                .json(&what, events_path(self.ns, kind, name))
                .await
            else {
                let error = self.reads.failures.last().map_or("", |f| f.error.as_str());
                text.failed(kind, name, error);
                continue;
            };
            match items::<Event>(list) {
                Ok(list) => text.add(kind, name, list),
                Err(e) => {
                    text.failed(kind, name, &e.to_string());
                    self.reads.note(&what, e);
                }
            }
        }
        text
    }

    /// The exec in the most affected running pod, its output added to `files`;
    /// what became of it, for the summary.
    async fn exec(
        &mut self,
        client: &kube::Client,
        spec: &ExecSpec,
        selection: &Selection,
        files: &mut Vec<File>,
    ) -> String {
        let Some(pod) = selection.chosen.iter().find(|p| p.is_running()) else {
            return "skipped: no running pod".to_owned();
        };
        let first = pod.containers.first().map(|c| c.name.clone());
        let Some(container) = spec.container.clone().or(first) else {
            return format!("skipped: {} has no container", pod.name);
        };
        let target = format!("{}/{container}", pod.name);
        let limit = usize::try_from(self.limits.max_log_bytes).unwrap_or(usize::MAX);
        let timeout = self.limits.exec_timeout;
        let run = exec::run(
            client,
            self.ns,
            &pod.name,
            &container,
            &spec.command,
            timeout,
            limit,
        );
        let out = match run.await {
            Ok(out) => out,
            Err(error) => {
                self.reads.note(&format!("exec in {target}"), &error);
                return format!("failed in {target}: {error}");
            }
        };
        self.reads.sent.push(Sent {
            method: Method::Get,
            path: exec_path(self.ns, &pod.name, &container, &spec.command),
            // Switching Protocols: the WebSocket upgrade.
            code: 101,
        });
        let outcome = match (&out.status, out.timed_out) {
            (_, true) => format!("timed out after {}s", timeout.as_secs()),
            (Some(status), false) => status.clone(),
            (None, false) => "no exit status".to_owned(),
        };
        let text = format!(
            "$ {} (in {target}): {outcome}\n{}\n--- stderr ---\n{}",
            spec.command.join(" "),
            out.stdout.text(),
            out.stderr.text()
        );
        let k = key(&["exec", &pod.name, "txt"]);
        let text = self.redact(&text);
        files.push(File::new(k.clone(), text));
        format!("ran in {target} ({outcome}) into {k}")
    }
}

/// The kubelet stops at `limitBytes` without saying so; say it in the file.
fn mark_limit(mut text: String, limits: &Limits) -> String {
    if text.len() >= usize::try_from(limits.max_log_bytes).unwrap_or(usize::MAX) {
        text.push_str(&format!(
            "\n[firebreak: limitBytes={} reached; later lines were not read]\n",
            limits.max_log_bytes
        ));
    }
    text
}

/// The `items` of a list answer.
fn items<T: DeserializeOwned>(mut list: Value) -> Result<Vec<T>, serde_json::Error> {
    let items = list.get_mut("items").map(Value::take).unwrap_or_default();
    if items.is_null() {
        return Ok(Vec::new());
    }
    serde_json::from_value(items)
}

fn to_json(value: &impl Serialize) -> String {
    // Serialising our own plain structs cannot fail; an empty file would say so if it did.
    serde_json::to_string_pretty(value).unwrap_or_default()
}
