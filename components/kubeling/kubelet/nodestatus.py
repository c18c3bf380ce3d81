"""The Node this kubelet runs: registration, status (every 10 s) and its Lease.

Facts about the machine come from the host (``/proc/meminfo``, CPU count,
``/etc/os-release``, ``/etc/machine-id``, the boot id, the root-dir
filesystem, the default-route interface's address) and from the runtime
(version, images, RuntimeReady/NetworkReady).  :func:`node_status` is pure
over those facts; :class:`NodeStatusManager` does the writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubeling
from kubeling.api import errors
from kubeling.kubelet import runtime as rt

log = logging.getLogger(__name__)
Obj = dict[str, Any]
KUBELET_PORT = 10250
MAX_IMAGES = 50  # upstream's nodeStatusMaxImages
MEMORY_AVAILABLE_MIN = 100 * 2**20
DISK_AVAILABLE_MIN_FRACTION = 0.10
PID_AVAILABLE_MIN_FRACTION = 0.10
KUBELET_VERSION = f"{kubeling.KUBERNETES_VERSION}-kubeling.{kubeling.__version__}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def default_route_ip() -> str:
    """The source address the kernel picks for outside traffic (no packet is sent: UDP connect only)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: a route lookup only
        return sock.getsockname()[0]
    return "127.0.0.1"


@dataclass
class MachineFacts:
    cpu: int
    memory_bytes: int
    ephemeral_bytes: int
    os_image: str
    kernel: str
    machine_id: str
    boot_id: str
    memory_available: int = 2**62  # bytes (MemAvailable)
    disk_available: int = 2**62  # bytes free on the root-dir filesystem
    pids_used: int = 0
    pid_max: int = 2**22

    @classmethod
    def probe(cls, root_dir: str) -> MachineFacts:
        meminfo = {
            line.split(":")[0]: line.split(":")[1]
            for line in _read("/proc/meminfo").splitlines()
            if ":" in line
        }
        memory_kib = int((meminfo.get("MemTotal") or "0 kB").split()[0])
        os_release = dict(line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line)
        probe_dir = root_dir if os.path.isdir(root_dir) else "/"
        disk = shutil.disk_usage(probe_dir)
        return cls(
            cpu=os.cpu_count() or 1,
            memory_bytes=memory_kib * 1024,
            ephemeral_bytes=disk.total,
            os_image=os_release.get("PRETTY_NAME", "Linux").strip('"'),
            kernel=platform.release(),
            machine_id=_read("/etc/machine-id").strip(),
            boot_id=_read("/proc/sys/kernel/random/boot_id").strip(),
            memory_available=int((meminfo.get("MemAvailable") or "0 kB").split()[0]) * 1024,
            disk_available=disk.free,
            pids_used=sum(1 for name in os.listdir("/proc") if name.isdigit()),
            pid_max=int(_read("/proc/sys/kernel/pid_max").strip() or 2**22),
        )


@dataclass
class NodeInputs:
    name: str
    node_ip: str
    max_pods: int
    facts: MachineFacts
    runtime_version: tuple[str, str]
    runtime_status: rt.RuntimeStatus
    images: list[rt.ImageInfo] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    pod_cidr: str = ""
    kubelet_port: int = KUBELET_PORT
    pressure: set[str] | None = None  # conditions the eviction manager holds up; None: default thresholds


def ready_condition(inputs: NodeInputs) -> tuple[bool, str, str]:
    """(ready, reason, message) as upstream words them."""
    status = inputs.runtime_status
    if not status.runtime_ready:
        return False, "KubeletNotReady", f"container runtime is down: {status.message}"
    if not inputs.pod_cidr:
        return False, "KubeletNotReady", "network plugin not ready: the node has no pod CIDR yet"
    if not status.network_ready:
        return (
            False,
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false "
            f"reason:{status.reason or 'NetworkPluginNotReady'} message:{status.message}",
        )
    return True, "KubeletReady", "kubelet is posting ready status"


