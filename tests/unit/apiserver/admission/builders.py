"""Builders and fakes for the admission tests: an in-memory Lister and quota charger."""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal

from kubeling.api.resources import Registry, Resource
from kubeling.apiserver.admission.common import format_quantity, resource_list
from kubeling.apiserver.admission.interface import Attributes

REGISTRY = Registry()


def resource(plural: str, group: str = "") -> Resource:
    version = {"": "v1", "apps": "v1", "storage.k8s.io": "v1"}[group]
    found = REGISTRY.get(group, version, plural)
    assert found is not None, (group, plural)
    return found


def attrs(
    plural: str,
    name: str,
    *,
    namespace: str = "ns",
    operation: str = "CREATE",
    group: str = "",
    subresource: str = "",
    dry_run: bool = False,
) -> Attributes:
    return Attributes(
        operation=operation,
        resource=resource(plural, group),
        subresource=subresource,
        namespace=namespace,
        name=name,
        user="alice",
        groups=("system:authenticated",),
        dry_run=dry_run,
    )


def container(name: str = "app", requests: dict | None = None, limits: dict | None = None, **extra) -> dict:
    resources: dict = {}
    if requests:
        resources["requests"] = dict(requests)
    if limits:
        resources["limits"] = dict(limits)
    return {"name": name, "image": "busybox", "resources": resources, **extra}


def make_pod(name: str = "web", *containers: dict, namespace: str = "ns", **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": list(containers) or [container()], **spec},
    }


def make_namespace(name: str, *, phase: str = "Active", labels: dict | None = None) -> dict:
    metadata: dict = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata, "status": {"phase": phase}}


def make_quota(name: str, hard: dict, *, namespace: str = "ns", used: dict | None = None, **spec) -> dict:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hard": dict(hard), **spec},
    }
    if used is not None:
        quota["status"] = {"hard": dict(hard), "used": dict(used)}
    return quota


class FakeLister:
    """Objects by (group, plural); namespaced lookups filter on metadata.namespace."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], list[dict]] = {}

    def add(self, group: str, plural: str, obj: dict) -> dict:
        self.objects.setdefault((group, plural), []).append(obj)
        return obj

    def list(self, group: str, plural: str, namespace: str = "") -> list[dict]:
        items = self.objects.get((group, plural), [])
        return [
            copy.deepcopy(o) for o in items if not namespace or o["metadata"].get("namespace") == namespace
        ]

    def get(self, group: str, plural: str, namespace: str, name: str) -> dict | None:
        for obj in self.objects.get((group, plural), []):
            meta = obj["metadata"]
            if meta["name"] == name and (meta.get("namespace") or "") == namespace:
                return copy.deepcopy(obj)
        return None


class FakeCharger:
    """The apiserver's charge: an atomic check-and-add on a quota's status.used.

    The awaits between reading and deciding let concurrent requests interleave
    the way they would around a storage round trip; the lock makes each
    charge atomic, as a guaranteed update is.
    """

    def __init__(self, lister: FakeLister) -> None:
        self.lister = lister
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self._lock = asyncio.Lock()

    async def __call__(self, namespace: str, quota_name: str, delta: dict[str, str]) -> bool:
        self.calls.append((namespace, quota_name, dict(delta)))
        await asyncio.sleep(0)
        async with self._lock:
            quota = next(
                q
                for q in self.lister.objects[("", "resourcequotas")]
                if q["metadata"]["name"] == quota_name and q["metadata"]["namespace"] == namespace
            )
            hard = resource_list(quota["spec"]["hard"])
            status = quota.setdefault("status", {})
            used = resource_list(status.get("used"))
            change = resource_list(delta)
            for name, value in change.items():
                if value > 0 and used.get(name, Decimal(0)) + value > hard[name]:
                    return False
            for name, value in change.items():
                used[name] = used.get(name, Decimal(0)) + value
            status["used"] = {name: format_quantity(value, name) for name, value in used.items()}
            return True
