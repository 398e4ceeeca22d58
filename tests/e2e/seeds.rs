//! The four seed incident patterns, each with the shipped playbook that
//! answers it (time-compressed), the workload's healthy and incident signals,
//! and what must happen: the peak severity, the playbook's actions in order,
//! the exact API writes they make, and which mitigations are reverted.

use serde_json::Value;

use super::playbooks::compressed;
use super::synth::{Kind, Signal, Workload};

pub struct Seed {
    pub pattern: &'static str,
    /// `playbooks/NAME.yaml`.
    pub playbook: &'static str,
    /// How much faster than shipped its timing runs.
    pub factor: f64,
    pub namespace: &'static str,
    pub workload: &'static str,
    pub kind: Kind,
    pub container: &'static str,
    /// Other targets of the playbook, healthy throughout (no incident for them).
    pub bystanders: &'static [&'static str],
    pub healthy: Signal,
    pub incident: Signal,
    /// Working set (share of the limit) when the incident starts, and after recovery.
    pub memory: (f64, f64),
    pub peak: &'static str,
    /// The actions run, in order, as `action (severity)`.
    pub actions: &'static [&'static str],
    /// The writes those actions make, in order.
    pub writes: &'static [Write],
    /// The writes of the reverts after resolution.
    pub revert_writes: &'static [Write],
}

/// One expected API write: method, path after `/namespaces/NS/`, content type,
/// and fields of its body (JSON pointer, JSON value; `*` = present).
pub struct Write {
    pub method: &'static str,
    pub path: &'static str,
    pub content_type: Option<&'static str>,
    pub body: &'static [(&'static str, &'static str)],
}

const APPLY: Option<&str> = Some("application/apply-patch+yaml");
const MERGE: Option<&str> = Some("application/merge-patch+json");
const STRATEGIC: Option<&str> = Some("application/strategic-merge-patch+json");
const DESCRIPTOR_VALUE: &str = "/spec/configPatches/1/patch/value/typed_per_filter_config/envoy.filters.http.local_ratelimit/descriptors/0/entries/0/value";
const DESCRIPTOR_RATE: &str = "/spec/configPatches/1/patch/value/typed_per_filter_config/envoy.filters.http.local_ratelimit/descriptors/0/token_bucket/tokens_per_fill";
const DESCRIPTOR_BURST: &str = "/spec/configPatches/1/patch/value/typed_per_filter_config/envoy.filters.http.local_ratelimit/descriptors/0/token_bucket/max_tokens";

impl Seed {
    pub fn playbook(&self) -> Value {
        compressed(self.playbook, self.factor)
    }

    /// The playbook's `matchLabels`: the workloads carry them.
    pub fn labels(&self) -> Value {
        self.playbook()["spec"]["target"]["selector"]["matchLabels"].clone()
    }

    pub fn workloads(&self) -> Vec<(Workload, Value)> {
        std::iter::once(self.workload)
            .chain(self.bystanders.iter().copied())
            .map(|name| {
                let mut w = Workload::new(self.namespace, name, self.kind, self.container);
                w.signal = self.healthy;
                (w, self.labels())
            })
            .collect()
    }
}

