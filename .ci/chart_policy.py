"""Policy checks of the rendered chart that no schema can see: RBAC grants
exactly what the enabled actions need (the tables below are the contract, also
documented in charts/README.md), no wildcards, no cluster-wide grant in
namespaced mode, pods/exec only with diagnostics exec; no secret in clear text;
the pod's security settings; the env contract of `firebreak run`; the
NetworkPolicy's ports."""

from __future__ import annotations

import base64
import urllib.parse

import yaml

from chart_schemas import obj_name, of_kind

RELEASE = NAMESPACE = "firebreak"  # release name and namespace of every render

# --- The RBAC contract: what each piece of the operator needs -----------------
READ = {"get", "list", "watch"}
OWNED = {"get", "list", "create", "patch", "delete"}  # server-side applied, deleted on revert
BASE = {
    ("firebreak.dev", "playbooks"): READ,
    ("firebreak.dev", "playbooks/status"): {"patch"},
    ("firebreak.dev", "incidents"): READ | {"create", "update", "patch", "delete"},
    ("firebreak.dev", "incidents/status"): {"get", "update", "patch"},
    ("firebreak.dev", "playbooks/finalizers"): {"update"},  # Incidents' owner, blockOwnerDeletion
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("apps", "deployments"): READ,
    ("apps", "replicasets"): READ,
    ("argoproj.io", "rollouts"): READ,
}
PER_ACTION = {
    "notify": {},
    "diagnostics": {
        ("", "pods"): {"get", "list"},
        ("", "pods/log"): {"get"},
        ("", "events"): {"get", "list"},
        ("", "configmaps"): {"get", "create", "patch"},
        ("firebreak.dev", "incidents/finalizers"): {"update"},
    },
    "rollback": {("apps", "deployments"): {"patch"}, ("argoproj.io", "rollouts/status"): {"patch"}},
    "scale": {
        ("apps", "deployments/scale"): {"get", "patch"},
        ("argoproj.io", "rollouts/scale"): {"get", "patch"},
    },
    "restart": {("apps", "deployments"): {"patch"}, ("argoproj.io", "rollouts"): {"patch"}},
    "rateLimit": {},  # by backend, below
    "circuitBreaker": {},
}
PER_BACKEND = {
    ("rateLimit", "istio"): {("networking.istio.io", "envoyfilters"): OWNED},
    ("rateLimit", "envoyGateway"): {("gateway.envoyproxy.io", "backendtrafficpolicies"): OWNED},
    ("rateLimit", "annotation"): {("apps", "deployments"): {"patch"}, ("argoproj.io", "rollouts"): {"patch"}},
    ("circuitBreaker", "istio"): {("networking.istio.io", "destinationrules"): OWNED},
    ("circuitBreaker", "envoyGateway"): {("gateway.envoyproxy.io", "backendtrafficpolicies"): OWNED},
}
DIAGNOSTICS_EXEC = {("", "pods/exec"): {"get", "create"}}

# Environment of `firebreak run` (each flag's env var) and the downward API.
ENV_CONTRACT = {
    "POD_NAME",
    "POD_NAMESPACE",
    "FIREBREAK_PROMETHEUS_URL",
    "FIREBREAK_PROMETHEUS_BEARER_TOKEN_FILE",
    "FIREBREAK_PROMETHEUS_CA_FILE",
    "FIREBREAK_PROMETHEUS_TIMEOUT",
    "FIREBREAK_KAFKA_BROKERS",
    "FIREBREAK_KAFKA_TOPIC",
    "FIREBREAK_KAFKA_SASL_USERNAME",
    "FIREBREAK_KAFKA_SASL_PASSWORD_FILE",
    "FIREBREAK_KAFKA_SECURITY_PROTOCOL",
    "FIREBREAK_KAFKA_SASL_MECHANISM",
    "FIREBREAK_OUTBOX_DIR",
    "FIREBREAK_OUTBOX_CAPACITY",
    "FIREBREAK_KAFKA_MODE",
    "FIREBREAK_CLUSTER_NAME",
    "FIREBREAK_SLACK_TOKEN_FILE",
    "FIREBREAK_SLACK_WEBHOOK_URL_FILE",
    "FIREBREAK_SLACK_API_URL",
    "FIREBREAK_SLACK_DEFAULT_CHANNEL",
    "FIREBREAK_PROMETHEUS_EXTERNAL_URL",
    "FIREBREAK_GRAFANA_URL",
    "FIREBREAK_DRY_RUN",
    "FIREBREAK_KILL_SWITCH",
    "FIREBREAK_LEADER_ELECTION",
    "FIREBREAK_LEASE_NAME",
    "FIREBREAK_LEASE_NAMESPACE",
    "FIREBREAK_WATCH_NAMESPACES",
    "FIREBREAK_ADMIN_ADDR",
    "FIREBREAK_LOG_JSON",
    "FIREBREAK_LOG",
    "FIREBREAK_ACTIONS",
    "FIREBREAK_DIAGNOSTICS_EXEC",
    "FIREBREAK_QUERY_MODE",
    "FIREBREAK_RECORDING_RULES",
    "FIREBREAK_RECORDING_RULE_LABELS",
}
SECRET_ENV_WORDS = ("TOKEN", "PASSWORD", "SECRET", "WEBHOOK", "CREDENTIAL")
# Planted in scenario values: must never appear in a rendered manifest except
# base64-encoded in a Secret's data.
SENTINELS = ("xoxb-sentinel-slack-token", "https://hooks.slack.test/sentinel-webhook")


