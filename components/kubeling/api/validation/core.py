"""Validation of core/v1 kinds, after upstream's ``pkg/apis/core/validation``.

Each ``validate_<kind>(obj)`` checks a new object's spec (metadata is checked
by the caller, which knows the kind's name rule and scope), and each
``validate_<kind>_update(obj, old)`` adds the rules that only exist on
update (immutable fields).  Pod specs are checked by
:func:`validate_pod_spec`, shared with every workload's pod template.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
from typing import Any

from kubeling.api.errors import Cause
from kubeling.api.validation.common import (
    QuantityError,
    as_dict,
    as_list,
    check_immutable,
    dicts,
    duplicate,
    enum,
    forbidden,
    invalid,
    is_cidr,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_int,
    is_ip,
    is_port_name,
    is_port_number,
    is_qualified_name,
    non_negative,
    not_supported,
    parse_quantity,
    required,
    too_long,
    validate_annotations,
    validate_labels,
    validate_object_meta_update,
)

Obj = dict[str, Any]

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
MAX_SECRET_SIZE = 1024 * 1024
MAX_INT32 = 2**31 - 1

VOLUME_SOURCES = (
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "image",
    "iscsi",
    "nfs",
    "persistentVolumeClaim",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "quobyte",
    "rbd",
    "scaleIO",
    "secret",
    "storageos",
    "vsphereVolume",
)


# -- pod spec -------------------------------------------------------------------


def validate_pod_spec(spec: Any, path: str, *, template: bool = False) -> list[Cause]:
    spec = as_dict(spec)
    errs: list[Cause] = []
    volumes, volume_errs = _validate_volumes(spec.get("volumes"), f"{path}.volumes")
    errs += volume_errs
    containers = as_list(spec.get("containers"))
    if not containers:
        errs.append(required(f"{path}.containers"))
    names: set[str] = set()
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in dicts(spec.get(field)):
            errs += _validate_container(container, f"{path}.{field}[{i}]", volumes, names)
    restart = spec.get("restartPolicy")
    if not restart:
        # A workload checks its own template's policy (Jobs must choose one).
        if not template:
            errs.append(required(f"{path}.restartPolicy"))
    else:
        errs += enum(restart, f"{path}.restartPolicy", RESTART_POLICIES)
    dns = spec.get("dnsPolicy")
    if not dns:
        errs.append(required(f"{path}.dnsPolicy"))
    else:
        errs += enum(dns, f"{path}.dnsPolicy", DNS_POLICIES)
    if dns == "None" and not as_dict(spec.get("dnsConfig")).get("nameservers"):
        errs.append(
            required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
            if not spec.get("dnsConfig")
            else required(
                f"{path}.dnsConfig.nameservers",
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )
        )
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not is_int(deadline) or not 1 <= deadline <= MAX_INT32):
        errs.append(
            invalid(
                f"{path}.activeDeadlineSeconds", deadline, f"must be between 1 and {MAX_INT32}, inclusive"
            )
        )
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and not is_int(grace):
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be an integer"))
    errs += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for field in ("serviceAccountName", "nodeName"):
        value = spec.get(field)
        if value:
            errs += [invalid(f"{path}.{field}", value, m) for m in is_dns1123_subdomain(str(value))]
    for field in ("hostname", "subdomain"):
        value = spec.get(field)
        if value:
            errs += [invalid(f"{path}.{field}", value, m) for m in is_dns1123_label(str(value))]
    errs += _validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    errs += _validate_host_aliases(spec.get("hostAliases"), f"{path}.hostAliases")
    errs += _validate_scheduling_gates(spec.get("schedulingGates"), f"{path}.schedulingGates")
    return errs


def _validate_scheduling_gates(items: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for i, gate in dicts(items):
        name = str(gate.get("name") or "")
        errs += [invalid(f"{path}[{i}]", name, m) for m in is_qualified_name(name)]
        if name in seen:
            errs.append(duplicate(f"{path}[{i}]", name))
        seen.add(name)
    return errs


def _validate_volumes(items: Any, path: str) -> tuple[set[str], list[Cause]]:
    errs: list[Cause] = []
    names: set[str] = set()
    for i, volume in dicts(items):
        vpath = f"{path}[{i}]"
        name = volume.get("name")
        if not name:
            errs.append(required(f"{vpath}.name"))
        elif not isinstance(name, str):
            errs.append(invalid(f"{vpath}.name", name, "must be a string"))
        else:
            errs += [invalid(f"{vpath}.name", name, m) for m in is_dns1123_label(name)]
            if name in names:
                errs.append(duplicate(f"{vpath}.name", name))
            names.add(name)
        sources = [s for s in VOLUME_SOURCES if volume.get(s) is not None]
        if not sources:
            errs.append(required(vpath, "must specify a volume type"))
        for extra in sources[1:]:
            errs.append(forbidden(f"{vpath}.{extra}", "may not specify more than 1 volume type"))
        errs += _validate_volume_source(volume, vpath)
    return names, errs


def _validate_volume_source(volume: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for kind, key in (
        ("configMap", "name"),
        ("secret", "secretName"),
        ("persistentVolumeClaim", "claimName"),
    ):
        source = volume.get(kind)
        if isinstance(source, dict):
            mode = source.get("defaultMode")
            if mode is not None and (not is_int(mode) or not 0 <= mode <= 0o777):
                errs.append(
                    invalid(
                        f"{path}.{kind}.defaultMode",
                        mode,
                        "must be a number between 0 and 0777 (octal), both inclusive",
                    )
                )
            if kind == "persistentVolumeClaim" and not source.get(key):
                errs.append(required(f"{path}.{kind}.{key}"))
            for j, item in dicts(source.get("items")):
                if not item.get("key"):
                    errs.append(required(f"{path}.{kind}.items[{j}].key"))
                if not item.get("path"):
                    errs.append(required(f"{path}.{kind}.items[{j}].path"))
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and not host_path.get("path"):
        errs.append(required(f"{path}.hostPath.path"))
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, dict):
        errs += enum(empty_dir.get("medium"), f"{path}.emptyDir.medium", ["", "Memory", "HugePages"])
        if empty_dir.get("sizeLimit") is not None:
            errs += _quantity(empty_dir["sizeLimit"], f"{path}.emptyDir.sizeLimit")
    return errs


def _validate_container(container: Obj, path: str, volumes: set[str], names: set[str]) -> list[Cause]:
    errs: list[Cause] = []
    name = container.get("name")
    if not name:
        errs.append(required(f"{path}.name"))
    elif not isinstance(name, str):
        errs.append(invalid(f"{path}.name", name, "must be a string"))
    else:
        errs += [invalid(f"{path}.name", name, m) for m in is_dns1123_label(name)]
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
    image = container.get("image")
    if not image:
        errs.append(required(f"{path}.image"))
    elif isinstance(image, str) and image != image.strip():
        errs.append(invalid(f"{path}.image", image, "must not have leading or trailing whitespace"))
    errs += enum(container.get("imagePullPolicy"), f"{path}.imagePullPolicy", PULL_POLICIES)
    errs += enum(
        container.get("terminationMessagePolicy"), f"{path}.terminationMessagePolicy", MESSAGE_POLICIES
    )
    errs += _validate_container_ports(container.get("ports"), f"{path}.ports")
    errs += _validate_env(container.get("env"), f"{path}.env")
    errs += _validate_volume_mounts(container.get("volumeMounts"), f"{path}.volumeMounts", volumes)
    errs += validate_resources(container.get("resources"), f"{path}.resources")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if container.get(probe) is not None:
            errs += _validate_probe(as_dict(container[probe]), f"{path}.{probe}")
    return errs


def _validate_container_ports(ports: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    names: set[str] = set()
    for i, port in dicts(ports):
        ppath = f"{path}[{i}]"
        name = port.get("name")
        if name:
            errs += [invalid(f"{ppath}.name", name, m) for m in is_port_name(str(name))]
            if name in names:
                errs.append(duplicate(f"{ppath}.name", name))
            names.add(name)
        number = port.get("containerPort")
        if not number:
            errs.append(required(f"{ppath}.containerPort"))
        else:
            errs += [invalid(f"{ppath}.containerPort", number, m) for m in is_port_number(number)]
        host = port.get("hostPort")
        if host:
            errs += [invalid(f"{ppath}.hostPort", host, m) for m in is_port_number(host)]
        protocol = port.get("protocol")
        if not protocol:
            errs.append(required(f"{ppath}.protocol"))
        else:
            errs += enum(protocol, f"{ppath}.protocol", PROTOCOLS)
    return errs


def _validate_env(env: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, var in dicts(env):
        epath = f"{path}[{i}]"
        name = var.get("name")
        if not name:
            errs.append(required(f"{epath}.name"))
        else:
            errs += [invalid(f"{epath}.name", name, m) for m in is_env_var_name(str(name))]
        source = var.get("valueFrom")
        if source is not None:
            if var.get("value"):
                errs.append(
                    invalid(f"{epath}.valueFrom", "", "may not be specified when `value` is not empty")
                )
            kinds = [k for k in ENV_SOURCES if as_dict(source).get(k) is not None]
            if not kinds:
                errs.append(
                    invalid(
                        f"{epath}.valueFrom",
                        "",
                        "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                        "or `secretKeyRef`",
                    )
                )
            elif len(kinds) > 1:
                errs.append(
                    invalid(f"{epath}.valueFrom", "", "may not have more than one field specified at a time")
                )
    return errs


def _validate_volume_mounts(mounts: Any, path: str, volumes: set[str]) -> list[Cause]:
    errs: list[Cause] = []
    paths: set[str] = set()
    for i, mount in dicts(mounts):
        mpath = f"{path}[{i}]"
        name = mount.get("name")
        if not name:
            errs.append(required(f"{mpath}.name"))
        elif name not in volumes:
            errs.append(Cause("FieldValueNotFound", f'Not found: "{name}"', f"{mpath}.name"))
        mount_path = mount.get("mountPath")
        if not mount_path:
            errs.append(required(f"{mpath}.mountPath"))
        elif mount_path in paths:
            errs.append(invalid(f"{mpath}.mountPath", mount_path, "must be unique"))
        else:
            paths.add(mount_path)
        sub_path = mount.get("subPath")
        if isinstance(sub_path, str) and (sub_path.startswith("/") or ".." in sub_path.split("/")):
            errs.append(invalid(f"{mpath}.subPath", sub_path, "must be a relative path without '..'"))
    return errs


def _validate_probe(probe: Obj, path: str) -> list[Cause]:
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
    errs: list[Cause] = []
    if not handlers:
        errs.append(required(path, "must specify a handler type"))
    for extra in handlers[1:]:
        errs.append(forbidden(f"{path}.{extra}", "may not specify more than 1 handler type"))
    for field in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errs += non_negative(probe.get(field), f"{path}.{field}")
    http = probe.get("httpGet")
    if isinstance(http, dict):
        errs += _validate_port_ref(http.get("port"), f"{path}.httpGet.port")
        errs += enum(http.get("scheme"), f"{path}.httpGet.scheme", ["HTTP", "HTTPS"])
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, dict):
        errs += _validate_port_ref(tcp.get("port"), f"{path}.tcpSocket.port")
    return errs


def _validate_port_ref(port: Any, path: str) -> list[Cause]:
    """An IntOrString port: a number in range or an IANA service name."""
    if isinstance(port, str) and not port.isdigit():
        return [invalid(path, port, m) for m in is_port_name(port)]
    number = int(port) if isinstance(port, str) else port
    return [invalid(path, port, m) for m in is_port_number(number)]


def _quantity(value: Any, path: str) -> list[Cause]:
    try:
        parsed = parse_quantity(value)
    except QuantityError as err:
        return [invalid(path, value, str(err))]
    return [invalid(path, value, "must be greater than or equal to 0")] if parsed < 0 else []


def validate_resources(resources: Any, path: str) -> list[Cause]:
    resources = as_dict(resources)
    errs: list[Cause] = []
    parsed: dict[str, dict[str, Any]] = {"limits": {}, "requests": {}}
    for field in ("limits", "requests"):
        for name, value in as_dict(resources.get(field)).items():
            qpath = f"{path}.{field}[{name}]"
            errs += [invalid(qpath, name, m) for m in is_qualified_name(name)]
            problems = _quantity(value, qpath)
            errs += problems
            if not problems:
                parsed[field][name] = parse_quantity(value)
    limits = as_dict(resources.get("limits"))
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and request > limit:
            errs.append(
                invalid(
                    f"{path}.requests[{name}]",
                    str(resources["requests"][name]),
                    f"must be less than or equal to {name} limit of {limits[name]}",
                )
            )
    return errs


def _validate_tolerations(tolerations: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, toleration in dicts(tolerations):
        tpath = f"{path}[{i}]"
        key = toleration.get("key")
        if key:
            errs += [invalid(f"{tpath}.key", key, m) for m in is_qualified_name(str(key))]
        operator = toleration.get("operator") or "Equal"
        if operator not in ("Equal", "Exists"):
            errs.append(not_supported(f"{tpath}.operator", operator, ["Equal", "Exists"]))
        elif operator == "Exists" and toleration.get("value"):
            errs.append(
                invalid(
                    f"{tpath}.operator",
                    toleration["value"],
                    "value must be empty when `operator` is 'Exists'",
                )
            )
        elif not key and operator != "Exists":
            errs.append(
                invalid(
                    f"{tpath}.operator",
                    operator,
                    "operator must be Exists when `key` is empty, "
                    'which means "match all values and all keys"',
                )
            )
        errs += enum(
            toleration.get("effect"), f"{tpath}.effect", ["NoSchedule", "PreferNoSchedule", "NoExecute"]
        )
        seconds = toleration.get("tolerationSeconds")
        if seconds is not None and toleration.get("effect") != "NoExecute":
            errs.append(
                invalid(
                    f"{tpath}.effect",
                    toleration.get("effect", ""),
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
    return errs


def _validate_host_aliases(aliases: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, alias in dicts(aliases):
        ip = alias.get("ip")
        if not ip:
            errs.append(required(f"{path}[{i}].ip"))
        else:
            errs += [invalid(f"{path}[{i}].ip", ip, m) for m in is_ip(str(ip))]
    return errs


def validate_pod_template(template: Any, path: str) -> list[Cause]:
    """A PodTemplateSpec inside a workload (labels, annotations, pod spec)."""
    template = as_dict(template)
    meta = as_dict(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations")
    errs += validate_pod_spec(template.get("spec"), f"{path}.spec", template=True)
    return errs


# -- pods -----------------------------------------------------------------------


def validate_pod(pod: Obj) -> list[Cause]:
    spec = as_dict(pod.get("spec"))
    errs = validate_pod_spec(spec, "spec")
    # The scheduler never sees a pod created bound, so gates could not hold it.
    if spec.get("nodeName") and as_list(spec.get("schedulingGates")):
        errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


POD_UPDATABLE = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def validate_pod_update(pod: Obj, old: Obj) -> list[Cause]:
    new_spec, old_spec = as_dict(pod.get("spec")), as_dict(old.get("spec"))
    errs = validate_pod_spec(new_spec, "spec")
    for field in ("containers", "initContainers"):
        if len(as_list(new_spec.get(field))) != len(as_list(old_spec.get(field))):
            errs.append(forbidden(f"spec.{field}", "pod updates may not add or remove containers"))
            return errs
    # Start from the new spec and put back the old values of every field that
    # may change; whatever still differs was changed illegally.
    munged = copy.deepcopy(new_spec)
    for field in ("containers", "initContainers"):
        for i, (_, container) in enumerate(dicts(munged.get(field))):
            old_container = as_dict(as_list(old_spec.get(field))[i])
            if "image" in old_container:
                container["image"] = old_container["image"]
            else:
                container.pop("image", None)
    for field in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        _restore(munged, old_spec, field)
    old_tolerations = as_list(old_spec.get("tolerations"))
    new_tolerations = as_list(new_spec.get("tolerations"))
    if all(t in new_tolerations for t in old_tolerations):
        _restore(munged, old_spec, "tolerations")
    # Gates are only ever removed: whoever holds a pod back releases it.
    errs += _only_deleted_gates(new_spec.get("schedulingGates"), old_spec.get("schedulingGates"))
    _restore(munged, old_spec, "schedulingGates")
    if as_list(old_spec.get("schedulingGates")):
        # A gated pod may still be narrowed down to fewer nodes (queueing systems do so).
        errs += _only_added_node_selector(new_spec.get("nodeSelector"), old_spec.get("nodeSelector"))
        _restore(munged, old_spec, "nodeSelector")
    if munged != old_spec:
        changed = sorted(k for k in set(munged) | set(old_spec) if munged.get(k) != old_spec.get(k))
        detail = "pod updates may not change fields other than " + ",".join(POD_UPDATABLE)
        errs.append(forbidden("spec", detail + "\n  changed: " + ", ".join(f"spec.{k}" for k in changed)))
    old_deadline = old_spec.get("activeDeadlineSeconds")
    new_deadline = new_spec.get("activeDeadlineSeconds")
    if is_int(old_deadline) and (
        new_deadline is None or (is_int(new_deadline) and new_deadline > old_deadline)
    ):
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value"
            )
            if new_deadline is not None
            else invalid(
                "spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"
            )
        )
    return errs


def _only_deleted_gates(new: Any, old: Any) -> list[Cause]:
    old_names = {as_dict(g).get("name") for g in as_list(old)}
    return [
        forbidden(
            f"spec.schedulingGates[{i}].name",
            f"only deletion is allowed, but found new scheduling gate '{gate.get('name')}'",
        )
        for i, gate in dicts(new)
        if gate.get("name") not in old_names
    ]


def _only_added_node_selector(new: Any, old: Any) -> list[Cause]:
    new_selector, old_selector = as_dict(new), as_dict(old)
    if all(new_selector.get(k, object()) == v for k, v in old_selector.items()):
        return []
    detail = "only additions to spec.nodeSelector are allowed (no mutations or deletions)"
    return [invalid("spec.nodeSelector", new_selector, detail)]


def _restore(target: Obj, source: Obj, field: str) -> None:
    if field in source:
        target[field] = copy.deepcopy(source[field])
    else:
        target.pop(field, None)


def validate_pod_template_object(obj: Obj) -> list[Cause]:
    return validate_pod_template(obj.get("template"), "template")


# -- services -------------------------------------------------------------------


def validate_service(svc: Obj) -> list[Cause]:
    spec = as_dict(svc.get("spec"))
    errs: list[Cause] = []
    kind = spec.get("type") or "ClusterIP"
    errs += enum(kind, "spec.type", SERVICE_TYPES)
    ports = dicts(spec.get("ports"))
    cluster_ip = spec.get("clusterIP")
    if kind == "ExternalName":
        name = spec.get("externalName")
        if not name:
            errs.append(required("spec.externalName"))
        else:
            errs += [
                invalid("spec.externalName", name, m) for m in is_dns1123_subdomain(str(name).rstrip("."))
            ]
        if cluster_ip or spec.get("clusterIPs"):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    elif not ports and cluster_ip != "None":
        errs.append(required("spec.ports"))
    port_names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for i, port in ports:
        ppath = f"spec.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errs.append(required(f"{ppath}.name"))
        elif name:
            errs += [invalid(f"{ppath}.name", name, m) for m in is_dns1123_label(str(name))]
            if name in port_names:
                errs.append(duplicate(f"{ppath}.name", name))
            port_names.add(name)
        number = port.get("port")
        errs += [invalid(f"{ppath}.port", number, m) for m in is_port_number(number)]
        protocol = port.get("protocol")
        if not protocol:
            errs.append(required(f"{ppath}.protocol"))
        else:
            errs += enum(protocol, f"{ppath}.protocol", PROTOCOLS)
        target = port.get("targetPort")
        if target is not None:
            errs += _validate_port_ref(target, f"{ppath}.targetPort")
        node_port = port.get("nodePort")
        if node_port:
            if kind == "ClusterIP":
                errs.append(forbidden(f"{ppath}.nodePort", "may not be used when `type` is 'ClusterIP'"))
            elif kind == "ExternalName":
                errs.append(forbidden(f"{ppath}.nodePort", "may not be used when `type` is 'ExternalName'"))
            else:
                errs += [invalid(f"{ppath}.nodePort", node_port, m) for m in is_port_number(node_port)]
        key = (number, protocol)
        if key in seen:
            errs.append(duplicate(ppath, f"{protocol}/{number}"))
        seen.add(key)
    errs += validate_labels(spec.get("selector"), "spec.selector")
    ips = as_list(spec.get("clusterIPs"))
    if ips:
        for i, ip in enumerate(ips):
            if ip != "None" or i > 0:
                errs += [invalid(f"spec.clusterIPs[{i}]", ip, m) for m in is_ip(str(ip))]
        if cluster_ip and cluster_ip != ips[0]:
            errs.append(invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    elif cluster_ip and cluster_ip != "None":
        errs += [invalid("spec.clusterIP", cluster_ip, m) for m in is_ip(str(cluster_ip))]
    errs += enum(spec.get("sessionAffinity"), "spec.sessionAffinity", ["ClientIP", "None"])
    for field in ("externalTrafficPolicy", "internalTrafficPolicy"):
        errs += enum(spec.get(field), f"spec.{field}", ["Cluster", "Local"])
    if spec.get("externalTrafficPolicy") and kind not in ("NodePort", "LoadBalancer"):
        errs.append(
            invalid(
                "spec.externalTrafficPolicy",
                spec["externalTrafficPolicy"],
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )
        )
    errs += enum(
        spec.get("ipFamilyPolicy"),
        "spec.ipFamilyPolicy",
        ["SingleStack", "PreferDualStack", "RequireDualStack"],
    )
    for i, family in enumerate(as_list(spec.get("ipFamilies"))):
        errs += enum(family, f"spec.ipFamilies[{i}]", ["IPv4", "IPv6"])
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        errs += [invalid(f"spec.externalIPs[{i}]", ip, m) for m in is_ip(str(ip))]
    return errs


def validate_service_update(svc: Obj, old: Obj) -> list[Cause]:
    errs = validate_service(svc)
    spec, old_spec = as_dict(svc.get("spec")), as_dict(old.get("spec"))
    if "ExternalName" not in (spec.get("type"), old_spec.get("type")):
        old_ip, new_ip = old_spec.get("clusterIP"), spec.get("clusterIP")
        if old_ip and new_ip != old_ip:
            errs.append(invalid("spec.clusterIPs[0]", new_ip or "", "may not change once set"))
    return errs


# -- config maps and secrets ----------------------------------------------------


def validate_config_map(cm: Obj) -> list[Cause]:
    errs: list[Cause] = []
    total = 0
    data, binary = as_dict(cm.get("data")), as_dict(cm.get("binaryData"))
    for key, value in data.items():
        total += len(str(value).encode())
        errs += [invalid(f"data[{key}]", key, m) for m in is_config_map_key(key)]
        if key in binary:
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
    for key, value in binary.items():
        total += len(_b64(value) or b"")
        errs += [invalid(f"binaryData[{key}]", key, m) for m in is_config_map_key(key)]
        if _b64(value) is None:
            errs.append(invalid(f"binaryData[{key}]", "<binary>", "illegal base64 data"))
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    return errs


def _immutable_data(new: Obj, old: Obj, fields: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    errs: list[Cause] = []
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for field in fields:
        if as_dict(new.get(field)) != as_dict(old.get(field)):
            errs.append(forbidden(field, "field is immutable when `immutable` is set"))
    return errs


def validate_config_map_update(cm: Obj, old: Obj) -> list[Cause]:
    return validate_config_map(cm) + _immutable_data(cm, old, ("data", "binaryData"))


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def validate_secret(secret: Obj) -> list[Cause]:
    errs: list[Cause] = []
    data = as_dict(secret.get("data"))
    total = 0
    for key, value in data.items():
        errs += [invalid(f"data[{key}]", key, m) for m in is_config_map_key(key)]
        decoded = _b64(value)
        if decoded is None:
            errs.append(invalid(f"data[{key}]", "<secret contents redacted>", "illegal base64 data"))
        else:
            total += len(decoded)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    kind = secret.get("type") or "Opaque"
    if kind == "kubernetes.io/service-account-token":
        annotations = as_dict(as_dict(secret.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    for key in _SECRET_REQUIRED_KEYS.get(kind, ()):
        if key not in data:
            errs.append(required(f"data[{key}]"))
    if kind == "kubernetes.io/basic-auth" and not ({"username", "password"} & set(data)):
        errs.append(required("data[username]", "must specify at least one of `username` or `password`"))
    return errs


def validate_secret_update(secret: Obj, old: Obj) -> list[Cause]:
    errs = validate_secret(secret)
    errs += check_immutable(secret.get("type") or "Opaque", old.get("type") or "Opaque", "type")
    return errs + _immutable_data(secret, old, ("data",))


# -- namespaces and nodes -------------------------------------------------------


def validate_namespace(ns: Obj) -> list[Cause]:
    errs: list[Cause] = []
    for i, finalizer in enumerate(as_list(as_dict(ns.get("spec")).get("finalizers"))):
        errs += _standard_finalizer(finalizer, f"spec.finalizers[{i}]")
    return errs


def _standard_finalizer(finalizer: Any, path: str) -> list[Cause]:
    if not isinstance(finalizer, str):
        return [invalid(path, finalizer, "must be a string")]
    return [invalid(path, finalizer, m) for m in is_qualified_name(finalizer)]


def validate_node(node: Obj) -> list[Cause]:
    spec = as_dict(node.get("spec"))
    errs: list[Cause] = []
    errs += _validate_pod_cidrs(spec)
    for i, taint in dicts(spec.get("taints")):
        key = taint.get("key")
        if not key:
            errs.append(required(f"spec.taints[{i}].key"))
        else:
            errs += [invalid(f"spec.taints[{i}].key", key, m) for m in is_qualified_name(str(key))]
        effect = taint.get("effect")
        if not effect:
            errs.append(required(f"spec.taints[{i}].effect"))
        else:
            errs += enum(effect, f"spec.taints[{i}].effect", ["NoSchedule", "PreferNoSchedule", "NoExecute"])
    return errs


def _validate_pod_cidrs(spec: Obj) -> list[Cause]:
    errs: list[Cause] = []
    cidrs = as_list(spec.get("podCIDRs"))
    for i, cidr in enumerate(cidrs):
        errs += [invalid(f"spec.podCIDRs[{i}]", cidr, m) for m in is_cidr(str(cidr))]
    if spec.get("podCIDR") and not cidrs:
        errs += [invalid("spec.podCIDR", spec["podCIDR"], m) for m in is_cidr(str(spec["podCIDR"]))]
    elif cidrs and spec.get("podCIDR") and spec["podCIDR"] != cidrs[0]:
        errs.append(invalid("spec.podCIDR", spec["podCIDR"], "must match the first entry of spec.podCIDRs"))
    if len(cidrs) > 1 and not errs:
        families = {ipaddress.ip_network(str(c), strict=False).version for c in cidrs}
        if len(cidrs) > 2 or len(families) != 2:
            errs.append(
                invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family")
            )
        seen: set[str] = set()
        for i, cidr in enumerate(cidrs):
            if cidr in seen:
                errs.append(duplicate(f"spec.podCIDRs[{i}]", cidr))
            seen.add(str(cidr))
    return errs


def validate_node_update(node: Obj, old: Obj) -> list[Cause]:
    errs = validate_node(node)
    old_cidrs = as_list(as_dict(old.get("spec")).get("podCIDRs"))
    new_cidrs = as_list(as_dict(node.get("spec")).get("podCIDRs"))
    if old_cidrs and new_cidrs != old_cidrs:
        errs.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
    old_provider = as_dict(old.get("spec")).get("providerID")
    if old_provider and as_dict(node.get("spec")).get("providerID") != old_provider:
        errs.append(
            forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid')
        )
    return errs


# -- volumes ----------------------------------------------------------------------

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def _access_modes(modes: Any, path: str) -> list[Cause]:
    modes = as_list(modes)
    if not modes:
        return [required(path, "at least 1 access mode is required")]
    errs: list[Cause] = []
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported(path, mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def validate_pvc(pvc: Obj) -> list[Cause]:
    spec = as_dict(pvc.get("spec"))
    errs = _access_modes(spec.get("accessModes"), "spec.accessModes")
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errs.append(required("spec.resources[storage]"))
    else:
        problems = _quantity(requests["storage"], "spec.resources[storage]")
        errs += problems
        if not problems and parse_quantity(requests["storage"]) <= 0:
            errs.append(invalid("spec.resources[storage]", requests["storage"], "must be greater than zero"))
    errs += enum(spec.get("volumeMode"), "spec.volumeMode", ["Block", "Filesystem"])
    return errs


def validate_pvc_update(pvc: Obj, old: Obj) -> list[Cause]:
    errs = validate_pvc(pvc)
    spec, old_spec = copy.deepcopy(as_dict(pvc.get("spec"))), copy.deepcopy(as_dict(old.get("spec")))
    # Binding sets volumeName once; expansion changes the storage request.
    if not old_spec.get("volumeName"):
        old_spec.pop("volumeName", None)
        spec.pop("volumeName", None)
    for item in (spec, old_spec):
        as_dict(item.get("resources")).pop("requests", None)
        item.pop("volumeAttributesClassName", None)
    if spec != old_spec:
        errs.append(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName "
                "for bound claims",
            )
        )
    return errs


PV_SOURCES = (
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
)


def validate_pv(pv: Obj) -> list[Cause]:
    spec = as_dict(pv.get("spec"))
    errs = _access_modes(spec.get("accessModes"), "spec.accessModes")
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        errs.append(required("spec.capacity"))
    elif "storage" not in capacity:
        errs.append(not_supported("spec.capacity", list(capacity), ["storage"]))
    else:
        errs += _quantity(capacity["storage"], "spec.capacity[storage]")
    errs += enum(
        spec.get("persistentVolumeReclaimPolicy"),
        "spec.persistentVolumeReclaimPolicy",
        ["Delete", "Recycle", "Retain"],
    )
    sources = [s for s in PV_SOURCES if spec.get(s) is not None]
    if not sources:
        errs.append(required("spec", "must specify a volume type"))
    for extra in sources[1:]:
        errs.append(forbidden(f"spec.{extra}", "may not specify more than 1 volume type"))
    errs += enum(spec.get("volumeMode"), "spec.volumeMode", ["Block", "Filesystem"])
    return errs


# -- the rest of core -------------------------------------------------------------


def validate_replication_controller(rc: Obj) -> list[Cause]:
    spec = as_dict(rc.get("spec"))
    errs = non_negative(spec.get("replicas"), "spec.replicas")
    errs += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = as_dict(spec.get("selector"))
    if not selector:
        errs.append(required("spec.selector"))
    else:
        errs += validate_labels(selector, "spec.selector")
    template = spec.get("template")
    if template is None:
        errs.append(required("spec.template"))
        return errs
    labels = as_dict(as_dict(as_dict(template).get("metadata")).get("labels"))
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        errs.append(
            invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
        )
    errs += validate_pod_template(template, "spec.template")
    errs += restart_policy_always(template, "spec.template.spec.restartPolicy")
    return errs


def restart_policy_always(template: Any, path: str) -> list[Cause]:
    policy = as_dict(as_dict(template).get("spec")).get("restartPolicy")
    if policy and policy != "Always":
        return [not_supported(path, policy, ["Always"])]
    return []


def validate_service_account(sa: Obj) -> list[Cause]:
    errs: list[Cause] = []
    for i, ref in dicts(sa.get("secrets")):
        if ref.get("name"):
            errs += [
                invalid(f"secrets[{i}].name", ref["name"], m) for m in is_dns1123_subdomain(str(ref["name"]))
            ]
    return errs


def validate_endpoints(ep: Obj) -> list[Cause]:
    errs: list[Cause] = []
    for i, subset in dicts(ep.get("subsets")):
        spath = f"subsets[{i}]"
        for field in ("addresses", "notReadyAddresses"):
            for j, address in dicts(subset.get(field)):
                ip = address.get("ip")
                if not ip:
                    errs.append(required(f"{spath}.{field}[{j}].ip"))
                else:
                    errs += [invalid(f"{spath}.{field}[{j}].ip", ip, m) for m in is_ip(str(ip))]
        for j, port in dicts(subset.get("ports")):
            errs += [
                invalid(f"{spath}.ports[{j}].port", port.get("port"), m)
                for m in is_port_number(port.get("port"))
            ]
            errs += enum(port.get("protocol"), f"{spath}.ports[{j}].protocol", PROTOCOLS)
    return errs


def validate_event(event: Obj) -> list[Cause]:
    errs: list[Cause] = []
    involved = as_dict(event.get("involvedObject"))
    namespace = as_dict(event.get("metadata")).get("namespace")
    if involved.get("namespace") and namespace and involved["namespace"] != namespace:
        errs.append(
            invalid("involvedObject.namespace", involved["namespace"], "does not match event.namespace")
        )
    errs += enum(event.get("type"), "type", ["Normal", "Warning"])
    return errs


def validate_limit_range(lr: Obj) -> list[Cause]:
    errs: list[Cause] = []
    for i, limit in dicts(as_dict(lr.get("spec")).get("limits")):
        lpath = f"spec.limits[{i}]"
        if not limit.get("type"):
            errs.append(required(f"{lpath}.type"))
        for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            for name, value in as_dict(limit.get(field)).items():
                errs += _quantity(value, f"{lpath}.{field}[{name}]")
    return errs


def validate_resource_quota(quota: Obj) -> list[Cause]:
    errs: list[Cause] = []
    for name, value in as_dict(as_dict(quota.get("spec")).get("hard")).items():
        errs += _quantity(value, f"spec.hard[{name}]")
    return errs


def validate_status_meta(obj: Obj, old: Obj) -> list[Cause]:
    return validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
