"""Local APIServices for the built-in group-versions (upstream's autoregister controller).

At start the apiserver makes sure every group-version it serves itself has an
APIService with ``service: null`` ("Local"), so ``kubectl get apiservices``
lists the whole API as upstream's does.  The priorities are upstream's for the
groups it names; others get the lowest built-in ones, in discovery order.
Objects that exist already are left alone (an administrator may have changed
them); custom resources' groups are not registered here.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from kubeling.api import errors
from kubeling.apiserver.aggregator import GROUP, RESOURCE
from kubeling.apiserver.store import WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

# (group, version) -> (groupPriorityMinimum, versionPriority).
_PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("autoscaling", "v1"): (17500, 15),
    ("batch", "v1"): (17400, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
}
_FALLBACK = (16000, 15)


def local_api_service(group: str, version: str) -> dict[str, Any]:
    group_priority, version_priority = _PRIORITIES.get((group, version), _FALLBACK)
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "APIService",
        "metadata": {
            # The core group's is "v1." (empty group after the dot), as upstream names it.
            "name": f"{version}.{group}",
            "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"},
        },
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": group_priority,
            "versionPriority": version_priority,
            "service": None,
        },
    }


async def ensure_local_api_services(server: APIServer) -> None:
    store = server.store(GROUP, "v1", RESOURCE)
    ctx = WriteContext(user="system:apiserver", field_manager="kube-apiserver")
    for group, versions in server.registry.group_versions().items():
        for version in versions:
            if any(r.is_custom for r in server.registry.in_group_version(group, version)):
                continue
            with contextlib.suppress(errors.StatusError):
                await store.create("", local_api_service(group, version), ctx)
