"""Validation of the smaller API groups: coordination, discovery, events,
networking, policy, RBAC, scheduling, storage and autoscaling.

Each function follows its upstream ``pkg/apis/<group>/validation`` for the
rules that matter to the components and to clients' error handling; the
messages and field paths are upstream's.
"""

from __future__ import annotations

from typing import Any

from kubeling.api.errors import Cause
from kubeling.api.validation.apps import _int_or_percent
from kubeling.api.validation.common import (
    as_dict,
    as_list,
    dicts,
    duplicate,
    enum,
    forbidden,
    invalid,
    is_cidr,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_int,
    is_ip,
    is_path_segment_name,
    is_port_name,
    is_port_number,
    is_qualified_name,
    non_negative,
    not_supported,
    positive,
    required,
    too_many,
    validate_label_selector,
)

Obj = dict[str, Any]

# -- coordination.k8s.io ---------------------------------------------------------------


def validate_lease(lease: Obj) -> list[Cause]:
    spec = as_dict(lease.get("spec"))
    errs = positive(spec.get("leaseDurationSeconds"), "spec.leaseDurationSeconds")
    errs += non_negative(spec.get("leaseTransitions"), "spec.leaseTransitions")
    return errs


# -- discovery.k8s.io ------------------------------------------------------------------

ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"]


def validate_endpoint_slice(eps: Obj) -> list[Cause]:
    errs: list[Cause] = []
    address_type = eps.get("addressType")
    if not address_type:
        errs.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    endpoints = as_list(eps.get("endpoints"))
    if len(endpoints) > 1000:
        errs.append(too_many("endpoints", len(endpoints), 1000))
    for i, endpoint in dicts(endpoints):
        path = f"endpoints[{i}]"
        addresses = as_list(endpoint.get("addresses"))
        if not addresses:
            errs.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addresses) > 100:
            errs.append(too_many(f"{path}.addresses", len(addresses), 100))
        for j, address in enumerate(addresses):
            apath = f"{path}.addresses[{j}]"
            if address_type in ("IPv4", "IPv6"):
                problems = is_ip(str(address))
                if not problems and (":" in str(address)) != (address_type == "IPv6"):
                    problems = [f"must be an {address_type} address"]
                errs += [invalid(apath, address, m) for m in problems]
            elif address_type == "FQDN":
                errs += [invalid(apath, address, m) for m in is_dns1123_subdomain(str(address))]
        hostname = endpoint.get("hostname")
        if hostname:
            errs += [invalid(f"{path}.hostname", hostname, m) for m in is_dns1123_label(str(hostname))]
        node = endpoint.get("nodeName")
        if node:
            errs += [invalid(f"{path}.nodeName", node, m) for m in is_dns1123_subdomain(str(node))]
    names: set[str] = set()
    for i, port in dicts(eps.get("ports")):
        path = f"ports[{i}]"
        name = port.get("name") or ""
        if name:
            errs += [invalid(f"{path}.name", name, m) for m in is_dns1123_label(str(name))]
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
        if port.get("port") is not None:
            errs += [invalid(f"{path}.port", port["port"], m) for m in is_port_number(port["port"])]
        protocol = port.get("protocol")
        if protocol is not None and protocol not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(f"{path}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    return errs


def validate_endpoint_slice_update(eps: Obj, old: Obj) -> list[Cause]:
    errs = validate_endpoint_slice(eps)
    if eps.get("addressType") != old.get("addressType"):
        errs.append(invalid("addressType", eps.get("addressType"), "field is immutable"))
    return errs


# -- events.k8s.io ----------------------------------------------------------------------


def validate_events_event(event: Obj) -> list[Cause]:
    errs: list[Cause] = []
    if not event.get("eventTime"):
        errs.append(required("eventTime"))
    controller = event.get("reportingController")
    if not controller:
        errs.append(required("reportingController"))
    else:
        errs += [invalid("reportingController", controller, m) for m in is_qualified_name(str(controller))]
    for field, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128), ("note", 1024)):
        value = event.get(field)
        if field != "note" and not value:
            errs.append(required(field))
        elif isinstance(value, str) and len(value) > limit:
            errs.append(invalid(field, "", f"can have at most {limit} characters"))
    event_type = event.get("type")
    if event_type not in ("Normal", "Warning"):
        errs.append(invalid("type", event_type or "", "has invalid value: " + str(event_type or "")))
    return errs


# -- rbac.authorization.k8s.io ---------------------------------------------------------

RBAC_GROUP = "rbac.authorization.k8s.io"