# --- RBAC ---------------------------------------------------------------------
# One PrometheusRule per Playbook, server-side applied.
RECORDING_RULES = {("monitoring.coreos.com", "prometheusrules"): {"get", "create", "patch"}}


def expected_grants(v: dict) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    parts = [BASE] + [PER_ACTION[a] for a in v["actions"]["enabled"]]
    for action, key in (("rateLimit", "rateLimitBackends"), ("circuitBreaker", "circuitBreakerBackends")):
        if action in v["actions"]["enabled"]:
            parts += [PER_BACKEND[(action, b)] for b in v["actions"][key]]
    if v["diagnostics"]["exec"]:
        parts.append(DIAGNOSTICS_EXEC)
    if v["recordingRules"]["enabled"]:
        parts.append(RECORDING_RULES)
    for part in parts:
        for gr, verbs in part.items():
            grants.setdefault(gr, set()).update(verbs)
    return grants


def grants_of(role: dict) -> dict[tuple, set[str]]:
    grants: dict[tuple, set[str]] = {}
    for rule in role.get("rules") or []:
        for g in rule.get("apiGroups") or []:
            for r in rule.get("resources") or []:
                key = (g, r, tuple(rule.get("resourceNames") or ()))
                grants.setdefault(key, set()).update(rule.get("verbs") or [])
    return grants


def diff_grants(where: str, have: dict, want: dict) -> list[str]:
    out = []
    for key in sorted(set(have) | set(want)):
        extra = have.get(key, set()) - want.get(key, set())
        missing = want.get(key, set()) - have.get(key, set())
        label = f"{key[0] or 'core'}/{key[1]}" + (f" names={list(key[2])}" if key[2] else "")
        if extra:
            out.append(f"{where}: .rules grants {label} {sorted(extra)} that no enabled action needs")
        if missing:
            out.append(f"{where}: .rules lacks {label} {sorted(missing)}")
    return out


def check_rbac(docs, v: dict) -> list[str]:
    problems = []
    roles = of_kind(docs, "Role") + of_kind(docs, "ClusterRole")
    for t, role in roles:
        for i, rule in enumerate(role.get("rules") or []):
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                if any("*" in str(x) for x in rule.get(field) or []):
                    problems.append(
                        f"{t}: {obj_name(role)}: .rules[{i}].{field} has a wildcard: {rule[field]}"
                    )
            if rule.get("nonResourceURLs"):
                problems.append(f"{t}: {obj_name(role)}: .rules[{i}].nonResourceURLs is set")
            if "pods/exec" in (rule.get("resources") or []) and not v["diagnostics"]["exec"]:
                problems.append(
                    f"{t}: {obj_name(role)}: .rules[{i}] grants pods/exec with diagnostics.exec=false"
                )
    if not v["rbac"]["create"]:
        bindings = [o for _, o in docs if o["kind"].endswith(("Role", "RoleBinding"))]
        return problems + [f"rbac.create=false rendered {obj_name(o)}" for o in bindings]

    want = {(g, r, ()): verbs for (g, r), verbs in expected_grants(v).items()}
    local = f"{RELEASE}-local"
    cluster = [(t, o) for t, o in docs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    workload_roles = [(t, o) for t, o in roles if o["metadata"]["name"] != local]
    if v["rbac"]["scope"] == "namespaced":
        problems += [f"{t}: namespaced scope rendered {obj_name(o)}" for t, o in cluster]
        namespaces = sorted(o["metadata"].get("namespace") for _, o in workload_roles)
        if namespaces != sorted(v["watchNamespaces"]):
            problems.append(
                f"templates/rbac.yaml: workload Roles in {namespaces}, watchNamespaces {v['watchNamespaces']}"
            )
    elif [o["kind"] for _, o in workload_roles] != ["ClusterRole"]:
        problems.append(
            f"templates/rbac.yaml: cluster scope should render one ClusterRole, got "
            f"{[obj_name(o) for _, o in workload_roles]}"
        )
    for t, role in workload_roles:
        problems += diff_grants(f"{t}: {obj_name(role)}", grants_of(role), want)

    want_local: dict[tuple, set[str]] = {}
    if v["leaderElection"]["enabled"]:
        lease = v["leaderElection"]["leaseName"] or RELEASE
        want_local[("coordination.k8s.io", "leases", ())] = {"create"}
        want_local[("coordination.k8s.io", "leases", (lease,))] = {"get", "update"}
    if v["rbac"]["scope"] == "namespaced":
        want_local[("", "events", ())] = want_local[("events.k8s.io", "events", ())] = {"create", "patch"}
    have_local = [(t, o) for t, o in roles if o["metadata"]["name"] == local]
    for t, role in have_local:
        problems += diff_grants(f"{t}: {obj_name(role)}", grants_of(role), want_local)
    if bool(want_local) != bool(have_local):
        state = "missing" if want_local else "rendered, with nothing to grant"
        problems.append(f"templates/rbac.yaml: Role {NAMESPACE}/{local} {state}")

    rendered = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for _, o in roles}
    sa = v["serviceAccount"]["name"] or RELEASE
    for t, b in of_kind(docs, "RoleBinding") + of_kind(docs, "ClusterRoleBinding"):
        ref = b["roleRef"]
        ns = b["metadata"].get("namespace") if ref["kind"] == "Role" else None
        if (ref["kind"], ns, ref["name"]) not in rendered:
            problems.append(f"{t}: {obj_name(b)}: .roleRef {ref['kind']} {ref['name']} is not rendered")
        if b["subjects"] != [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]:
            problems.append(f"{t}: {obj_name(b)}: .subjects should be only ServiceAccount {NAMESPACE}/{sa}")
    return problems


