"""The HorizontalPodAutoscaler controller: replicas of a scale target follow its metrics.

Every HPA (autoscaling/v2) is synced every ``horizontal_pod_autoscaler_sync_period``
seconds (upstream's ``--horizontal-pod-autoscaler-sync-period``, 15 s;
``options.extra``) and whenever it changes.  A sync, as upstream's
``reconcileAutoscaler``:

1. reads the target's ``scale`` subresource (AbleToScale False/FailedGetScale
   when it can't; True/SucceededGetScale otherwise);
2. a target at zero replicas with minReplicas > 0 is left alone
   (ScalingActive False/ScalingDisabled); outside [minReplicas,
   maxReplicas] it is brought to the nearest bound; otherwise
3. each metric proposes a replica count (the largest wins): ``Resource`` and
   ``ContainerResource`` metrics read ``metrics.k8s.io/v1beta1`` PodMetrics
   of the pods the scale's selector picks (Utilization against requests, or
   AverageValue).  Custom, Object and External metrics need APIs kubeling
   does not serve, so they fail like a missing metrics API: ScalingActive
   False with the metric's ``FailedGet*Metric`` reason and Warning events;
   nothing is scaled;
4. the proposal is stabilized and rate-limited: without ``spec.behavior`` the
   legacy rules (5-minute scale-down window, scale-up at most
   max(2*current, 4)); with it, the scaleUp/scaleDown stabilization windows
   (scale-down defaulting to 300 s) and Pods/Percent policies over the
   controller's remembered scale events (AbleToScale and ScalingLimited
   conditions say which rule decided);
5. a change is written to the scale subresource (SuccessfulRescale event,
   lastScaleTime), and the status — currentReplicas, desiredReplicas,
   currentMetrics, conditions — is written when it differs.

The replica arithmetic (:func:`utilization_replicas`, :func:`average_value_replicas`,
:func:`group_pods`, the stabilization and policy helpers) is pure and unit-tested.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.resources import Registry
from kubeling.api.selectors import parse_label_selector
from kubeling.api.validation.common import QuantityError, parse_quantity
from kubeling.client.paths import StaticResource
from kubeling.client.store import BY_NAMESPACE, Obj
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.resources import HORIZONTALPODAUTOSCALERS, PODS

DEFAULT_SYNC_PERIOD = 15.0
TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
CPU_INITIALIZATION_PERIOD = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
INITIAL_READINESS_DELAY = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
DOWNSCALE_STABILIZATION = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
SCALE_UP_LIMIT_FACTOR = 2
SCALE_UP_LIMIT_MINIMUM = 4
METRICS_API = "/apis/metrics.k8s.io/v1beta1"
_REGISTRY = Registry()


class MetricError(Exception):
    """A metric could not produce a proposal; the message reads like upstream's error chain."""


def _ts(text: Any) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def milli(value: Any) -> int | None:
    try:
        return math.ceil(parse_quantity(value) * 1000)
    except (QuantityError, TypeError):
        return None


def format_milli(value: int) -> str:
    return f"{value // 1000}" if value % 1000 == 0 else f"{value}m"


# -- replica math (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class PodMetric:
    value: int  # milli-units
    timestamp: float
    window: float


@dataclass
class PodGroups:
    ready: int = 0
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


def group_pods(
    pods: list[Obj],
    metrics: dict[str, PodMetric],
    resource: str,
    now: float,
    *,
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD,
    initial_readiness_delay: float = INITIAL_READINESS_DELAY,
) -> PodGroups:
    """Sort pods as upstream: deleted/failed ignored, pending or not-yet-ready unready, no metric missing."""
    groups = PodGroups()
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        name = meta.get("name", "")
        if meta.get("deletionTimestamp") or status.get("phase") == "Failed":
            groups.ignored.add(name)
            continue
        if status.get("phase") == "Pending":
            groups.unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            groups.missing.add(name)
            continue
        if resource == "cpu":
            ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
            start = _ts(status.get("startTime"))
            if ready is None or start is None:
                unready = True
            else:
                transition = _ts(ready.get("lastTransitionTime")) or 0.0
                if start + cpu_initialization_period > now:
                    # Young pods: their cpu is only trusted once a sample lies after readiness.
                    unready = ready.get("status") == "False" or metric.timestamp < transition + metric.window
                else:
                    unready = ready.get("status") == "False" and start + initial_readiness_delay > transition
            if unready:
                groups.unready.add(name)
                continue
        groups.ready += 1
    return groups


