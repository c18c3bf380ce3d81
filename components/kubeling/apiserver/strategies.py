"""Per-kind behaviour of the generic store (upstream's "strategies").

The base :class:`Strategy` runs defaulting and validation and applies the
spec/status split; subclasses add what one kind needs: pods start Pending and
terminate gracefully, Services get a clusterIP and nodePorts, Jobs get a
generated selector, Namespaces go Terminating instead of vanishing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubeling.api import errors
from kubeling.api.resources import Resource
from kubeling.apiserver.allocators import (
    AlreadyAllocatedError,
    NodePortAllocator,
    OutOfRangeError,
    RangeFullError,
    ServiceIPAllocator,
)
from kubeling.apiserver.objects import Obj

if TYPE_CHECKING:
    from kubeling.apiserver.store import WriteContext


@dataclass(frozen=True)
class Checks:
    """Defaulting and validation functions (kubeling.api.defaults / validation)."""

    apply_defaults: Callable[[Resource, Obj], None]
    validate: Callable[[Resource, Obj, Obj | None], list[errors.Cause]]
    validate_status: Callable[[Resource, Obj, Obj], list[errors.Cause]]
    validate_custom: Callable[[Resource, Obj], list[errors.Cause]]
    prune_unknown: Callable[[Resource, Obj], None]


def _map(obj: Obj, key: str) -> Obj:
    """``obj[key]`` as a dict to fill in; a missing or null one becomes ``{}`` (as upstream decodes null)."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    elif not isinstance(value, dict):
        raise errors.bad_request(f"{key}: expected an object, got {type(value).__name__}")
    return value


def default_checks() -> Checks:
    from kubeling.api import defaults, validation

    return Checks(
        apply_defaults=defaults.apply_defaults,
        validate=validation.validate,
        validate_status=validation.validate_status,
        validate_custom=validation.validate_custom,
        prune_unknown=validation.prune_unknown,
    )


# Kinds whose status is written by the server or controllers, never on create.
_KEEP_STATUS_ON_CREATE = {("", "nodes"), ("", "namespaces"), ("", "events")}


class Strategy:
    allow_create_on_update = False
    allow_unconditional_update = True

    def __init__(self, resource: Resource, checks: Checks) -> None:
        self.resource = resource
        self.checks = checks

    @property
    def has_status(self) -> bool:
        return "status" in self.resource.subresources

    # -- create / update -----------------------------------------------------

    def prepare_for_create(self, obj: Obj, ctx: WriteContext) -> None:
        if self.has_status and (self.resource.group, self.resource.plural) not in _KEEP_STATUS_ON_CREATE:
            obj.pop("status", None)
        # Unknown fields never reach storage: upstream's decoding drops them for
        # built-ins, and structural pruning drops them for custom resources.
        if not ctx.fields_known:
            self.checks.prune_unknown(self.resource, obj)
        self.checks.apply_defaults(self.resource, obj)

    def main_update(self, current: Obj, obj: Obj) -> Obj:
        """A write of the main resource can't change the status (when it has its own endpoint)."""
        if self.has_status:
            if "status" in current:
                obj["status"] = copy.deepcopy(current["status"])
            else:
                obj.pop("status", None)
        return obj

    def status_update(self, current: Obj, obj: Obj) -> Obj:
        """A status write changes only the status (and metadata labels/annotations/finalizers)."""
        result = {k: copy.deepcopy(v) for k, v in current.items() if k not in ("status", "metadata")}
        result["metadata"] = obj["metadata"]
        if "status" in obj:
            result["status"] = obj["status"]
        return result

    def approval_update(self, current: Obj, obj: Obj) -> Obj:
        """A write of the ``approval`` subresource (CertificateSigningRequests only)."""
        return self.status_update(current, obj)

    def prepare_for_update(self, obj: Obj, old: Obj, ctx: WriteContext) -> None:
        if not ctx.fields_known:
            self.checks.prune_unknown(self.resource, obj)
        self.checks.apply_defaults(self.resource, obj)

    def validate(self, obj: Obj, old: Obj | None, ctx: WriteContext) -> None:
        if self.resource.is_custom:
            causes = self.checks.validate_custom(self.resource, obj)
            causes += self.checks.validate(self.resource, obj, old)
        elif ctx.subresource in ("status", "binding") and old is not None:
            causes = self.checks.validate_status(self.resource, obj, old)
        else:
            causes = self.checks.validate(self.resource, obj, old)
        if causes:
            name = obj.get("metadata", {}).get("name", "")
            raise errors.invalid(self.resource.group, self.resource.kind, name, causes)

    async def before_create(self, obj: Obj, ctx: WriteContext) -> None:
        """Side effects that must succeed before the object is stored (allocations)."""

    async def undo_create(self, obj: Obj) -> None:
        """Roll back before_create when the object was not stored after all."""

    # -- delete -------------------------------------------------------------

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        """Seconds the object lingers after a delete; None or 0 = delete now."""
        return None

    def deletion_finalizers(self, obj: Obj) -> list[str]:
        """Kind-specific finalizers (beyond metadata.finalizers) that keep an object."""
        return []

    def prepare_for_delete(self, obj: Obj) -> None:
        """Adjust an object that is marked for deletion but stays for now."""

    async def after_delete(self, obj: Obj) -> None:
        """Release what the object held (allocated IPs and ports)."""


