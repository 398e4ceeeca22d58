"""Schema checks of the chart: rendered objects against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields fail), the ServiceMonitor
structurally, the shipped CRDs against CustomResourceDefinition, and the
example playbooks against the Playbook CRD's openAPIV3Schema (jsonschema)."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "firebreak"
CRDS = ROOT / "crds" / "firebreak.dev.yaml"
CHART_CRDS = CHART / "crds" / "firebreak.dev.yaml"
KUBE_VERSION = "1.30"  # the chart's kubeVersion minimum; schemas shipped by kubernetes-validate

# Kinds that are not in the Kubernetes schemas, each with the structural check
# that replaces schema validation (printed by chart_check.py when skipped).
NOT_IN_K8S_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def obj_name(o: dict) -> str:
    md = o.get("metadata") or {}
    ns = f"{md['namespace']}/" if md.get("namespace") else ""
    return f"{o.get('kind')} {ns}{md.get('name')}"


def k8s_validate(where: str, o: dict) -> list[str]:
    try:
        kubernetes_validate.validate(o, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{where}: {obj_name(o)}: .{'.'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        if (o.get("apiVersion"), o.get("kind")) not in NOT_IN_K8S_SCHEMAS:
            return [
                f"{where}: {obj_name(o)}: {o.get('apiVersion')} {o.get('kind')} is not a Kubernetes "
                f"{KUBE_VERSION} type and not in the allow-list {sorted(NOT_IN_K8S_SCHEMAS)}"
            ]
    return []


def of_kind(docs, kind):
    return [(t, o) for t, o in docs if o.get("kind") == kind]


def check_service_monitor(docs) -> list[str]:
    """ServiceMonitor has no Kubernetes schema: check the fields Prometheus uses."""
    problems = []
    services = [o for _, o in of_kind(docs, "Service")]
    for t, sm in of_kind(docs, "ServiceMonitor"):
        where = f"{t}: {obj_name(sm)}"
        spec = sm.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        matched = [s for s in services if sel and sel.items() <= s["metadata"]["labels"].items()]
        if not matched:
            problems.append(f"{where}: .spec.selector.matchLabels {sel} selects no rendered Service")
        for i, ep in enumerate(spec.get("endpoints") or [None]):
            if not isinstance(ep, dict) or not ep.get("port"):
                problems.append(f"{where}: .spec.endpoints[{i}].port missing")
                continue
            if ep["port"] not in {p.get("name") for s in matched for p in s["spec"]["ports"]}:
                problems.append(
                    f"{where}: .spec.endpoints[{i}].port {ep['port']!r} is no port name of the Service"
                )
            if ep.get("path") != "/metrics":
                problems.append(f"{where}: .spec.endpoints[{i}].path should be /metrics")
        if sm["metadata"].get("namespace") not in (spec.get("namespaceSelector") or {}).get("matchNames", []):
            problems.append(f"{where}: .spec.namespaceSelector.matchNames lacks its own namespace")
    return problems


# --- CRDs and playbooks ---------------------------------------------------------
def check_crd_copy() -> list[str]:
    want, have = CRDS.read_text(), CHART_CRDS.read_text() if CHART_CRDS.exists() else ""
    if want == have:
        return []
    diff = difflib.unified_diff(
        want.splitlines(),
        have.splitlines(),
        str(CRDS.relative_to(ROOT)),
        str(CHART_CRDS.relative_to(ROOT)),
        lineterm="",
        n=1,
    )
    return [
        f"{CHART_CRDS.relative_to(ROOT)} differs from {CRDS.relative_to(ROOT)}: "
        f"cp {CRDS.relative_to(ROOT)} {CHART_CRDS.relative_to(ROOT)}",
        *list(diff)[:20],
    ]


def load_crds() -> list[tuple[str, dict]]:
    return [
        (str(p.relative_to(ROOT)), d)
        for p in sorted((CHART / "crds").glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
        if d
    ]


def check_crds(crds: list[tuple[str, dict]]) -> list[str]:
    problems = []
    for path, crd in crds:
        problems += k8s_validate(path, crd)
        versions = crd["spec"]["versions"]
        if sum(1 for v in versions if v.get("storage")) != 1:
            problems.append(f"{path}: {obj_name(crd)}: exactly one version must have storage: true")
        problems += [
            f"{path}: {obj_name(crd)}: version {v['name']} has no schema.openAPIV3Schema"
            for v in versions
            if "openAPIV3Schema" not in (v.get("schema") or {})
        ]
    return problems


def to_json_schema(node: Any, ignored: set[str]) -> Any:
    """A structural schema as JSON Schema: `nullable` becomes a null type,
    int-or-string an anyOf, objects with properties reject unknown fields (as
    kubectl's default strict field validation does) unless they preserve them;
    other x-kubernetes-* keys (CEL rules, list types) are not checked."""
    if isinstance(node, list):
        return [to_json_schema(n, ignored) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            if key not in ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"):
                ignored.add(key)
            continue
        if key == "properties":
            out[key] = {k: to_json_schema(v, ignored) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = to_json_schema(value, ignored)
        elif key != "nullable":
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def crd_validators(crds: list[tuple[str, dict]]) -> tuple[dict, set[str]]:
    """(apiVersion, kind) -> validator for every served version of each CRD."""
    validators, ignored = {}, set()
    for _, crd in crds:
        spec = crd["spec"]
        for version in (v for v in spec["versions"] if v.get("served")):
            api_version = f"{spec['group']}/{version['name']}"
            schema = to_json_schema(version["schema"]["openAPIV3Schema"], ignored)
            # apiVersion, kind and metadata are implicit in a CRD's schema.
            schema.setdefault("properties", {}).update(
                {
                    "apiVersion": {"const": api_version},
                    "kind": {"const": spec["names"]["kind"]},
                    "metadata": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {
                                "type": "string",
                                "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                                "maxLength": 253,
                            }
                        },
                    },
                }
            )
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            validators[(api_version, spec["names"]["kind"])] = jsonschema.Draft202012Validator(schema)
    return validators, ignored


def validate_custom(validators: dict, doc: dict, where: str) -> list[str]:
    validator = validators.get((doc.get("apiVersion"), doc.get("kind")))
    if validator is None:
        return [f"{where}: no CRD in charts/firebreak/crds for {doc.get('apiVersion')} {doc.get('kind')}"]
    return [
        f"{where}: .{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def check_playbooks(validators: dict) -> tuple[list[str], int]:
    problems, count = [], 0
    for path in sorted((ROOT / "playbooks").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                count += 1
                problems += validate_custom(validators, doc, f"{path.relative_to(ROOT)} {obj_name(doc)}")
    return problems, count


def playbook_schema_self_test(validators: dict) -> list[str]:
    """The converted schema must reject what the API server would: an unknown
    field and a wrong type in an otherwise valid playbook."""
    path = sorted((ROOT / "playbooks").glob("*.yaml"))[0]
    good = next(d for d in yaml.safe_load_all(path.read_text()) if d)
    problems = []
    for mutate, what in [
        (lambda d: d["spec"].__setitem__("interval2", "15s"), "an unknown spec field"),
        (lambda d: d["spec"].__setitem__("detectors", "cpu"), "detectors as a string"),
    ]:
        bad = copy.deepcopy(good)
        mutate(bad)
        if not validate_custom(validators, bad, "mutated"):
            problems.append(f"{path.relative_to(ROOT)} with {what} passed the Playbook schema")
    return problems
