//! Rate limits and circuit breakers: traffic policies in the mesh or gateway.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::send::{send, send_revert};
use super::undo::{previous_values, restore_patch};
use super::{ExecError, Outcome, Sent, Undo, fixed_rate, send_all};
use crate::act::render::{
    self, MANAGED_BY_LABEL, MANAGER, MERGE_PATCH, RenderContext, Request, resolve_rps,
};
use crate::playbook::action::{CircuitBreakerSpec, TrafficBackend};
use crate::playbook::model::{ActionKind, RateLimit};

/// Where Firebreak's circuit-breaker fields live in a DestinationRule.
const TRAFFIC_POLICY: &str = "/spec/trafficPolicy";
/// The previous values (as in [`Undo::PatchedDestinationRule`]) applied with
/// our fields into someone else's rule: if Firebreak crashes before the caller
/// records the undo, the repeated apply reads them here instead of taking our
/// own values for the originals. Released with our fields on revert.
pub const PREVIOUS_ANNOTATION: &str = "firebreak.dev/previous-traffic-policy";

pub(super) async fn rate_limit_apply(
    client: &kube::Client,
    rl: &RateLimit,
    ctx: &RenderContext<'_>,
    undo: Option<&Undo>,
) -> Result<Outcome, ExecError> {
    // A repeat reuses the rate resolved the first time, not today's traffic.
    let rps = match undo {
        Some(Undo::RateLimit {
            requests_per_second,
        }) => *requests_per_second,
        _ => resolve_rps(rl.limit, ctx.current_rps)?,
    };
    let kind = ActionKind::RateLimit(fixed_rate(rl, rps));
    let sent = send_all(client, &render::render_apply(&kind, ctx)?).await?;
    Ok(Outcome {
        sent,
        undo: Some(Undo::RateLimit {
            requests_per_second: rps,
        }),
        note: Some(format!("limited to {rps} requests per second")),
        ..Outcome::default()
    })
}

/// For the Istio backend: finds the rule our fields go into, and what they
/// replace there. `None` for Envoy Gateway, whose policy is always ours.
pub(super) async fn circuit_breaker_prepare(
    client: &kube::Client,
    cb: &CircuitBreakerSpec,
    ctx: &RenderContext<'_>,
) -> Result<(Vec<Sent>, Option<Undo>), ExecError> {
    if cb.backend == Some(TrafficBackend::EnvoyGateway) {
        return Ok((Vec::new(), None));
    }
    let kind = ActionKind::CircuitBreaker(cb.clone());
    let (listed, found) = find_rule(client, cb, ctx).await?;
    let undo = match found {
        Some((name, rule)) => {
            let recorded = rule["metadata"]["annotations"][PREVIOUS_ANNOTATION]
                .as_str()
                .and_then(|text| serde_json::from_str(text).ok());
            let previous = match recorded {
                Some(previous) => previous,
                None => {
                    let ours = render_apply_body(
                        &kind,
                        &RenderContext {
                            existing_destination_rule: Some(&name),
                            ..*ctx
                        },
                    )?;
                    previous_values(
                        TRAFFIC_POLICY,
                        &ours["spec"]["trafficPolicy"],
                        rule.pointer(TRAFFIC_POLICY),
                    )
                }
            };
            Undo::PatchedDestinationRule { name, previous }
        }
        None => Undo::CreatedDestinationRule {
            name: own_rule_name(&kind, ctx)?,
        },
    };
    Ok((vec![listed], Some(undo)))
}

pub(super) async fn circuit_breaker_apply(
    client: &kube::Client,
    cb: &CircuitBreakerSpec,
    ctx: &RenderContext<'_>,
    undo: Option<&Undo>,
) -> Result<Outcome, ExecError> {
    let kind = ActionKind::CircuitBreaker(cb.clone());
    // A repeated apply must not re-read the rule: it already holds our values.
    let (mut sent, undo) = match undo {
        Some(u @ (Undo::PatchedDestinationRule { .. } | Undo::CreatedDestinationRule { .. })) => {
            (Vec::new(), Some(u.clone()))
        }
        _ => circuit_breaker_prepare(client, cb, ctx).await?,
    };
    let Some(undo) = undo else {
        // Envoy Gateway: our own policy, applied as rendered.
        sent.extend(send_all(client, &render::render_apply(&kind, ctx)?).await?);
        return Ok(Outcome {
            sent,
            ..Outcome::default()
        });
    };
    let existing = match &undo {
        Undo::PatchedDestinationRule { name, .. } => Some(name.clone()),
        _ => None,
    };
    let ctx = RenderContext {
        existing_destination_rule: existing.as_deref(),
        ..*ctx
    };
    let mut requests: Vec<Request> = render::render_apply(&kind, &ctx)?
        .into_iter()
        .map(|r| Request { note: None, ..r })
        .collect();
    if let Undo::PatchedDestinationRule { previous, .. } = &undo {
        // A map of strings always serialises.
        let text = serde_json::to_string(previous).unwrap_or_default();
        for body in requests.iter_mut().filter_map(|r| r.body.as_mut()) {
            body["metadata"]["annotations"] = json!({ PREVIOUS_ANNOTATION: text });
        }
    }
    sent.extend(send_all(client, &requests).await?);
    let note = match &existing {
        Some(name) => format!("merged into DestinationRule {name}"),
        None => "created its own DestinationRule".to_owned(),
    };
    Ok(Outcome {
        sent,
        undo: Some(undo),
        note: Some(note),
        ..Outcome::default()
    })
}