def node_status(inputs: NodeInputs, old: Obj | None = None) -> Obj:
    facts = inputs.facts
    resources = {
        "cpu": str(facts.cpu),
        "memory": f"{facts.memory_bytes // 1024}Ki",
        "pods": str(inputs.max_pods),
        "ephemeral-storage": f"{facts.ephemeral_bytes // 1024}Ki",
    }
    now = _now()
    old_conditions = {c.get("type"): c for c in (old or {}).get("conditions") or []}

    def condition(kind: str, ok: bool, reason: str, message: str) -> Obj:
        status = "True" if ok else "False"
        previous = old_conditions.get(kind) or {}
        since = previous.get("lastTransitionTime") if previous.get("status") == status else None
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since or now,
        }

    ready, reason, message = ready_condition(inputs)
    # Pressure (status True) as upstream's default hard eviction thresholds put it: memory.available
    # < 100Mi, nodefs.available < 10 %; PIDs: fewer than 10 % left.
    memory = facts.memory_available < MEMORY_AVAILABLE_MIN
    disk = facts.disk_available < facts.ephemeral_bytes * DISK_AVAILABLE_MIN_FRACTION
    pids = facts.pid_max - facts.pids_used < facts.pid_max * PID_AVAILABLE_MIN_FRACTION
    if inputs.pressure is not None:  # the eviction manager's verdict, from the configured thresholds
        memory, disk, pids = (
            kind in inputs.pressure for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
        )
    # No route controller runs here: the kubelet itself says the pod network is up once its CNI
    # bridge serves the node's podCIDR (as network plugins that own the routes do).
    network = bool(inputs.pod_cidr) and inputs.runtime_status.network_ready
    conditions = [
        condition(
            "MemoryPressure",
            memory,
            "KubeletHasInsufficientMemory" if memory else "KubeletHasSufficientMemory",
            f"kubelet has {'insufficient' if memory else 'sufficient'} memory available",
        ),
        condition(
            "DiskPressure",
            disk,
            "KubeletHasDiskPressure" if disk else "KubeletHasNoDiskPressure",
            "kubelet has disk pressure" if disk else "kubelet has no disk pressure",
        ),
        condition(
            "PIDPressure",
            pids,
            "KubeletHasInsufficientPID" if pids else "KubeletHasSufficientPID",
            f"kubelet has {'insufficient' if pids else 'sufficient'} PID available",
        ),
        condition(
            "NetworkUnavailable",
            not network,
            "RouteCreated" if network else "NoRouteCreated",
            "the pod network (CNI bridge on the node's podCIDR) is configured"
            if network
            else "Node created without a route",
        ),
        condition("Ready", ready, reason, message),
    ]
    images = sorted(inputs.images, key=lambda i: i.size, reverse=True)[:MAX_IMAGES]
    name, version = inputs.runtime_version
    return {
        "capacity": resources,
        "allocatable": dict(resources),
        "addresses": [
            {"type": "InternalIP", "address": inputs.node_ip},
            {"type": "Hostname", "address": inputs.name},
        ],
        "conditions": conditions,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": inputs.kubelet_port}},
        "nodeInfo": {
            "machineID": facts.machine_id,
            "systemUUID": facts.machine_id,
            "bootID": facts.boot_id,
            "kernelVersion": facts.kernel,
            "osImage": facts.os_image,
            "containerRuntimeVersion": f"{name}://{version}",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": arch(),
        },
        "images": [{"names": i.tags + i.digests or [i.id], "sizeBytes": i.size} for i in images],
    }


def node_labels(name: str, extra: dict[str, str]) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch(),
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": arch(),
        **extra,
    }


def comparable(status: Obj) -> Obj:
    out = dict(status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k not in ("lastHeartbeatTime",)}
        for c in status.get("conditions") or []
    ]
    return out