def _validate_rules(rules: Any, path: str, *, namespaced: bool) -> list[Cause]:
    errs: list[Cause] = []
    for i, rule in dicts(rules):
        rpath = f"{path}[{i}]"
        if not as_list(rule.get("verbs")):
            errs.append(required(f"{rpath}.verbs", "verbs must contain at least one value"))
        urls = as_list(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                errs.append(
                    invalid(
                        f"{rpath}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"
                    )
                )
            if (
                as_list(rule.get("apiGroups"))
                or as_list(rule.get("resources"))
                or as_list(rule.get("resourceNames"))
            ):
                errs.append(
                    invalid(
                        f"{rpath}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not as_list(rule.get("apiGroups")):
            errs.append(required(f"{rpath}.apiGroups", "resource rules must supply at least one api group"))
        if not as_list(rule.get("resources")):
            errs.append(required(f"{rpath}.resources", "resource rules must supply at least one resource"))
    return errs


def validate_role(role: Obj) -> list[Cause]:
    return _validate_rules(role.get("rules"), "rules", namespaced=True)


def validate_cluster_role(role: Obj) -> list[Cause]:
    errs = _validate_rules(role.get("rules"), "rules", namespaced=False)
    aggregation = role.get("aggregationRule")
    if aggregation is not None:
        selectors = as_list(as_dict(aggregation).get("clusterRoleSelectors"))
        if not selectors:
            errs.append(
                required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                )
            )
        for i, selector in enumerate(selectors):
            errs += validate_label_selector(selector, f"aggregationRule.clusterRoleSelectors[{i}]")
    return errs


def _validate_binding(binding: Obj, *, namespaced: bool) -> list[Cause]:
    errs: list[Cause] = []
    ref = as_dict(binding.get("roleRef"))
    if ref.get("apiGroup") != RBAC_GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    else:
        errs += [invalid("roleRef.name", ref["name"], m) for m in is_path_segment_name(str(ref["name"]))]
    for i, subject in dicts(binding.get("subjects")):
        spath = f"subjects[{i}]"
        name = subject.get("name")
        if not name:
            errs.append(required(f"{spath}.name"))
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            if name:
                errs += [invalid(f"{spath}.name", name, m) for m in is_dns1123_subdomain(str(name))]
            if subject.get("apiGroup"):
                errs.append(not_supported(f"{spath}.apiGroup", subject["apiGroup"], [""]))
            if not namespaced and not subject.get("namespace"):
                errs.append(required(f"{spath}.namespace"))
        elif kind in ("User", "Group"):
            if subject.get("apiGroup") != RBAC_GROUP:
                errs.append(not_supported(f"{spath}.apiGroup", subject.get("apiGroup", ""), [RBAC_GROUP]))
        else:
            errs.append(not_supported(f"{spath}.kind", kind or "", ["ServiceAccount", "User", "Group"]))
    return errs


def validate_role_binding(binding: Obj) -> list[Cause]:
    return _validate_binding(binding, namespaced=True)


def validate_cluster_role_binding(binding: Obj) -> list[Cause]:
    return _validate_binding(binding, namespaced=False)


def validate_binding_update(binding: Obj, old: Obj) -> list[Cause]:
    namespaced = bool(as_dict(binding.get("metadata")).get("namespace"))
    errs = _validate_binding(binding, namespaced=namespaced)
    if binding.get("roleRef") != old.get("roleRef"):
        errs.append(invalid("roleRef", binding.get("roleRef"), "cannot change roleRef"))
    return errs


# -- scheduling.k8s.io -------------------------------------------------------------------

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}


def validate_priority_class(pc: Obj) -> list[Cause]:
    errs: list[Cause] = []
    name = as_dict(pc.get("metadata")).get("name") or ""
    value = pc.get("value")
    if not is_int(value):
        errs.append(invalid("value", value, "must be an integer") if value is not None else required("value"))
    elif name in SYSTEM_PRIORITY_CLASSES:
        if value != SYSTEM_PRIORITY_CLASSES[name]:
            errs.append(
                forbidden(
                    "metadata.name",
                    f"{name} is a system priority class; its value must be {SYSTEM_PRIORITY_CLASSES[name]}",
                )
            )
    elif str(name).startswith("system-"):
        errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved"))
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(
            forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}")
        )
    errs += enum(pc.get("preemptionPolicy"), "preemptionPolicy", ["Never", "PreemptLowerPriority"])
    return errs


