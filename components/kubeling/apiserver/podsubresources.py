"""Pod subresources that need more than the generic store: eviction, and the
checks that precede streaming (log, exec, attach, portforward).

Streaming itself is proxied to the pod's kubelet; until a pod has a running
container, upstream answers with a 400 that says why, and so do we.
Eviction is a delete guarded by PodDisruptionBudgets: it is refused with 429
while the budget allows no disruption, as upstream does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubeling.api import errors, selectors
from kubeling.apiserver.objects import Obj, now_rfc3339
from kubeling.apiserver.store import DeleteOptions, ResourceStore, WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

STREAMING = ("log", "exec", "attach", "portforward")


def check_streamable(pod: Obj, subresource: str, container: str | None) -> None:
    """Raise the 400 upstream gives before it would contact the kubelet."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    phase = status.get("phase", "")
    if subresource in ("exec", "attach") and phase in ("Succeeded", "Failed"):
        raise errors.bad_request(
            f"cannot {subresource} into a container in a completed pod; current phase is {phase}"
        )
    if subresource == "portforward":
        if not spec.get("nodeName"):
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        raise errors.bad_request(f"pod {name} is not running; its phase is {phase or 'Pending'}")
    containers = [c.get("name") for c in spec.get("containers") or []]
    all_names = containers + [c.get("name") for c in spec.get("initContainers") or []]
    all_names += [c.get("name") for c in spec.get("ephemeralContainers") or []]
    if not container:
        if len(containers) != 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, "
                f"choose one of: [{' '.join(map(str, containers))}]"
            )
        container = containers[0]
    if container not in all_names:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    statuses: list[dict[str, Any]] = []
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        statuses += status.get(key) or []
    state = next((s.get("state") or {} for s in statuses if s.get("name") == container), None)
    if not state or "waiting" in state:
        reason = ((state or {}).get("waiting") or {}).get("reason", "ContainerCreating")
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    raise errors.StatusError(
        503, "ServiceUnavailable", f'the kubelet of node "{spec.get("nodeName", "")}" is not reachable'
    )


async def evict(
    server: APIServer, store: ResourceStore, namespace: str, name: str, body: Any, ctx: WriteContext
) -> web.Response:
    from kubeling.apiserver.handlers import respond  # circular at import time

    if not isinstance(body, dict):
        raise errors.bad_request("the eviction must be an object")
    if (body.get("metadata") or {}).get("name") not in (None, "", name):
        raise errors.bad_request("name in URL does not match name in Eviction object")
    pod = await store.get(namespace, name)
    options = DeleteOptions.from_body(body.get("deleteOptions"), {})
    phase = (pod.get("status") or {}).get("phase")
    if phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
        await _take_budget(server, pod, ctx)
    await store.delete(namespace, name, options, ctx)
    return respond(
        None,
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        status=201,
    )


async def _take_budget(server: APIServer, pod: Obj, ctx: WriteContext) -> None:
    namespace = pod["metadata"]["namespace"]
    budgets = server.store("policy", "v1", "poddisruptionbudgets")
    items, _, _, _ = await budgets.list(namespace, matches=None)
    labels = pod["metadata"].get("labels") or {}
    matching = [
        b
        for b in items
        if (b.get("spec") or {}).get("selector") is not None
        and selectors.label_selector_from_dict(b["spec"]["selector"]).matches(labels)
    ]
    if not matching:
        return
    if len(matching) > 1:
        # Upstream answers 500 here; a refusal the client can retry is kinder and never a server error.
        raise errors.too_many_requests(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
        )
    budget = matching[0]
    budget_name = budget["metadata"]["name"]

    def take(current: Obj) -> Obj:
        status = current.get("status") or {}
        if status.get("observedGeneration", 0) < current["metadata"].get("generation", 0):
            raise _refuse(budget_name, "the disruption budget has not been processed by the controller yet")
        if int(status.get("disruptionsAllowed", 0)) <= 0:
            raise _refuse(budget_name, "Cannot evict pod as it would violate the pod's disruption budget.")
        status["disruptionsAllowed"] = int(status["disruptionsAllowed"]) - 1
        status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now_rfc3339()
        current["status"] = status
        current["metadata"]["resourceVersion"] = ""
        return current

    status_ctx = WriteContext(
        user=ctx.user,
        groups=ctx.groups,
        dry_run=ctx.dry_run,
        field_manager=ctx.field_manager,
        subresource="status",
    )
    await budgets.guaranteed_update(namespace, budget_name, take, status_ctx)


def _refuse(budget: str, message: str) -> errors.StatusError:
    error = errors.too_many_requests(message)
    error.details = {
        "causes": [
            {
                "reason": "DisruptionBudget",
                "message": f"The disruption budget {budget} needs more healthy pods to allow this.",
            }
        ]
    }
    return error
