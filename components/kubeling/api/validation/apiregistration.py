"""Validation of ``apiregistration.k8s.io`` APIServices (upstream's kube-aggregator rules).

The name must be ``<spec.version>.<spec.group>``; only ``v1`` may have an
empty group; priorities are bounded (groupPriorityMinimum 1..20000,
versionPriority 1..1000).  A Local APIService (no ``spec.service``) may carry
neither a caBundle nor insecureSkipTLSVerify; a service-backed one needs a
namespace, a name and a valid port, and cannot both pin a CA and skip
verification.
"""

from __future__ import annotations

from typing import Any

from kubeling.api.errors import Cause
from kubeling.api.validation.common import (
    as_dict,
    invalid,
    is_dns1035_label,
    is_dns1123_subdomain,
    is_int,
    is_port_number,
    required,
)

Obj = dict[str, Any]


def api_service_name(name: str) -> list[str]:
    """The name rule without the spec: it must at least look like version.group."""
    if "." not in name:
        return ["must be in the form: version.group"]
    return []


def validate_api_service(apiservice: Obj) -> list[Cause]:
    spec = as_dict(apiservice.get("spec"))
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    errs: list[Cause] = []
    name = str(as_dict(apiservice.get("metadata")).get("name") or "")
    wanted = f"{version}.{group}"
    if name and "." in name and name != wanted:
        errs.append(invalid("metadata.name", name, f'must be `spec.version+"."+spec.group`: "{wanted}"'))
    if not group and version != "v1":
        errs.append(required("spec.group", "only v1 may have an empty group and it better be legacy kube"))
    if group:
        errs += [invalid("spec.group", group, msg) for msg in is_dns1123_subdomain(group)]
    errs += [invalid("spec.version", version, msg) for msg in is_dns1035_label(version)]
    group_priority = spec.get("groupPriorityMinimum")
    if not is_int(group_priority) or not 0 < group_priority <= 20000:
        errs.append(
            invalid("spec.groupPriorityMinimum", group_priority or 0, "must be positive and less than 20000")
        )
    version_priority = spec.get("versionPriority")
    if not is_int(version_priority) or not 0 < version_priority <= 1000:
        errs.append(
            invalid("spec.versionPriority", version_priority or 0, "must be positive and less than 1000")
        )
    ca_bundle = spec.get("caBundle") or ""
    insecure = spec.get("insecureSkipTLSVerify") is True
    service = spec.get("service")
    if service is None:
        if ca_bundle:
            errs.append(
                invalid(
                    "spec.caBundle", f"{len(ca_bundle)} bytes", "local APIServices may not have a caBundle"
                )
            )
        if insecure:
            errs.append(
                invalid(
                    "spec.insecureSkipTLSVerify", True, "local APIServices may not have insecureSkipTLSVerify"
                )
            )
        return errs
    service = as_dict(service)
    if not service.get("namespace"):
        errs.append(required("spec.service.namespace"))
    if not service.get("name"):
        errs.append(required("spec.service.name"))
    port = service.get("port", 443)
    port_errors = is_port_number(port)
    if port_errors:
        errs.append(invalid("spec.service.port", port, "port is not valid: " + ", ".join(port_errors)))
    if insecure and ca_bundle:
        errs.append(invalid("spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present"))
    return errs
