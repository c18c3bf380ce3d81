"""Hollow nodes: a kubelet without containers.

A hollow node registers its Node (Ready, with capacity), renews its Lease in
``kube-node-lease`` and reports every pod bound to it as Running with a fake
IP from its pod CIDR — so schedulers and controllers can be exercised against
hundreds of nodes on one machine.  A pod annotated
``hollow.kubeling.io/exit-code`` finishes instead (Succeeded for "0", else
Failed), which is how tests make Jobs complete.  Pods marked for deletion are
deleted for good, as a kubelet does once their containers have stopped.

Pods arrive through an informer filtered on ``spec.nodeName``; handlers only
enqueue keys, and one worker syncs each key from the informer's store.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kubeling
from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.client.informer import Informer
from kubeling.client.rest import RESTClient
from kubeling.client.workqueue import WorkQueue

log = logging.getLogger(__name__)

EXIT_CODE_ANNOTATION = "hollow.kubeling.io/exit-code"
_REGISTRY = Registry()
NODES = _REGISTRY.get("", "v1", "nodes")
PODS = _REGISTRY.get("", "v1", "pods")
LEASES = _REGISTRY.get("coordination.k8s.io", "v1", "leases")
Obj = dict[str, Any]
_PRESSURES = (
    ("MemoryPressure", "SufficientMemory"),
    ("DiskPressure", "NoDiskPressure"),
    ("PIDPressure", "SufficientPID"),
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class HollowNodeConfig:
    name: str
    pod_cidr: str = "10.244.0.0/24"
    node_ip: str = "10.0.0.1"
    cpu: str = "4"
    memory: str = "16Gi"
    max_pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    lease_duration_seconds: int = 40
    renew_interval: float = 10.0


class HollowNode:
    def __init__(self, client: RESTClient, config: HollowNodeConfig) -> None:
        self.client = client
        self.config = config
        network = ipaddress.ip_network(config.pod_cidr, strict=False)
        self._free_ips = (str(ip) for ip in network.hosts())
        self._pod_ips: dict[str, str] = {}
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={config.name}")
        self.queue: WorkQueue[str] = WorkQueue(name=f"hollow-{config.name}")
        self.pods.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new), on_delete=self._forget
        )
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        await self.register()
        await self.renew_lease()
        self._tasks = [
            asyncio.create_task(self.pods.run(), name=f"{self.config.name}-pods"),
            asyncio.create_task(self._lease_loop(), name=f"{self.config.name}-lease"),
            asyncio.create_task(self._worker(), name=f"{self.config.name}-worker"),
        ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def stop(self) -> None:
        self.pods.stop()
        self.queue.shut_down()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- node and lease ----------------------------------------------------------

    def node_object(self) -> Obj:
        cfg = self.config
        arch = platform.machine().replace("x86_64", "amd64").replace("aarch64", "arm64")
        resources = {
            "cpu": cfg.cpu,
            "memory": cfg.memory,
            "pods": str(cfg.max_pods),
            "ephemeral-storage": "100Gi",
        }
        now = _now()
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": cfg.name,
                "labels": {
                    "kubernetes.io/hostname": cfg.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": arch,
                    **cfg.labels,
                },
            },
            "spec": {"podCIDR": cfg.pod_cidr, "podCIDRs": [cfg.pod_cidr]},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "addresses": [
                    {"type": "InternalIP", "address": cfg.node_ip},
                    {"type": "Hostname", "address": cfg.name},
                ],
                "conditions": [
                    {
                        "type": kind,
                        "status": "False",
                        "reason": f"KubeletHas{reason}",
                        "message": "hollow node",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                    for kind, reason in (
                        ("MemoryPressure", "SufficientMemory"),
                        ("DiskPressure", "NoDiskPressure"),
                        ("PIDPressure", "SufficientPID"),
                    )
                ]
                + [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "hollow kubelet is posting ready status",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                ],
                "nodeInfo": {
                    "kubeletVersion": kubeling.KUBERNETES_VERSION,
                    "kubeProxyVersion": "",
                    "containerRuntimeVersion": "hollow://0",
                    "osImage": "hollow",
                    "kernelVersion": "",
                    "operatingSystem": "linux",
                    "architecture": arch,
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            },
        }

    async def register(self) -> None:
        node = self.node_object()
        try:
            created = await self.client.create(NODES, node)
        except errors.StatusError as exc:
            if exc.code != 409:
                raise
            created = await self.client.get(NODES, name=self.config.name)
        # A Node's status is its own endpoint: write it there (create may have dropped it).
        created["status"] = node["status"]
        await self.client.update(NODES, created, name=self.config.name, subresource="status")

    async def renew_lease(self) -> None:
        name = self.config.name
        spec = {
            "holderIdentity": name,
            "leaseDurationSeconds": self.config.lease_duration_seconds,
            "renewTime": _micro_now(),
        }
        try:
            lease = await self.client.get(LEASES, namespace="kube-node-lease", name=name)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": spec,
            }
            await self.client.create(LEASES, body, namespace="kube-node-lease")
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        await self.client.update(LEASES, lease, namespace="kube-node-lease", name=name)

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.renew_interval)
            try:
                await self.renew_lease()
            except (errors.StatusError, OSError) as exc:
                log.warning("hollow node %s: lease renewal failed: %s", self.config.name, exc)

    # -- pods ---------------------------------------------------------------------

    def _enqueue(self, pod: Obj) -> None:
        meta = pod["metadata"]
        self.queue.add(f"{meta['namespace']}/{meta['name']}")

    def _forget(self, pod: Obj) -> None:
        self._pod_ips.pop(pod["metadata"].get("uid", ""), None)

    async def _worker(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                await self.sync_pod(key)
                self.queue.forget(key)
            except (errors.StatusError, OSError) as exc:
                log.info("hollow node %s: retrying %s: %s", self.config.name, key, exc)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def sync_pod(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        pod = self.pods.store.get(key)
        if pod is None:
            return
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            # Nothing runs, so termination is instant: confirm the deletion.
            with contextlib.suppress(errors.StatusError):
                await self.client.delete(
                    PODS,
                    namespace=namespace,
                    name=name,
                    grace_period_seconds=0,
                    preconditions={"uid": meta["uid"]},
                )
            return
        wanted = self._status(pod)
        if (pod.get("status") or {}).get("phase") == wanted["phase"]:
            return
        updated = {**pod, "status": {**(pod.get("status") or {}), **wanted}}
        await self.client.update(PODS, updated, namespace=namespace, name=name, subresource="status")

    def _status(self, pod: Obj) -> Obj:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta.get("uid", "")
        ip = self._pod_ips.get(uid)
        if ip is None:
            ip = self.config.node_ip if spec.get("hostNetwork") else next(self._free_ips, self.config.node_ip)
            self._pod_ips[uid] = ip
        now = _now()
        exit_code = (meta.get("annotations") or {}).get(EXIT_CODE_ANNOTATION)
        finished = exit_code is not None
        phase = ("Succeeded" if exit_code == "0" else "Failed") if finished else "Running"
        ready = "False" if finished else "True"
        states = []
        for container in spec.get("containers") or []:
            if finished:
                code = int(exit_code) if exit_code.lstrip("-").isdigit() else 1
                reason = "Completed" if code == 0 else "Error"
                state: Obj = {
                    "terminated": {"exitCode": code, "reason": reason, "startedAt": now, "finishedAt": now}
                }
            else:
                state = {"running": {"startedAt": now}}
            states.append(
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "containerID": f"hollow://{uid}/{container['name']}",
                    "ready": not finished,
                    "started": not finished,
                    "restartCount": 0,
                    "state": state,
                }
            )
        conditions = [
            {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
            for kind, status in (
                ("PodReadyToStartContainers", "True"),
                ("Initialized", "True"),
                ("Ready", ready),
                ("ContainersReady", ready),
                ("PodScheduled", "True"),
            )
        ]
        return {
            "phase": phase,
            "hostIP": self.config.node_ip,
            "hostIPs": [{"ip": self.config.node_ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "conditions": conditions,
            "containerStatuses": states,
        }