def pod_requests(pods: list[Obj], resource: str, container: str = "") -> dict[str, int]:
    """Each pod's summed container request for ``resource`` (milli); a container without one is an error."""
    out: dict[str, int] = {}
    for pod in pods:
        total = 0
        name = pod["metadata"]["name"]
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container and c.get("name") != container:
                continue
            request = milli(((c.get("resources") or {}).get("requests") or {}).get(resource))
            if request is None:
                if container:
                    continue
                raise MetricError(
                    f"missing request for {resource} in container {c.get('name', '')} of Pod {name}"
                )
            total += request
        out[name] = total
    return out


def utilization_ratio(
    metrics: dict[str, int], requests: dict[str, int], target: int
) -> tuple[float, int, int]:
    """(ratio to target, utilization %, raw average milli) over pods with both a metric and a request."""
    metrics_total = requests_total = entities = 0
    for name, value in metrics.items():
        if name not in requests:
            continue
        metrics_total += value
        requests_total += requests[name]
        entities += 1
    if requests_total == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = (metrics_total * 100) // requests_total
    return utilization / target, utilization, metrics_total // entities


def utilization_replicas(
    current: int,
    target: int,
    pods: list[Obj],
    metrics: dict[str, PodMetric],
    resource: str,
    now: float,
    *,
    container: str = "",
    tolerance: float = TOLERANCE,
) -> tuple[int, int, int]:
    """(replicas, utilization %, raw average milli) for an averageUtilization target."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now)
    values = {n: m.value for n, m in metrics.items() if n not in groups.ignored and n not in groups.unready}
    if not values:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    requests = pod_requests(pods, resource, container)
    ratio, utilization, raw = utilization_ratio(values, requests, target)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, utilization, raw
        return math.ceil(ratio * groups.ready), utilization, raw
    if groups.missing:
        if ratio < 1.0:
            fallback = max(100, target)  # on the way down, a silent pod counts as fully busy
            for name in groups.missing:
                values[name] = requests.get(name, 0) * fallback // 100
        elif ratio > 1.0:
            for name in groups.missing:
                values[name] = 0  # on the way up, as idle
    if scale_up_with_unready:
        for name in groups.unready:
            values[name] = 0
    new_ratio, _, _ = utilization_ratio(values, requests, target)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current, utilization, raw
    replicas = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, utilization, raw
    return replicas, utilization, raw


def average_value_replicas(
    current: int,
    target: int,
    pods: list[Obj],
    metrics: dict[str, PodMetric],
    resource: str,
    now: float,
    *,
    tolerance: float = TOLERANCE,
) -> tuple[int, int]:
    """(replicas, average milli) for an averageValue target (``target`` in milli-units)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now)
    values = {n: m.value for n, m in metrics.items() if n not in groups.ignored and n not in groups.unready}
    if not values:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    usage = sum(values.values()) // len(values)
    ratio = usage / target
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, usage
        return math.ceil(ratio * groups.ready), usage
    if groups.missing:
        for name in groups.missing:
            values[name] = target if ratio < 1.0 else 0
    if scale_up_with_unready:
        for name in groups.unready:
            values[name] = 0
    new_ratio = (sum(values.values()) / len(values)) / target
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current, usage
    replicas = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, usage
    return replicas, usage


# -- stabilization and rate limits (pure, over remembered history) ---------------------------


@dataclass
class Recommendation:
    replicas: int
    at: float


@dataclass
class ScaleEvent:
    change: int
    at: float
    outdated: bool = False


def default_rules(direction: str) -> dict:
    """upstream's GenerateHPAScaleUpRules / ScaleDownRules for fields a behavior leaves out."""
    if direction == "scaleUp":
        return {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        }
    return {
        "stabilizationWindowSeconds": int(DOWNSCALE_STABILIZATION),
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }


def rules(behavior: dict, direction: str) -> dict:
    given = behavior.get(direction) or {}
    merged = default_rules(direction)
    merged.update({k: v for k, v in given.items() if v is not None})
    return merged


def stabilize_legacy(history: list[Recommendation], desired: int, now: float, window: float) -> int:
    """Highest recommendation within the scale-down window (the new one recorded)."""
    recent = [r for r in history if r.at > now - window]
    history[:] = [*recent, Recommendation(desired, now)]
    return max([desired, *(r.replicas for r in recent)])