def validate_priority_class_update(pc: Obj, old: Obj) -> list[Cause]:
    errs = validate_priority_class(pc)
    if pc.get("value") != old.get("value"):
        errs.append(forbidden("value", "may not be changed in an update."))
    if pc.get("preemptionPolicy") != old.get("preemptionPolicy"):
        errs.append(invalid("preemptionPolicy", pc.get("preemptionPolicy"), "field is immutable"))
    return errs


# -- storage.k8s.io ----------------------------------------------------------------------


def validate_storage_class(sc: Obj) -> list[Cause]:
    errs: list[Cause] = []
    provisioner = sc.get("provisioner")
    if not provisioner:
        errs.append(required("provisioner"))
    else:
        errs += [invalid("provisioner", provisioner, m) for m in is_qualified_name(str(provisioner).lower())]
    errs += enum(sc.get("reclaimPolicy"), "reclaimPolicy", ["Delete", "Retain"])
    errs += enum(sc.get("volumeBindingMode"), "volumeBindingMode", ["Immediate", "WaitForFirstConsumer"])
    params = as_dict(sc.get("parameters"))
    if len(params) > 512:
        errs.append(too_many("parameters", len(params), 512))
    return errs


def validate_storage_class_update(sc: Obj, old: Obj) -> list[Cause]:
    errs = validate_storage_class(sc)
    for field in ("parameters", "provisioner", "reclaimPolicy"):
        if sc.get(field) != old.get(field):
            errs.append(forbidden(field, f"updates to {field} are forbidden."))
    if sc.get("volumeBindingMode") != old.get("volumeBindingMode"):
        errs.append(invalid("volumeBindingMode", sc.get("volumeBindingMode"), "field is immutable"))
    return errs


# -- networking.k8s.io -------------------------------------------------------------------


def validate_ingress_class(ic: Obj) -> list[Cause]:
    controller = as_dict(ic.get("spec")).get("controller")
    if not controller:
        return [required("spec.controller")]
    if len(str(controller)) > 250:
        return [Cause("FieldValueTooLong", "Too long: may not be more than 250 bytes", "spec.controller")]
    return []


def validate_ingress_class_update(ic: Obj, old: Obj) -> list[Cause]:
    errs = validate_ingress_class(ic)
    new_controller = as_dict(ic.get("spec")).get("controller")
    if new_controller != as_dict(old.get("spec")).get("controller"):
        errs.append(invalid("spec.controller", new_controller, "field is immutable"))
    return errs


def _validate_backend(backend: Obj, path: str) -> list[Cause]:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if service is None and resource is None:
        return [invalid(path, "", "resource or service backend is required")]
    if resource is not None:
        return []
    service = as_dict(service)
    errs: list[Cause] = []
    name = service.get("name")
    if not name:
        errs.append(required(f"{path}.service.name"))
    else:
        errs += [invalid(f"{path}.service.name", name, m) for m in is_dns1035_label(str(name))]
    port = as_dict(service.get("port"))
    if port.get("name") and port.get("number"):
        errs.append(invalid(f"{path}.service.port", port, "cannot set both port name & port number"))
    elif port.get("name"):
        errs += [
            invalid(f"{path}.service.port.name", port["name"], m) for m in is_port_name(str(port["name"]))
        ]
    elif port.get("number") is not None:
        errs += [
            invalid(f"{path}.service.port.number", port["number"], m) for m in is_port_number(port["number"])
        ]
    else:
        errs.append(required(f"{path}.service.port", "port name or number is required"))
    return errs