# --- Deployment -----------------------------------------------------------------
def check_pod(docs, v: dict) -> list[str]:
    deployments = of_kind(docs, "Deployment")
    if len(deployments) != 1:
        return [f"expected one Deployment, got {len(deployments)}"]
    t, d = deployments[0]
    where = f"{t}: {obj_name(d)}"
    pod = d["spec"]["template"]["spec"]
    c = pod["containers"][0]
    sc, psc = c.get("securityContext") or {}, pod.get("securityContext") or {}
    seccomp = sc.get("seccompProfile") or psc.get("seccompProfile") or {}
    ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
    expected = [  # (field, rendered, wanted)
        (".spec.replicas", d["spec"].get("replicas"), v["replicaCount"]),
        ("securityContext.runAsNonRoot", sc.get("runAsNonRoot") or psc.get("runAsNonRoot"), True),
        ("securityContext.readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem"), True),
        ("securityContext.allowPrivilegeEscalation", sc.get("allowPrivilegeEscalation"), False),
        ("securityContext.capabilities.drop", (sc.get("capabilities") or {}).get("drop"), ["ALL"]),
        ("securityContext.seccompProfile.type", seccomp.get("type"), "RuntimeDefault"),
        ("livenessProbe.httpGet", c["livenessProbe"].get("httpGet"), {"path": "/healthz", "port": "admin"}),
        ("readinessProbe.httpGet", c["readinessProbe"].get("httpGet"), {"path": "/readyz", "port": "admin"}),
        ("ports admin", ports.get("admin"), v["admin"]["port"]),
        ("resources.limits.memory is set", "memory" in (c.get("resources") or {}).get("limits", {}), True),
    ]
    problems = [f"{where}: {f} is {have!r}, want {want!r}" for f, have, want in expected if have != want]
    return problems + check_env(where, c, v) + check_mounted_files(where, pod, c)


