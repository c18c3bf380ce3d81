"""Server-side Table printing (``meta.k8s.io/v1`` Table), what ``kubectl get`` asks for.

``kubectl get`` sends ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``
and prints whatever columns the server returns.  Upstream fills them from
``pkg/printers/internalversion``: one printer per built-in kind, each a
column list plus a row function.  This module keeps the same split:

* :class:`Printer` = column definitions + a pure ``row(obj, now)`` returning
  the cells.  The apiserver always prints "wide" (kubectl hides columns of
  priority 1 unless ``-o wide``), so every row carries every cell.
* :data:`PRINTERS` maps ``(group, plural)`` to a printer; status logic that
  needs care (pods' STATUS/RESTARTS, jobs, nodes, events...) lives in small
  helpers beside its printer.
* Built-ins without a printer (Roles, LimitRanges, CRDs, ...) get upstream's
  default convertor: NAME and CREATED AT.
* Custom resources print their CRD's ``additionalPrinterColumns`` for the
  served version, evaluated with the small JSONPath evaluator at the bottom
  (``.a.b``, ``[0]``, ``[*]``, ``['x.y']``, ``[?(@.type=="Ready")]``); with
  no printer columns they get NAME and AGE.

Column descriptions are the field docs of the 1.37 OpenAPI schemas, as
upstream takes them from ``SwaggerDoc()``.  Times are relative to ``now``
(injected for tests) and formatted by :func:`human_duration`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kubeling.api import errors, schemas
from kubeling.api.resources import Resource
from kubeling.api.selectors import format_label_selector, format_labels, label_selector_from_dict

Obj = Mapping[str, Any]

__all__ = ["PRINTERS", "Printer", "human_duration", "jsonpath_find", "to_table"]


# -- durations and times ------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: "5s", "3m2s", "10m", "2d3h", "45d", "2y"."""
    secs = int(seconds)  # Go truncates toward zero
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (metav1.Time / MicroTime), or None when unset or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when unset."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def _rfc3339(value: Any) -> str:
    when = parse_time(value)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else "0001-01-01T00:00:00Z"


# -- small accessors ------------------------------------------------------------------


def _get(obj: Any, *path: str | int) -> Any:
    current = obj
    for key in path:
        if isinstance(key, int):
            if not isinstance(current, list) or not -len(current) <= key < len(current):
                return None
            current = current[key]
        else:
            if not isinstance(current, Mapping):
                return None
            current = current.get(key)
    return current


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _name(obj: Obj) -> str:
    return _str(_get(obj, "metadata", "name"))


def _age(obj: Obj, now: datetime) -> str:
    return since(_get(obj, "metadata", "creationTimestamp"), now)


def _containers(template_spec: Any) -> tuple[str, str]:
    """``layoutContainerCells``: container names and images, comma-joined."""
    containers = [_dict(c) for c in _list(_get(template_spec, "containers"))]
    return ",".join(_str(c.get("name")) for c in containers), ",".join(
        _str(c.get("image")) for c in containers
    )


