//! [`History`] as OpenMetrics text for `promtool tsdb create-blocks-from
//! openmetrics`, in the shapes real exporters produce:
//!
//! - cAdvisor through the kubelet (`/metrics/cadvisor`): one series per container
//!   with `id`, `image`, `name`; the pod cgroup (`container=""`, `image=""`) and
//!   the pause container (`container="POD"`) beside them; plus the copy without
//!   `image` that the kubelet's `/metrics/resource` serves when that is scraped too.
//! - kube-state-metrics as kube-prometheus-stack scrapes it (`honor_labels`): the
//!   object's `namespace`/`pod`/`container` win, and series without a `pod` of
//!   their own (`kube_replicaset_owner`) carry kube-state-metrics' own pod.
//! - OpenTelemetry HTTP server histograms (`http_server_request_duration_seconds`,
//!   semconv labels and default buckets), scraped by a ServiceMonitor.

use std::fmt::Write as _;

use super::{BUCKETS, Container, Endpoint, History, Owner, Pod};

type Labels = Vec<(&'static str, String)>;
type Values<'a> = Box<dyn Fn(usize) -> f64 + 'a>;

/// The pause container: a sliver of CPU, a few hundred KiB.
const PAUSE: Container = Container {
    name: "POD",
    cpu: 0.0005,
    cpu_limit: None,
    memory: 311_296.0,
    growth: 0.0,
    memory_limit: None,
};

impl History {
    /// The whole history as OpenMetrics text, one family after the other.
    pub fn openmetrics(&self) -> String {
        let mut out = String::new();

        family(&mut out, "container_cpu_usage_seconds", "counter");
        for pod in &self.pods {
            let cpu = |c: &Container, s| c.cpu_seconds(s);
            let pause = |s| PAUSE.cpu_seconds(s);
            for (labels, value) in cadvisor(pod, true, cpu, pause) {
                self.series(
                    &mut out,
                    "container_cpu_usage_seconds_total",
                    &labels,
                    &value,
                );
            }
        }
        family(&mut out, "container_memory_working_set_bytes", "gauge");
        for pod in &self.pods {
            let mem = |c: &Container, s| c.memory_at(s);
            let pause = |s| PAUSE.memory_at(s);
            for (labels, value) in cadvisor(pod, false, mem, pause) {
                self.series(
                    &mut out,
                    "container_memory_working_set_bytes",
                    &labels,
                    &value,
                );
            }
        }

        family(&mut out, "kube_pod_owner", "gauge");
        for pod in &self.pods {
            let (kind, name) = match pod.owner {
                Owner::ReplicaSet(rs) => ("ReplicaSet", rs),
                Owner::StatefulSet(sts) => ("StatefulSet", sts),
            };
            let labels = [object(pod), owner(kind, name)].concat();
            self.ksm(&mut out, "kube_pod_owner", labels, 1.0);
        }
        family(&mut out, "kube_replicaset_owner", "gauge");
        for rs in &self.replica_sets {
            let object = vec![
                ("namespace", rs.namespace.into()),
                ("replicaset", rs.name.into()),
            ];
            let labels = [object, owner("Deployment", rs.deployment)].concat();
            self.ksm(&mut out, "kube_replicaset_owner", labels, 1.0);
        }
        family(&mut out, "kube_pod_labels", "gauge");
        for pod in &self.pods {
            let mut labels = object(pod);
            labels.push(("label_app", pod.app.into()));
            labels.push(("label_app_kubernetes_io_name", pod.app.into()));
            self.ksm(&mut out, "kube_pod_labels", labels, 1.0);
        }
        family(&mut out, "kube_pod_container_resource_limits", "gauge");
        for pod in &self.pods {
            for c in &pod.containers {
                let limits = [
                    ("cpu", "core", c.cpu_limit),
                    ("memory", "byte", c.memory_limit),
                ];
                for (resource, unit, limit) in limits {
                    let Some(limit) = limit else { continue };
                    let mut labels = object(pod);
                    labels.push(("container", c.name.into()));
                    labels.push(("node", node(pod)));
                    labels.push(("resource", resource.into()));
                    labels.push(("unit", unit.into()));
                    self.ksm(
                        &mut out,
                        "kube_pod_container_resource_limits",
                        labels,
                        limit,
                    );
                }
            }
        }

        family(
            &mut out,
            "http_server_request_duration_seconds",
            "histogram",
        );
        for pod in &self.pods {
            for e in &pod.endpoints {
                self.histogram(&mut out, pod, e);
            }
        }
        out.push_str("# EOF\n");
        out
    }

    fn histogram(&self, out: &mut String, pod: &Pod, e: &Endpoint) {
        let labels: Labels = vec![
            ("container", "app".into()),
            ("endpoint", "http".into()),
            ("http_request_method", e.method.into()),
            ("http_response_status_code", e.status.to_string()),
            ("http_route", e.route.into()),
            ("instance", format!("{}:8080", pod_ip(pod))),
            ("job", pod.app.into()),
            ("namespace", pod.namespace.into()),
            ("network_protocol_version", "1.1".into()),
            ("pod", pod.name.into()),
            ("service", pod.app.into()),
            ("url_scheme", "http".into()),
        ];
        let name = "http_server_request_duration_seconds";
        // One MetricPoint per timestamp: every bucket, then count and sum.
        for step in 0..=self.steps {
            let t = self.time(step);
            for le in BUCKETS.iter().copied().chain([f64::INFINITY]) {
                let bound = if le.is_infinite() {
                    "+Inf".to_owned()
                } else {
                    le.to_string()
                };
                let v = e.cumulative(step, le);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{},le=\"{bound}\"}} {v} {t}",
                    render(&labels)
                );
            }
            let _ = writeln!(
                out,
                "{name}_count{{{}}} {} {t}",
                render(&labels),
                e.count(step)
            );
            let _ = writeln!(out, "{name}_sum{{{}}} {} {t}", render(&labels), e.sum(step));
        }
    }

    /// A constant kube-state-metrics series. With `honor_labels` the object's
    /// labels win; the scrape target's fill in the rest, so a series without a
    /// `pod` of its own (`kube_replicaset_owner`) carries kube-state-metrics' pod.
    fn ksm(&self, out: &mut String, name: &str, mut labels: Labels, value: f64) {
        let target: Labels = vec![
            ("container", "kube-state-metrics".into()),
            ("endpoint", "http".into()),
            ("instance", "10.0.9.4:8080".into()),
            ("job", "kube-state-metrics".into()),
            ("namespace", "monitoring".into()),
            ("pod", "kube-state-metrics-6d4b7c9f8-zx2lq".into()),
            ("service", "kube-state-metrics".into()),
        ];
        for (k, v) in target {
            if !labels.iter().any(|(name, _)| *name == k) {
                labels.push((k, v));
            }
        }
        self.series(out, name, &labels, &|_| value);
    }

    fn series(&self, out: &mut String, name: &str, labels: &Labels, value: &dyn Fn(usize) -> f64) {
        let labels = render(labels);
        for step in 0..=self.steps {
            let _ = writeln!(
                out,
                "{name}{{{labels}}} {} {}",
                value(step),
                self.time(step)
            );
        }
    }
}

