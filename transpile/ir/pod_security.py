"""The Pod Security Standards, field by field, as Kubernetes 1.36's PodSecurity admission applies them.

Profiles: `privileged` (no checks), `baseline` and `restricted` (baseline's checks and more), from
kubernetes.io/docs/concepts/security/pod-security-standards and the reference implementation
(k8s.io/pod-security-admission, policy/check_*.go, the versions in force at 1.36). `violations` checks one
`pod:` section as written (camelCase JSON) and names every value the profile forbids; `complete` adds to a
resolved pod what `restricted` requires and was left unset (runAsNonRoot, a RuntimeDefault seccomp
profile, allowPrivilegeEscalation false, capabilities dropped). Fields transpile never sets (host
namespaces, host ports, hostPath volumes, probes) cannot break a profile.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

# check_capabilities_baseline: the container runtime's default set
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
        "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip
# check_sysctls, the 1.32 set (in force at 1.36)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    }
)  # fmt: skip
SELINUX_TYPES = ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")  # 1.31+
PROFILE_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
POD, CONTAINER = "securityContext", "containerSecurityContext"

Path = tuple[str | int, ...]
Violation = tuple[Path, str, str]  # (path in the section, what the profile forbids, how to fix it)


def _fix(level: str) -> str:
    return f"change it, or choose a laxer profile with `security:` in the deploy config (now {level})"


def _baseline(section: dict[str, Any], level: str) -> Iterator[Violation]:
    contexts = [(POD, section.get(POD) or {}), (CONTAINER, section.get(CONTAINER) or {})]
    fix = _fix(level)
    for where, context in contexts:
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            yield (where, "windowsOptions", "hostProcess"), f"the {level} profile forbids Windows HostProcess pods", fix
        apparmor = (context.get("appArmorProfile") or {}).get("type")
        if apparmor is not None and apparmor not in PROFILE_TYPES:
            yield (where, "appArmorProfile", "type"), f"the {level} profile forbids AppArmor profile {apparmor}", fix
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES:
            message = f"the {level} profile allows SELinux types {', '.join(SELINUX_TYPES[1:])} only"
            yield (where, "seLinuxOptions", "type"), message, fix
        for key in ("user", "role"):
            if selinux.get(key):
                yield (where, "seLinuxOptions", key), f"the {level} profile forbids a custom SELinux {key}", fix
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in PROFILE_TYPES:
            message = f"the {level} profile forbids seccomp profile {seccomp} (RuntimeDefault or Localhost only)"
            yield (where, "seccompProfile", "type"), message, fix
    container = section.get(CONTAINER) or {}
    if container.get("privileged"):
        yield (CONTAINER, "privileged"), f"the {level} profile forbids privileged containers", fix
    for i, capability in enumerate((container.get("capabilities") or {}).get("add") or ()):
        if capability not in BASELINE_CAPABILITIES:
            message = f"the {level} profile forbids adding capability {capability} (beyond the runtime's defaults)"
            yield (CONTAINER, "capabilities", "add", i), message, fix
    if container.get("procMount", "Default") != "Default":
        yield (CONTAINER, "procMount"), f"the {level} profile forbids procMount {container['procMount']}", fix
    for i, sysctl in enumerate((section.get(POD) or {}).get("sysctls") or ()):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            message = f"the {level} profile forbids sysctl {sysctl.get('name')} (not in the safe set)"
            yield (POD, "sysctls", i, "name"), message, fix
    for key, value in (section.get("annotations") or {}).items():
        allowed = not value or value == "runtime/default" or value.startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION) and not allowed:
            yield ("annotations", key), f"the {level} profile forbids AppArmor profile {value!r}", fix


def _restricted(section: dict[str, Any]) -> Iterator[Violation]:
    fix = _fix("restricted")
    container = section.get(CONTAINER) or {}
    if container.get("allowPrivilegeEscalation") is True:
        message = "the restricted profile requires allowPrivilegeEscalation: false"
        yield (CONTAINER, "allowPrivilegeEscalation"), message, fix
    for where in (POD, CONTAINER):
        context = section.get(where) or {}
        if context.get("runAsNonRoot") is False:
            yield (where, "runAsNonRoot"), "the restricted profile requires runAsNonRoot: true", fix
        if context.get("runAsUser") == 0:
            message = "the restricted profile forbids running as root (runAsUser: 0)"
            yield (where, "runAsUser"), message, "choose a non-zero user id, e.g. 1000"
    capabilities = container.get("capabilities") or {}
    drop = capabilities.get("drop")
    if drop is not None and "ALL" not in drop:
        hint = "write ALL in capital letters" if any(c.upper() == "ALL" for c in drop) else "add ALL to `drop`"
        yield (CONTAINER, "capabilities", "drop"), "the restricted profile requires dropping ALL capabilities", hint
    for i, capability in enumerate(capabilities.get("add") or ()):
        if capability != "NET_BIND_SERVICE" and capability in BASELINE_CAPABILITIES:
            message = f"the restricted profile allows adding NET_BIND_SERVICE only, not {capability}"
            yield (CONTAINER, "capabilities", "add", i), message, fix


def violations(section: dict[str, Any] | None, level: str) -> list[Violation]:
    """Every value of one `pod:` section (JSON as written) that the profile `level` forbids."""
    if not section or level == "privileged":
        return []
    found = list(_baseline(section, level))
    if level == "restricted":
        found += _restricted(section)
    return found


def complete(section: dict[str, Any], level: str) -> dict[str, Any]:
    """A resolved pod section with what `level` requires and was left unset added (a new dict)."""
    if level != "restricted":
        return section
    out = copy.deepcopy(section)
    pod = out.setdefault(POD, {})
    pod.setdefault("runAsNonRoot", True)
    pod.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    container = out.setdefault(CONTAINER, {})
    container.setdefault("allowPrivilegeEscalation", False)
    capabilities = container.setdefault("capabilities", {})
    capabilities.setdefault("drop", ["ALL"])
    # keys in the schema's (alphabetical) order, as the models write them: the same pod, the same bytes
    container["capabilities"] = dict(sorted(capabilities.items()))
    out[POD], out[CONTAINER] = dict(sorted(pod.items())), dict(sorted(container.items()))
    return out
