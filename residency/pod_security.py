"""Pod Security Standard "restricted" (Kubernetes 1.25+ policy) as a pure check on a pod spec.

Stdlib only, so the policy pack can use the same check as the tests. The pod spec is a mapping in the
Kubernetes API's camelCase form (as Pulumi's engine sees a resource's inputs), e.g. a Deployment's
``spec.template.spec``. Each violation is one line naming the field path.

Reference: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline and restricted
controls, "latest" version).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Volume types restricted allows (every other type, hostPath included, is forbidden).
RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
_VOLUME_META_KEYS = frozenset({"name"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


def _containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(pod.get(key) or []):
            yield f"{key}[{i}]", container


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """Every way ``pod`` (a PodSpec) breaks Pod Security Standard restricted; empty when it complies."""
    problems: list[str] = []
    pod_sc: Mapping[str, Any] = pod.get("securityContext") or {}

    # --- baseline ------------------------------------------------------------------------
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(f"{key}: must be unset or false")
    for i, volume in enumerate(pod.get("volumes") or []):
        kinds = set(volume) - _VOLUME_META_KEYS
        for kind in sorted(kinds - RESTRICTED_VOLUME_TYPES):
            problems.append(
                f"volumes[{i}].{kind}: volume type not allowed (allowed: {', '.join(sorted(RESTRICTED_VOLUME_TYPES))})"
            )
    for i, sysctl in enumerate(pod_sc.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"securityContext.sysctls[{i}]: {sysctl.get('name')} is not a safe sysctl")
    problems += _selinux("securityContext", pod_sc)
    problems += _apparmor("securityContext", pod_sc)

    # --- restricted: pod level ------------------------------------------------------------
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        problems.append(f"securityContext.seccompProfile.type: {pod_seccomp} (allowed: RuntimeDefault, Localhost)")
    if pod_sc.get("runAsUser") == 0:
        problems.append("securityContext.runAsUser: must not be 0")

    containers = list(_containers(pod))
    if not containers:
        problems.append("containers: none")
    for path, container in containers:
        sc: Mapping[str, Any] = container.get("securityContext") or {}
        base = f"{path}.securityContext"
        if sc.get("privileged"):
            problems.append(f"{base}.privileged: must be unset or false")
        for j, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                problems.append(f"{path}.ports[{j}].hostPort: must be unset or 0")
        proc_mount = sc.get("procMount")
        if proc_mount not in (None, "Default"):
            problems.append(f"{base}.procMount: must be Default")
        problems += _selinux(base, sc)
        problems += _apparmor(base, sc)
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{base}.allowPrivilegeEscalation: must be false")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            problems.append(f"{base}.runAsNonRoot: must be true (here or in the pod's securityContext)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{base}.runAsUser: must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in ALLOWED_SECCOMP:
            problems.append(f"{base}.seccompProfile.type: {seccomp} (allowed: RuntimeDefault, Localhost)")
        if seccomp is None and pod_seccomp is None:
            problems.append(f"{base}.seccompProfile.type: must be RuntimeDefault or Localhost (here or pod-wide)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{base}.capabilities.drop: must include ALL")
        for cap in capabilities.get("add") or []:
            if cap not in ALLOWED_ADDED_CAPABILITIES:
                problems.append(f"{base}.capabilities.add: {cap} not allowed (only NET_BIND_SERVICE)")
    return problems


def hardening_violations(pod: Mapping[str, Any]) -> list[str]:
    """The project's rules beyond restricted: a fixed non-root uid, a read-only root filesystem, no token."""
    problems: list[str] = []
    pod_sc: Mapping[str, Any] = pod.get("securityContext") or {}
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken: must be false")
    for path, container in _containers(pod):
        sc: Mapping[str, Any] = container.get("securityContext") or {}
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        # Values that crossed Pulumi's wire are floats (protobuf Struct): accept integral ones.
        if isinstance(uid, bool) or not isinstance(uid, (int, float)) or uid != int(uid) or uid <= 0:
            problems.append(f"{path}.securityContext.runAsUser: must be a fixed non-zero uid")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{path}.securityContext.readOnlyRootFilesystem: must be true")
    return problems


def _selinux(base: str, sc: Mapping[str, Any]) -> list[str]:
    options = sc.get("seLinuxOptions") or {}
    problems = []
    if options.get("type", "") not in ALLOWED_SELINUX_TYPES:
        problems.append(f"{base}.seLinuxOptions.type: {options.get('type')} not allowed")
    for key in ("user", "role"):
        if options.get(key):
            problems.append(f"{base}.seLinuxOptions.{key}: must be unset")
    return problems


def _apparmor(base: str, sc: Mapping[str, Any]) -> list[str]:
    profile = (sc.get("appArmorProfile") or {}).get("type")
    if profile is not None and profile not in ("RuntimeDefault", "Localhost"):
        return [f"{base}.appArmorProfile.type: {profile} not allowed"]
    return []


POD_TEMPLATE_KINDS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


def pod_spec_of(kind: str, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec inside a workload manifest (camelCase), or None for kinds that run no pods."""
    path = POD_TEMPLATE_KINDS.get(kind)
    if path is None:
        return None
    node: Any = manifest
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, Mapping) else None
