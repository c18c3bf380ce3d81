"""EndpointSlices: the pods behind each Service with a selector, in ``discovery.k8s.io/v1`` slices.

A sync of Service ``ns/name`` computes the desired endpoints (one per selected pod that is not
finished and has an IP; terminating pods included) for each of the Service's IP families: the
pod's address of that family, conditions ``ready`` (serving and not terminating, or always with
``publishNotReadyAddresses``), ``serving`` (the pod is Ready) and ``terminating``, ``nodeName``,
``zone`` from the Node's ``topology.kubernetes.io/zone`` label, ``hostname`` when the pod's
hostname+subdomain name the Service, and the pod as ``targetRef``.  Endpoints are grouped by
address type and by the set of ports the pod resolves (named targetPorts looked up in the pod's
containers), since a slice has one address type and one port list.

The reconciler (simpler than upstream's, same guarantees): within each group,

1. every existing slice of that group keeps the endpoints it has that are still desired (each
   address once: a duplicate elsewhere is dropped), updated to their desired content;
2. the desired endpoints not placed yet fill the slices with room, fullest first;
3. what is still left goes into new slices of at most ``--max-endpoints-per-slice`` (100);
4. slices left empty, and slices of groups no longer desired, are deleted — except that a
   Service always keeps one slice (an empty placeholder of its primary family) as upstream.

Every desired endpoint thus lands in exactly one slice, existing endpoints move only when their
slice is deleted, and a slice is written only when its content changes.  Slices we wrote are
remembered with their resourceVersion; while the cache has not caught up with them, a sync waits
(requeues) instead of acting on the stale view, so it never duplicates a slice.

Slices carry the Service's labels plus ``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``, ``generateName:
<service>-`` and a controller ownerReference to the Service.  When the Service is gone its slices
are deleted here too (upstream leaves that to the garbage collector; both may run).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

from kubeling.api.errors import StatusError
from kubeling.client.store import BY_NAMESPACE, Obj
from kubeling.controllers import endpointutil as eu
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.ownership import new_controller_ref
from kubeling.controllers.podutil import is_ready
from kubeling.controllers.resources import ENDPOINTSLICES, NODES, PODS, SERVICES

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
BY_SERVICE = "endpointslice:by_service"
STALE_WAIT = 0.2  # seconds between looks while the cache catches up with our writes
STALE_GIVE_UP = 10.0  # a write never seen for this long (deleted by someone): stop waiting for it

PortsKey = tuple[tuple[str, int, str, str], ...]
GroupKey = tuple[str, PortsKey]  # (addressType, ports)


def slice_service_index(endpoint_slice: Obj) -> list[str]:
    meta = endpoint_slice.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME or not labels.get(SERVICE_NAME_LABEL):
        return []
    return [f"{meta.get('namespace')}/{labels[SERVICE_NAME_LABEL]}"]


def endpoint_for(pod: Obj, service: Obj, ip: str, nodes: dict[str, Obj]) -> Obj:
    serving = is_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: Obj = {
        "addresses": [ip],
        "conditions": {
            "ready": publish or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
    }
    hostname = eu.hostname_for(pod, service)
    if hostname:
        endpoint["hostname"] = hostname
    endpoint["targetRef"] = eu.target_ref(pod)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
        zone = (((nodes.get(node_name) or {}).get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
        if zone:
            endpoint["zone"] = zone
    return endpoint


def desired_groups(service: Obj, pods: list[Obj], nodes: dict[str, Obj]) -> dict[GroupKey, list[Obj]]:
    groups: dict[GroupKey, list[Obj]] = {}
    for family in eu.service_families(service):
        for pod in pods:
            if not eu.should_include(pod, include_terminating=True):
                continue
            ip = eu.pod_ip_for_family(pod, family)
            if ip is None:
                continue
            ports: PortsKey = tuple(eu.port_key(p) for p in eu.endpoint_ports(pod, service))
            groups.setdefault((family, ports), []).append(endpoint_for(pod, service, ip, nodes))
    return groups


def group_of(endpoint_slice: Obj) -> GroupKey:
    ports = tuple(eu.port_key(p) for p in endpoint_slice.get("ports") or [])
    return (endpoint_slice.get("addressType", ""), ports)


def endpoint_key(endpoint: Obj) -> str:
    return (endpoint.get("addresses") or [""])[0]


@dataclass
class Plan:
    create: list[tuple[GroupKey, list[Obj]]] = field(default_factory=list)
    update: list[tuple[Obj, list[Obj]]] = field(default_factory=list)  # (existing slice, its endpoints)
    delete: list[Obj] = field(default_factory=list)


def _sorted(endpoints: list[Obj]) -> list[Obj]:
    return sorted(endpoints, key=endpoint_key)


def plan(existing: list[Obj], desired: dict[GroupKey, list[Obj]], primary: str, max_per_slice: int) -> Plan:
    """What to create, update and delete so that ``desired`` is spread over slices (see module doc)."""
    result = Plan()
    kept: dict[str, list[Obj]] = {}  # slice name → endpoints it will hold
    by_name = {s["metadata"]["name"]: s for s in existing}
    for group, endpoints in desired.items():
        wanted = {endpoint_key(e): e for e in _sorted(endpoints)}
        slices = sorted((s for s in existing if group_of(s) == group), key=lambda s: s["metadata"]["name"])
        placed: set[str] = set()
        for endpoint_slice in slices:
            keep: list[Obj] = []
            for endpoint in endpoint_slice.get("endpoints") or []:
                key = endpoint_key(endpoint)
                if key in wanted and key not in placed and len(keep) < max_per_slice:
                    keep.append(wanted[key])
                    placed.add(key)
            kept[endpoint_slice["metadata"]["name"]] = keep
        leftovers = [e for k, e in wanted.items() if k not in placed]
        for endpoint_slice in sorted(slices, key=lambda s: -len(kept[s["metadata"]["name"]])):
            holds = kept[endpoint_slice["metadata"]["name"]]
            room = max_per_slice - len(holds)
            if room > 0 and leftovers:
                holds += leftovers[:room]
                leftovers = leftovers[room:]
        for start in range(0, len(leftovers), max_per_slice):
            result.create.append((group, leftovers[start : start + max_per_slice]))
    for name, endpoint_slice in sorted(by_name.items()):
        endpoints = kept.get(name)
        if not endpoints:
            result.delete.append(endpoint_slice)
        elif _sorted(endpoints) != _sorted(endpoint_slice.get("endpoints") or []):
            result.update.append((endpoint_slice, _sorted(endpoints)))
        else:
            result.update.append((endpoint_slice, endpoint_slice.get("endpoints") or []))  # labels may differ
    if not result.create and len(result.delete) == len(existing):
        # Keep one slice for the Service: an existing one of the primary family, emptied, or a new one.
        placeholder = next((s for s in result.delete if s.get("addressType") == primary), None)
        if placeholder is not None:
            result.delete.remove(placeholder)
            result.update.append((placeholder, []))
        else:
            result.create.append(((primary, ()), []))
    return result


def desired_labels(service: Obj) -> dict[str, str]:
    labels = {
        k: v
        for k, v in ((service.get("metadata") or {}).get("labels") or {}).items()
        if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, eu.HEADLESS_LABEL)
    }
    labels[SERVICE_NAME_LABEL] = service["metadata"]["name"]
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    if eu.is_headless(service):
        labels[eu.HEADLESS_LABEL] = ""
    return labels


def slice_ports(group: GroupKey) -> list[Obj]:
    ports = []
    for name, number, protocol, app_protocol in group[1]:
        port: Obj = {"name": name, "port": number, "protocol": protocol}
        if app_protocol:
            port["appProtocol"] = app_protocol
        ports.append(port)
    return ports


class EndpointSliceController(Controller):
    name = "endpointslice-controller"
    service_account = "endpointslice-controller"
    workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.max_per_slice = self.options.max_endpoints_per_slice
        self.services = self.watch(SERVICES)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._pod_changed,
            on_update=lambda old, new: (self._pod_changed(old), self._pod_changed(new)),
            on_delete=self._pod_changed,
        )
        self.slices = self.informer(ENDPOINTSLICES, indexers={BY_SERVICE: slice_service_index})
        self.slices.add_event_handler(
            on_add=self._slice_changed,
            on_update=lambda _old, new: self._slice_changed(new),
            on_delete=self._slice_changed,
        )
        self.nodes = self.informer(NODES)
        self._written: dict[str, dict[str, tuple[int | None, float]]] = {}  # svc → slice → (rv, when)

    def _pod_changed(self, pod: Obj) -> None:
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        for service in eu.services_selecting(pod, self.services.store.by_index(BY_NAMESPACE, namespace)):
            self.enqueue(service)

    def _slice_changed(self, endpoint_slice: Obj) -> None:
        for key in slice_service_index(endpoint_slice):
            self.queue.add(key)

    # -- stale-cache guard --------------------------------------------------------

    def _remember(self, service_key: str, name: str, rv: int | None) -> None:
        self._written.setdefault(service_key, {})[name] = (rv, self.clock.now())

    def _cache_behind(self, service_key: str, namespace: str) -> bool:
        pending = self._written.get(service_key)
        if not pending:
            return False
        now = self.clock.now()
        for name, (rv, when) in list(pending.items()):
            cached = self.slices.store.get_by(name=name, namespace=namespace)
            # A delete is seen when the slice is gone, a write when the cache holds that version.
            caught_up = cached is None if rv is None else cached is not None and _rv(cached) >= rv
            if caught_up or now - when > STALE_GIVE_UP:
                del pending[name]
        if not pending:
            del self._written[service_key]
        return bool(pending)

    # -- sync -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        if self._cache_behind(key, namespace):
            return STALE_WAIT
        existing = self.slices.store.by_index(BY_SERVICE, key)
        service = self.services.store.get(key)
        if service is None:
            for endpoint_slice in existing:
                await self._delete(key, endpoint_slice)
            return None
        if eu.selector_of(service) is None:
            return None
        existing = [s for s in existing if not s["metadata"].get("deletionTimestamp")]
        owned = [s for s in existing if _owned_by(s, service)]
        for endpoint_slice in existing:
            if not _owned_by(endpoint_slice, service):
                await self._delete(key, endpoint_slice)  # left by a deleted namesake of this Service
        pods = eu.selected_pods(service, self.pods.store.by_index(BY_NAMESPACE, namespace))
        nodes = {n["metadata"]["name"]: n for n in self.nodes.store.list()}
        desired = desired_groups(service, pods, nodes)
        primary = eu.service_families(service)[0]
        todo = plan(owned, desired, primary, self.max_per_slice)
        labels = desired_labels(service)
        for endpoint_slice in todo.delete:
            await self._delete(key, endpoint_slice)
        for endpoint_slice, endpoints in todo.update:
            meta = endpoint_slice["metadata"]
            ports = endpoint_slice.get("ports") or [] if endpoints else []  # an emptied placeholder has none
            same = endpoints == (endpoint_slice.get("endpoints") or []) and ports == (
                endpoint_slice.get("ports") or []
            )
            if same and meta.get("labels") == labels:
                continue
            body = copy.deepcopy(endpoint_slice)
            body["metadata"]["labels"] = labels
            body["endpoints"] = endpoints
            body["ports"] = ports
            written = await self.client.update(ENDPOINTSLICES, body, namespace=namespace)
            self._remember(key, meta["name"], _rv(written))
        for group, endpoints in todo.create:
            body = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "generateName": f"{name[:57]}-",
                    "namespace": namespace,
                    "labels": labels,
                    "ownerReferences": [new_controller_ref(service, api_version="v1", kind="Service")],
                },
                "addressType": group[0],
                "endpoints": endpoints,
                "ports": slice_ports(group),
            }
            try:
                written = await self.client.create(ENDPOINTSLICES, body, namespace=namespace)
            except StatusError as exc:
                if exc.code == 403 and "terminat" in exc.message.lower():
                    return None  # the namespace is going away
                raise
            self._remember(key, written["metadata"]["name"], _rv(written))
        return None

    async def _delete(self, service_key: str, endpoint_slice: Obj) -> None:
        meta = endpoint_slice["metadata"]
        try:
            await self.client.delete(ENDPOINTSLICES, name=meta["name"], namespace=meta["namespace"])
        except StatusError as exc:
            if exc.code != 404:
                raise
        self._remember(service_key, meta["name"], None)


def _rv(obj: Obj) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def _owned_by(endpoint_slice: Obj, service: Obj) -> bool:
    refs = endpoint_slice["metadata"].get("ownerReferences") or []
    return any(r.get("uid") == service["metadata"]["uid"] for r in refs)