def _bool_ptr(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return "<unset>"


def _list_with_more(items: list[str], total: int, limit: int = 3, empty: str = "<unset>") -> str:
    text = ",".join(items[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty


# -- columns and printers -----------------------------------------------------------------

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def _doc(definition: str, prop: str) -> str:
    """A field's description from the OpenAPI schemas (upstream's SwaggerDoc)."""
    schema = schemas.by_name(definition) or {}
    return _str(_get(schema, "properties", prop, "description"))


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    # A literal description, or (definition, property) whose doc to use.
    doc: str | tuple[str, str] = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        description = _doc(*self.doc) if isinstance(self.doc, tuple) else self.doc
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": description,
            "priority": self.priority,
        }


NAME = Column("Name", format="name", doc=(_META, "name"))
AGE = Column("Age", doc=(_META, "creationTimestamp"))
CREATED_AT = Column("Created At", type="date", doc=(_META, "creationTimestamp"))
_CONTAINERS = Column("Containers", priority=1, doc="Names of each container in the template.")
_IMAGES = Column("Images", priority=1, doc="Images referenced by each container in the template.")

Row = Callable[[Obj, datetime], list[Any]]


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    row: Row
    # Extra per-row conditions (pods mark Succeeded/Failed rows Completed).
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None


# -- pods -------------------------------------------------------------------------------

_POD = "io.k8s.api.core.v1.Pod"
_POD_SPEC = "io.k8s.api.core.v1.PodSpec"
_POD_STATUS = "io.k8s.api.core.v1.PodStatus"


def _condition_true(conditions: Any, kind: str) -> bool:
    """The condition of this type exists and is True (first of that type wins)."""
    for cond in _list(conditions):
        if _get(cond, "type") == kind:
            return _get(cond, "status") == "True"
    return False


def pod_status(pod: Obj, now: datetime) -> tuple[str, str, str]:
    """READY, STATUS and RESTARTS of a pod, computed as upstream's ``printPod``."""
    spec, status = _dict(pod.get("spec")), _dict(pod.get("status"))
    phase = _str(status.get("phase"))
    reason = _str(status.get("reason")) or phase
    for cond in _list(status.get("conditions")):
        if _get(cond, "type") == "PodScheduled" and _get(cond, "reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {_str(_get(c, "name")): _dict(c) for c in _list(spec.get("initContainers"))}
    # Sidecars (restartable init containers) count as regular containers.
    sidecars = {name for name, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(_list(spec.get("containers"))) + len(sidecars)
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    def later(current: datetime | None, container: Any) -> datetime | None:
        finished = parse_time(_get(container, "lastState", "terminated", "finishedAt"))
        if finished is not None and (current is None or current < finished):
            return finished
        return current

    initializing = False
    init_statuses = _list(status.get("initContainerStatuses"))
    for i, c in enumerate(init_statuses):
        count = _int(_get(c, "restartCount"))
        restarts += count
        last_restart = later(last_restart, c)
        is_sidecar = _get(c, "name") in sidecars
        if is_sidecar:
            sidecar_restarts += count
            last_sidecar_restart = later(last_sidecar_restart, c)
        terminated = _get(c, "state", "terminated")
        waiting_reason = _str(_get(c, "state", "waiting", "reason"))
        if isinstance(terminated, Mapping) and _int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and _get(c, "started") is True:
            ready += 1 if _get(c, "ready") is True else 0
            continue
        if isinstance(terminated, Mapping):
            if terminated.get("reason"):
                reason = "Init:" + _str(terminated["reason"])
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{_int(terminated['signal'])}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif waiting_reason and waiting_reason != "PodInitializing":
            reason = "Init:" + waiting_reason
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        # Walk backwards so the first container's state wins, as upstream.
        for c in reversed(_list(status.get("containerStatuses"))):
            restarts += _int(_get(c, "restartCount"))
            last_restart = later(last_restart, c)
            waiting_reason = _str(_get(c, "state", "waiting", "reason"))
            terminated = _get(c, "state", "terminated")
            if waiting_reason:
                reason = waiting_reason
            elif isinstance(terminated, Mapping) and terminated.get("reason"):
                reason = _str(terminated["reason"])
            elif isinstance(terminated, Mapping):
                signal = _int(terminated.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif _get(c, "ready") is True and isinstance(_get(c, "state", "running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    deleting = _get(pod, "metadata", "deletionTimestamp") is not None
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    return f"{ready}/{total}", reason, restarts_text


def _pod_row(pod: Obj, now: datetime) -> list[Any]:
    ready, reason, restarts = pod_status(pod, now)
    spec, status = _dict(pod.get("spec")), _dict(pod.get("status"))
    # v1 -> internal conversion fills podIPs from podIP when only the latter is set.
    ip = _str(_get(status, "podIPs", 0, "ip")) or _str(status.get("podIP")) or "<none>"
    gates = _list(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        true = sum(1 for g in gates if _condition_true(status.get("conditions"), _get(g, "conditionType")))
        gates_text = f"{true}/{len(gates)}"
    return [
        _name(pod),
        ready,
        reason,
        restarts,
        _age(pod, now),
        ip,
        _str(spec.get("nodeName")) or "<none>",
        _str(status.get("nominatedNodeName")) or "<none>",
        gates_text,
    ]


def _pod_conditions(pod: Obj) -> list[dict[str, str]]:
    phase = _get(pod, "status", "phase")
    if phase == "Succeeded":
        return [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Succeeded",
                "message": "The pod has completed successfully.",
            }
        ]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


_POD_PRINTER = Printer(
    (
        NAME,
        Column("Ready", doc="The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", doc="The aggregate status of the containers in this pod."),
        Column(
            "Restarts",
            doc="The number of times the containers in this pod have been restarted "
            "and when the last container in this pod has restarted.",
        ),
        AGE,
        Column("IP", priority=1, doc=(_POD_STATUS, "podIP")),
        Column("Node", priority=1, doc=(_POD_SPEC, "nodeName")),
        Column("Nominated Node", priority=1, doc=(_POD_STATUS, "nominatedNodeName")),
        Column("Readiness Gates", priority=1, doc=(_POD_SPEC, "readinessGates")),
    ),
    _pod_row,
    _pod_conditions,
)


def _pod_template_row(obj: Obj, now: datetime) -> list[Any]:
    names, images = _containers(_get(obj, "template", "spec"))
    return [_name(obj), names, images, format_labels(_get(obj, "template", "metadata", "labels"))]


# -- workloads --------------------------------------------------------------------------------


def _selector_text(selector: Any) -> str:
    """``LabelSelectorAsSelector(...).String()``; an invalid selector prints ``<invalid>``."""
    try:
        return label_selector_from_dict(selector if isinstance(selector, Mapping) else None).to_string()
    except errors.StatusError:
        return "<invalid>"


def _deployment_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(obj, now),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _replicas_row(obj: Obj, now: datetime, selector: Callable[[Any], str]) -> list[Any]:
    """ReplicaSets and ReplicationControllers print alike; only their selector types differ."""
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        _int(spec.get("replicas"), 1),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(obj, now),
        names,
        images,
        selector(spec.get("selector")),
    ]


def _replica_set_row(obj: Obj, now: datetime) -> list[Any]:
    return _replicas_row(obj, now, format_label_selector)


def _replication_controller_row(obj: Obj, now: datetime) -> list[Any]:
    return _replicas_row(obj, now, format_labels)


def _stateful_set_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    names, images = _containers(_get(spec, "template", "spec"))
    ready = f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}"
    return [_name(obj), ready, _age(obj, now), names, images]


def _daemon_set_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        format_labels(_get(spec, "template", "spec", "nodeSelector")),
        _age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def job_status(job: Obj) -> str:
    conditions = _get(job, "status", "conditions")
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _get(job, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    succeeded = _int(status.get("succeeded"))
    if isinstance(spec.get("completions"), int):
        completions = f"{succeeded}/{spec['completions']}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration(((end or now) - start).total_seconds())
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        job_status(obj),
        completions,
        duration,
        _age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _cron_job_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    last = status.get("lastScheduleTime")
    job_spec = _get(spec, "jobTemplate", "spec")
    names, images = _containers(_get(job_spec, "template", "spec"))
    return [
        _name(obj),
        _str(spec.get("schedule")),
        _str(spec.get("timeZone")) or "<none>",
        _bool_ptr(spec.get("suspend")),
        len(_list(status.get("active"))),
        since(last, now) if last else "<none>",
        _age(obj, now),
        names,
        images,
        format_label_selector(_get(job_spec, "selector")),
    ]


def _controller_revision_row(obj: Obj, now: datetime) -> list[Any]:
    controller = "<none>"
    for ref in _list(_get(obj, "metadata", "ownerReferences")):
        if _get(ref, "controller") is True:
            group = _str(_get(ref, "apiVersion")).rpartition("/")[0]
            kind = _str(_get(ref, "kind"))
            group_kind = f"{kind}.{group}" if group else kind
            controller = (
                f"{group_kind.lower()}/{_str(_get(ref, 'name'))}" if kind else _str(_get(ref, "name"))
            )
            break
    return [_name(obj), controller, _int(obj.get("revision")), _age(obj, now)]


# -- services and networking -------------------------------------------------------------------


def _load_balancer_ips(status: Any) -> str:
    found = {_str(_get(i, "ip")) or _str(_get(i, "hostname")) for i in _list(_get(status, "ingress"))}
    return ",".join(sorted(found - {""}))


def _service_external_ip(svc: Obj) -> str:
    spec = _dict(svc.get("spec"))
    kind = spec.get("type") or "ClusterIP"
    external = [_str(ip) for ip in _list(spec.get("externalIPs"))]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = _load_balancer_ips(_get(svc, "status", "loadBalancer"))
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if kind == "ExternalName":
        return _str(spec.get("externalName"))
    return "<unknown>"


def _service_ports(ports: Any) -> str:
    pieces = []
    for port in _list(ports):
        protocol = _str(_get(port, "protocol")) or "TCP"
        node_port = _int(_get(port, "nodePort"))
        if node_port > 0:
            pieces.append(f"{_int(_get(port, 'port'))}:{node_port}/{protocol}")
        else:
            pieces.append(f"{_int(_get(port, 'port'))}/{protocol}")
    return ",".join(pieces)


def _service_row(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    cluster_ips = _list(spec.get("clusterIPs"))
    # Stored Services carry clusterIPs; older objects may only have clusterIP.
    cluster_ip = _str(cluster_ips[0]) if cluster_ips else _str(spec.get("clusterIP")) or "<none>"
    return [
        _name(obj),
        _str(spec.get("type")) or "ClusterIP",
        cluster_ip,
        _service_external_ip(obj),
        _service_ports(spec.get("ports")) or "<none>",
        _age(obj, now),
        format_labels(spec.get("selector")),
    ]


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoints(endpoints: Obj) -> str:
    subsets = _list(endpoints.get("subsets"))
    if not subsets:
        return "<none>"
    found: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [_str(_get(a, "ip")) for a in _list(_get(subset, "addresses"))]
        ports = _list(_get(subset, "ports"))
        if not ports:  # headless services may have no ports
            count += len(addresses)
            found.extend(addresses)
            continue
        for port in ports:
            count += len(addresses)
            found.extend(_join_host_port(ip, _int(_get(port, "port"))) for ip in addresses)
    text = ",".join(found[:3])
    return f"{text} + {count - 3} more..." if count > 3 else text


def _endpoints_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), format_endpoints(obj), _age(obj, now)]


def _endpoint_slice_row(obj: Obj, now: datetime) -> list[Any]:
    ports = []
    for port in _list(obj.get("ports")):
        number, name = _get(port, "port"), _get(port, "name")
        ports.append(str(number) if isinstance(number, int) else (name if isinstance(name, str) else "*"))
    addresses = [_str(a) for e in _list(obj.get("endpoints")) for a in _list(_get(e, "addresses"))]
    return [
        _name(obj),
        _str(obj.get("addressType")),
        _list_with_more(ports, len(ports)),
        _list_with_more(addresses, len(addresses)),
        _age(obj, now),
    ]


def _ingress_hosts(rules: Any) -> str:
    rules = _list(rules)
    hosts = [h for h in (_str(_get(r, "host")) for r in rules[:3]) if h]
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if len(rules) > 3 else text


def _ingress_row(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    return [
        _name(obj),
        _str(spec.get("ingressClassName")) or "<none>",
        _ingress_hosts(spec.get("rules")),
        _load_balancer_ips(_get(obj, "status", "loadBalancer")),
        "80, 443" if _list(spec.get("tls")) else "80",
        _age(obj, now),
    ]


def _ingress_class_row(obj: Obj, now: datetime) -> list[Any]:
    params = _get(obj, "spec", "parameters")
    text = "<none>"
    if isinstance(params, Mapping):
        text = _str(params.get("kind"))
        if isinstance(params.get("apiGroup"), str):
            text += "." + params["apiGroup"]
        text += "/" + _str(params.get("name"))
    return [_name(obj), _str(_get(obj, "spec", "controller")), text, _age(obj, now)]


def _network_policy_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), format_label_selector(_dict(_get(obj, "spec", "podSelector"))), _age(obj, now)]


# -- cluster ---------------------------------------------------------------------------------


def node_status(node: Obj) -> str:
    statuses = []
    for cond in _list(_get(node, "status", "conditions")):
        if _get(cond, "type") == "Ready":
            statuses = ["Ready" if _get(cond, "status") == "True" else "NotReady"]
    if not statuses:
        statuses = ["Unknown"]
    if _get(node, "spec", "unschedulable") is True:
        statuses.append("SchedulingDisabled")
    return ",".join(statuses)


def node_roles(node: Obj) -> str:
    roles = set()
    for key, value in _dict(_get(node, "metadata", "labels")).items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/") :]:
            roles.add(key[len("node-role.kubernetes.io/") :])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Obj, kind: str) -> str:
    for address in _list(_get(node, "status", "addresses")):
        if _get(address, "type") == kind:
            return _str(_get(address, "address"))
    return "<none>"


def _node_row(obj: Obj, now: datetime) -> list[Any]:
    info = _dict(_get(obj, "status", "nodeInfo"))
    return [
        _name(obj),
        node_status(obj),
        node_roles(obj),
        _age(obj, now),
        _str(info.get("kubeletVersion")),
        _node_address(obj, "InternalIP"),
        _node_address(obj, "ExternalIP"),
        _str(info.get("osImage")) or "<unknown>",
        _str(info.get("kernelVersion")) or "<unknown>",
        _str(info.get("containerRuntimeVersion")) or "<unknown>",
    ]


def _namespace_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _str(_get(obj, "status", "phase")), _age(obj, now)]


def _lease_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _str(_get(obj, "spec", "holderIdentity")), _age(obj, now)]


def _priority_class_row(obj: Obj, now: datetime) -> list[Any]:
    return [
        _name(obj),
        _int(obj.get("value")),
        obj.get("globalDefault") is True,
        _age(obj, now),
        _str(obj.get("preemptionPolicy")),
    ]


# -- events -----------------------------------------------------------------------------------


def _as_core_event(event: Obj) -> Obj:
    """events.k8s.io/v1 fields renamed to core/v1's, as upstream's conversion does."""
    if "regarding" not in event and "note" not in event and "deprecatedCount" not in event:
        return event
    return {
        "metadata": event.get("metadata"),
        "involvedObject": event.get("regarding"),
        "reason": event.get("reason"),
        "message": event.get("note"),
        "type": event.get("type"),
        "source": event.get("deprecatedSource"),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"),
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }


def _event_row(obj: Obj, now: datetime) -> list[Any]:
    event = _as_core_event(obj)
    first_ts = event.get("firstTimestamp")
    first = since(first_ts, now) if parse_time(first_ts) else since(event.get("eventTime"), now)
    last_ts = event.get("lastTimestamp")
    last = since(last_ts, now) if parse_time(last_ts) else first
    count = _int(event.get("count"))
    series = event.get("series")
    if isinstance(series, Mapping):
        last = since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = _dict(event.get("involvedObject"))
    kind = _str(involved.get("kind")).lower()
    target = f"{kind}/{involved['name']}" if _str(involved.get("name")) else kind
    component = _str(_get(event, "source", "component")) or _str(event.get("reportingComponent"))
    instance = _str(_get(event, "source", "host")) or _str(event.get("reportingInstance"))
    source = f"{component}, {instance}" if instance else component
    return [
        last,
        _str(event.get("type")),
        _str(event.get("reason")),
        target,
        _str(involved.get("fieldPath")),
        source,
        _str(event.get("message")).strip(),
        first,
        count,
        _name(obj),
    ]


# -- config and storage -------------------------------------------------------------------------


def _config_map_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), len(_dict(obj.get("data"))) + len(_dict(obj.get("binaryData"))), _age(obj, now)]