pub fn all() -> Vec<Seed> {
    vec![
        Seed {
            pattern: "memory leak",
            playbook: "memory-leak",
            factor: 60.0,
            namespace: "risk",
            workload: "pricer",
            kind: Kind::Deployment,
            container: "pricer",
            bystanders: &[],
            healthy: Signal::HEALTHY,
            // The heap grows 0.5 % of the limit a second: minutes to OOM.
            incident: Signal {
                growth: 0.005,
                ..Signal::HEALTHY
            },
            memory: (0.5, 0.4),
            peak: "critical",
            actions: &[
                "notify (low)",
                "diagnostics (medium)",
                "notify (medium)",
                "scale (high)",
                "restart (critical)",
                "notify (critical)",
            ],
            writes: &[
                // 2 replicas + 2 (max 12).
                Write {
                    method: "PATCH",
                    path: "deployments/pricer/scale",
                    content_type: MERGE,
                    body: &[("/spec/replicas", "4")],
                },
                Write {
                    method: "PATCH",
                    path: "deployments/pricer",
                    content_type: STRATEGIC,
                    body: &[(
                        "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt",
                        "*",
                    )],
                },
            ],
            revert_writes: &[],
        },
        Seed {
            pattern: "cache stampede",
            playbook: "cache-stampede",
            factor: 10.0,
            namespace: "catalog",
            workload: "product-api",
            kind: Kind::Deployment,
            container: "product-api",
            bystanders: &[],
            healthy: Signal::HEALTHY,
            // Database latency from milliseconds to seconds, errors as requests time out.
            incident: Signal {
                p99: 2.0,
                errors: 0.12,
                ..Signal::HEALTHY
            },
            memory: (0.4, 0.4),
            peak: "high",
            actions: &[
                "notify (low)",
                "diagnostics (medium)",
                "notify (medium)",
                "circuitBreaker (high)",
                "rateLimit (high)",
            ],
            writes: &[
                Write {
                    method: "PATCH",
                    path: "destinationrules/firebreak-product-api",
                    content_type: APPLY,
                    body: &[
                        ("/kind", "\"DestinationRule\""),
                        ("/spec/host", "\"product-api.catalog.svc.cluster.local\""),
                        (
                            "/spec/trafficPolicy/outlierDetection/consecutive5xxErrors",
                            "5",
                        ),
                        (
                            "/spec/trafficPolicy/outlierDetection/maxEjectionPercent",
                            "50",
                        ),
                        (
                            "/spec/trafficPolicy/connectionPool/tcp/maxConnections",
                            "200",
                        ),
                        (
                            "/spec/trafficPolicy/connectionPool/http/http1MaxPendingRequests",
                            "50",
                        ),
                    ],
                },
                Write {
                    method: "PATCH",
                    path: "envoyfilters/firebreak-ratelimit-product-api",
                    content_type: APPLY,
                    body: &[
                        ("/kind", "\"EnvoyFilter\""),
                        ("/spec/workloadSelector/labels/tier", "\"db-facing\""),
                        (
                            "/spec/configPatches/0/patch/value/typed_config/token_bucket/tokens_per_fill",
                            "1200",
                        ),
                        (
                            "/spec/configPatches/0/patch/value/typed_config/token_bucket/max_tokens",
                            "200",
                        ),
                    ],
                },
            ],
            revert_writes: &[Write {
                method: "DELETE",
                path: "envoyfilters/firebreak-ratelimit-product-api",
                content_type: None,
                body: &[],
            }],
        },
        Seed {
            pattern: "lock contention",
            playbook: "lock-contention",
            factor: 15.0,
            namespace: "inventory",
            workload: "stock-ledger",
            kind: Kind::Rollout,
            container: "stock-ledger",
            bystanders: &[],
            healthy: Signal {
                rps: 40_000.0,
                ..Signal::HEALTHY
            },
            // Lock waits: p99 from 5 ms to 400 ms, throughput collapses.
            incident: Signal {
                rps: 8_000.0,
                p99: 0.4,
                ..Signal::HEALTHY
            },
            memory: (0.4, 0.4),
            peak: "high",
            actions: &[
                "notify (low)",
                "diagnostics (medium)",
                "rollback (high)",
                "notify (high)",
            ],
            // Argo Rollouts' abort, as `kubectl argo rollouts abort` sends it.
            writes: &[Write {
                method: "PATCH",
                path: "rollouts/stock-ledger/status",
                content_type: MERGE,
                body: &[("/status/abort", "true")],
            }],
            revert_writes: &[],
        },
        Seed {
            pattern: "traffic surge",
            playbook: "traffic-surge",
            factor: 15.0,
            namespace: "trading",
            workload: "broker-adapter",
            kind: Kind::Deployment,
            container: "broker-adapter",
            bystanders: &["fx-adapter"],
            healthy: Signal::HEALTHY,
            // 14x the usual order flow; the broker slows down and fails some.
            incident: Signal {
                rps: 5_600.0,
                p99: 2.5,
                errors: 0.12,
                ..Signal::HEALTHY
            },
            memory: (0.4, 0.4),
            peak: "critical",
            actions: &[
                "notify (low)",
                "diagnostics (medium)",
                "rateLimit (high)",
                "notify (critical)",
            ],
            // Only /v1/orders, at 2,400 requests/s with a burst of 400.
            writes: &[Write {
                method: "PATCH",
                path: "envoyfilters/firebreak-ratelimit-broker-adapter",
                content_type: APPLY,
                body: &[
                    (
                        "/spec/workloadSelector/labels/app.kubernetes.io~1part-of",
                        "\"order-routing\"",
                    ),
                    (DESCRIPTOR_VALUE, "\"/v1/orders\""),
                    (DESCRIPTOR_RATE, "2400"),
                    (DESCRIPTOR_BURST, "400"),
                ],
            }],
            revert_writes: &[Write {
                method: "DELETE",
                path: "envoyfilters/firebreak-ratelimit-broker-adapter",
                content_type: None,
                body: &[],
            }],
        },
    ]
}
