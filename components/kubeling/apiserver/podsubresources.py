"""Pod subresources that need more than the generic store: eviction, and the
checks that precede streaming (log, exec, attach, portforward).

Streaming itself is proxied to the pod's kubelet (:mod:`kubeletproxy`); until a
pod has a running container, upstream answers with a 400 that says why, and so do we.
Eviction is a delete guarded by PodDisruptionBudgets, with upstream's rules:
finished, Pending and terminating pods go without asking a budget; a pod that
is not Ready may go without spending the budget (always under
``unhealthyPodEvictionPolicy: AlwaysAllow``, under the default
``IfHealthyBudget`` only while currentHealthy >= desiredHealthy > 0), pinned
to the resourceVersion that was judged; any other pod takes one of the
budget's ``disruptionsAllowed`` or is refused with 429.  Every evicted pod
first gets the ``DisruptionTarget`` condition (reason EvictionByEvictionAPI).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubeling.api import errors, selectors
from kubeling.apiserver.objects import Obj, now_rfc3339
from kubeling.apiserver.store import DeleteOptions, ResourceStore, WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

STREAMING = ("log", "exec", "attach", "portforward")


def check_streamable(pod: Obj, subresource: str, container: str | None) -> str:
    """Raise the 400 upstream gives before it would contact the kubelet; else the container meant."""
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
        if phase != "Running":
            raise errors.bad_request(f"pod {name} is not running; its phase is {phase or 'Pending'}")
        return ""
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
    return container


async def evict(
    server: APIServer, store: ResourceStore, namespace: str, name: str, body: Any, ctx: WriteContext
) -> web.Response:
    from kubeling.apiserver.handlers import respond  # circular at import time

    if not isinstance(body, dict):
        raise errors.bad_request("the eviction must be an object")
    if (body.get("metadata") or {}).get("name") not in (None, "", name):
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = DeleteOptions.from_body(body.get("deleteOptions"), {})
    pod = await _evict_without_budget(store, namespace, name, options, ctx)
    if pod is not None:
        budget = await _matching_budget(server, pod)
        budget_name = budget["metadata"]["name"] if budget is not None else ""
        unhealthy_ok = budget is not None and _may_evict_unhealthy(pod, budget)
        if budget is not None and not unhealthy_ok:
            await _take_budget(server, pod, budget_name, ctx)
        delete_options = options
        if unhealthy_ok:
            # The budget was skipped because the pod is not Ready: it must not turn Ready meanwhile.
            delete_options = replace(options, precondition_rv=pod["metadata"]["resourceVersion"])
        try:
            await _mark_and_delete(store, namespace, name, delete_options, ctx)
        except errors.StatusError as exc:
            if exc.code == 409 and unhealthy_ok and not options.precondition_rv:
                raise _still_processing(budget_name) from None
            raise
    return respond(
        None,
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        status=201,
    )


async def _evict_without_budget(
    store: ResourceStore, namespace: str, name: str, options: DeleteOptions, ctx: WriteContext
) -> Obj | None:
    """Delete a pod no budget guards (finished, Pending or already terminating); else return it."""
    for _ in range(_CONFLICT_RETRIES):
        pod = await store.get(namespace, name)
        phase = (pod.get("status") or {}).get("phase")
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        if phase not in ("Succeeded", "Failed", "Pending") and not terminating:
            return pod
        delete_options = options
        if phase == "Pending" and not terminating and not options.precondition_rv:
            # A Pending pod may start running meanwhile; then its budget applies.
            delete_options = replace(options, precondition_rv=pod["metadata"]["resourceVersion"])
        try:
            await _mark_and_delete(store, namespace, name, delete_options, ctx)
        except errors.StatusError as exc:
            if exc.code == 409 and not options.precondition_rv:
                continue
            raise
        return None
    raise errors.conflict("", "pods", name, "the pod kept changing while it was being evicted")


async def _mark_and_delete(
    store: ResourceStore, namespace: str, name: str, options: DeleteOptions, ctx: WriteContext
) -> None:
    """Add DisruptionTarget (EvictionByEvictionAPI) to the pod, then delete it, as upstream."""
    if not ctx.dry_run:

        def mark(current: Obj) -> Obj:
            meta = current["metadata"]
            if options.precondition_uid and options.precondition_uid != meta.get("uid"):
                raise errors.conflict(
                    "",
                    "pods",
                    name,
                    f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                    f"UID in object meta: {meta.get('uid')}",
                )
            if options.precondition_rv and options.precondition_rv != meta.get("resourceVersion"):
                raise errors.conflict(
                    "",
                    "pods",
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {options.precondition_rv}, "
                    f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
                )
            status = current.setdefault("status", {})
            status["conditions"] = _with_condition(status.get("conditions") or [], _DISRUPTION_TARGET)
            meta["resourceVersion"] = ""
            return current

        marked, _ = await store.guaranteed_update(namespace, name, mark, _sub_context(ctx, "status"))
        if options.precondition_rv:
            # Our own write moved the version the caller (or we) pinned.
            options = replace(options, precondition_rv=marked["metadata"]["resourceVersion"])
    await store.delete(namespace, name, options, ctx)


_DISRUPTION_TARGET = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "EvictionByEvictionAPI",
    "message": "Eviction API: evicting",
}


def _with_condition(conditions: list[Obj], wanted: Obj) -> list[Obj]:
    """Set one condition; its transition time moves only when its status does."""
    old = next((c for c in conditions if c.get("type") == wanted["type"]), None)
    merged = {**wanted, "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
    if old is not None and old.get("status") == wanted["status"]:
        merged["lastTransitionTime"] = old.get("lastTransitionTime")
    if old is None:
        return [*conditions, merged]
    return [merged if c is old else c for c in conditions]


def _is_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _may_evict_unhealthy(pod: Obj, budget: Obj) -> bool:
    """An unready pod does not count as healthy, so evicting it may skip the budget."""
    if _is_ready(pod):
        return False
    if (budget.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    # IfHealthyBudget (the default): only while the application itself is not disrupted.
    status = budget.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired > 0


async def _matching_budget(server: APIServer, pod: Obj) -> Obj | None:
    namespace = pod["metadata"]["namespace"]
    budgets = server.store("policy", "v1", "poddisruptionbudgets")
    items, _, _, _ = await budgets.list(namespace, matches=None)
    labels = pod["metadata"].get("labels") or {}
    matching = [b for b in items if _selects(b, labels)]
    if len(matching) > 1:
        # Upstream answers 500 here; a refusal the client can retry is kinder and never a server error.
        raise errors.too_many_requests(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
        )
    return matching[0] if matching else None


def _selects(budget: Obj, labels: dict[str, str]) -> bool:
    selector = (budget.get("spec") or {}).get("selector")
    # A nil or empty selector matches no pod here, unlike elsewhere.
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return selectors.label_selector_from_dict(selector).matches(labels)


async def _take_budget(server: APIServer, pod: Obj, budget_name: str, ctx: WriteContext) -> None:
    namespace = pod["metadata"]["namespace"]
    budgets = server.store("policy", "v1", "poddisruptionbudgets")

    def take(current: Obj) -> Obj:
        status = current.get("status") or {}
        if status.get("observedGeneration", 0) < current["metadata"].get("generation", 0):
            raise _still_processing(budget_name)
        allowed = int(status.get("disruptionsAllowed", 0))
        if allowed < 0:
            raise _budget_forbidden(budget_name, "pdb disruptions allowed is negative")
        if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
            raise _budget_forbidden(
                budget_name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
            )
        if allowed == 0:
            needs = (
                f"The disruption budget {budget_name} needs {int(status.get('desiredHealthy', 0))} "
                f"healthy pods and has {int(status.get('currentHealthy', 0))} currently"
            )
            raise _refuse(needs, retry_after=0)
        status["disruptionsAllowed"] = allowed - 1
        if allowed == 1:
            _insufficient_pods(status)
        status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now_rfc3339()
        current["status"] = status
        current["metadata"]["resourceVersion"] = ""
        return current

    await budgets.guaranteed_update(namespace, budget_name, take, _sub_context(ctx, "status"))


def _insufficient_pods(status: Obj) -> None:
    """The budget's DisruptionAllowed condition once the last disruption is taken."""
    conditions = status.get("conditions") or []
    wanted = {
        "type": "DisruptionAllowed",
        "status": "False",
        "reason": "InsufficientPods",
        "message": "",
        "observedGeneration": status.get("observedGeneration", 0),
    }
    old = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    time = old.get("lastTransitionTime") if old and old.get("status") == "False" else now_rfc3339()
    merged = {**wanted, "lastTransitionTime": time}
    status["conditions"] = [c for c in conditions if c is not old] + [merged]


def _sub_context(ctx: WriteContext, subresource: str) -> WriteContext:
    return WriteContext(
        user=ctx.user,
        groups=ctx.groups,
        dry_run=ctx.dry_run,
        field_manager=ctx.field_manager,
        subresource=subresource,
    )


# Upstream's cap on evictions the disruption controller has not confirmed yet.
MAX_DISRUPTED_PODS = 2000
_CONFLICT_RETRIES = 5
_VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."


def _still_processing(budget: str) -> errors.StatusError:
    return _refuse(f"The disruption budget {budget} is still being processed by the server.", retry_after=10)


def _refuse(cause: str, *, retry_after: int) -> errors.StatusError:
    error = errors.too_many_requests(_VIOLATES)
    error.details = {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
    error.headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if retry_after:
        error.details["retryAfterSeconds"] = retry_after
    return error


def _budget_forbidden(budget: str, why: str) -> errors.StatusError:
    error = errors.forbidden(f'poddisruptionbudget.policy "{budget}" is forbidden: {why}')
    error.details = {"name": budget, "group": "policy", "kind": "poddisruptionbudget"}
    return error
