"""Generate `schemas/kubernetes-<version>.json`: the Kubernetes objects a pipeline's `pod:` section may hold.

    python tools/kube_schema.py [--version 1.36] [-o schemas/kubernetes-1.36.json] [--check]

The source is the Kubernetes OpenAPI schema of one pinned version, as kubernetes-validate ships it
(`v<version>.0-local-strict/_definitions.json`, generated from kubernetes/kubernetes api/openapi-spec). Only
the definitions reachable from the roots below are kept, each property with its type, its JSON name and the
attribute name of the Python client's model (from `kubernetes.client.models`: the Airflow DAG builds client
objects), `name` first and the others in alphabetical order. A volume keeps only the sources transpile
supports (configMap, secret, emptyDir).

The OpenAPI schema says which values an enumerated field takes only in its description, so `ENUMS` lists
them (from k8s.io/api/core/v1 types.go); each value must appear in the field's description, which the
script checks. `--check` exits 1 when the committed file differs from what it would write.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ROOTS = (
    "PodSecurityContext",
    "SecurityContext",
    "Affinity",
    "TopologySpreadConstraint",
    "Volume",
    "VolumeMount",
    "LocalObjectReference",
)
VOLUME_SOURCES = ("configMap", "secret", "emptyDir")
ENUMS = {
    ("SeccompProfile", "type"): ["RuntimeDefault", "Localhost", "Unconfined"],
    ("AppArmorProfile", "type"): ["RuntimeDefault", "Localhost", "Unconfined"],
    ("PodSecurityContext", "fsGroupChangePolicy"): ["OnRootMismatch", "Always"],
    ("PodSecurityContext", "supplementalGroupsPolicy"): ["Merge", "Strict"],
    ("PodSecurityContext", "seLinuxChangePolicy"): ["MountOption", "Recursive"],
    ("SecurityContext", "procMount"): ["Default", "Unmasked"],
    ("NodeSelectorRequirement", "operator"): ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"],
    ("LabelSelectorRequirement", "operator"): ["In", "NotIn", "Exists", "DoesNotExist"],
    ("TopologySpreadConstraint", "whenUnsatisfiable"): ["DoNotSchedule", "ScheduleAnyway"],
    ("TopologySpreadConstraint", "nodeAffinityPolicy"): ["Honor", "Ignore"],
    ("TopologySpreadConstraint", "nodeTaintsPolicy"): ["Honor", "Ignore"],
    ("VolumeMount", "mountPropagation"): ["None", "HostToContainer", "Bidirectional"],
    ("VolumeMount", "recursiveReadOnly"): ["Disabled", "IfPossible", "Enabled"],
}
# Values the descriptions do not name (types.go constants: ProcMountType, MountPropagationMode).
NOT_DESCRIBED = {
    ("SecurityContext", "procMount"): {"Unmasked"},
    ("VolumeMount", "mountPropagation"): {"HostToContainer", "Bidirectional"},
}
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def short(ref: str) -> str:
    """`#/$defs/io.k8s.api.core.v1.Volume` -> `Volume`."""
    return ref.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


def first_sentence(text: str) -> str:
    sentence = text.split(". ")[0].split("\n")[0].strip()
    return sentence if sentence.endswith(".") else sentence + "."


def scalar(types: Any) -> str:
    found = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
    return found[0]


class Generator:
    def __init__(self, definitions: dict[str, Any], client: Any):
        self.source = {short(name): (name, body) for name, body in definitions.items()}
        self.client = client
        self.out: dict[str, Any] = {}

    def property(self, owner: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        ref = spec.get("$ref")
        if ref is not None:
            if ref.endswith(QUANTITY):
                return {"type": "quantity"}
            self.definition(short(ref))
            return {"ref": short(ref)}
        kind = scalar(spec.get("type"))
        if kind == "array":
            return {"type": "array", "items": self.property(owner, name, spec["items"])}
        if kind == "object":
            return {"type": "map", "values": self.property(owner, name, spec["additionalProperties"])}
        out = {"type": kind}
        if "format" in spec:
            out["format"] = spec["format"]
        values = ENUMS.get((owner, name))
        if values is not None:
            described = spec.get("description", "")
            missing = [v for v in values if v not in described and v not in NOT_DESCRIBED.get((owner, name), ())]
            if missing:
                raise SystemExit(f"{owner}.{name}: {missing} not in the schema's description; check ENUMS")
            out["enum"] = values
        return out

    def definition(self, name: str) -> None:
        if name in self.out:
            return
        self.out[name] = {}
        full, body = self.source[name]
        model = getattr(self.client, f"V1{name}")
        python = {json_name: attr for attr, json_name in model.attribute_map.items()}
        properties = {}
        for prop, spec in sorted(body["properties"].items(), key=lambda item: (item[0] != "name", item[0])):
            if name == "Volume" and prop not in VOLUME_SOURCES + ("name",):
                continue
            entry = self.property(name, prop, spec)
            if prop not in python:
                raise SystemExit(f"{name}.{prop} has no attribute in the Python client's V1{name}")
            entry["python"] = python[prop]
            if spec.get("description"):
                entry["description"] = first_sentence(spec["description"])
            properties[prop] = entry
        self.out[name] = {
            "python": f"V1{name}",
            "description": first_sentence(body.get("description", name)),
            "required": sorted(body.get("required", [])),
            "properties": properties,
        }
        if name == "Volume":
            self.out[name]["unsupported"] = sorted(p for p in body["properties"] if p not in VOLUME_SOURCES + ("name",))


def generate(version: str) -> str:
    import kubernetes_validate

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}.0-local-strict"
    definitions = json.loads((base / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    client = importlib.import_module("kubernetes.client.models")
    generator = Generator(definitions, client)
    for root in ROOTS:
        generator.definition(root)
    document = {
        "kubernetes": version,
        "source": f"kubernetes-validate {kubernetes_validate.__version__}, v{version}.0-local-strict/_definitions.json "
        "(the Kubernetes OpenAPI schema); generated by tools/kube_schema.py",
        "definitions": dict(sorted(generator.out.items())),
    }
    return json.dumps(document, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="1.36", help="Kubernetes minor version (default 1.36)")
    parser.add_argument("-o", "--output", help="default: schemas/kubernetes-<version>.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    args = parser.parse_args(argv)
    path = Path(args.output) if args.output else REPO / "schemas" / f"kubernetes-{args.version}.json"
    text = generate(args.version)
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"{path} is stale: run python tools/kube_schema.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