/// Per container, the cAdvisor series and the `/metrics/resource` copy; then
/// the pause container and the pod cgroup (which holds everything).
fn cadvisor<'a>(
    pod: &'a Pod,
    cpu: bool,
    value: impl Fn(&Container, usize) -> f64 + Copy + 'a,
    pause: impl Fn(usize) -> f64 + Copy + 'a,
) -> Vec<(Labels, Values<'a>)> {
    let uid = uid(pod);
    let cgroup = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        uid.replace('-', "_")
    );
    let base = |container: &str, metrics_path: &str| -> Labels {
        let mut l: Labels = vec![
            ("container", container.into()),
            ("endpoint", "https-metrics".into()),
            ("instance", format!("{}:10250", node_ip(pod))),
            ("job", "kubelet".into()),
            ("metrics_path", metrics_path.into()),
            ("namespace", pod.namespace.into()),
            ("node", node(pod)),
            ("pod", pod.name.into()),
            ("service", "kubelet".into()),
        ];
        if cpu && metrics_path == "/metrics/cadvisor" {
            l.push(("cpu", "total".into()));
        }
        l
    };
    let cadvisor = |container: &str, image: &str| -> Labels {
        let hash = hex_id(&format!("{}/{}/{container}", pod.namespace, pod.name));
        let mut l = base(container, "/metrics/cadvisor");
        let scope = if container.is_empty() {
            cgroup.clone()
        } else {
            format!("{cgroup}/cri-containerd-{hash}.scope")
        };
        l.push(("id", scope));
        l.push(("image", image.into()));
        l.push((
            "name",
            if container.is_empty() {
                String::new()
            } else {
                hash
            },
        ));
        l
    };
    let mut series: Vec<(Labels, Values<'a>)> = Vec::new();
    for c in &pod.containers {
        let image = format!("registry.example.com/{}/{}:1.4.2", pod.namespace, c.name);
        series.push((cadvisor(c.name, &image), Box::new(move |s| value(c, s))));
        series.push((
            base(c.name, "/metrics/resource"),
            Box::new(move |s| value(c, s)),
        ));
    }
    series.push((
        cadvisor("POD", "registry.k8s.io/pause:3.9"),
        Box::new(pause),
    ));
    let all = move |s: usize| pause(s) + pod.containers.iter().map(|c| value(c, s)).sum::<f64>();
    series.push((cadvisor("", ""), Box::new(all)));
    series
}

fn family(out: &mut String, name: &str, kind: &str) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    parts.join(",")
}

fn object(pod: &Pod) -> Labels {
    vec![
        ("namespace", pod.namespace.into()),
        ("pod", pod.name.into()),
        ("uid", uid(pod)),
    ]
}

fn owner(kind: &str, name: &str) -> Labels {
    vec![
        ("owner_is_controller", "true".into()),
        ("owner_kind", kind.into()),
        ("owner_name", name.into()),
    ]
}

fn node(pod: &Pod) -> String {
    format!("node-{}", hex_id(pod.name).as_bytes()[0] % 3)
}

fn node_ip(pod: &Pod) -> String {
    format!("10.0.0.{}", hex_id(pod.name).as_bytes()[0] % 3 + 10)
}

fn pod_ip(pod: &Pod) -> String {
    format!(
        "10.1.{}.{}",
        hex_id(pod.name).as_bytes()[1],
        hex_id(pod.name).as_bytes()[2]
    )
}

fn uid(pod: &Pod) -> String {
    let h = hex_id(&format!("{}/{}", pod.namespace, pod.name));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A stable 64-hex-digit id (FNV-1a, four rounds), like a container id.
fn hex_id(seed: &str) -> String {
    (0u64..4)
        .map(|round| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
            for b in seed.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect()
}