def _secret_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _str(obj.get("type")), len(_dict(obj.get("data"))), _age(obj, now)]


def _service_account_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), len(_list(obj.get("secrets"))), _age(obj, now)]


def _access_modes(modes: Any) -> str:
    modes = _list(modes)
    short = (
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    )
    return ",".join(abbrev for mode, abbrev in short if mode in modes)


def _storage_class_of(obj: Obj) -> str:
    # The beta annotation predates spec.storageClassName and still wins.
    annotation = _get(obj, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class")
    return _str(annotation) if isinstance(annotation, str) else _str(_get(obj, "spec", "storageClassName"))


def _pv_row(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    claim = spec.get("claimRef")
    claim_text = (
        f"{_str(_get(claim, 'namespace'))}/{_str(_get(claim, 'name'))}" if isinstance(claim, Mapping) else ""
    )
    phase = _str(_get(obj, "status", "phase"))
    if _get(obj, "metadata", "deletionTimestamp") is not None:
        phase = "Terminating"
    return [
        _name(obj),
        _str(_get(spec, "capacity", "storage")) or "0",
        _access_modes(spec.get("accessModes")),
        _str(spec.get("persistentVolumeReclaimPolicy")),
        phase,
        claim_text,
        _storage_class_of(obj),
        _str(spec.get("volumeAttributesClassName")) or "<unset>",
        _str(_get(obj, "status", "reason")),
        _age(obj, now),
        _str(spec.get("volumeMode")) or "<unset>",
    ]


def _pvc_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    phase = _str(status.get("phase"))
    if _get(obj, "metadata", "deletionTimestamp") is not None:
        phase = "Terminating"
    capacity = modes = ""
    if spec.get("volumeName"):  # only a bound claim shows what it got
        modes = _access_modes(status.get("accessModes"))
        capacity = _str(_get(status, "capacity", "storage")) or "0"
    return [
        _name(obj),
        phase,
        _str(spec.get("volumeName")),
        capacity,
        modes,
        _storage_class_of(obj),
        _str(spec.get("volumeAttributesClassName")) or "<unset>",
        _age(obj, now),
        _str(spec.get("volumeMode")) or "<unset>",
    ]


def _storage_class_row(obj: Obj, now: datetime) -> list[Any]:
    annotations = _dict(_get(obj, "metadata", "annotations"))
    default = any(
        annotations.get(k) == "true"
        for k in (
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        )
    )
    allow = obj.get("allowVolumeExpansion")
    return [
        _name(obj) + (" (default)" if default else ""),
        _str(obj.get("provisioner")),
        _str(obj.get("reclaimPolicy")) or "Delete",
        _str(obj.get("volumeBindingMode")) or "Immediate",
        allow is True,
        _age(obj, now),
    ]


def _resource_quota_row(obj: Obj, now: datetime) -> list[Any]:
    hard, used = _dict(_get(obj, "status", "hard")), _dict(_get(obj, "status", "used"))
    requests, limits = [], []
    for resource in sorted(hard):
        column = limits if resource.startswith("limits.") else requests
        column.append(f"{resource}: {_str(used.get(resource)) or '0'}/{_str(hard[resource])}")
    return [_name(obj), ", ".join(requests), ", ".join(limits), _age(obj, now)]


# -- policy, autoscaling, rbac ----------------------------------------------------------------------


def _int_or_string(value: Any) -> str:
    return "N/A" if value is None else str(value)


def _pdb_row(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    return [
        _name(obj),
        _int_or_string(spec.get("minAvailable")),
        _int_or_string(spec.get("maxUnavailable")),
        _int(_get(obj, "status", "disruptionsAllowed")),
        _age(obj, now),
    ]


def _hpa_metrics(obj: Obj) -> tuple[list[Any], list[Any]]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    if "metrics" in spec or "currentMetrics" in status or "targetCPUUtilizationPercentage" not in spec:
        return _list(spec.get("metrics")), _list(status.get("currentMetrics"))
    # autoscaling/v1: one CPU utilization target.
    metric = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}
    metric["resource"]["target"]["averageUtilization"] = spec["targetCPUUtilizationPercentage"]
    current: list[Any] = []
    if isinstance(status.get("currentCPUUtilizationPercentage"), int):
        utilization = status["currentCPUUtilizationPercentage"]
        current = [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": utilization}}}
        ]
    return [metric], current


def format_hpa_metrics(specs: list[Any], statuses: list[Any]) -> str:
    if not specs:
        return "<none>"

    def quantity(value: Any) -> str:
        return str(value) if value is not None else "<unknown>"

    items = []
    for i, spec in enumerate(specs):
        kind = _get(spec, "type")
        current_status = statuses[i] if i < len(statuses) else None
        source = {
            "External": "external",
            "Pods": "pods",
            "Object": "object",
            "Resource": "resource",
            "ContainerResource": "containerResource",
        }.get(_str(kind))
        if source is None:
            items.append("<unknown type>")
            continue
        target = _dict(_get(spec, source, "target"))
        current = _get(current_status, source, "current")
        if source in ("resource", "containerResource"):
            name = _str(_get(spec, source, "name"))
            if target.get("averageValue") is not None:
                now_value = quantity(_get(current, "averageValue")) if current is not None else "<unknown>"
                items.append(f"{name}: {now_value}/{target['averageValue']}")
            else:
                utilization = _get(current, "averageUtilization")
                now_value = f"{utilization}%" if isinstance(utilization, int) else "<unknown>"
                wanted = target.get("averageUtilization")
                items.append(
                    f"{name}: {now_value}/{wanted}%"
                    if isinstance(wanted, int)
                    else f"{name}: {now_value}/<auto>"
                )
        elif source == "pods":
            items.append(f"{quantity(_get(current, 'averageValue'))}/{quantity(target.get('averageValue'))}")
        elif target.get("averageValue") is not None:
            items.append(f"{quantity(_get(current, 'averageValue'))}/{target['averageValue']} (avg)")
        else:
            items.append(f"{quantity(_get(current, 'value'))}/{quantity(target.get('value'))}")
    text = ", ".join(items[:2])
    return f"{text} + {len(items) - 2} more..." if len(items) > 2 else text


def _hpa_row(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    ref = _dict(spec.get("scaleTargetRef"))
    min_replicas = spec.get("minReplicas")
    return [
        _name(obj),
        f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}",
        format_hpa_metrics(*_hpa_metrics(obj)),
        str(min_replicas) if isinstance(min_replicas, int) else "<unset>",
        _int(spec.get("maxReplicas")),
        _int(_get(obj, "status", "currentReplicas")),
        _age(obj, now),
    ]


def _binding_row(obj: Obj, now: datetime) -> list[Any]:
    users, groups, accounts = [], [], []
    for subject in _list(obj.get("subjects")):
        kind, name = _get(subject, "kind"), _str(_get(subject, "name"))
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{_str(_get(subject, 'namespace'))}/{name}")
    ref = _dict(obj.get("roleRef"))
    return [
        _name(obj),
        f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}",
        _age(obj, now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(accounts),
    ]


def _csr_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    kinds = {_get(c, "type") for c in _list(status.get("conditions"))}
    text = "Denied" if "Denied" in kinds else "Approved" if "Approved" in kinds else "Pending"
    if "Failed" in kinds:
        text += ",Failed"
    if status.get("certificate"):
        text += ",Issued"
    seconds = spec.get("expirationSeconds")
    return [
        _name(obj),
        _age(obj, now),
        _str(spec.get("signerName")) or "<none>",
        _str(spec.get("username")),
        human_duration(seconds) if isinstance(seconds, int) else "<none>",
        text,
    ]


def _api_service_row(obj: Obj, now: datetime) -> list[Any]:
    service = _dict(_get(obj, "spec", "service"))
    target = f"{_str(service.get('namespace'))}/{_str(service.get('name'))}" if service else "Local"
    available = "Unknown"
    for condition in _list(_get(obj, "status", "conditions")):
        if _get(condition, "type") == "Available":
            status = _str(_get(condition, "status"))
            available = status if status == "True" else f"{status} ({_str(_get(condition, 'reason'))})"
    return [_name(obj), target, available, _age(obj, now)]


def _default_row(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _rfc3339(_get(obj, "metadata", "creationTimestamp"))]


DEFAULT_PRINTER = Printer((NAME, CREATED_AT), _default_row)


# -- the registry ---------------------------------------------------------------------------------

_APPS = "io.k8s.api.apps.v1"
_CORE = "io.k8s.api.core.v1"
_BATCH = "io.k8s.api.batch.v1"
_SELECTOR_DOC = "selector"

_EVENT_PRINTER = Printer(
    (
        Column("Last Seen", doc=(f"{_CORE}.Event", "lastTimestamp")),
        Column("Type", doc=(f"{_CORE}.Event", "type")),
        Column("Reason", doc=(f"{_CORE}.Event", "reason")),
        Column("Object", doc=(f"{_CORE}.Event", "involvedObject")),
        Column("Subobject", priority=1, doc=(f"{_CORE}.ObjectReference", "fieldPath")),
        Column("Source", priority=1, doc=(f"{_CORE}.Event", "source")),
        Column("Message", doc=(f"{_CORE}.Event", "message")),
        Column("First Seen", priority=1, doc=(f"{_CORE}.Event", "firstTimestamp")),
        Column("Count", priority=1, doc=(f"{_CORE}.Event", "count")),
        Column("Name", priority=1, format="name", doc=(_META, "name")),
    ),
    _event_row,
)

_BINDING_COLUMNS = (
    NAME,
    Column("Role", doc=("io.k8s.api.rbac.v1.RoleBinding", "roleRef")),
    AGE,
    Column("Users", priority=1, doc="Users in the roleBinding"),
    Column("Groups", priority=1, doc="Groups in the roleBinding"),
    Column("ServiceAccounts", priority=1, doc="ServiceAccounts in the roleBinding"),
)
_HPA = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"
_HPA_PRINTER = Printer(
    (
        NAME,
        Column("Reference", doc=(f"{_HPA}Spec", "scaleTargetRef")),
        Column("Targets", doc=(f"{_HPA}Spec", "metrics")),
        Column("MinPods", doc=(f"{_HPA}Spec", "minReplicas")),
        Column("MaxPods", doc=(f"{_HPA}Spec", "maxReplicas")),
        Column("Replicas", doc=(f"{_HPA}Status", "currentReplicas")),
        AGE,
    ),
    _hpa_row,
)

PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "pods"): _POD_PRINTER,
    ("", "podtemplates"): Printer(
        (
            NAME,
            Column("Containers", doc="Names of each container in the template."),
            Column("Images", doc="Images referenced by each container in the template."),
            Column("Pod Labels", doc="The labels for the pod template."),
        ),
        _pod_template_row,
    ),
    ("", "replicationcontrollers"): Printer(
        (
            NAME,
            Column("Desired", "integer", doc=(f"{_CORE}.ReplicationControllerSpec", "replicas")),
            Column("Current", "integer", doc=(f"{_CORE}.ReplicationControllerStatus", "replicas")),
            Column("Ready", "integer", doc=(f"{_CORE}.ReplicationControllerStatus", "readyReplicas")),
            AGE,
            _CONTAINERS,
            _IMAGES,
            Column("Selector", priority=1, doc=(f"{_CORE}.ReplicationControllerSpec", _SELECTOR_DOC)),
        ),
        _replication_controller_row,
    ),
    ("apps", "replicasets"): Printer(
        (
            NAME,
            Column("Desired", "integer", doc=(f"{_APPS}.ReplicaSetSpec", "replicas")),
            Column("Current", "integer", doc=(f"{_APPS}.ReplicaSetStatus", "replicas")),
            Column("Ready", "integer", doc=(f"{_APPS}.ReplicaSetStatus", "readyReplicas")),
            AGE,
            _CONTAINERS,
            _IMAGES,
            Column("Selector", priority=1, doc=(f"{_APPS}.ReplicaSetSpec", _SELECTOR_DOC)),
        ),
        _replica_set_row,
    ),
    ("apps", "deployments"): Printer(
        (
            NAME,
            Column("Ready", doc="Number of the pod with ready state"),
            Column("Up-to-date", doc=(f"{_APPS}.DeploymentStatus", "updatedReplicas")),
            Column("Available", doc=(f"{_APPS}.DeploymentStatus", "availableReplicas")),
            AGE,
            _CONTAINERS,
            _IMAGES,
            Column("Selector", priority=1, doc=(f"{_APPS}.DeploymentSpec", _SELECTOR_DOC)),
        ),
        _deployment_row,
    ),
    ("apps", "statefulsets"): Printer(
        (NAME, Column("Ready", doc="Number of the pod with ready state"), AGE, _CONTAINERS, _IMAGES),
        _stateful_set_row,
    ),
    ("apps", "daemonsets"): Printer(
        (
            NAME,
            Column("Desired", "integer", doc=(f"{_APPS}.DaemonSetStatus", "desiredNumberScheduled")),
            Column("Current", "integer", doc=(f"{_APPS}.DaemonSetStatus", "currentNumberScheduled")),
            Column("Ready", "integer", doc=(f"{_APPS}.DaemonSetStatus", "numberReady")),
            Column("Up-to-date", "integer", doc=(f"{_APPS}.DaemonSetStatus", "updatedNumberScheduled")),
            Column("Available", "integer", doc=(f"{_APPS}.DaemonSetStatus", "numberAvailable")),
            Column("Node Selector", doc=(_POD_SPEC, "nodeSelector")),
            AGE,
            _CONTAINERS,
            _IMAGES,
            Column("Selector", priority=1, doc=(f"{_APPS}.DaemonSetSpec", _SELECTOR_DOC)),
        ),
        _daemon_set_row,
    ),
    ("apps", "controllerrevisions"): Printer(
        (
            NAME,
            Column("Controller", doc="Controller of the object"),
            Column("Revision", doc=(f"{_APPS}.ControllerRevision", "revision")),
            AGE,
        ),
        _controller_revision_row,
    ),
    ("batch", "jobs"): Printer(
        (
            NAME,
            Column("Status", doc="Status of the job."),
            Column("Completions", doc=(f"{_BATCH}.JobStatus", "succeeded")),
            Column("Duration", doc="Time required to complete the job."),
            AGE,
            _CONTAINERS,
            _IMAGES,
            Column("Selector", priority=1, doc=(f"{_BATCH}.JobSpec", _SELECTOR_DOC)),
        ),
        _job_row,
    ),
    ("batch", "cronjobs"): Printer(
        (
            NAME,
            Column("Schedule", doc=(f"{_BATCH}.CronJobSpec", "schedule")),
            Column("Timezone", doc=(f"{_BATCH}.CronJobSpec", "timeZone")),
            Column("Suspend", "boolean", doc=(f"{_BATCH}.CronJobSpec", "suspend")),
            Column("Active", "integer", doc=(f"{_BATCH}.CronJobStatus", "active")),
            Column("Last Schedule", doc=(f"{_BATCH}.CronJobStatus", "lastScheduleTime")),
            AGE,
            _CONTAINERS,
            _IMAGES,
            Column("Selector", priority=1, doc=(f"{_BATCH}.JobSpec", _SELECTOR_DOC)),
        ),
        _cron_job_row,
    ),
    ("", "services"): Printer(
        (
            NAME,
            Column("Type", doc=(f"{_CORE}.ServiceSpec", "type")),
            Column("Cluster-IP", doc=(f"{_CORE}.ServiceSpec", "clusterIP")),
            Column("External-IP", doc=(f"{_CORE}.ServiceSpec", "externalIPs")),
            Column("Port(s)", doc=(f"{_CORE}.ServiceSpec", "ports")),
            AGE,
            Column("Selector", priority=1, doc=(f"{_CORE}.ServiceSpec", _SELECTOR_DOC)),
        ),
        _service_row,
    ),
    ("", "endpoints"): Printer(
        (NAME, Column("Endpoints", doc=(f"{_CORE}.Endpoints", "subsets")), AGE),
        _endpoints_row,
    ),
    ("discovery.k8s.io", "endpointslices"): Printer(
        (
            NAME,
            Column("AddressType", doc=("io.k8s.api.discovery.v1.EndpointSlice", "addressType")),
            Column("Ports", doc=("io.k8s.api.discovery.v1.EndpointSlice", "ports")),
            Column("Endpoints", doc=("io.k8s.api.discovery.v1.EndpointSlice", "endpoints")),
            AGE,
        ),
        _endpoint_slice_row,
    ),
    ("networking.k8s.io", "ingresses"): Printer(
        (
            NAME,
            Column(
                "Class",
                doc="The name of the IngressClass resource that should be used for additional configuration",
            ),
            Column("Hosts", doc="Hosts that incoming requests are matched against before the ingress rule"),
            Column("Address", doc="Address is a list containing ingress points for the load-balancer"),
            Column("Ports", doc="Ports of TLS configurations that open"),
            AGE,
        ),
        _ingress_row,
    ),
    ("networking.k8s.io", "ingressclasses"): Printer(
        (
            NAME,
            Column("Controller", doc="Controller that is responsible for handling this class"),
            Column("Parameters", doc="A reference to a resource with additional parameters"),
            AGE,
        ),
        _ingress_class_row,
    ),
    ("networking.k8s.io", "networkpolicies"): Printer(
        (
            NAME,
            Column("Pod-Selector", doc=("io.k8s.api.networking.v1.NetworkPolicySpec", "podSelector")),
            AGE,
        ),
        _network_policy_row,
    ),
    ("", "nodes"): Printer(
        (
            NAME,
            Column("Status", doc="The status of the node"),
            Column("Roles", doc="The roles of the node"),
            AGE,
            Column("Version", doc=(f"{_CORE}.NodeSystemInfo", "kubeletVersion")),
            Column("Internal-IP", priority=1, doc=(f"{_CORE}.NodeStatus", "addresses")),
            Column("External-IP", priority=1, doc=(f"{_CORE}.NodeStatus", "addresses")),
            Column("OS-Image", priority=1, doc=(f"{_CORE}.NodeSystemInfo", "osImage")),
            Column("Kernel-Version", priority=1, doc=(f"{_CORE}.NodeSystemInfo", "kernelVersion")),
            Column(
                "Container-Runtime", priority=1, doc=(f"{_CORE}.NodeSystemInfo", "containerRuntimeVersion")
            ),
        ),
        _node_row,
    ),
    ("", "events"): _EVENT_PRINTER,
    ("events.k8s.io", "events"): _EVENT_PRINTER,
    ("", "namespaces"): Printer(
        (NAME, Column("Status", doc="The status of the namespace"), AGE),
        _namespace_row,
    ),
    ("", "secrets"): Printer(
        (
            NAME,
            Column("Type", doc=(f"{_CORE}.Secret", "type")),
            Column("Data", doc=(f"{_CORE}.Secret", "data")),
            AGE,
        ),
        _secret_row,
    ),
    ("", "serviceaccounts"): Printer(
        (NAME, Column("Secrets", doc=(f"{_CORE}.ServiceAccount", "secrets")), AGE),
        _service_account_row,
    ),
    ("", "configmaps"): Printer(
        (NAME, Column("Data", doc=(f"{_CORE}.ConfigMap", "data")), AGE),
        _config_map_row,
    ),
    ("", "persistentvolumes"): Printer(
        (
            NAME,
            Column("Capacity", doc=(f"{_CORE}.PersistentVolumeSpec", "capacity")),
            Column("Access Modes", doc=(f"{_CORE}.PersistentVolumeSpec", "accessModes")),
            Column("Reclaim Policy", doc=(f"{_CORE}.PersistentVolumeSpec", "persistentVolumeReclaimPolicy")),
            Column("Status", doc=(f"{_CORE}.PersistentVolumeStatus", "phase")),
            Column("Claim", doc=(f"{_CORE}.PersistentVolumeSpec", "claimRef")),
            Column("StorageClass", doc="StorageClass of the pv"),
            Column("VolumeAttributesClass", doc="VolumeAttributesClass of the pv"),
            Column("Reason", doc=(f"{_CORE}.PersistentVolumeStatus", "reason")),
            AGE,
            Column("VolumeMode", priority=1, doc=(f"{_CORE}.PersistentVolumeSpec", "volumeMode")),
        ),
        _pv_row,
    ),
    ("", "persistentvolumeclaims"): Printer(
        (
            NAME,
            Column("Status", doc=(f"{_CORE}.PersistentVolumeClaimStatus", "phase")),
            Column("Volume", doc=(f"{_CORE}.PersistentVolumeClaimSpec", "volumeName")),
            Column("Capacity", doc=(f"{_CORE}.PersistentVolumeClaimStatus", "capacity")),
            Column("Access Modes", doc=(f"{_CORE}.PersistentVolumeClaimStatus", "accessModes")),
            Column("StorageClass", doc="StorageClass of the pvc"),
            Column("VolumeAttributesClass", doc="VolumeAttributesClass of the pvc"),
            AGE,
            Column("VolumeMode", priority=1, doc=(f"{_CORE}.PersistentVolumeClaimSpec", "volumeMode")),
        ),
        _pvc_row,
    ),
    ("", "resourcequotas"): Printer(
        (
            NAME,
            Column(
                "Request",
                doc="Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            Column(
                "Limit",
                doc="Limits control the maximum amount of cpu/memory that a container may use "
                "independent of contention on the node.",
            ),
            AGE,
        ),
        _resource_quota_row,
    ),
    ("policy", "poddisruptionbudgets"): Printer(
        (
            NAME,
            Column("Min Available", doc="The minimum number of pods that must be available."),
            Column("Max Unavailable", doc="The maximum number of pods that may be unavailable."),
            Column(
                "Allowed Disruptions",
                "integer",
                doc="Calculated number of pods that may be disrupted at this time.",
            ),
            AGE,
        ),
        _pdb_row,
    ),
    ("autoscaling", "horizontalpodautoscalers"): _HPA_PRINTER,
    ("rbac.authorization.k8s.io", "rolebindings"): Printer(_BINDING_COLUMNS, _binding_row),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): Printer(
        (
            NAME,
            Column("Role", doc=("io.k8s.api.rbac.v1.ClusterRoleBinding", "roleRef")),
            AGE,
            Column("Users", priority=1, doc="Users in the clusterRoleBinding"),
            Column("Groups", priority=1, doc="Groups in the clusterRoleBinding"),
            Column("ServiceAccounts", priority=1, doc="ServiceAccounts in the clusterRoleBinding"),
        ),
        _binding_row,
    ),
    ("apiregistration.k8s.io", "apiservices"): Printer(
        (
            NAME,
            Column("Service", doc="The reference to the service that hosts this API endpoint."),
            Column("Available", doc="Whether this service is available."),
            AGE,
        ),
        _api_service_row,
    ),
    ("coordination.k8s.io", "leases"): Printer(
        (NAME, Column("Holder", doc=("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")), AGE),
        _lease_row,
    ),
    ("scheduling.k8s.io", "priorityclasses"): Printer(
        (
            NAME,
            Column("Value", "integer", doc=("io.k8s.api.scheduling.v1.PriorityClass", "value")),
            Column(
                "Global-Default", "boolean", doc=("io.k8s.api.scheduling.v1.PriorityClass", "globalDefault")
            ),
            AGE,
            Column("PreemptionPolicy", doc=("io.k8s.api.scheduling.v1.PriorityClass", "preemptionPolicy")),
        ),
        _priority_class_row,
    ),
    ("storage.k8s.io", "storageclasses"): Printer(
        (
            NAME,
            Column("Provisioner", doc=("io.k8s.api.storage.v1.StorageClass", "provisioner")),
            Column("ReclaimPolicy", doc=("io.k8s.api.storage.v1.StorageClass", "reclaimPolicy")),
            Column("VolumeBindingMode", doc=("io.k8s.api.storage.v1.StorageClass", "volumeBindingMode")),
            Column(
                "AllowVolumeExpansion", doc=("io.k8s.api.storage.v1.StorageClass", "allowVolumeExpansion")
            ),
            AGE,
        ),
        _storage_class_row,
    ),
    ("certificates.k8s.io", "certificatesigningrequests"): Printer(
        (
            NAME,
            AGE,
            Column(
                "SignerName", doc=("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", "signerName")
            ),
            Column("Requestor", doc=("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", "request")),
            Column(
                "RequestedDuration",
                doc=("io.k8s.api.certificates.v1.CertificateSigningRequestSpec", "expirationSeconds"),
            ),
            Column(
                "Condition", doc=("io.k8s.api.certificates.v1.CertificateSigningRequestStatus", "conditions")
            ),
        ),
        _csr_row,
    ),
}


