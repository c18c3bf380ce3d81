"""Endpoints: one ``v1/Endpoints`` per Service with a selector, listing the pods behind it.

A sync of Service ``ns/name`` reads the Service and its namespace's pods from the caches:

- no Service → its Endpoints are deleted; a Service without a selector → left alone (the
  Endpoints belong to whoever wrote them);
- each selected pod that is not finished, has an IP of the Service's first family and is not
  being deleted gives one address (``targetRef``, ``nodeName``, and ``hostname`` when the pod's
  hostname+subdomain name this Service) with the Service's ports resolved on that pod (a named
  targetPort looks up the container port of that name and protocol; a pod without it is left out
  of that port).  Ready pods go to ``addresses``, others to ``notReadyAddresses`` — unless the
  Service sets ``publishNotReadyAddresses``.  A headless Service without ports still lists
  addresses;
- addresses are repacked into subsets by identical port sets, everything sorted, so the same
  world always gives the same object;
- more than 1000 addresses are cut to 1000 (ready ones first) and annotated
  ``endpoints.kubernetes.io/over-capacity: truncated``;
- the Endpoints carry the Service's labels (plus ``service.kubernetes.io/headless`` for headless
  Services) and ``endpoints.kubernetes.io/last-change-trigger-time``; nothing is written when
  subsets, labels and the capacity annotation already match.
"""

from __future__ import annotations

import copy
import logging

from kubeling.api.errors import StatusError
from kubeling.client.store import BY_NAMESPACE, Obj, key_of
from kubeling.controllers import endpointutil as eu
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.podutil import is_ready
from kubeling.controllers.resources import ENDPOINTS, PODS, SERVICES

log = logging.getLogger(__name__)

MAX_CAPACITY = 1000
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"

PortSet = tuple[tuple[str, int, str, str], ...]  # sorted (name, port, protocol, appProtocol)
AddressMap = dict[tuple[str, str], Obj]  # (ip, pod uid) → EndpointAddress


def endpoint_address(pod: Obj, service: Obj, ip: str) -> Obj:
    address: Obj = {"ip": ip, "targetRef": eu.target_ref(pod)}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        address["nodeName"] = node
    hostname = eu.hostname_for(pod, service)
    if hostname:
        address["hostname"] = hostname
    return address


def _address_key(address: Obj) -> tuple[str, str]:
    return (address["ip"], (address.get("targetRef") or {}).get("uid", ""))


def build_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The Service's subsets from its selected pods, repacked by port set and sorted."""
    spec = service.get("spec") or {}
    family = eu.service_families(service)[0]
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    has_ports = bool(spec.get("ports"))
    # port set → (ready addresses, not-ready addresses), keyed by (ip, uid) to drop duplicates
    groups: dict[PortSet, tuple[AddressMap, AddressMap]] = {}
    for pod in pods:
        if not eu.should_include(pod, include_terminating=False):
            continue
        ip = eu.pod_ip_for_family(pod, family)
        if ip is None:
            continue
        if has_ports:
            ports = eu.endpoint_ports(pod, service)
            if not ports:
                continue
        elif eu.is_headless(service):
            ports = []
        else:
            continue
        key = tuple(sorted(eu.port_key(p) for p in ports))
        ready, not_ready = groups.setdefault(key, ({}, {}))
        address = endpoint_address(pod, service, ip)
        (ready if publish_all or is_ready(pod) else not_ready)[_address_key(address)] = address
    subsets = []
    for key in sorted(groups):
        ready, not_ready = groups[key]
        subset: Obj = {}
        if ready:
            subset["addresses"] = [ready[k] for k in sorted(ready)]
        if not_ready:
            subset["notReadyAddresses"] = [not_ready[k] for k in sorted(not_ready)]
        if key:
            subset["ports"] = [_port(k) for k in key]
        subsets.append(subset)
    return subsets