pub(super) async fn circuit_breaker_revert(
    client: &kube::Client,
    cb: &CircuitBreakerSpec,
    ctx: &RenderContext<'_>,
    undo: Option<&Undo>,
) -> Result<Outcome, ExecError> {
    let kind = ActionKind::CircuitBreaker(cb.clone());
    let Some(Undo::PatchedDestinationRule { name, previous }) = undo else {
        // Our own rule (or the gateway policy): delete it.
        let sent = send_all(client, &render::render_revert(&kind, ctx)?).await?;
        return Ok(Outcome {
            sent,
            ..Outcome::default()
        });
    };
    let path = rule_path(ctx, name);
    // Applying the release to a rule deleted since would create a bare one.
    let mut sent = Vec::new();
    match send(client, &Request::get(path.clone())).await {
        Ok((_, got)) => sent.push(got),
        Err(e) if e.code() == Some(404) => {
            return Ok(Outcome {
                note: Some(format!(
                    "DestinationRule {name} is gone; nothing to restore"
                )),
                ..Outcome::default()
            });
        }
        Err(e) => return Err(e),
    }
    let ctx = RenderContext {
        existing_destination_rule: Some(name),
        ..*ctx
    };
    // Release our apply ownership, then put back exactly the values we replaced
    // (the force-apply took those fields from their owner, so releasing alone
    // would delete them).
    let mut requests = render::render_revert(&kind, &ctx)?;
    requests.push(restore_request(&ctx, name, previous));
    for request in &requests {
        sent.extend(send_revert(client, request).await?);
    }
    Ok(Outcome {
        sent,
        note: Some(format!(
            "restored the previous trafficPolicy fields of DestinationRule {name}"
        )),
        ..Outcome::default()
    })
}

/// The merge patch putting back the values Firebreak replaced in rule `name`.
pub(super) fn restore_request(
    ctx: &RenderContext<'_>,
    name: &str,
    previous: &BTreeMap<String, Option<String>>,
) -> Request {
    Request::patch(&rule_path(ctx, name), MERGE_PATCH, restore_patch(previous))
}

/// Lists the namespace's DestinationRules for one that someone else owns for
/// the breaker's host (Istio would not merge two rules' `trafficPolicy`).
async fn find_rule(
    client: &kube::Client,
    cb: &CircuitBreakerSpec,
    ctx: &RenderContext<'_>,
) -> Result<(Sent, Option<(String, Value)>), ExecError> {
    let ns = &ctx.target.namespace;
    let list = Request::get(format!(
        "/apis/networking.istio.io/v1/namespaces/{ns}/destinationrules"
    ));
    let (answer, sent) = send(client, &list).await?;
    let hosts = host_forms(cb.host.as_deref().unwrap_or(&ctx.target.name), ns);
    let found = answer["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rule| rule["metadata"]["labels"][MANAGED_BY_LABEL] != MANAGER)
        .find(|rule| {
            rule["spec"]["host"]
                .as_str()
                .is_some_and(|h| hosts.iter().any(|form| form == h))
        })
        .and_then(|rule| {
            let name = rule["metadata"]["name"].as_str()?.to_owned();
            Some((name, rule.clone()))
        });
    Ok((sent, found))
}

/// Every way a rule in `ns` may name the service: `svc`, `svc.ns`,
/// `svc.ns.svc`, `svc.ns.svc.cluster.local`; other FQDNs only as written.
fn host_forms(host: &str, ns: &str) -> Vec<String> {
    let short = host
        .strip_suffix(&format!(".{ns}.svc.cluster.local"))
        .unwrap_or(host);
    if short.contains('.') {
        return vec![host.to_owned()];
    }
    vec![
        short.to_owned(),
        format!("{short}.{ns}"),
        format!("{short}.{ns}.svc"),
        format!("{short}.{ns}.svc.cluster.local"),
    ]
}

fn rule_path(ctx: &RenderContext<'_>, name: &str) -> String {
    let ns = &ctx.target.namespace;
    format!("/apis/networking.istio.io/v1/namespaces/{ns}/destinationrules/{name}")
}

fn render_apply_body(kind: &ActionKind, ctx: &RenderContext<'_>) -> Result<Value, ExecError> {
    render::render_apply(kind, ctx)?
        .into_iter()
        .find_map(|r| r.body)
        .ok_or(ExecError::NothingRendered("circuitBreaker"))
}

/// The name the renderer gives Firebreak's own rule.
fn own_rule_name(kind: &ActionKind, ctx: &RenderContext<'_>) -> Result<String, ExecError> {
    let body = render_apply_body(kind, ctx)?;
    Ok(body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::host_forms;

    #[test]
    fn hosts_match_short_and_qualified_forms() {
        let forms = host_forms("checkout", "shop");
        assert_eq!(forms[3], "checkout.shop.svc.cluster.local");
        assert_eq!(host_forms("checkout.shop.svc.cluster.local", "shop"), forms);
        assert_eq!(
            host_forms("api.example.com", "shop"),
            vec!["api.example.com"]
        );
    }
}
