//! Turns a [`Playbook`] spec into the validated model, collecting every problem
//! rather than stopping at the first.

mod action;
mod detector;
mod names;

use std::collections::BTreeMap;

use super::model::{self, Budget, Guardrails, PlaybookId, Target};
use super::problem::{Problem, Problems};
use super::spec::{NotifySpec, Playbook, TargetSpec};
use crate::duration::Duration;
use crate::severity::PerSeverity;

pub use names::{
    is_dns_label, is_label_key, is_label_name, is_label_value, is_metric_name, valid_matchers,
};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(600);
pub const DEFAULT_BUDGET: Budget = Budget {
    max_actions: 20,
    window: Duration::from_secs(3600),
};
/// Upper bounds that keep a hostile or mistaken playbook from costing much.
pub const MAX_DETECTORS: usize = 32;
pub const MAX_ACTIONS_PER_SEVERITY: usize = 16;
pub const MAX_TARGET_NAMES: usize = 1000;

/// Validate a parsed playbook. A playbook without a namespace is placed in `default`,
/// as `kubectl apply` would.
pub fn validate(pb: &Playbook) -> Result<model::Playbook, Vec<Problem>> {
    let mut p = Problems::default();
    let name = pb.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        p.push("metadata.name", "required");
    } else if !is_dns_label(&name) {
        p.push(
            "metadata.name",
            format!(
                "{name:?} is not a DNS-1123 label (lowercase letters, digits, '-', at most 63)"
            ),
        );
    }
    let namespace = pb
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    if !is_dns_label(&namespace) {
        p.push(
            "metadata.namespace",
            format!("{namespace:?} is not a DNS-1123 label"),
        );
    }
    let spec = &pb.spec;
    let target = validate_target(&spec.target, &mut p);
    let interval = spec.interval.unwrap_or(DEFAULT_INTERVAL);
    if interval < Duration::from_secs(1) {
        p.push("spec.interval", "must be at least 1s");
    }
    let detectors = detector::validate_all(&spec.detectors, interval, &mut p);
    let actions = action::validate_all(&spec.actions, &mut p);
    let notify = validate_notify(spec.notify.as_ref(), &mut p);
    let guardrails = validate_guardrails(spec, &mut p);
    if !p.is_empty() {
        return Err(p.list);
    }
    Ok(model::Playbook {
        id: PlaybookId { namespace, name },
        target,
        interval,
        detectors,
        actions,
        notify,
        guardrails,
    })
}

fn validate_target(t: &TargetSpec, p: &mut Problems) -> Target {
    let mut match_labels = BTreeMap::new();
    if let Some(sel) = &t.selector {
        if sel
            .match_expressions
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            // Traffic policies need plain labels to select pods; expressions cannot be rendered there.
            p.push(
                "spec.target.selector.matchExpressions",
                "not supported: use matchLabels",
            );
        }
        match_labels = sel.match_labels.clone().unwrap_or_default();
        // Both end up in `labelSelector=k=v,…` requests: anything beyond the label
        // syntax (`,`, `!`, `=`) would change which pods are selected.
        for (k, v) in &match_labels {
            let path = format!("spec.target.selector.matchLabels.{k}");
            if !is_label_key(k) {
                p.push(
                    path.clone(),
                    format!("{k:?} is not a Kubernetes label key (e.g. app.kubernetes.io/name)"),
                );
            }
            if !is_label_value(v) {
                p.push(
                    path,
                    format!("{v:?} is not a Kubernetes label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)"),
                );
            }
        }
    }
    if match_labels.is_empty() && t.names.is_empty() {
        p.push(
            "spec.target",
            "select workloads with selector.matchLabels and/or names",
        );
    }
    if t.names.len() > MAX_TARGET_NAMES {
        p.push(
            "spec.target.names",
            format!("at most {MAX_TARGET_NAMES} names"),
        );
    }
    for (i, n) in t.names.iter().enumerate() {
        if !is_dns_label(n) {
            p.push(
                format!("spec.target.names[{i}]"),
                format!("{n:?} is not a DNS-1123 label"),
            );
        }
    }
    if let Some(l) = &t.workload_label
        && !is_label_key(l)
    {
        p.push(
            "spec.target.workloadLabel",
            format!("{l:?} is not a Kubernetes label key (e.g. app.kubernetes.io/name)"),
        );
    }
    Target {
        kind: t.kind,
        match_labels,
        names: t.names.clone(),
        workload_label: t.workload_label.clone(),
    }
}

fn validate_notify(
    n: Option<&NotifySpec>,
    p: &mut Problems,
) -> PerSeverity<super::spec::SlackRoute> {
    let Some(n) = n else {
        return PerSeverity::default();
    };
    for (sev, route) in n.slack.iter() {
        let path = format!("spec.notify.slack.{sev}");
        let c = route.channel.as_str();
        let looks_like_id = c.len() >= 9
            && c.chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit());
        if !(c.starts_with('#') && c.len() > 1 || looks_like_id) {
            p.push(
                format!("{path}.channel"),
                format!("{c:?} is neither a #channel name nor a channel ID"),
            );
        }
        if route.quiet && !route.mentions.is_empty() {
            p.push(
                format!("{path}.mentions"),
                "a quiet route cannot mention anyone",
            );
        }
    }
    n.slack.clone()
}

fn validate_guardrails(spec: &super::spec::PlaybookSpec, p: &mut Problems) -> Guardrails {
    let g = spec.guardrails.clone().unwrap_or_default();
    let budget = match g.budget {
        None => DEFAULT_BUDGET,
        Some(b) => {
            if b.max_actions == 0 {
                p.push("spec.guardrails.budget.maxActions", "must be at least 1");
            }
            if b.window.is_zero() {
                p.push("spec.guardrails.budget.window", "must be longer than 0s");
            }
            Budget {
                max_actions: b.max_actions,
                window: b.window,
            }
        }
    };
    if g.escalate_after.is_some_and(Duration::is_zero) {
        p.push("spec.guardrails.escalateAfter", "must be longer than 0s");
    }
    Guardrails {
        cooldown: g.cooldown.unwrap_or(DEFAULT_COOLDOWN),
        budget,
        dry_run: g.dry_run,
        escalate_after: g.escalate_after,
        reapply_on_drift: g.reapply_on_drift.unwrap_or(true),
    }
}

/// The one field of a one-of group that is set (Kubernetes' "exactly one of"
/// idiom); otherwise a problem at `path` naming the choices or the conflict.
pub(crate) fn exactly_one<'a>(
    path: &str,
    what: &str,
    fields: &[(&'a str, bool)],
    p: &mut Problems,
) -> Option<&'a str> {
    let set: Vec<&str> = fields
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    match set.as_slice() {
        [one] => Some(one),
        [] => {
            let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
            p.push(
                path.to_owned(),
                format!("set exactly one of {}", names.join(", ")),
            );
            None
        }
        many => {
            p.push(
                path.to_owned(),
                format!("set exactly one {what}, found {}", many.join(", ")),
            );
            None
        }
    }
}