class LenientStrategy(Strategy):
    """Kinds that clients write with PUT whether or not they exist yet."""

    allow_create_on_update = True


class PodStrategy(Strategy):
    def prepare_for_create(self, obj: Obj, ctx: WriteContext) -> None:
        super().prepare_for_create(obj, ctx)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        # Pods no kubelet runs (unscheduled, or finished) go at once, as upstream.
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return requested
        return int(spec.get("terminationGracePeriodSeconds", 30))


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            limit = limits.get(name)
            request = requests.get(name, limit)
            if limit is None or str(request) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class NamespaceStrategy(Strategy):
    def main_update(self, current: Obj, obj: Obj) -> Obj:
        obj = super().main_update(current, obj)
        # spec.finalizers change only through the finalize subresource.
        obj["spec"] = copy.deepcopy(current.get("spec") or {})
        return obj

    def deletion_finalizers(self, obj: Obj) -> list[str]:
        return list((obj.get("spec") or {}).get("finalizers") or [])

    def prepare_for_delete(self, obj: Obj) -> None:
        _map(obj, "status")["phase"] = "Terminating"


class JobStrategy(Strategy):
    def prepare_for_create(self, obj: Obj, ctx: WriteContext) -> None:
        spec = _map(obj, "spec")
        if not spec.get("manualSelector"):
            uid = obj["metadata"]["uid"]
            name = obj["metadata"].get("name", "")
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = _map(_map(_map(spec, "template"), "metadata"), "labels")
            labels.update(
                {
                    "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid,
                    "job-name": name,
                }
            )
        super().prepare_for_create(obj, ctx)


