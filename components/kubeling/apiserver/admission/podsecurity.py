"""PodSecurity: the Pod Security Standards, enforced per namespace label.

A namespace labelled ``pod-security.kubernetes.io/enforce`` with
``baseline`` or ``restricted`` rejects new pods that break that level
(``privileged``, or no label, allows everything).  The level's version comes
from ``pod-security.kubernetes.io/enforce-version`` (default ``latest``) and
only shows in the message; the checks are those of the latest version.

Each check is a function from a pod to ``(reason, detail)`` or None.  The
baseline checks run first, then (for restricted) the restricted ones, each
set in upstream's order (sorted by check id), and the failures are joined
into upstream's message::

    pods "web" is forbidden: violates PodSecurity "restricted:latest":
    allowPrivilegeEscalation != false (container "c" must set
    securityContext.allowPrivilegeEscalation=false), ...

Only pod CREATE is checked (not workload templates: upstream only warns on
those, and updates to a pod's spec are almost all forbidden anyway).
Covered: baseline — non-default capabilities, host namespaces, hostPath
volumes, hostPorts, privileged, procMount, seLinuxOptions, seccomp
Unconfined, sysctls; restricted — allowPrivilegeEscalation, capabilities
(drop ALL, add only NET_BIND_SERVICE), volume types, runAsNonRoot,
runAsUser=0, seccomp RuntimeDefault/Localhost.  Not covered: AppArmor and
Windows hostProcess.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeling.apiserver.admission.common import forbidden
from kubeling.apiserver.admission.interface import CREATE, Attributes, Lister

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
LEVELS = ("privileged", "baseline", "restricted")

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
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
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
RESTRICTED_VOLUMES_ALLOWED = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})

Pod = dict
Failure = tuple[str, str]


# -- wording ----------------------------------------------------------------------


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _quoted(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def _containers_phrase(names: list[str]) -> str:
    return f"{_plural('container', 'containers', len(names))} {_quoted(names)}"


def _all_containers(pod: Pod) -> list[dict]:
    spec = pod.get("spec") or {}
    return [
        c
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]


def _security(container: dict) -> dict:
    return container.get("securityContext") or {}


def _pod_security(pod: Pod) -> dict:
    return (pod.get("spec") or {}).get("securityContext") or {}


def _names(containers: list[dict], keep: Callable[[dict], bool]) -> list[str]:
    return [c.get("name", "") for c in containers if keep(c)]


# -- baseline ---------------------------------------------------------------------


def _capabilities_baseline(pod: Pod) -> Failure | None:
    bad_names: list[str] = []
    bad_caps: list[str] = []
    for container in _all_containers(pod):
        added = (_security(container).get("capabilities") or {}).get("add") or []
        extra = [c for c in added if c not in BASELINE_CAPABILITIES]
        if extra:
            bad_names.append(container.get("name", ""))
            bad_caps += [c for c in extra if c not in bad_caps]
    if not bad_names:
        return None
    return (
        "non-default capabilities",
        f"{_containers_phrase(bad_names)} must not include {_quoted(bad_caps)} "
        "in securityContext.capabilities.add",
    )


def _host_namespaces(pod: Pod) -> Failure | None:
    spec = pod.get("spec") or {}
    set_ = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key) is True]
    return ("host namespaces", ", ".join(set_)) if set_ else None


def _host_path_volumes(pod: Pod) -> Failure | None:
    names = [v.get("name", "") for v in (pod.get("spec") or {}).get("volumes") or [] if v.get("hostPath")]
    if not names:
        return None
    return "hostPath volumes", f"{_plural('volume', 'volumes', len(names))} {_quoted(names)}"


def _host_ports(pod: Pod) -> Failure | None:
    names: list[str] = []
    ports: list[str] = []
    for container in _all_containers(pod):
        used = [str(p["hostPort"]) for p in container.get("ports") or [] if p.get("hostPort")]
        if used:
            names.append(container.get("name", ""))
            ports += [p for p in used if p not in ports]
    if not names:
        return None
    return (
        "hostPort",
        f"{_containers_phrase(names)} {_plural('uses', 'use', len(names))} "
        f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(ports)}",
    )


def _privileged(pod: Pod) -> Failure | None:
    names = _names(_all_containers(pod), lambda c: _security(c).get("privileged") is True)
    if not names:
        return None
    return "privileged", f"{_containers_phrase(names)} must not set securityContext.privileged=true"


def _proc_mount(pod: Pod) -> Failure | None:
    bad = [
        c
        for c in _all_containers(pod)
        if _security(c).get("procMount") not in (None, "", "Default")
        and (pod.get("spec") or {}).get("hostUsers") is not False
    ]
    if not bad:
        return None
    names = [c.get("name", "") for c in bad]
    mounts = list(dict.fromkeys(_security(c)["procMount"] for c in bad))
    return (
        "procMount",
        f"{_containers_phrase(names)} must not set securityContext.procMount to {_quoted(mounts)}",
    )


def _selinux_problems(options: dict) -> list[str]:
    problems = []
    if options.get("type", "") not in _SELINUX_TYPES:
        problems.append(f'type "{options["type"]}"')
    if options.get("user"):
        problems.append("user may not be set")
    if options.get("role"):
        problems.append("role may not be set")
    return problems


def _selinux(pod: Pod) -> Failure | None:
    subjects: list[str] = []
    problems: list[str] = []
    pod_problems = _selinux_problems(_pod_security(pod).get("seLinuxOptions") or {})
    if pod_problems:
        subjects.append("pod")
        problems += pod_problems
    names = []
    for container in _all_containers(pod):
        found = _selinux_problems(_security(container).get("seLinuxOptions") or {})
        if found:
            names.append(container.get("name", ""))
            problems += [p for p in found if p not in problems]
    if names:
        subjects.append(_containers_phrase(names))
    if not subjects:
        return None
    return (
        "seLinuxOptions",
        f"{' and '.join(subjects)} set forbidden securityContext.seLinuxOptions: {'; '.join(problems)}",
    )


def _seccomp_type(context: dict) -> str | None:
    return (context.get("seccompProfile") or {}).get("type")


def _seccomp_baseline(pod: Pod) -> Failure | None:
    subjects = []
    if _seccomp_type(_pod_security(pod)) == "Unconfined":
        subjects.append("pod")
    names = _names(_all_containers(pod), lambda c: _seccomp_type(_security(c)) == "Unconfined")
    if names:
        subjects.append(_containers_phrase(names))
    if not subjects:
        return None
    return (
        "seccompProfile",
        f'{" and ".join(subjects)} must not set securityContext.seccompProfile.type to "Unconfined"',
    )


def _sysctls(pod: Pod) -> Failure | None:
    names = [s.get("name", "") for s in _pod_security(pod).get("sysctls") or []]
    bad = [n for n in names if n not in SAFE_SYSCTLS]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


# -- restricted -------------------------------------------------------------------


def _is_windows(pod: Pod) -> bool:
    return ((pod.get("spec") or {}).get("os") or {}).get("name") == "windows"


def _allow_privilege_escalation(pod: Pod) -> Failure | None:
    if _is_windows(pod):
        return None
    names = _names(_all_containers(pod), lambda c: _security(c).get("allowPrivilegeEscalation") is not False)
    if not names:
        return None
    return (
        "allowPrivilegeEscalation != false",
        f"{_containers_phrase(names)} must set securityContext.allowPrivilegeEscalation=false",
    )


def _capabilities_restricted(pod: Pod) -> Failure | None:
    if _is_windows(pod):
        return None
    no_drop: list[str] = []
    bad_add: list[str] = []
    bad_caps: list[str] = []
    for container in _all_containers(pod):
        capabilities = _security(container).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            no_drop.append(container.get("name", ""))
        extra = [c for c in capabilities.get("add") or [] if c != "NET_BIND_SERVICE"]
        if extra:
            bad_add.append(container.get("name", ""))
            bad_caps += [c for c in extra if c not in bad_caps]
    details = []
    if no_drop:
        details.append(f'{_containers_phrase(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if bad_add:
        details.append(
            f"{_containers_phrase(bad_add)} must not include {_quoted(bad_caps)} "
            "in securityContext.capabilities.add"
        )
    return ("unrestricted capabilities", "; ".join(details)) if details else None


def _restricted_volumes(pod: Pod) -> Failure | None:
    names: list[str] = []
    kinds: list[str] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        sources = [k for k in volume if k != "name"]
        bad = [k for k in sources if k not in RESTRICTED_VOLUMES_ALLOWED]
        if bad:
            names.append(volume.get("name", ""))
            kinds += [k for k in bad if k not in kinds]
    if not names:
        return None
    return (
        "restricted volume types",
        f"{_plural('volume', 'volumes', len(names))} {_quoted(names)} "
        f"{_plural('uses', 'use', len(names))} restricted volume "
        f"{_plural('type', 'types', len(kinds))} {_quoted(kinds)}",
    )


def _non_root_user(context: dict) -> bool:
    user = context.get("runAsUser")
    return isinstance(user, int) and user != 0


def _run_as_non_root(pod: Pod) -> Failure | None:
    if _is_windows(pod):
        return None
    pod_context = _pod_security(pod)
    details = []
    if pod_context.get("runAsNonRoot") is False:
        details.append("pod must not set securityContext.runAsNonRoot=false")
    explicit_false = _names(_all_containers(pod), lambda c: _security(c).get("runAsNonRoot") is False)
    if explicit_false:
        details.append(
            f"{_containers_phrase(explicit_false)} must not set securityContext.runAsNonRoot=false"
        )
    pod_ok = pod_context.get("runAsNonRoot") is True or _non_root_user(pod_context)
    if not pod_ok:
        unset = _names(
            _all_containers(pod),
            lambda c: _security(c).get("runAsNonRoot") is None and not _non_root_user(_security(c)),
        )
        if unset:
            details.append(f"pod or {_containers_phrase(unset)} must set securityContext.runAsNonRoot=true")
    return ("runAsNonRoot != true", "; ".join(details)) if details else None


def _run_as_user(pod: Pod) -> Failure | None:
    subjects = []
    if _pod_security(pod).get("runAsUser") == 0:
        subjects.append("pod")
    names = _names(_all_containers(pod), lambda c: _security(c).get("runAsUser") == 0)
    if names:
        subjects.append(_containers_phrase(names))
    if not subjects:
        return None
    return "runAsUser=0", f"{' and '.join(subjects)} must not set runAsUser=0"


def _seccomp_restricted(pod: Pod) -> Failure | None:
    if _is_windows(pod):
        return None
    allowed = ("RuntimeDefault", "Localhost")
    pod_type = _seccomp_type(_pod_security(pod))
    details = []
    if pod_type is not None and pod_type not in allowed:
        details.append(f'pod must not set securityContext.seccompProfile.type to "{pod_type}"')
    bad = [c for c in _all_containers(pod) if _seccomp_type(_security(c)) not in (None, *allowed)]
    if bad:
        types = list(dict.fromkeys(_seccomp_type(_security(c)) or "" for c in bad))
        details.append(
            f"{_containers_phrase([c.get('name', '') for c in bad])} must not set "
            f"securityContext.seccompProfile.type to {_quoted(types)}"
        )
    if pod_type is None:
        unset = _names(_all_containers(pod), lambda c: _seccomp_type(_security(c)) is None)
        if unset:
            details.append(
                f"pod or {_containers_phrase(unset)} must set securityContext.seccompProfile.type "
                'to "RuntimeDefault" or "Localhost"'
            )
    return ("seccompProfile", "; ".join(details)) if details else None


BASELINE_CHECKS: tuple[Callable[[Pod], Failure | None], ...] = (
    _capabilities_baseline,
    _host_namespaces,
    _host_path_volumes,
    _host_ports,
    _privileged,
    _proc_mount,
    _selinux,
    _seccomp_baseline,
    _sysctls,
)
# Restricted replaces the baseline capability and seccomp checks with stricter ones.
RESTRICTED_CHECKS: tuple[Callable[[Pod], Failure | None], ...] = (
    _allow_privilege_escalation,
    _capabilities_restricted,
    _restricted_volumes,
    _run_as_non_root,
    _run_as_user,
    _seccomp_restricted,
)
_REPLACED_BY_RESTRICTED = (_capabilities_baseline, _seccomp_baseline)


def violations(level: str, pod: Pod) -> list[Failure]:
    """Every check of ``level`` the pod fails, in upstream's order."""
    if level == "privileged":
        return []
    checks = list(BASELINE_CHECKS)
    if level == "restricted":
        checks = [c for c in checks if c not in _REPLACED_BY_RESTRICTED] + list(RESTRICTED_CHECKS)
    return [failure for check in checks if (failure := check(pod)) is not None]


def violation_message(level: str, version: str, failures: list[Failure]) -> str:
    parts = [f"{reason} ({detail})" if detail else reason for reason, detail in failures]
    return f'violates PodSecurity "{level}:{version}": ' + ", ".join(parts)


class PodSecurity:
    name = "PodSecurity"

    def __init__(self, lister: Lister) -> None:
        self._lister = lister

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        if resource.group or resource.plural != "pods" or attrs.subresource or attrs.operation != CREATE:
            return
        namespace = self._lister.get("", "namespaces", "", attrs.namespace)
        labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
        level = labels.get(ENFORCE_LABEL)
        if level is None or level == "privileged":
            return
        version = labels.get(ENFORCE_VERSION_LABEL) or "latest"
        if level not in LEVELS:
            level, version = "restricted", "latest"  # an unreadable policy is the strictest one
        failures = violations(level, obj)
        if failures:
            raise forbidden(attrs, violation_message(level, version, failures))