def _port(key: tuple[str, int, str, str]) -> Obj:
    name, number, protocol, app_protocol = key
    port: Obj = {"port": number, "protocol": protocol}
    if name:
        port["name"] = name
    if app_protocol:
        port["appProtocol"] = app_protocol
    return port


def address_count(subsets: list[Obj]) -> int:
    return sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)


def truncate(subsets: list[Obj], limit: int = MAX_CAPACITY) -> list[Obj]:
    """At most ``limit`` addresses: ready ones first, each subset in order."""
    room = limit
    result = [copy.copy(s) for s in subsets]
    for field in ("addresses", "notReadyAddresses"):
        for subset in result:
            kept = (subset.get(field) or [])[: max(room, 0)]
            room -= len(kept)
            if kept:
                subset[field] = kept
            else:
                subset.pop(field, None)
    return [s for s in result if s.get("addresses") or s.get("notReadyAddresses")]


def desired_labels(service: Obj) -> dict[str, str]:
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    if eu.is_headless(service):
        labels[eu.HEADLESS_LABEL] = ""
    else:
        labels.pop(eu.HEADLESS_LABEL, None)
    return labels


class EndpointsController(Controller):
    name = "endpoints-controller"
    service_account = "endpoint-controller"
    workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.watch(SERVICES)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._pod_changed,
            on_update=lambda old, new: (self._pod_changed(old), self._pod_changed(new)),
            on_delete=self._pod_changed,
        )
        self.endpoints = self.informer(ENDPOINTS)
        self.endpoints.add_event_handler(on_delete=self._endpoints_deleted)

    def _pod_changed(self, pod: Obj) -> None:
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        for service in eu.services_selecting(pod, self.services.store.by_index(BY_NAMESPACE, namespace)):
            self.enqueue(service)

    def _endpoints_deleted(self, endpoints: Obj) -> None:
        key = key_of(endpoints)
        if key in self.services.store:
            self.queue.add(key)  # the Service is still there: put its Endpoints back

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        current = self.endpoints.store.get(key)
        if service is None:
            if current is not None:
                try:
                    await self.client.delete(ENDPOINTS, name=name, namespace=namespace)
                except StatusError as exc:
                    if exc.code != 404:
                        raise
            return
        if eu.selector_of(service) is None:
            return
        pods = eu.selected_pods(service, self.pods.store.by_index(BY_NAMESPACE, namespace))
        subsets = build_subsets(service, pods)
        over = address_count(subsets) > MAX_CAPACITY
        if over:
            subsets = truncate(subsets)
        labels = desired_labels(service)
        annotations = dict(((current or {}).get("metadata") or {}).get("annotations") or {})
        if current is not None and (
            (current.get("subsets") or []) == subsets
            and (current["metadata"].get("labels") or {}) == labels
            and (annotations.get(OVER_CAPACITY_ANNOTATION) == "truncated") == over
        ):
            return
        stamp = eu.trigger_time(service, pods)
        if stamp:
            annotations[eu.TRIGGER_TIME_ANNOTATION] = stamp
        else:
            annotations.pop(eu.TRIGGER_TIME_ANNOTATION, None)
        if over:
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        body: Obj = (
            copy.deepcopy(current)
            if current is not None
            else {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace},
            }
        )
        body["metadata"]["labels"] = labels
        body["metadata"]["annotations"] = annotations
        body["subsets"] = subsets
        if not subsets:
            body.pop("subsets")
        try:
            if current is None:
                await self.client.create(ENDPOINTS, body, namespace=namespace)
            else:
                await self.client.update(ENDPOINTS, body, namespace=namespace)
        except StatusError as exc:
            if exc.code == 403 and current is None and "terminat" in exc.message.lower():
                return  # the namespace is going away: nothing to create in it
            raise  # 409: a stale cache or a lost create race; the retry sees the newer object
        log.debug("endpoints %s: %d addresses", key, address_count(subsets))