class ServiceStrategy(Strategy):
    def __init__(
        self, resource: Resource, checks: Checks, ips: ServiceIPAllocator, ports: NodePortAllocator
    ) -> None:
        super().__init__(resource, checks)
        self.ips = ips
        self.ports = ports

    def prepare_for_create(self, obj: Obj, ctx: WriteContext) -> None:
        super().prepare_for_create(obj, ctx)
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, obj: Obj, old: Obj, ctx: WriteContext) -> None:
        # A client that omits allocated values keeps them (upstream's patchAllocatedValues).
        spec = _map(obj, "spec")
        old_spec = old.get("spec") or {}
        if spec.get("type", "ClusterIP") != "ExternalName":
            for key in ("clusterIP", "clusterIPs"):
                if not spec.get(key) and old_spec.get(key):
                    spec[key] = copy.deepcopy(old_spec[key])
        if _needs_node_ports(spec) and _needs_node_ports(old_spec):
            old_ports = {
                (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                for p in old_spec.get("ports") or []
            }
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                    if previous:
                        port["nodePort"] = previous
        super().prepare_for_update(obj, old, ctx)

    async def before_create(self, obj: Obj, ctx: WriteContext) -> None:
        spec = _map(obj, "spec")
        kind = spec.get("type", "ClusterIP")
        allocated_ip: str | None = None
        allocated_ports: list[int] = []
        try:
            if kind != "ExternalName":
                wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
                if wanted != "None":
                    allocated_ip = await self._allocate_ip(wanted, ctx.dry_run)
                    spec["clusterIP"] = allocated_ip
                    spec["clusterIPs"] = [allocated_ip]
                else:
                    spec["clusterIP"] = "None"
                    spec["clusterIPs"] = ["None"]
            if _needs_node_ports(spec):
                for index, port in enumerate(spec.get("ports") or []):
                    value = await self._allocate_port(port.get("nodePort"), index, ctx.dry_run)
                    port["nodePort"] = value
                    allocated_ports.append(value)
        except BaseException:
            if not ctx.dry_run:
                if allocated_ip:
                    await self.ips.release(allocated_ip)
                for value in allocated_ports:
                    await self.ports.release(value)
            raise

    async def _allocate_ip(self, wanted: str | None, dry_run: bool) -> str:
        if dry_run:
            return wanted or self.ips.nth(1)
        try:
            return await self.ips.allocate(wanted or None)
        except AlreadyAllocatedError:
            message = f"failed to allocate IP {wanted}: provided IP is already allocated"
        except OutOfRangeError:
            message = (
                f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. "
                f"The range of valid IPs is {self.ips.network}"
            )
        except RangeFullError:
            raise errors.internal("failed to allocate a serviceIP: range is full") from None
        raise errors.invalid(
            "",
            "Service",
            "",
            [errors.Cause("FieldValueInvalid", f'Invalid value: ["{wanted}"]: {message}', "spec.clusterIPs")],
        )

    async def _allocate_port(self, wanted: int | None, index: int, dry_run: bool) -> int:
        if dry_run:
            return wanted or self.ports.low
        try:
            return await self.ports.allocate(wanted or None)
        except AlreadyAllocatedError:
            message = f"Invalid value: {wanted}: provided port is already allocated"
        except OutOfRangeError:
            message = (
                f"Invalid value: {wanted}: provided port is not in the valid range. "
                f"The range of valid ports is {self.ports.low}-{self.ports.high}"
            )
        except RangeFullError:
            raise errors.internal("failed to allocate a nodePort: range is full") from None
        raise errors.invalid(
            "", "Service", "", [errors.Cause("FieldValueInvalid", message, f"spec.ports[{index}].nodePort")]
        )

    async def undo_create(self, obj: Obj) -> None:
        await self.after_delete(obj)

    async def after_delete(self, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            await self.ips.release(ip)
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                await self.ports.release(int(port["nodePort"]))


def _needs_node_ports(spec: Obj) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


_LENIENT = {("", "endpoints"), ("", "events"), ("coordination.k8s.io", "leases"), ("events.k8s.io", "events")}


def strategy_for(
    resource: Resource, checks: Checks, ips: ServiceIPAllocator, ports: NodePortAllocator
) -> Strategy:
    key = (resource.group, resource.plural)
    if key == ("", "pods"):
        return PodStrategy(resource, checks)
    if key == ("", "services"):
        return ServiceStrategy(resource, checks, ips, ports)
    if key == ("", "namespaces"):
        return NamespaceStrategy(resource, checks)
    if key == ("batch", "jobs"):
        return JobStrategy(resource, checks)
    if key == ("certificates.k8s.io", "certificatesigningrequests"):
        from kubeling.apiserver.certificates import CertificateSigningRequestStrategy

        return CertificateSigningRequestStrategy(resource, checks)
    if key in _LENIENT:
        return LenientStrategy(resource, checks)
    return Strategy(resource, checks)