def stabilize_with_behavior(
    history: list[Recommendation],
    current: int,
    desired: int,
    now: float,
    up_window: float,
    down_window: float,
) -> tuple[int, str, str]:
    up, down = desired, desired
    for rec in history:
        if rec.at > now - up_window:
            up = min(up, rec.replicas)
        if rec.at > now - down_window:
            down = max(down, rec.replicas)
    keep = max(up_window, down_window)
    history[:] = [*(r for r in history if r.at >= now - keep), Recommendation(desired, now)]
    recommendation = min(max(current, up), down)
    if desired >= current:
        return (
            recommendation,
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent recommendation",
        )
    return (
        recommendation,
        "ScaleDownStabilized",
        "recent recommendations were higher than current one, applying the highest recent recommendation",
    )


def _changed_within(events: list[ScaleEvent], period: float, now: float) -> int:
    return sum(e.change for e in events if not e.outdated and e.at > now - period)


def scale_up_limit(
    current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rule: dict, now: float
) -> int:
    select = rule.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick = min if select == "Min" else max
    result: int | None = None
    for policy in rule.get("policies") or []:
        period = float(policy.get("periodSeconds") or 0)
        start = current - _changed_within(ups, period, now) + _changed_within(downs, period, now)
        if policy.get("type") == "Pods":
            proposed = start + int(policy.get("value") or 0)
        else:
            proposed = math.ceil(start * (1 + int(policy.get("value") or 0) / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def scale_down_limit(
    current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rule: dict, now: float
) -> int:
    select = rule.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick = max if select == "Min" else min
    result: int | None = None
    for policy in rule.get("policies") or []:
        period = float(policy.get("periodSeconds") or 0)
        start = current - _changed_within(ups, period, now) + _changed_within(downs, period, now)
        if policy.get("type") == "Pods":
            proposed = start - int(policy.get("value") or 0)
        else:
            proposed = int(start * (1 - int(policy.get("value") or 0) / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def limit_legacy(current: int, desired: int, min_replicas: int, max_replicas: int) -> tuple[int, str, str]:
    up_limit = max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM)
    if max_replicas > up_limit:
        maximum = up_limit
        reason, message = (
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate",
        )
    else:
        maximum = max_replicas
        reason, message = (
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count",
        )
    if desired < min_replicas:
        return (
            min_replicas,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        )
    if desired > maximum:
        return maximum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def limit_with_behavior(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    behavior: dict,
    ups: list[ScaleEvent],
    downs: list[ScaleEvent],
    now: float,
) -> tuple[int, str, str]:
    if desired > current:
        limit = max(scale_up_limit(current, ups, downs, rules(behavior, "scaleUp"), now), current)
        if max_replicas > limit:
            maximum = limit
            reason = "ScaleUpLimit"
            message = "the desired replica count is increasing faster than the maximum scale rate"
        else:
            maximum = max_replicas
            reason, message = (
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        if desired > maximum:
            return maximum, reason, message
    elif desired < current:
        limit = min(scale_down_limit(current, ups, downs, rules(behavior, "scaleDown"), now), current)
        if min_replicas < limit:
            minimum = limit
            reason = "ScaleDownLimit"
            message = "the desired replica count is decreasing faster than the maximum scale rate"
        else:
            minimum = min_replicas
            reason, message = (
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        if desired < minimum:
            return minimum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def record_scale_event(
    behavior: dict | None,
    ups: list[ScaleEvent],
    downs: list[ScaleEvent],
    current: int,
    desired: int,
    now: float,
) -> None:
    """Remember a rescale for the policies; events older than the longest policy period go stale."""
    if behavior is None or desired == current:
        return
    direction, events = ("scaleUp", ups) if desired > current else ("scaleDown", downs)
    periods = [float(p.get("periodSeconds") or 0) for p in rules(behavior, direction).get("policies") or []]
    longest = max(periods, default=0.0)
    for event in events:
        if event.at < now - longest:
            event.outdated = True
    events[:] = [e for e in events if not e.outdated]
    events.append(ScaleEvent(abs(desired - current), now))


# -- conditions -----------------------------------------------------------------------


def set_condition(status: dict, kind: str, value: str, reason: str, message: str, now: float) -> None:
    conditions = status.setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") == kind:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = _rfc3339(now)
            cond.update(status=value, reason=reason, message=message)
            return
    conditions.append(
        {
            "type": kind,
            "status": value,
            "lastTransitionTime": _rfc3339(now),
            "reason": reason,
            "message": message,
        }
    )


# -- the controller ---------------------------------------------------------------------


@dataclass
class _History:
    recommendations: list[Recommendation] = field(default_factory=list)
    ups: list[ScaleEvent] = field(default_factory=list)
    downs: list[ScaleEvent] = field(default_factory=list)


_FAILED_REASONS = {
    "Pods": "FailedGetPodsMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
    "ContainerResource": "FailedGetContainerResourceMetric",
    "Resource": "FailedGetResourceMetric",
}


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler-controller"
    service_account = "horizontal-pod-autoscaler"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sync_period = float(
            self.options.extra.get("horizontal_pod_autoscaler_sync_period", DEFAULT_SYNC_PERIOD)
        )
        self.hpas = self.informer(HORIZONTALPODAUTOSCALERS)
        self.hpas.add_event_handler(
            on_add=self.enqueue, on_update=self._hpa_updated, on_delete=self._hpa_deleted
        )
        self.pods = self.informer(PODS)
        self.history: dict[str, _History] = {}
        self.wall = self.options.extra.get("wall_clock") or time.time

    def _hpa_updated(self, old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec"):
            self.enqueue(new)

    def _hpa_deleted(self, hpa: Obj) -> None:
        self.history.pop(f"{hpa['metadata'].get('namespace')}/{hpa['metadata']['name']}", None)

    # -- reading the world -----------------------------------------------------------------

    async def _scale_resource(self, ref: dict) -> StaticResource:
        group, _, version = (ref.get("apiVersion") or "").rpartition("/")
        kind = ref.get("kind") or ""
        found = _REGISTRY.by_kind(group, version, kind)
        if found is not None:
            return StaticResource(found.group, found.version, found.plural)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        listing = await self.client.request("GET", path)
        for item in listing.get("resources") or []:
            if item.get("kind") == kind and "/" not in item.get("name", ""):
                return StaticResource(group, version, item["name"])
        raise StatusError(404, "NotFound", f'no matches for kind "{kind}" in group "{group}"')

    async def _pod_metrics(
        self, namespace: str, selector: str, resource: str, container: str
    ) -> dict[str, PodMetric]:
        path = f"{METRICS_API}/namespaces/{namespace}/pods"
        try:
            listing = await self.client.request(
                "GET", path + (f"?labelSelector={_quote(selector)}" if selector else "")
            )
        except StatusError as exc:
            detail = exc.message
            if exc.code == 404:
                detail = "the server could not find the requested resource (get pods.metrics.k8s.io)"
            raise MetricError(
                f"unable to get metrics for resource {resource}: unable to fetch metrics from resource "
                f"metrics API: {detail}"
            ) from None
        out: dict[str, PodMetric] = {}
        for item in listing.get("items") or []:
            total, found = 0, False
            for c in item.get("containers") or []:
                if container and c.get("name") != container:
                    continue
                value = milli((c.get("usage") or {}).get(resource))
                if value is not None:
                    total += value
                    found = True
            if found:
                window = str(item.get("window") or "0s").removesuffix("s")
                out[item["metadata"]["name"]] = PodMetric(
                    total,
                    _ts(item.get("timestamp")) or 0.0,
                    float(window) if window.replace(".", "").isdigit() else 0.0,
                )
        if not out:
            raise MetricError(
                f"unable to get metrics for resource {resource}: "
                "no metrics returned from resource metrics API"
            )
        return out

    # -- one metric --------------------------------------------------------------------------

    async def _metric_proposal(
        self, hpa: Obj, spec: dict, current: int, selector: str, now: float
    ) -> tuple[int, str, dict]:
        kind = spec.get("type") or ""
        if kind not in ("Resource", "ContainerResource"):
            raise MetricError(
                f"unable to get {kind} metric: the custom and external metrics APIs are not served"
            )
        source = spec.get("resource" if kind == "Resource" else "containerResource") or {}
        resource = source.get("name") or ""
        container = (source.get("container") or "") if kind == "ContainerResource" else ""
        target = source.get("target") or {}
        namespace = hpa["metadata"]["namespace"]
        try:
            matcher = parse_label_selector(selector)
        except StatusError as exc:
            raise MetricError(
                f"couldn't convert selector into a corresponding internal selector object: {exc.message}"
            ) from None
        pods = [
            p for p in self.pods.store.by_index(BY_NAMESPACE, namespace)
            if matcher.matches((p.get("metadata") or {}).get("labels") or {})
        ]  # fmt: skip
        status_key = "resource" if kind == "Resource" else "containerResource"
        base = {"name": resource, **({"container": container} if container else {})}
        average = target.get("averageValue")
        utilization = target.get("averageUtilization")
        if average is None and utilization is None:
            raise MetricError(
                "invalid resource metric source: neither an average utilization target nor an average value "
                "(usage) target was set"
            )
        what = "usage" if average is not None else "utilization"
        try:
            metrics = await self._pod_metrics(namespace, selector, resource, container)
            if average is not None:
                replicas, usage = average_value_replicas(
                    current, milli(average) or 1, pods, metrics, resource, now
                )
                current_value: dict[str, Any] = {"averageValue": format_milli(usage)}
                name = f"{resource} resource"
            else:
                replicas, percent, raw = utilization_replicas(
                    current, int(utilization), pods, metrics, resource, now, container=container
                )
                current_value = {"averageUtilization": percent, "averageValue": format_milli(raw)}
                name = f"{resource} resource utilization (percentage of request)"
        except MetricError as exc:
            raise MetricError(f"failed to get {resource} {what}: {exc}") from None
        return replicas, name, {"type": kind, status_key: {**base, "current": current_value}}

    async def _metrics_replicas(
        self, hpa: Obj, status: dict, current: int, selector: str, now: float
    ) -> tuple[int, str, list[dict]] | None:
        """The largest proposal over all metrics, or None (conditions set) when they fail as upstream."""
        specs = (hpa.get("spec") or {}).get("metrics") or []
        replicas, metric_name, statuses = 0, "", []
        first: tuple[str, str] | None = None
        invalid = 0
        for spec in specs:
            try:
                proposal, name, metric_status = await self._metric_proposal(hpa, spec, current, selector, now)
            except MetricError as exc:
                kind = spec.get("type") or ""
                source = (spec.get("resource") or spec.get("containerResource") or {}).get("name") or kind
                error = (
                    f"failed to get {source} resource metric value: {exc}"
                    if kind in ("Resource", "ContainerResource")
                    else str(exc)
                )
                reason = _FAILED_REASONS.get(kind, "FailedGetResourceMetric")
                self.recorder.event(hpa, "Warning", reason, str(exc))
                if first is None:
                    first = (reason, error)
                invalid += 1
                continue
            statuses.append(metric_status)
            if replicas == 0 or proposal > replicas:
                replicas, metric_name = proposal, name
        if first is not None and (invalid >= len(specs) or replicas < current):
            reason, error = first
            set_condition(
                status,
                "ScalingActive",
                "False",
                reason,
                f"the HPA was unable to compute the replica count: {error}",
                now,
            )
            message = f"invalid metrics ({invalid} invalid out of {len(specs)}), first error is: {error}"
            self.recorder.event(hpa, "Warning", "FailedComputeMetricsReplicas", message)
            status["currentMetrics"] = statuses or None
            return None
        set_condition(
            status, "ScalingActive", "True", "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {metric_name}", now,
        )  # fmt: skip
        return replicas, metric_name, statuses

    # -- sync ----------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        hpa = self.hpas.store.get(key)
        if hpa is None:
            self.history.pop(key, None)
            return None
        namespace, _ = split_key(key)
        now = self.wall()
        spec = hpa.get("spec") or {}
        original = hpa.get("status") or {}
        status: dict[str, Any] = {k: v for k, v in original.items()}
        status["conditions"] = [dict(c) for c in original.get("conditions") or []]
        ref = spec.get("scaleTargetRef") or {}
        try:
            target = await self._scale_resource(ref)
            scale = await self.client.get(
                target, name=ref.get("name", ""), namespace=namespace, subresource="scale"
            )
        except StatusError as exc:
            message = f"the HPA controller was unable to get the target's current scale: {exc.message}"
            set_condition(status, "AbleToScale", "False", "FailedGetScale", message, now)
            self.recorder.event(hpa, "Warning", "FailedGetScale", exc.message)
            await self._write_status(hpa, original, status, namespace)
            return self.sync_period
        set_condition(
            status, "AbleToScale", "True", "SucceededGetScale",
            "the HPA controller was able to get the target's current scale", now,
        )  # fmt: skip
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        status["currentReplicas"] = int((scale.get("status") or {}).get("replicas") or 0)
        min_replicas = int(spec.get("minReplicas") or 1)
        max_replicas = int(spec.get("maxReplicas") or 0)
        behavior = spec.get("behavior")
        history = self.history.setdefault(key, _History())
        desired, reason = current, ""
        if current == 0 and min_replicas != 0:
            desired = 0
            set_condition(
                status, "ScalingActive", "False", "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero", now,
            )  # fmt: skip
        elif current > max_replicas:
            desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            selector = str((scale.get("status") or {}).get("selector") or "")
            computed = await self._metrics_replicas(hpa, status, current, selector, now)
            if computed is None:
                status.setdefault("desiredReplicas", 0)  # as upstream: unknown until a proposal exists
                await self._write_status(hpa, original, status, namespace)
                return self.sync_period
            proposal, metric_name, statuses = computed
            status["currentMetrics"] = statuses or None
            desired = self._normalize(
                status, history, behavior, current, proposal, min_replicas, max_replicas, now
            )
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
        if desired != current:
            body = {**scale, "spec": {**(scale.get("spec") or {}), "replicas": desired}}
            try:
                await self.client.update(
                    target, body, namespace=namespace, name=ref.get("name", ""), subresource="scale"
                )
            except StatusError as exc:
                self.recorder.event(
                    hpa,
                    "Warning",
                    "FailedRescale",
                    f"New size: {desired}; reason: {reason}; error: {exc.message}",
                )
                set_condition(
                    status, "AbleToScale", "False", "FailedUpdateScale",
                    f"the HPA controller was unable to update the target scale: {exc.message}", now,
                )  # fmt: skip
                await self._write_status(hpa, original, status, namespace)
                return self.sync_period
            set_condition(
                status, "AbleToScale", "True", "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}", now,
            )  # fmt: skip
            self.recorder.event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            record_scale_event(behavior, history.ups, history.downs, current, desired, now)
            status["lastScaleTime"] = _rfc3339(now)
        status["desiredReplicas"] = desired
        await self._write_status(hpa, original, status, namespace)
        return self.sync_period

    def _normalize(
        self,
        status: dict,
        history: _History,
        behavior: dict | None,
        current: int,
        proposal: int,
        min_replicas: int,
        max_replicas: int,
        now: float,
    ) -> int:
        if behavior is None:
            window = float(
                self.options.extra.get(
                    "horizontal_pod_autoscaler_downscale_stabilization", DOWNSCALE_STABILIZATION
                )
            )
            stabilized = stabilize_legacy(history.recommendations, proposal, now, window)
            if stabilized != proposal:
                message = (
                    "recent recommendations were higher than current one, "
                    "applying the highest recent recommendation"
                )
                set_condition(status, "AbleToScale", "True", "ScaleDownStabilized", message, now)
            else:
                set_condition(
                    status,
                    "AbleToScale",
                    "True",
                    "ReadyForNewScale",
                    "recommended size matches current size",
                    now,
                )
            desired, reason, message = limit_legacy(current, stabilized, min_replicas, max_replicas)
        else:
            up_window = float(rules(behavior, "scaleUp")["stabilizationWindowSeconds"])
            down_window = float(rules(behavior, "scaleDown")["stabilizationWindowSeconds"])
            stabilized, why, text = stabilize_with_behavior(
                history.recommendations, current, proposal, now, up_window, down_window
            )
            if stabilized != proposal:
                set_condition(status, "AbleToScale", "True", why, text, now)
            else:
                set_condition(
                    status,
                    "AbleToScale",
                    "True",
                    "ReadyForNewScale",
                    "recommended size matches current size",
                    now,
                )
            desired, reason, message = limit_with_behavior(
                current, stabilized, min_replicas, max_replicas, behavior, history.ups, history.downs, now
            )
        limited = "False" if desired == stabilized else "True"
        set_condition(status, "ScalingLimited", limited, reason, message, now)
        return desired

    async def _write_status(self, hpa: Obj, original: dict, status: dict, namespace: str) -> None:
        status["observedGeneration"] = hpa["metadata"].get("generation")
        status = {k: v for k, v in status.items() if v is not None}
        if status == original:
            return
        try:
            await self.client.update(
                HORIZONTALPODAUTOSCALERS, {**hpa, "status": status}, namespace=namespace, subresource="status"
            )
        except StatusError as exc:
            if exc.code != 404:
                raise


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
