//! Action validation: exactly one kind per step, sane bounds, resolved defaults.

use super::{MAX_ACTIONS_PER_SEVERITY, Problems};
use crate::playbook::action::ActionSpec;
use crate::playbook::model::{Action, ActionKind, RateLimit, RateLimitValue, Scale, ScaleTo};
use crate::severity::PerSeverity;

const DEFAULT_MAX_REPLICAS: u32 = 50;

pub fn validate_all(
    actions: &PerSeverity<Vec<ActionSpec>>,
    p: &mut Problems,
) -> PerSeverity<Vec<Action>> {
    let mut out = PerSeverity::default();
    for (sev, list) in actions.iter() {
        let base = format!("spec.actions.{sev}");
        if list.len() > MAX_ACTIONS_PER_SEVERITY {
            p.push(
                base.clone(),
                format!("at most {MAX_ACTIONS_PER_SEVERITY} actions per severity"),
            );
        }
        let valid = list
            .iter()
            .enumerate()
            .filter_map(|(i, a)| validate_one(a, &format!("{base}[{i}]"), p))
            .collect();
        out.set(sev, valid);
    }
    out
}

fn validate_one(a: &ActionSpec, path: &str, p: &mut Problems) -> Option<Action> {
    let kind_field = super::exactly_one(
        path,
        "action kind",
        &[
            ("notify", a.notify.is_some()),
            ("diagnostics", a.diagnostics.is_some()),
            ("rateLimit", a.rate_limit.is_some()),
            ("circuitBreaker", a.circuit_breaker.is_some()),
            ("rollback", a.rollback.is_some()),
            ("scale", a.scale.is_some()),
            ("restart", a.restart.is_some()),
        ],
        p,
    )?;
    let at = |field: &str| format!("{path}.{kind_field}.{field}");
    let kind = if let Some(n) = &a.notify {
        ActionKind::Notify {
            message: n.message.clone(),
        }
    } else if let Some(d) = &a.diagnostics {
        if d.max_pods.is_some_and(|n| n == 0 || n > 20) {
            p.push(at("maxPods"), "must be between 1 and 20");
        }
        if d.max_log_bytes.is_some_and(|n| n == 0 || n > 512 * 1024) {
            p.push(
                at("maxLogBytes"),
                "must be between 1 and 524288 (ConfigMaps hold at most 1 MiB)",
            );
        }
        if let Some(e) = &d.exec
            && (e.command.is_empty() || e.command[0].trim().is_empty())
        {
            p.push(at("exec.command"), "must name a command");
        }
        ActionKind::Diagnostics(d.clone())
    } else if let Some(r) = &a.rate_limit {
        let limit = match (r.requests_per_second, r.percent_of_current) {
            (Some(rps), None) => {
                if rps == 0 {
                    p.push(at("requestsPerSecond"), "must be at least 1");
                }
                RateLimitValue::RequestsPerSecond(rps)
            }
            (None, Some(pct)) => {
                if !(pct.is_finite() && pct > 0.0 && pct <= 100.0) {
                    p.push(at("percentOfCurrent"), "must be in (0, 100]");
                }
                RateLimitValue::PercentOfCurrent(pct)
            }
            _ => {
                p.push(
                    format!("{path}.rateLimit"),
                    "set exactly one of requestsPerSecond, percentOfCurrent",
                );
                RateLimitValue::RequestsPerSecond(1)
            }
        };
        if r.burst == Some(0) {
            p.push(at("burst"), "must be at least 1");
        }
        if let Some(prefix) = &r.path_prefix
            && !prefix.starts_with('/')
        {
            p.push(at("pathPrefix"), "must start with '/'");
        }
        if let Some(h) = &r.header {
            if r.path_prefix.is_some() {
                p.push(at("header"), "set at most one of pathPrefix and header");
            }
            if !is_header_name(&h.name) {
                p.push(
                    at("header.name"),
                    "must be a lower-case HTTP header name (letters, digits, '-', '_')",
                );
            }
            if h.value.is_empty() || h.value.len() > 256 || h.value.chars().any(char::is_control) {
                p.push(
                    at("header.value"),
                    "must be 1 to 256 characters without control characters",
                );
            }
        }
        ActionKind::RateLimit(RateLimit {
            limit,
            burst: r.burst,
            path_prefix: r.path_prefix.clone(),
            header: r.header.as_ref().map(|h| (h.name.clone(), h.value.clone())),
            backend: r.backend.unwrap_or_default(),
        })
    } else if let Some(c) = &a.circuit_breaker {
        if c.max_ejection_percent.is_some_and(|v| v > 100) {
            p.push(at("maxEjectionPercent"), "must be at most 100");
        }
        if c.consecutive_5xx_errors == Some(0) {
            p.push(at("consecutive5xxErrors"), "must be at least 1");
        }
        if c.host.as_deref().is_some_and(|h| !super::is_dns_label(h)) {
            p.push(
                at("host"),
                "must be a Service name (DNS-1123 label) in the playbook's namespace",
            );
        }
        ActionKind::CircuitBreaker(c.clone())
    } else if a.rollback.is_some() {
        ActionKind::Rollback
    } else if let Some(s) = &a.scale {
        let max = s.max.unwrap_or(DEFAULT_MAX_REPLICAS);
        let to = match (s.replicas, s.add) {
            (Some(n), None) => {
                if n > max {
                    p.push(at("replicas"), format!("exceeds max ({max})"));
                }
                ScaleTo::Replicas(n)
            }
            (None, Some(n)) => {
                if n == 0 {
                    p.push(at("add"), "must be at least 1");
                }
                ScaleTo::Add(n)
            }
            _ => {
                p.push(format!("{path}.scale"), "set exactly one of replicas, add");
                ScaleTo::Add(0)
            }
        };
        if max == 0 {
            p.push(at("max"), "must be at least 1");
        }
        ActionKind::Scale(Scale { to, max })
    } else {
        ActionKind::Restart
    };
    if a.keep && !kind.is_reversible() {
        p.push(
            format!("{path}.keep"),
            format!("{} is never reverted; keep has no effect", kind.as_str()),
        );
    }
    Some(Action {
        kind,
        keep: a.keep,
        dry_run: a.dry_run,
    })
}

/// A header name Envoy, Envoy Gateway and HTTP/2 accept as written: lower case,
/// no pseudo-headers (`:path` is what `pathPrefix` is for).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