def validate_ingress(ing: Obj) -> list[Cause]:
    spec = as_dict(ing.get("spec"))
    errs: list[Cause] = []
    rules = as_list(spec.get("rules"))
    if spec.get("defaultBackend") is None and not rules:
        errs.append(invalid("spec", [], "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errs += _validate_backend(as_dict(spec["defaultBackend"]), "spec.defaultBackend")
    for i, rule in dicts(rules):
        rpath = f"spec.rules[{i}]"
        host = rule.get("host")
        if host:
            bare = str(host)[2:] if str(host).startswith("*.") else str(host)
            errs += [invalid(f"{rpath}.host", host, m) for m in is_dns1123_subdomain(bare)]
            if is_ip(bare) == []:
                errs.append(invalid(f"{rpath}.host", host, "must be a DNS name, not an IP address"))
        http = rule.get("http")
        if http is None:
            continue
        paths = as_list(as_dict(http).get("paths"))
        if not paths:
            errs.append(required(f"{rpath}.http.paths"))
        for j, item in dicts(paths):
            ppath = f"{rpath}.http.paths[{j}]"
            path_type = item.get("pathType")
            if not path_type:
                errs.append(required(f"{ppath}.pathType", "pathType must be specified"))
            elif path_type not in ("Exact", "ImplementationSpecific", "Prefix"):
                errs.append(
                    not_supported(
                        f"{ppath}.pathType", path_type, ["Exact", "ImplementationSpecific", "Prefix"]
                    )
                )
            elif path_type in ("Exact", "Prefix") and not str(item.get("path", "")).startswith("/"):
                errs.append(invalid(f"{ppath}.path", item.get("path", ""), "must be an absolute path"))
            errs += _validate_backend(as_dict(item.get("backend")), f"{ppath}.backend")
    for i, tls in dicts(spec.get("tls")):
        for j, host in enumerate(as_list(tls.get("hosts"))):
            bare = str(host)[2:] if str(host).startswith("*.") else str(host)
            errs += [invalid(f"spec.tls[{i}].hosts[{j}]", host, m) for m in is_dns1123_subdomain(bare)]
    return errs


def validate_network_policy(np: Obj) -> list[Cause]:
    spec = as_dict(np.get("spec"))
    errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    types = as_list(spec.get("policyTypes"))
    for i, kind in enumerate(types):
        if kind not in ("Ingress", "Egress"):
            errs.append(not_supported(f"spec.policyTypes[{i}]", kind, ["Ingress", "Egress"]))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in dicts(spec.get(direction)):
            rpath = f"spec.{direction}[{i}]"
            for j, port in dicts(rule.get("ports")):
                errs += enum(port.get("protocol"), f"{rpath}.ports[{j}].protocol", ["TCP", "UDP", "SCTP"])
                if port.get("port") is not None:
                    value = port["port"]
                    problems = is_port_name(value) if isinstance(value, str) else is_port_number(value)
                    errs += [invalid(f"{rpath}.ports[{j}].port", value, m) for m in problems]
            for j, peer in dicts(rule.get(peers_key)):
                ppath = f"{rpath}.{peers_key}[{j}]"
                errs += validate_label_selector(peer.get("podSelector"), f"{ppath}.podSelector")
                errs += validate_label_selector(peer.get("namespaceSelector"), f"{ppath}.namespaceSelector")
                block = peer.get("ipBlock")
                if block is not None:
                    cidr = as_dict(block).get("cidr")
                    if not cidr:
                        errs.append(required(f"{ppath}.ipBlock.cidr"))
                    else:
                        errs += [invalid(f"{ppath}.ipBlock.cidr", cidr, m) for m in is_cidr(str(cidr))]
    return errs


# -- policy ---------------------------------------------------------------------------------


def validate_pdb(pdb: Obj) -> list[Cause]:
    spec = as_dict(pdb.get("spec"))
    errs: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for field in ("minAvailable", "maxUnavailable"):
        problems, value = _int_or_percent(spec.get(field), f"spec.{field}")
        errs += problems
        if isinstance(spec.get(field), str) and value is not None and value > 100:
            errs.append(invalid(f"spec.{field}", spec[field], "must not be greater than 100%"))
    errs += validate_label_selector(spec.get("selector"), "spec.selector")
    errs += enum(
        spec.get("unhealthyPodEvictionPolicy"),
        "spec.unhealthyPodEvictionPolicy",
        ["AlwaysAllow", "IfHealthyBudget"],
    )
    return errs


# -- autoscaling ------------------------------------------------------------------------------


def validate_hpa(hpa: Obj) -> list[Cause]:
    spec = as_dict(hpa.get("spec"))
    errs: list[Cause] = []
    ref = as_dict(spec.get("scaleTargetRef"))
    for field in ("kind", "name"):
        value = ref.get(field)
        if not value:
            errs.append(required(f"spec.scaleTargetRef.{field}"))
        elif field == "name":
            errs += [invalid("spec.scaleTargetRef.name", value, m) for m in is_path_segment_name(str(value))]
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    if low is not None and (not is_int(low) or low < 1):
        errs.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if not is_int(high) or high < 1:
        errs.append(invalid("spec.maxReplicas", high, "must be greater than 0"))
    elif is_int(low) and low > high:
        errs.append(invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"))
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None and (not is_int(target) or target < 1):
        errs.append(invalid("spec.targetCPUUtilizationPercentage", target, "must be greater than 0"))
    metric_types = ["ContainerResource", "External", "Object", "Pods", "Resource"]
    for i, metric in dicts(spec.get("metrics")):
        kind = metric.get("type")
        if not kind:
            errs.append(required(f"spec.metrics[{i}].type", "must specify a metric source type"))
        elif kind not in metric_types:
            errs.append(not_supported(f"spec.metrics[{i}].type", kind, metric_types))
    return errs
