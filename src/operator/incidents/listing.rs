//! The Incidents a new leader restores the engine from.

use kube::Client;
use kube::api::{Api, ListParams};

use super::WriteError;
use crate::incident::resource::{Incident as IncidentResource, IncidentPhase, StepPhase};

/// Incidents a new leader has to continue: not resolved, or resolved with a
/// revert still to do. `namespaces` empty means every namespace.
pub async fn open_incidents(
    client: &Client,
    namespaces: &[String],
) -> Result<Vec<IncidentResource>, WriteError> {
    let apis: Vec<(String, Api<IncidentResource>)> = if namespaces.is_empty() {
        vec![("all namespaces".to_owned(), Api::all(client.clone()))]
    } else {
        namespaces
            .iter()
            .map(|ns| (ns.clone(), Api::namespaced(client.clone(), ns)))
            .collect()
    };
    let mut open = Vec::new();
    for (scope, api) in apis {
        let mut params = ListParams::default().limit(LIST_PAGE);
        loop {
            let page = api.list(&params).await.map_err(|source| WriteError::List {
                scope: scope.clone(),
                source,
            })?;
            open.extend(page.items.into_iter().filter(needs_restore));
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
    }
    Ok(open)
}

/// Resolved Incidents stay (their history), so pages keep each response small.
const LIST_PAGE: u32 = 500;

fn needs_restore(incident: &IncidentResource) -> bool {
    let Some(status) = &incident.status else {
        // Created, status not written yet: the previous leader died in between.
        return true;
    };
    status.phase != Some(IncidentPhase::Resolved)
        || status.steps.iter().any(|s| {
            s.revert
                .as_ref()
                .is_some_and(|r| matches!(r.state, StepPhase::Pending | StepPhase::Issued))
        })
}

#[cfg(test)]
mod tests {
    use http::Method;
    use serde_json::{Value, json};

    use super::open_incidents;
    use crate::operator::testing_writers::fixtures::NS;
    use crate::operator::testing_writers::{Reply, expect, mock_client, served};

    const INCIDENTS: &str = "/apis/firebreak.dev/v1alpha1/namespaces/risk/incidents";

    fn listed(name: &str, status: Value) -> Value {
        json!({
            "apiVersion": "firebreak.dev/v1alpha1",
            "kind": "Incident",
            "metadata": { "name": name, "namespace": NS, "resourceVersion": "8001" },
            "spec": {
                "playbook": "memory-leak",
                "target": { "kind": "Deployment", "name": "pricer" },
                "openedAt": "2026-03-02T09:24:00Z",
                "openedSeverity": "high",
            },
            "status": status,
        })
    }

    fn list(items: Vec<Value>, continue_: &str) -> Reply {
        Reply::ok(json!({
            "apiVersion": "firebreak.dev/v1alpha1",
            "kind": "IncidentList",
            "metadata": { "resourceVersion": "8100", "continue": continue_ },
            "items": items,
        }))
    }

    fn step(revert: Option<&str>) -> Value {
        let mut s = json!({
            "key": "memory-leak-pricer-1/high/0/scale", "severity": "high", "index": 0,
            "action": "scale", "state": { "state": "Done", "dryRun": false },
        });
        if let Some(r) = revert {
            s["revert"] = json!({ "state": r });
        }
        s
    }

    #[tokio::test]
    async fn open_incidents_skips_resolved_ones_without_pending_reverts() {
        let (client, verifier) = mock_client(NS);
        let server = verifier.run(vec![expect(
            Method::GET,
            format!("{INCIDENTS}?&limit=500"),
            list(
                vec![
                    listed("open", json!({ "phase": "Open", "severity": "high" })),
                    listed(
                        "mitigated",
                        json!({ "phase": "Mitigated", "steps": [step(None)] }),
                    ),
                    listed(
                        "done",
                        json!({ "phase": "Resolved", "steps": [step(Some("Done"))] }),
                    ),
                    listed(
                        "reverting",
                        json!({ "phase": "Resolved", "steps": [step(Some("Pending"))] }),
                    ),
                    listed("unwritten", Value::Null),
                ],
                "",
            ),
        )]);

        let result = open_incidents(&client, &[NS.to_owned()]).await;
        drop(client);
        served(server).await;

        let names: Vec<String> = result
            .expect("listed")
            .into_iter()
            .filter_map(|i| i.metadata.name)
            .collect();
        assert_eq!(names, ["open", "mitigated", "reverting", "unwritten"]);
    }

    #[tokio::test]
    async fn open_incidents_across_all_namespaces_follows_continue_tokens() {
        let (client, verifier) = mock_client(NS);
        let all = "/apis/firebreak.dev/v1alpha1/incidents?&limit=500";
        let server = verifier.run(vec![
            expect(
                Method::GET,
                all,
                list(
                    vec![listed("first", json!({ "phase": "Open" }))],
                    "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ",
                ),
            ),
            expect(
                Method::GET,
                format!("{all}&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"),
                list(vec![listed("second", json!({ "phase": "Mitigated" }))], ""),
            ),
        ]);

        let result = open_incidents(&client, &[]).await;
        drop(client);
        served(server).await;

        assert_eq!(result.expect("listed").len(), 2);
    }
}
