"""What the Kubernetes API server checks in the objects of a `pod:` section, beyond field names and types.

The rules of k8s.io/kubernetes pkg/apis/core/validation (and apimachinery's label and name checks), in
plain words: names of volumes, ConfigMaps and secrets, label keys and values, file modes, relative paths,
weights and skews, which values an operator takes, one source per volume. `field_checks(definition,
field)` gives the checks of one field's value (`name[]` for each list item, `name{}` for each map value);
`object_checks(definition)` those that read several fields of an object (given as its JSON data).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from transpile.ir import rules

UID_MAX = 2**31 - 1
MODE_MAX = 0o777
_SYSCTL = re.compile(r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")
_HUGE_PAGES = re.compile(r"^HugePages-.+$")

Check = Callable[[Any], Any]


def quantity(value: Any) -> Any:
    """A storage quantity (`sizeLimit`), as Kubernetes parses it."""
    return rules.check_quantity(value, "storage")


def _named(check: Callable[[str, str], str], what: str) -> Check:
    return lambda value: check(value, what)


def _between(low: int, high: int, what: str, hint: str | None = None) -> Check:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"{what} must be between {low} and {high}, got {value}" + (f" ({hint})" if hint else ""))
        return value

    return check


def _mode(value: int) -> int:
    if not 0 <= value <= MODE_MAX:
        octal = f" ({value} is {oct(value)} in octal)" if value > MODE_MAX else ""
        raise ValueError(
            f"a file mode must be between 0 and 0o777 (511){octal}; YAML reads 0644 as the decimal 644: "
            "write 0o644 or 420"
        )
    return value


def _relative_path(what: str) -> Check:
    def check(value: str) -> str:
        if not value:
            raise ValueError(f"the {what} is empty")
        if value.startswith("/"):
            raise ValueError(f"the {what} '{value}' must be relative (no leading '/')")
        if ".." in value.split("/"):
            raise ValueError(f"the {what} '{value}' must not contain '..'")
        return value

    return check


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"mountPath '{value}' must be an absolute path (starting with '/')")
    if "\x00" in value or ":" in value:
        raise ValueError(f"mountPath '{value}' must not contain ':' or a NUL character")
    return value


def _label_key(value: str) -> str:
    return rules.check_label_key(value)


def _label_map(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        rules.check_label(key, item)
    return value


def _sysctl(value: str) -> str:
    if len(value) > 253 or not _SYSCTL.match(value):
        raise ValueError(
            f"'{value}' is not a sysctl name (lowercase words joined by '.' or '/', e.g. net.ipv4.tcp_syncookies)"
        )
    return value


def _medium(value: str) -> str:
    if value in ("", "Memory", "HugePages") or _HUGE_PAGES.match(value):
        return value
    raise ValueError(
        f"emptyDir medium '{value}' is not one of '' (the node's disk), Memory, HugePages, HugePages-<size>"
    )


def _not_empty(what: str) -> Check:
    def check(value: str) -> str:
        if not value:
            raise ValueError(f"the {what} is empty")
        return value

    return check


_UID = _between(0, UID_MAX, "a user or group id")
_FIELDS: dict[tuple[str, str], list[Check]] = {
    ("Volume", "name"): [_named(rules.check_dns_label, "volume name")],
    ("VolumeMount", "name"): [_named(rules.check_dns_label, "volume name")],
    ("VolumeMount", "mountPath"): [_absolute_path],
    ("VolumeMount", "subPath"): [_relative_path("subPath")],
    ("ConfigMapVolumeSource", "name"): [_named(rules.check_dns_subdomain, "ConfigMap name")],
    ("SecretVolumeSource", "secretName"): [_named(rules.check_dns_subdomain, "secret name")],
    ("LocalObjectReference", "name"): [_named(rules.check_dns_subdomain, "secret name")],
    ("ConfigMapVolumeSource", "defaultMode"): [_mode],
    ("SecretVolumeSource", "defaultMode"): [_mode],
    ("KeyToPath", "mode"): [_mode],
    ("KeyToPath", "path"): [_relative_path("path")],
    ("KeyToPath", "key"): [rules.check_config_key],
    ("EmptyDirVolumeSource", "medium"): [_medium],
    ("PodSecurityContext", "runAsUser"): [_UID],
    ("PodSecurityContext", "runAsGroup"): [_UID],
    ("PodSecurityContext", "fsGroup"): [_UID],
    ("PodSecurityContext", "supplementalGroups[]"): [_UID],
    ("SecurityContext", "runAsUser"): [_UID],
    ("SecurityContext", "runAsGroup"): [_UID],
    ("Sysctl", "name"): [_sysctl],
    ("NodeSelectorRequirement", "key"): [_not_empty("key")],
    ("LabelSelectorRequirement", "key"): [_label_key],
    ("LabelSelector", "matchLabels"): [_label_map],
    ("PodAffinityTerm", "topologyKey"): [_not_empty("topologyKey"), _label_key],
    ("PodAffinityTerm", "matchLabelKeys[]"): [_label_key],
    ("PodAffinityTerm", "mismatchLabelKeys[]"): [_label_key],
    ("PodAffinityTerm", "namespaces[]"): [_named(rules.check_dns_label, "namespace")],
    ("TopologySpreadConstraint", "topologyKey"): [_not_empty("topologyKey"), _label_key],
    ("TopologySpreadConstraint", "matchLabelKeys[]"): [_label_key],
    ("TopologySpreadConstraint", "maxSkew"): [_between(1, 2**31 - 1, "maxSkew", "at least 1")],
    ("TopologySpreadConstraint", "minDomains"): [_between(1, 2**31 - 1, "minDomains", "at least 1")],
    ("PreferredSchedulingTerm", "weight"): [_between(1, 100, "a weight")],
    ("WeightedPodAffinityTerm", "weight"): [_between(1, 100, "a weight")],
    ("SeccompProfile", "localhostProfile"): [_relative_path("localhostProfile")],
    ("AppArmorProfile", "localhostProfile"): [_not_empty("localhostProfile")],
}


def field_checks(definition: str, field: str) -> list[Check]:
    """The value checks of one field (`field[]`: of each item of a list field)."""
    return _FIELDS.get((definition, field), [])


# -- rules across the fields of one object ----------------------------------------------------------------
def _profile(data: dict[str, Any]) -> None:
    """seccompProfile / appArmorProfile: `localhostProfile` exactly when the type is Localhost."""
    if data.get("type") == "Localhost" and not data.get("localhostProfile"):
        raise ValueError("type Localhost needs localhostProfile (the profile's path on the node)")
    if data.get("type") != "Localhost" and "localhostProfile" in data:
        raise ValueError(f"localhostProfile may only be set with type Localhost, not {data.get('type')}")


def _one_source(data: dict[str, Any]) -> None:
    sources = [k for k in ("configMap", "secret", "emptyDir") if k in data]
    if not sources:
        raise ValueError(f"volume '{data.get('name')}' needs a source: configMap, secret or emptyDir")
    if len(sources) > 1:
        raise ValueError(f"volume '{data.get('name')}' has {' and '.join(sources)}: give one source per volume")


def _needs(field: str, what: str) -> Check:
    def check(data: dict[str, Any]) -> None:
        if not data.get(field):
            raise ValueError(f"{what} needs `{field}`")

    return check


def _mount(data: dict[str, Any]) -> None:
    if "subPath" in data and "subPathExpr" in data:
        raise ValueError("a volume mount takes subPath or subPathExpr, not both")
    recursive = data.get("recursiveReadOnly")
    if recursive is not None and not data.get("readOnly"):
        raise ValueError("recursiveReadOnly needs readOnly: true")
    if recursive in ("IfPossible", "Enabled") and data.get("mountPropagation", "None") != "None":
        raise ValueError(f"recursiveReadOnly {recursive} needs mountPropagation None (or unset)")


def _requirement(numeric: bool) -> Check:
    def check(data: dict[str, Any]) -> None:
        operator, values = data.get("operator"), data.get("values") or []
        if operator in ("In", "NotIn") and not values:
            raise ValueError(f"operator {operator} needs at least one value in `values`")
        if operator in ("Exists", "DoesNotExist") and values:
            raise ValueError(f"operator {operator} takes no `values`")
        if numeric and operator in ("Gt", "Lt") and (len(values) != 1 or not re.fullmatch(r"-?\d+", values[0])):
            raise ValueError(f"operator {operator} needs exactly one value, a whole number written as a string")

    return check


def _match_fields(data: dict[str, Any]) -> None:
    for item in data.get("matchFields") or []:
        if item.get("key") != "metadata.name":
            raise ValueError(f"matchFields supports only the key metadata.name, not '{item.get('key')}'")
        if item.get("operator") not in ("In", "NotIn") or len(item.get("values") or []) != 1:
            raise ValueError("matchFields on metadata.name takes operator In or NotIn and exactly one value")


def _label_keys_need_selector(data: dict[str, Any]) -> None:
    keys = [k for k in ("matchLabelKeys", "mismatchLabelKeys") if data.get(k)]
    if keys and not data.get("labelSelector"):
        raise ValueError(f"{' and '.join(keys)} can only be set with labelSelector")
    both = set(data.get("matchLabelKeys") or ()) & set(data.get("mismatchLabelKeys") or ())
    if both:
        raise ValueError(f"label key '{sorted(both)[0]}' is in both matchLabelKeys and mismatchLabelKeys")


def _spread(data: dict[str, Any]) -> None:
    if "minDomains" in data and data.get("whenUnsatisfiable") != "DoNotSchedule":
        raise ValueError("minDomains can only be set with whenUnsatisfiable: DoNotSchedule")
    if data.get("matchLabelKeys") and not data.get("labelSelector"):
        raise ValueError("matchLabelKeys can only be set with labelSelector")


def _escalation(data: dict[str, Any]) -> None:
    if data.get("allowPrivilegeEscalation") is False:
        if data.get("privileged"):
            raise ValueError("allowPrivilegeEscalation false and privileged true contradict each other")
        if "CAP_SYS_ADMIN" in ((data.get("capabilities") or {}).get("add") or ()):
            raise ValueError("allowPrivilegeEscalation false and adding CAP_SYS_ADMIN contradict each other")


def _sysctls_unique(data: dict[str, Any]) -> None:
    names = [s["name"] for s in data.get("sysctls") or ()]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"sysctl '{name}' is set twice")


_OBJECTS: dict[str, list[Check]] = {
    "SeccompProfile": [_profile],
    "AppArmorProfile": [_profile],
    "Volume": [_one_source],
    "ConfigMapVolumeSource": [_needs("name", "a configMap volume")],
    "SecretVolumeSource": [_needs("secretName", "a secret volume")],
    "LocalObjectReference": [_needs("name", "an image pull secret")],
    "VolumeMount": [_mount],
    "NodeSelectorRequirement": [_requirement(numeric=True)],
    "LabelSelectorRequirement": [_requirement(numeric=False)],
    "NodeSelector": [_needs("nodeSelectorTerms", "requiredDuringSchedulingIgnoredDuringExecution")],
    "NodeSelectorTerm": [_match_fields],
    "PodAffinityTerm": [_label_keys_need_selector],
    "TopologySpreadConstraint": [_spread],
    "SecurityContext": [_escalation],
    "PodSecurityContext": [_sysctls_unique],
}


def object_checks(definition: str) -> list[Check]:
    """The checks that read several fields of one object (each takes the object's JSON data)."""
    return _OBJECTS.get(definition, [])


_SUFFIXES = {"": 1, "n": 10**-9, "u": 10**-6, "m": 10**-3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_SUFFIXES |= {"P": 10**15, "E": 10**18} | {f"{u}i": 1024 ** (n + 1) for n, u in enumerate("KMGTPE")}
_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([a-zA-Z]*|[eE][-+]?\d+)$")


def quantity_number(value: Any) -> float:
    """A quantity's value as a number (`500m` -> 0.5, `1Gi` -> 2**30), for comparing a request with a limit."""
    match = _NUMBER.match(str(value).strip())
    if match is None:
        raise ValueError(f"'{value}' is not a quantity")
    number, suffix = match.groups()
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return float(number) * 10 ** int(suffix[1:])
    return float(number) * _SUFFIXES[suffix]


def request_within_limit(name: str, request: Any, limit: Any) -> None:
    """Kubernetes refuses a request above its limit."""
    if request is None or limit is None:
        return
    if quantity_number(request) > quantity_number(limit):
        raise ValueError(f"{name} request {request} is above its limit {limit}; a request must be at most the limit")
