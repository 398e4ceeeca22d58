#!/usr/bin/env python3
"""Checks of the Helm chart charts/firebreak (run by .ci/chart in its venv).

The chart is linted and rendered by the real Helm engine (helm-python-sdk binds
Helm v4's Go SDK), for the defaults and for every documented mode; each rendered
object is validated against the Kubernetes OpenAPI schemas (kubernetes-validate,
strict: unknown fields fail); the CRDs the chart ships against the
CustomResourceDefinition schema; the example playbooks against the Playbook
CRD's openAPIV3Schema (chart_schemas.py). Then what no schema can see
(chart_policy.py): RBAC grants exactly what the enabled actions need, no
wildcards, no cluster-wide grant in namespaced mode, pods/exec only with
diagnostics exec; no secret in clear text; the pod's security settings; the env
contract of `firebreak run`. Values that must be refused are refused, with a
message that names the value to change.

One line per check; exit status 1 if any failed.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

from chart_policy import (
    ENV_CONTRACT,
    NAMESPACE,
    RELEASE,
    SENTINELS,
    check_network_policy,
    check_no_clear_secrets,
    check_pod,
    check_rbac,
)
from chart_schemas import (
    CHART,
    KUBE_VERSION,
    NOT_IN_K8S_SCHEMAS,
    check_crd_copy,
    check_crds,
    check_playbooks,
    check_service_monitor,
    crd_validators,
    k8s_validate,
    load_crds,
    obj_name,
    playbook_schema_self_test,
)

ALL_ACTIONS = ["notify", "diagnostics", "rateLimit", "circuitBreaker", "rollback", "scale", "restart"]

MONITORING_NAMESPACE = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}

# Every documented mode, as the values given to `helm install`.
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"rbac": {"scope": "namespaced"}, "watchNamespaces": ["shop", "trading"]},
    "all-actions+exec": {
        "actions": {
            "enabled": ALL_ACTIONS,
            "rateLimitBackends": ["istio", "envoyGateway", "annotation"],
            "circuitBreakerBackends": ["istio", "envoyGateway"],
        },
        "diagnostics": {"exec": True},
    },
    "notify-only": {"actions": {"enabled": ["notify"]}},
    "recording rules": {
        "recordingRules": {"enabled": True, "labels": {"release": "kube-prometheus-stack", "team": "sre"}},
    },
    "recorded queries without managed rules": {"queryMode": "recorded"},
    "servicemonitor+networkpolicy": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "networkPolicy": {
            "enabled": True,
            "apiServer": {"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]},
            "prometheus": {"to": [MONITORING_NAMESPACE]},
            "ingressFrom": [MONITORING_NAMESPACE],
        },
    },
    "kafka+slack secrets": {
        "prometheus": {
            "url": "https://prometheus.monitoring.svc:9091",
            "bearerTokenSecret": {"name": "prom-token"},
            "caConfigMap": {"name": "prom-ca"},
        },
        "kafka": {
            "enabled": True,
            "brokers": ["kafka-0.kafka:9093", "kafka-1.kafka:9093", "kafka-2.kafka"],
            "securityProtocol": "SASL_SSL",
            "sasl": {
                "mechanism": "SCRAM-SHA-512",
                "username": "firebreak",
                "passwordSecret": {"name": "kafka-user", "key": "password"},
            },
        },
        "slack": {
            "enabled": True,
            "tokenSecret": {"name": "slack-bot"},
            "webhookSecret": {"name": "slack-hook"},
        },
        "networkPolicy": {"enabled": True},
    },
    "slack createSecret+outbox pvc": {
        "replicaCount": 1,
        "kafka": {
            "enabled": True,
            "brokers": ["kafka:9092"],
            "outbox": {"type": "persistentVolumeClaim", "size": "1Gi"},
        },
        "slack": {"enabled": True, "createSecret": True, "token": SENTINELS[0], "webhookUrl": SENTINELS[1]},
    },
    "no leader election, 1 replica": {"leaderElection": {"enabled": False}, "replicaCount": 1},
    "existing service account, no rbac": {
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "firebreak-sa"},
    },
    "slack links and default channel": {
        "slack": {
            "enabled": True,
            "tokenSecret": {"name": "slack-bot"},
            "defaultChannel": "#firebreak",
            "prometheusExternalUrl": "https://prometheus.example.com",
            "grafanaUrl": "https://grafana.example.com/d/firebreak/workload",
        },
    },
}

# Values that must be refused, with the words the message must contain.
REFUSED = {
    "namespaced without namespaces": ({"rbac": {"scope": "namespaced"}}, "needs watchNamespaces"),
    "watchNamespaces with cluster scope": ({"watchNamespaces": ["shop"]}, "set rbac.scope=namespaced"),
    "2 replicas without leader election": ({"leaderElection": {"enabled": False}}, "enable leader election"),
    "exec without diagnostics": (
        {"actions": {"enabled": ["notify"]}, "diagnostics": {"exec": True}},
        "needs diagnostics in actions.enabled",
    ),
    "unknown action": ({"actions": {"enabled": ["reboot"]}}, "/actions/enabled/0"),
    "unknown query mode": ({"queryMode": "cached"}, "/queryMode"),
    "misspelt value": ({"dryrun": False}, "dryrun"),
    "slack without a secret": ({"slack": {"enabled": True}}, "slack.tokenSecret.name"),
    "kafka without brokers": ({"kafka": {"enabled": True}}, "needs kafka.brokers"),
    "rwo outbox claim on 2 replicas": (
        {"kafka": {"enabled": True, "brokers": ["k:9092"], "outbox": {"type": "persistentVolumeClaim"}}},
        "ReadWriteMany",
    ),
}


class Report:
    """Prints one line per check (and its problems, indented); counts outcomes."""

    def __init__(self) -> None:
        self.passed = self.failed = 0

    def check(self, name: str, problems: list[str], ok_detail: str = "") -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"       {p}")
        else:
            self.passed += 1
            print(f"ok   {name}" + (f": {ok_detail}" if ok_detail else ""))


def render(chart: helm.Chart, values: dict) -> tuple[list[tuple[str, dict]], dict[str, str]]:
    """(template, object) for every rendered object, and the raw output."""
    out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for template, text in sorted(out.items()):
        if template.endswith(".txt"):
            continue
        short = template.split("/", 1)[1]
        docs += [(short, d) for d in yaml.safe_load_all(text) if d]
    return docs, out


def run_scenario(report: Report, chart: helm.Chart, name: str, values: dict) -> None:
    v = chart.merge_values(values)
    lint = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}.0")
    findings = [f"{m['path']}: {m['error']}" for m in lint["messages"] if m["severity"] >= 2]
    report.check(f"[{name}] helm lint --strict", findings + lint["errors"])
    try:
        docs, out = render(chart, values)
    except helm.HelmError as e:
        report.check(f"[{name}] render", [str(e)])
        return
    report.check(
        f"[{name}] render", [], f"{len(docs)} objects: {', '.join(sorted({o['kind'] for _, o in docs}))}"
    )

    skipped = sorted(
        {f"{o['kind']} ({t})" for t, o in docs if (o["apiVersion"], o["kind"]) in NOT_IN_K8S_SCHEMAS}
    )
    detail = f"{len(docs) - len(skipped)} valid"
    if skipped:
        detail += f"; not Kubernetes types, checked structurally: {', '.join(skipped)}"
    report.check(
        f"[{name}] Kubernetes {KUBE_VERSION} schemas (strict)",
        [p for t, o in docs for p in k8s_validate(t, o)],
        detail,
    )
    if skipped:
        report.check(f"[{name}] ServiceMonitor structure", check_service_monitor(docs))

    if v["rbac"]["create"]:
        detail = (
            f"no wildcard; {v['rbac']['scope']} scope grants exactly base + "
            f"{', '.join(v['actions']['enabled'])}" + (" + pods/exec" if v["diagnostics"]["exec"] else "")
        )
    else:
        detail = "rbac.create=false: none rendered"
    report.check(f"[{name}] RBAC least privilege", check_rbac(docs, v), detail)
    report.check(f"[{name}] pod security, probes, env contract", check_pod(docs, v))
    report.check(f"[{name}] no secret in clear text", check_no_clear_secrets(docs, out))
    if v["networkPolicy"]["enabled"]:
        report.check(f"[{name}] NetworkPolicy ports", check_network_policy(docs, v))


def check_refused(chart: helm.Chart, values: dict, words: str) -> list[str]:
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as e:
        return [] if words in str(e) else [f"refused, but the message lacks {words!r}: {e}"]
    return [f"values {values} rendered; they must be refused with a message containing {words!r}"]


# Env vars the chart sets for features whose code is not written yet; the check
# below prints them, so the gap stays visible until the issue lands.
PENDING_ENV = {
}


def check_env_contract_against_binary() -> tuple[list[str], str]:
    """Every env var the chart may set is read by `firebreak run`, or listed as pending."""
    binary = os.environ.get("FIREBREAK_BIN", "target/debug/firebreak")
    if not os.path.exists(binary):
        return [f"{binary} not built (cargo build first)"], ""
    out = subprocess.run([binary, "run", "--help"], capture_output=True, text=True, check=False)
    read = set(re.findall(r"\[env: ([A-Z0-9_]+)=", out.stdout))
    downward = {"POD_NAME", "POD_NAMESPACE"}  # read from the environment by the operator itself
    problems = [
        f"the chart sets {n}, which `firebreak run` does not read"
        for n in sorted(ENV_CONTRACT - read - downward - PENDING_ENV.keys())
    ]
    problems += [f"{n} is listed as pending but `firebreak run` reads it now" for n in sorted(read & PENDING_ENV.keys())]
    pending = ", ".join(f"{n} ({i})" for n, i in sorted(PENDING_ENV.items()))
    return problems, f"pending: {pending}"


def main() -> int:
    report = Report()
    print(
        f"helm {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__}), "
        f"kubernetes-validate {kubernetes_validate.version.__version__}, "
        f"jsonschema {importlib.metadata.version('jsonschema')}"
    )
    report.check("chart CRDs are a copy of crds/firebreak.dev.yaml", check_crd_copy())
    problems, detail = check_env_contract_against_binary()
    report.check("chart env vars are read by `firebreak run`", problems, detail)
    crds = load_crds()
    report.check(
        "chart CRDs valid CustomResourceDefinitions",
        check_crds(crds),
        ", ".join(obj_name(c) for _, c in crds),
    )
    validators, ignored = crd_validators(crds)
    problems, count = check_playbooks(validators)
    report.check(
        "example playbooks valid against the CRD schema",
        problems,
        f"{count} playbooks" + (f"; not checked: {', '.join(sorted(ignored))}" if ignored else ""),
    )
    report.check(
        "playbook schema rejects an unknown field and a wrong type", playbook_schema_self_test(validators)
    )
    with helm.Chart.load(CHART) as chart:
        for name, values in SCENARIOS.items():
            run_scenario(report, chart, name, values)
        for name, (values, words) in REFUSED.items():
            report.check(f"refused: {name}", check_refused(chart, values, words))
    # The plain closing line CI summaries read.
    print(f"\nchart: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