class NodeStatusManager:
    """Registers the Node, keeps its status current and renews its Lease."""

    def __init__(
        self,
        client: Any,
        *,
        nodes: Any,
        leases: Any,
        runtime: rt.Runtime,
        name: str,
        node_ip: str,
        max_pods: int,
        root_dir: str,
        labels: dict[str, str],
        taints: list[dict[str, str]],
        update_frequency: float = 10.0,
        lease_duration: int = 40,
        report_frequency: float = 60.0,
        on_pod_cidr: Callable[[str], Any] | None = None,
        pressure: Callable[[], set[str]] | None = None,
    ) -> None:
        self.pressure = pressure
        self.client = client
        self.nodes_resource = nodes
        self.leases_resource = leases
        self.runtime = runtime
        self.name = name
        self.node_ip = node_ip or default_route_ip()
        self.max_pods = max_pods
        self.root_dir = root_dir
        self.labels = node_labels(name, labels)
        self.taints = taints
        self.update_frequency = update_frequency
        self.lease_duration = lease_duration
        self.report_frequency = report_frequency
        self.on_pod_cidr = on_pod_cidr
        self.pod_cidr = ""
        self.kubelet_port = KUBELET_PORT  # the server's real port, once it listens
        self.allocatable: dict[str, str] = {}
        self._sent: Obj | None = None
        self._sent_at = 0.0

    async def inputs(self) -> NodeInputs:
        facts = await asyncio.to_thread(MachineFacts.probe, self.root_dir)
        try:
            version = await self.runtime.version()
            status = await self.runtime.status()
            images = await self.runtime.list_images()
        except rt.RuntimeFailure as exc:
            version, status, images = ("unknown", ""), rt.RuntimeStatus(False, False, "", str(exc)), []
        return NodeInputs(
            name=self.name,
            node_ip=self.node_ip,
            max_pods=self.max_pods,
            facts=facts,
            runtime_version=version,
            runtime_status=status,
            images=images,
            labels=self.labels,
            pod_cidr=self.pod_cidr,
            kubelet_port=self.kubelet_port,
            pressure=self.pressure() if self.pressure is not None else None,
        )

    async def register(self) -> Obj:
        """Create the Node (or adopt the existing one), then write its status."""
        inputs = await self.inputs()
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": {"taints": self.taints} if self.taints else {},
        }
        try:
            node = await self.client.create(self.nodes_resource, body)
        except errors.StatusError as exc:
            if exc.code != 409:
                raise
            node = await self.client.get(self.nodes_resource, name=self.name)
            missing = {
                k: v for k, v in self.labels.items() if (node["metadata"].get("labels") or {}).get(k) != v
            }
            if missing:
                node = await self.client.patch(
                    self.nodes_resource, {"metadata": {"labels": missing}}, name=self.name
                )
        await self._observe_cidr(node)
        await self._write(node, node_status(inputs, node.get("status")))
        return node

    async def _observe_cidr(self, node: Obj) -> None:
        cidr = (node.get("spec") or {}).get("podCIDR") or ""
        if cidr and cidr != self.pod_cidr:
            await self.runtime.update_pod_cidr(cidr)
            self.pod_cidr = cidr
            log.info("node %s: pod CIDR %s", self.name, cidr)

    async def _write(self, node: Obj, status: Obj) -> None:
        await self.client.patch(self.nodes_resource, {"status": status}, name=self.name, subresource="status")
        self._sent = comparable(status)
        self._sent_at = asyncio.get_running_loop().time()
        self.allocatable = dict(status["allocatable"])

    async def update(self) -> None:
        """One status round: pick up the podCIDR, write status when it changed or every report_frequency."""
        node = await self.client.get(self.nodes_resource, name=self.name)
        await self._observe_cidr(node)
        status = node_status(await self.inputs(), node.get("status"))
        stale = asyncio.get_running_loop().time() - self._sent_at >= self.report_frequency
        if stale or comparable(status) != self._sent:
            await self._write(node, status)

    async def renew_lease(self) -> None:
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": self.lease_duration,
            "renewTime": _micro_now(),
        }
        try:
            lease = await self.client.get(self.leases_resource, namespace="kube-node-lease", name=self.name)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.name,
                    "namespace": "kube-node-lease",
                    "ownerReferences": await self._node_owner(),
                },
                "spec": spec,
            }
            await self.client.create(self.leases_resource, body, namespace="kube-node-lease")
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        await self.client.update(self.leases_resource, lease, namespace="kube-node-lease", name=self.name)

    async def _node_owner(self) -> list[Obj]:
        with contextlib.suppress(errors.StatusError):
            node = await self.client.get(self.nodes_resource, name=self.name)
            return [{"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": node["metadata"]["uid"]}]
        return []

    async def run(self) -> None:
        """Status every update_frequency, lease every 10 s; failures are logged and retried."""
        next_lease = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_lease:
                    await self.renew_lease()
                    next_lease = loop.time() + 10.0
                await self.update()
            except (errors.StatusError, OSError, rt.RuntimeFailure) as exc:
                log.warning("node %s: status/lease update failed: %s", self.name, exc)
            await asyncio.sleep(min(self.update_frequency, max(0.1, next_lease - loop.time())))