def check_env(where: str, c: dict, v: dict) -> list[str]:
    """Only env vars `firebreak run` reads, with the values the chart's values mean."""
    env = {e["name"]: e for e in c.get("env") or []}
    allowed = ENV_CONTRACT | {e["name"] for e in v.get("extraEnv") or []}
    problems = [f"{where}: env {n} is not an env var of `firebreak run`" for n in sorted(set(env) - allowed)]
    problems += [
        f"{where}: env {n} must come from the downward API"
        for n in ("POD_NAME", "POD_NAMESPACE")
        if "fieldRef" not in (env.get(n, {}).get("valueFrom") or {})
    ]
    wanted = {
        "FIREBREAK_ACTIONS": ",".join(v["actions"]["enabled"]),
        "FIREBREAK_DIAGNOSTICS_EXEC": str(v["diagnostics"]["exec"]).lower(),
        "FIREBREAK_DRY_RUN": str(v["dryRun"]).lower(),
        "FIREBREAK_KILL_SWITCH": str(v["killSwitch"]).lower(),
        "FIREBREAK_LEADER_ELECTION": str(v["leaderElection"]["enabled"]).lower(),
        "FIREBREAK_WATCH_NAMESPACES": ",".join(v["watchNamespaces"]),
        "FIREBREAK_ADMIN_ADDR": f"0.0.0.0:{v['admin']['port']}",
        "FIREBREAK_PROMETHEUS_URL": v["prometheus"]["url"],
        "FIREBREAK_QUERY_MODE": v["queryMode"] or ("recorded" if v["recordingRules"]["enabled"] else "detector"),
    }
    if v["recordingRules"]["enabled"]:
        wanted["FIREBREAK_RECORDING_RULES"] = "true"
        wanted["FIREBREAK_RECORDING_RULE_LABELS"] = ",".join(
            f"{k}={val}" for k, val in sorted(v["recordingRules"]["labels"].items())
        )
    for name, want in wanted.items():
        have = env.get(name, {}).get("value")
        if have != want:
            problems.append(f"{where}: env {name}={have!r}, want {want!r}")
    return problems


def check_mounted_files(where: str, pod: dict, c: dict) -> list[str]:
    """Each *_FILE env var names a key projected by a mounted Secret or
    ConfigMap; each *_DIR a writable mount."""
    problems = []
    mounts = {m["mountPath"].rstrip("/"): m for m in c.get("volumeMounts") or []}
    volumes = {vol["name"]: vol for vol in pod.get("volumes") or []}
    for e in c.get("env") or []:
        name, path = e["name"], e.get("value") or ""
        if name.endswith("_DIR"):
            mount = mounts.get(path.rstrip("/"))
            if mount is None or mount.get("readOnly"):
                problems.append(f"{where}: env {name}={path} is not a writable volume mount")
        elif name.endswith("_FILE"):
            directory, _, key = path.rpartition("/")
            mount = mounts.get(directory)
            vol = volumes.get(mount["name"], {}) if mount else {}
            source = vol.get("secret") or vol.get("configMap") or {}
            if key not in {item["path"] for item in source.get("items", [])}:
                problems.append(f"{where}: env {name}={path}: no mounted Secret or ConfigMap projects {key}")
    return problems


def check_no_clear_secrets(docs, rendered: dict[str, str]) -> list[str]:
    """No env var holds a secret by value; the secrets planted in the values
    appear only base64-encoded in a Secret, never in clear text (NOTES included)."""
    problems = []
    for t, o in docs:
        for c in ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", []):
            problems += [
                f"{t}: {obj_name(o)}: env {e['name']} holds a secret value in clear text"
                for e in c.get("env") or []
                if "value" in e
                and any(w in e["name"] for w in SECRET_ENV_WORDS)
                and not e["name"].endswith(("_FILE", "_DIR"))
            ]
    for s in SENTINELS:
        encoded = base64.b64encode(s.encode()).decode()
        problems += [
            f"{template.split('/', 1)[1]}: a secret from the values is in clear text: {s[:12]}…"
            for template, text in sorted(rendered.items())
            if s in text
        ]
        problems += [
            f"{t}: {obj_name(o)}: holds a secret from the values (base64) outside a Secret"
            for t, o in docs
            if o["kind"] != "Secret" and encoded in yaml.safe_dump(o)
        ]
    return problems


def url_port(url: str) -> int:
    parsed = urllib.parse.urlsplit(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def check_network_policy(docs, v: dict) -> list[str]:
    problems = []
    for t, np in of_kind(docs, "NetworkPolicy"):
        ports = {p["port"] for rule in np["spec"].get("egress", []) for p in rule.get("ports", [])}
        want = {53, *v["networkPolicy"]["apiServer"]["ports"], url_port(v["prometheus"]["url"])}
        if v["kafka"]["enabled"]:
            want |= {int(b.rsplit(":", 1)[1]) if ":" in b else 9092 for b in v["kafka"]["brokers"]}
        if v["slack"]["enabled"]:
            want.add(url_port(v["slack"]["apiUrl"]))
        if ports != want:
            problems.append(
                f"{t}: {obj_name(np)}: .spec.egress ports {sorted(ports, key=str)}, want {sorted(want)}"
            )
        ingress = [p["port"] for rule in np["spec"].get("ingress", []) for p in rule.get("ports", [])]
        if ingress != ["admin"]:
            problems.append(f"{t}: {obj_name(np)}: .spec.ingress ports {ingress}, want only the admin port")
    if v["networkPolicy"]["enabled"] != bool(of_kind(docs, "NetworkPolicy")):
        problems.append("templates/networkpolicy.yaml: rendered iff networkPolicy.enabled")
    return problems