# -- custom resources ---------------------------------------------------------------------------


def _go_text(value: Any) -> str:
    """How upstream's JSONPath printer renders one value: scalars as Go prints them, else JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if value is None:
        return "<nil>"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 or from 1e6 up."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    number = Decimal(repr(value)).normalize()
    exponent = number.adjusted()
    if -4 <= exponent < 6:
        return format(number, "f")
    sign, digits, _ = number.as_tuple()
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def _cell(column_type: str, value: Any, now: datetime) -> Any:
    """``cellForJSONValue``: typed cells for a CRD column, None when the type does not fit."""
    if value is None:
        return None
    if column_type == "string":
        return _go_text(value)
    if isinstance(value, bool):
        return value if column_type == "boolean" else None
    if column_type == "integer" and isinstance(value, int | float):
        return int(value)
    if column_type == "number" and isinstance(value, int | float):
        return float(value)
    if column_type == "date" and isinstance(value, str):
        when = parse_time(value)
        return "<invalid>" if when is None else human_duration((now - when).total_seconds())
    return None


def _crd_columns(resource: Resource) -> list[dict[str, Any]]:
    for version in _list(_get(resource.crd, "spec", "versions")):
        if _get(version, "name") == resource.version:
            return [_dict(c) for c in _list(version.get("additionalPrinterColumns"))]
    return []


def _custom_table(resource: Resource) -> tuple[list[dict[str, Any]], Row]:
    columns = _crd_columns(resource) or [
        {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
            "description": _doc(_META, "creationTimestamp"),
        }
    ]
    definitions = [NAME.definition()]
    for col in columns:
        path = _str(col.get("jsonPath"))
        definitions.append(
            {
                "name": _str(col.get("name")),
                "type": _str(col.get("type")) or "string",
                "format": _str(col.get("format")),
                "description": _str(col.get("description"))
                or f"Custom resource definition column (in JSONPath format): {path}",
                "priority": _int(col.get("priority")),
            }
        )

    def row(obj: Obj, now: datetime) -> list[Any]:
        cells: list[Any] = [_name(obj)]
        for definition, col in zip(definitions[1:], columns, strict=True):
            try:
                found = jsonpath_find(obj, _str(col.get("jsonPath")))
            except ValueError:
                found = []
            cells.append(_cell(definition["type"], found[0], now) if found else None)
        return cells

    return definitions, row


# -- the entry point ---------------------------------------------------------------------------------


def printer_for(resource: Resource) -> Printer:
    return PRINTERS.get((resource.group, resource.plural), DEFAULT_PRINTER)


def _row_object(obj: Obj, include_object: str) -> dict[str, Any] | Obj | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def to_table(
    resource: Resource,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects``; the caller fills ``metadata``.

    ``include_object`` is the request's ``includeObject``: ``Metadata`` (the
    default) puts a PartialObjectMetadata in each row, ``Object`` the whole
    object, ``None`` nothing.  Anything else is a 400, as upstream.
    """
    include_object = include_object or "Metadata"
    if include_object not in ("None", "Metadata", "Object"):
        raise errors.bad_request(f'unrecognized includeObject value: "{include_object}"')
    now = now or datetime.now(UTC)
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None
    if resource.is_custom:
        definitions, row = _custom_table(resource)
    else:
        printer = printer_for(resource)
        definitions = [c.definition() for c in printer.columns]
        row, conditions = printer.row, printer.conditions
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj, now)}
        if conditions is not None and (extra := conditions(obj)):
            entry["conditions"] = extra
        if (shown := _row_object(obj, include_object)) is not None:
            entry["object"] = shown
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": definitions,
        "rows": rows,
    }


