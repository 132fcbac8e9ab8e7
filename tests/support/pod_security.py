"""An independent check of whole pods against the Pod Security Standards (Kubernetes 1.36 semantics).

Written from the published standard (kubernetes.io/docs/concepts/security/pod-security-standards) and the
PodSecurity admission's checks, over a complete pod as the API server would receive it: every container
(init, ephemeral and sidecars too), the pod's own fields and its metadata. Tests run it on the pods each
engine would create, so a pod transpile makes that a `restricted` namespace would refuse fails a test.
It does not share code with transpile's own checks.
"""

from __future__ import annotations

from typing import Any

_DEFAULT_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
}  # fmt: skip
_RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected", "secret"
}  # fmt: skip


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(key) or []]


def baseline(pod: dict[str, Any]) -> list[str]:
    """What the baseline profile forbids in `pod` (a whole Pod object)."""
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    found = [f"{key} is true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    pod_context = spec.get("securityContext") or {}
    contexts = [("pod", pod_context)] + [(c.get("name"), c.get("securityContext") or {}) for c in _containers(spec)]
    for name, context in contexts:
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{name}: hostProcess")
        if (context.get("seccompProfile") or {}).get("type", "RuntimeDefault") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccomp {context['seccompProfile']['type']}")
        if (context.get("appArmorProfile") or {}).get("type", "RuntimeDefault") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: AppArmor {context['appArmorProfile']['type']}")
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in (
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ):
            found.append(f"{name}: SELinux type {selinux['type']}")
        if selinux.get("user") or selinux.get("role"):
            found.append(f"{name}: SELinux user or role")
    for container in _containers(spec):
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        extra = set((context.get("capabilities") or {}).get("add") or ()) - _DEFAULT_CAPS
        if extra:
            found.append(f"{name}: adds {sorted(extra)}")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {context['procMount']}")
        if any(port.get("hostPort") for port in container.get("ports") or ()):
            found.append(f"{name}: hostPort")
    found += [f"volume {v.get('name')}: hostPath" for v in spec.get("volumes") or () if "hostPath" in v]
    found += [f"sysctl {s['name']}" for s in pod_context.get("sysctls") or () if s["name"] not in _SAFE_SYSCTLS]
    for key, value in (meta.get("annotations") or {}).items():
        allowed = value in ("", "runtime/default") or value.startswith("localhost/")
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not allowed:
            found.append(f"annotation {key}={value}")
    return found


def restricted(pod: dict[str, Any]) -> list[str]:
    """What the restricted profile forbids in `pod` (baseline's findings included)."""
    found = baseline(pod)
    spec = pod.get("spec") or {}
    pod_context = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or ():
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            found.append(f"volume {volume.get('name')}: {sorted(kinds)}")
    if pod_context.get("runAsUser") == 0:
        found.append("pod: runAsUser 0")
    if pod_context.get("runAsNonRoot") is False:
        found.append("pod: runAsNonRoot false")
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    for container in _containers(spec):
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp is None and not pod_seccomp:
            found.append(f"{name}: no seccomp profile")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or ()):
            found.append(f"{name}: does not drop ALL")
        if set(capabilities.get("add") or ()) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds {capabilities['add']}")
    return found


LEVELS = {"baseline": baseline, "restricted": restricted}