# -- JSONPath -------------------------------------------------------------------------------------------
#
# Enough of upstream's JSONPath for printer columns: fields (.a, ['a.b'],
# ["a"]), indexes and slices ([0], [-1], [1:3]), wildcards ([*], .*),
# recursive descent (..a) and filters ([?(@.type=="Ready")], [?(@.x)],
# comparisons with == != < <= > >=).  Missing keys yield no result.

_FILTER = re.compile(r"\s*@((?:\.[\w-]+|\[[^\]]*\])*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")


def _parse_path(path: str) -> list[tuple[str, Any]]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[tuple[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("..", i):
            i += 2
            match = re.match(r"[\w-]+", text[i:])
            if not match:
                raise ValueError(f"bad recursive descent in {path!r}")
            steps.append(("descend", match.group()))
            i += match.end()
        elif text[i] == ".":
            i += 1
            if i < n and text[i] == "*":
                steps.append(("wildcard", None))
                i += 1
                continue
            match = re.match(r"[^.\[\]]+", text[i:])
            if not match:
                if i >= n:  # a lone "." is the object itself
                    break
                raise ValueError(f"bad field in {path!r}")
            steps.append(("field", match.group()))
            i += match.end()
        elif text[i] == "[":
            end = _closing_bracket(text, i)
            steps.append(_bracket(text[i + 1 : end].strip(), path))
            i = end + 1
        else:
            match = re.match(r"[^.\[\]]+", text[i:])
            assert match is not None
            steps.append(("field", match.group()))
            i += match.end()
    return steps


def _closing_bracket(text: str, start: int) -> int:
    depth, quote = 0, ""
    for j in range(start, len(text)):
        c = text[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unclosed [ in {text!r}")


def _bracket(inner: str, path: str) -> tuple[str, Any]:
    if inner == "*":
        return ("wildcard", None)
    if inner.startswith("?(") and inner.endswith(")"):
        match = _FILTER.match(inner[2:-1])
        if not match:
            raise ValueError(f"unsupported filter in {path!r}")
        sub_path = _parse_path(match.group(1)) if match.group(1) else []
        literal = _literal(match.group(3)) if match.group(2) else None
        return ("filter", (sub_path, match.group(2), literal))
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return ("field", inner[1:-1])
    if re.fullmatch(r"-?\d+", inner):
        return ("index", int(inner))
    if re.fullmatch(r"-?\d*:-?\d*(:-?\d*)?", inner):
        parts = [int(p) if p else None for p in inner.split(":")]
        return ("slice", slice(*parts))
    raise ValueError(f"unsupported subscript [{inner}] in {path!r}")


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    numbers = (int, float)
    if not isinstance(left, numbers) or not isinstance(right, numbers) or isinstance(left, bool):
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [value[k] for k in sorted(value)]
    if isinstance(value, list):
        return list(value)
    return []


def _walk(values: list[Any], steps: list[tuple[str, Any]]) -> list[Any]:
    for kind, arg in steps:
        found: list[Any] = []
        for value in values:
            if kind == "field":
                if isinstance(value, Mapping) and arg in value:
                    found.append(value[arg])
            elif kind == "index":
                if isinstance(value, list) and -len(value) <= arg < len(value):
                    found.append(value[arg])
            elif kind == "slice":
                if isinstance(value, list):
                    found.extend(value[arg])
            elif kind == "wildcard":
                found.extend(_children(value))
            elif kind == "descend":
                stack = [value]
                while stack:
                    node = stack.pop(0)
                    if isinstance(node, Mapping) and arg in node:
                        found.append(node[arg])
                    stack.extend(_children(node))
            elif kind == "filter":
                sub_path, op, literal = arg
                for item in _children(value) if isinstance(value, list) else [value]:
                    matched = _walk([item], sub_path)
                    if op is None:
                        keep = bool(matched)
                    else:
                        keep = bool(matched) and _compare(matched[0], op, literal)
                    if keep:
                        found.append(item)
        values = found
    return values


def jsonpath_find(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` selects in ``obj`` (``[]`` when a key is missing).

    Raises ``ValueError`` for a path this evaluator cannot parse.
    """
    return _walk([obj], _parse_path(path))
