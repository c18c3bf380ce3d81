"""The Kubelet: wiring of the node's agent.

What runs, as asyncio tasks:

- the Node status manager (register, status every 10 s, Lease);
- informers on this node's pods (``spec.nodeName=<node>``) and on Services
  (for Service environment variables); handlers only wake pod workers;
- the static pod source (polls ``--pod-manifest-path``) and mirror pods;
- a relist loop (upstream's PLEG): every second it lists the runtime's
  sandboxes and containers, and wakes the worker of every pod whose
  containers changed — and of every pod uid the runtime holds that no
  longer belongs here, whose worker then removes it;
- one worker per pod (:mod:`kubeling.kubelet.podworkers`), which admits a
  pod once before its first container starts (:mod:`kubeling.kubelet.admission`:
  resources, --max-pods, node affinity, host ports, NoExecute taints, and no
  BestEffort pods under memory pressure);
- the eviction manager (:mod:`kubeling.kubelet.eviction`): node pressure
  conditions from the eviction thresholds, and one eviction per round while
  a threshold is met;
- the container log links (:mod:`kubeling.kubelet.logsymlinks`), kept by
  the relist.

Restarts: nothing is remembered outside the runtime.  The relist starts
only after the pod cache has synced, so a restarted kubelet adopts running
containers (same spec hash → nothing to do) and only removes what no pod
claims any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.client.events import EventRecorder, RESTEventSink
from kubeling.client.informer import Informer
from kubeling.client.rest import RESTClient
from kubeling.kubelet import runtime as rt
from kubeling.kubelet.admission import Admitter, rejected_status
from kubeling.kubelet.config import KubeletConfig
from kubeling.kubelet.containers import PodState
from kubeling.kubelet.envvars import EnvContext
from kubeling.kubelet.eviction import EvictionManager, evicted_status, observe
from kubeling.kubelet.eviction import config_of as eviction_config
from kubeling.kubelet.logsymlinks import ContainerLogLinks
from kubeling.kubelet.nodestatus import NodeStatusManager
from kubeling.kubelet.podsource import RuntimePodsSource
from kubeling.kubelet.podworkers import PodSyncer, PodWorkers, SyncContext, Volumes
from kubeling.kubelet.probes import ProbeManager
from kubeling.kubelet.static import MIRROR, MirrorPods, is_mirror, read_manifests
from kubeling.kubelet.status import StatusManager
from kubeling.kubelet.volumes import VolumeManager

log = logging.getLogger(__name__)
Obj = dict[str, Any]
_REGISTRY = Registry()
NODES = _REGISTRY.get("", "v1", "nodes")
PODS = _REGISTRY.get("", "v1", "pods")
LEASES = _REGISTRY.get("coordination.k8s.io", "v1", "leases")
SERVICES = _REGISTRY.get("", "v1", "services")
CONFIGMAPS = _REGISTRY.get("", "v1", "configmaps")
SECRETS = _REGISTRY.get("", "v1", "secrets")
RELIST_PERIOD = 1.0
NETWORK_CLEANUP_PERIOD = 60.0


class RuntimeSnapshots:
    """Coalesced listings of the runtime's sandboxes and containers.

    Every caller gets a listing that *started after* it asked, so it sees its own earlier writes; callers
    that ask while a listing runs share the next one.  Thirty pod workers syncing at once thus cost the
    engine a handful of list calls instead of hundreds.
    """

    def __init__(self, runtime: rt.Runtime) -> None:
        self.runtime = runtime
        self._next: asyncio.Future[tuple[list[rt.SandboxStatus], list[rt.ContainerStatus]]] | None = None
        self._runner: asyncio.Task[None] | None = None

    async def get(self) -> tuple[list[rt.SandboxStatus], list[rt.ContainerStatus]]:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        future = self._next
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="kubelet-runtime-listing")
        return await asyncio.shield(future)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None

    async def _run(self) -> None:
        while self._next is not None:
            future, self._next = self._next, None
            try:
                result = (await self.runtime.list_sandboxes(), await self.runtime.list_containers())
            except Exception as exc:  # handed to every waiter
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)


def _by_uid(obj: Obj) -> list[str]:
    return [obj["metadata"].get("uid", "")]


class Kubelet:
    def __init__(
        self,
        config: KubeletConfig,
        client: RESTClient,
        runtime: rt.Runtime,
        *,
        volumes: Volumes | None = None,
        relist_period: float = RELIST_PERIOD,
    ) -> None:
        self.config = config
        self.client = client
        self.runtime = runtime
        self.name = config.node_name
        self.relist_period = relist_period
        self.root_dir = Path(config.root_dir)
        self.recorder = EventRecorder(RESTEventSink(client), "kubelet", self.name)
        self.node = NodeStatusManager(
            client,
            nodes=NODES,
            leases=LEASES,
            runtime=runtime,
            name=self.name,
            node_ip=config.node_ip,
            max_pods=config.max_pods,
            root_dir=config.root_dir,
            labels=config.node_labels,
            taints=config.register_with_taints,
            update_frequency=config.node_status_update_frequency,
            lease_duration=config.node_lease_duration_seconds,
            pressure=lambda: set(self.eviction.conditions),
        )
        # Only this Node: its labels, taints and allocatable for admission.
        self.nodes = Informer(client, NODES, field_selector=f"metadata.name={self.name}")
        self.eviction = EvictionManager(
            eviction_config(config),
            measure=lambda: observe(config.root_dir, getattr(runtime, "image_fs_dir", "/var/lib/docker")),
            active_pods=lambda: self.admitter.active(),
            usage=self._usage,
            evict=self._evict,
            is_static=self._is_static,
            clock=time.monotonic,
            interval=config.eviction_monitoring_interval,
        )
        self.admitter = Admitter(
            node=lambda: self.nodes.store.get_by(name=self.name),
            pod=self.desired,
            is_static=self._is_static,
            handlers=[self.eviction.admit],
        )
        self._rejected: set[str] = set()
        self.log_links = ContainerLogLinks(config.container_log_dir)
        self.pods = Informer(
            client, PODS, field_selector=f"spec.nodeName={self.name}", indexers={"uid": _by_uid}
        )
        self.services = Informer(client, SERVICES)
        self.static: dict[str, Obj] = {}
        self.mirrors = MirrorPods(client, PODS, NODES, self.name)
        self.status = StatusManager(client, PODS)
        self.probes = ProbeManager(
            runtime, on_change=self._wake, on_failure=self._probe_failed, clock=time.time
        )
        self.syncer = PodSyncer(
            SyncContext(
                runtime=runtime,
                recorder=self.recorder,
                status=self.status,
                probes=self.probes,
                volumes=volumes
                or VolumeManager(
                    client, self.root_dir, self.name, node_allocatable=lambda: self.node.allocatable
                ),
                root_dir=self.root_dir,
                node_name=self.name,
                cluster_dns=list(config.cluster_dns),
                cluster_domain=config.cluster_domain,
                resolv_conf=config.resolv_conf,
                host_ip=lambda: self.node.node_ip,
                env_context=self._env_context,
                status_target=self._status_target,
            )
        )
        self.workers = PodWorkers(
            self.syncer,
            desired=self.desired,
            observe=self.observe,
            on_removed=self._confirm,
            admit=self._admit,
        )
        self.pods.add_event_handler(
            on_add=self._on_pod, on_update=lambda _old, new: self._on_pod(new), on_delete=self._on_pod
        )
        self.snapshots = RuntimeSnapshots(runtime)
        self._signatures: dict[str, tuple[Any, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.server: Any = None  # the KubeletServer, once started

    async def start_server(self) -> None:
        """The HTTPS server on --port (logs, exec, attach, port-forward, stats) the apiserver proxies to."""
        from kubeling.kubelet.server import KubeletServer

        cert, key = self.config.tls_cert_file, self.config.tls_private_key_file
        if not cert or not key:
            from kubeling.pki.selfsigned import ensure_serving_cert

            hosts = [self.name, self.node.node_ip, "localhost", "127.0.0.1"]
            _, crt_path, key_path = await asyncio.to_thread(ensure_serving_cert, self.root_dir / "pki", hosts)
            cert, key = str(crt_path), str(key_path)
        self.server = KubeletServer(
            self.runtime,
            KubeletPodsSource(self),
            tls_cert=cert,
            tls_key=key,
            client_ca=self.config.client_ca_file,
            api_client=self.client,
            port=self.config.port,
            address=self.config.address,
            node_name=self.name,
            node_log_dir=self.config.node_log_dir if self.config.enable_debugging_handlers else None,
        )
        self.node.kubelet_port = await self.server.start()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        if self.config.enable_server:
            await self.start_server()
        # Static pods first, API or not: on a control-plane node they are the API server this
        # kubelet is about to register with (upstream runs them while registration retries).
        self.static = read_manifests(self.config.pod_manifest_path, self.name)
        for uid in self.static:
            self.workers.update(uid)
        self._tasks = [
            asyncio.create_task(self._relist_loop(), name="kubelet-relist"),
            asyncio.create_task(self._static_loop(), name="kubelet-static"),
            asyncio.create_task(self._join_cluster(), name="kubelet-join"),
        ]
        try:
            # A crashed loop surfaces here and stops the kubelet.
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def _join_cluster(self) -> None:
        """Register the Node (retrying until the API answers), then follow the API's pods."""
        delay = 0.5
        while True:
            try:
                await self.node.register()
                break
            except (errors.StatusError, OSError) as exc:
                log.warning("node %s: registration failed, retrying in %.1fs: %s", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 7.0)  # upstream's registration back-off tops out at 7 s
        loops = [
            asyncio.create_task(self.node.run(), name="kubelet-node-status"),
            asyncio.create_task(self.pods.run(), name="kubelet-pods"),
            asyncio.create_task(self.services.run(), name="kubelet-services"),
            asyncio.create_task(self.nodes.run(), name="kubelet-node"),
        ]
        self._tasks += loops
        await self.pods.wait_synced()
        await self.nodes.wait_synced()
        eviction = asyncio.create_task(self.eviction.run(), name="kubelet-eviction")
        self._tasks.append(eviction)
        await asyncio.gather(*loops, eviction)

    async def stop(self) -> None:
        """Stop the kubelet's own loops; pods keep running (a restarted kubelet adopts them)."""
        self.pods.stop()
        self.services.stop()
        self.nodes.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.workers.stop()
        await self.snapshots.close()
        close_volumes = getattr(self.syncer.ctx.volumes, "close", None)
        if close_volumes is not None:
            await close_volumes()  # its watches of configMaps/secrets that volumes use
        self.probes.stop_all()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.recorder.close(), 5)

    # -- desired and observed state -----------------------------------------------------------

    def desired(self, uid: str) -> Obj | None:
        if uid in self.static:
            return self.static[uid]
        found = self.pods.store.by_index("uid", uid)
        pods = [p for p in found if not is_mirror(p)]
        return pods[0] if pods else None

    async def observe(self, uid: str) -> PodState:
        all_sandboxes, all_containers = await self.snapshots.get()
        sandboxes = [s for s in all_sandboxes if s.pod_uid == uid]
        ids = {s.id for s in sandboxes}
        containers = [
            c
            for c in all_containers
            if c.labels.get(rt.POD_UID) == uid or (rt.POD_UID not in c.labels and c.sandbox_id in ids)
        ]
        return PodState(sandboxes, containers)

    def pod_objects(self) -> list[Obj]:
        """What this kubelet runs, as v1 Pods with their last written status (static pods: the mirror's)."""
        out = [p for p in self.pods.store.list() if not is_mirror(p)]
        for pod in self.static.values():
            mirror = self._status_target(pod)
            out.append({**pod, "status": (mirror or {}).get("status") or pod.get("status") or {}})
        return out

    def _wake(self, uid: str) -> None:
        self.workers.update(uid)

    def _on_pod(self, pod: Obj) -> None:
        if is_mirror(pod):
            # A (new) mirror: its static pod's worker writes status there now.
            uid = pod["metadata"]["annotations"][MIRROR]
            if uid in self.static:
                self.workers.update(uid)
            return
        self.workers.update(pod["metadata"]["uid"])

    async def _relist_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_cleanup = 0.0
        while True:
            try:
                await self.relist()
                cleanup = getattr(self.runtime, "cleanup_network", None)
                if cleanup is not None and self.node.pod_cidr and loop.time() >= next_cleanup:
                    next_cleanup = loop.time() + NETWORK_CLEANUP_PERIOD
                    await cleanup()  # what CNI DEL leaves of sandboxes gone meanwhile
            except rt.RuntimeFailure as exc:
                log.warning("relist failed: %s", exc)
            await asyncio.sleep(self.relist_period)

    async def relist(self) -> None:
        """Wake the workers of pods whose runtime state changed, and of runtime pods nobody claims."""
        sandboxes, containers = await self.snapshots.get()
        owner = {s.id: s.pod_uid for s in sandboxes}
        signatures: dict[str, list[tuple[str, str, bool]]] = {}
        for sandbox in sandboxes:
            signatures.setdefault(sandbox.pod_uid, []).append((sandbox.id, "sandbox", sandbox.ready))
        for container in containers:
            uid = container.labels.get(rt.POD_UID) or owner.get(container.sandbox_id, "")
            if uid:
                signatures.setdefault(uid, []).append((container.id, container.state, False))
        current = {uid: tuple(sorted(sig)) for uid, sig in signatures.items()}
        self.log_links.sync(containers)
        self._rejected = {uid for uid in self._rejected if self.desired(uid) is not None}
        # Until the API's pods are known, a running pod that is in no manifest may well be
        # wanted: leave it alone (and unrecorded, so it is looked at once they are known).
        sources_ready = self.pods.has_synced()
        if not sources_ready:
            current = {uid: sig for uid, sig in current.items() if uid in self.static}
        for uid, signature in current.items():
            if self._signatures.get(uid) != signature:
                self.workers.update(uid)
            elif self.desired(uid) is None and uid not in self.workers.known():
                self.workers.update(uid)  # an orphan: its worker removes it
        for uid in set(self._signatures) - set(current):
            if sources_ready or uid in self.static:
                self.workers.update(uid)
        self._signatures = current

    # -- admission and eviction ----------------------------------------------------------

    def _is_static(self, pod: Obj) -> bool:
        return pod["metadata"].get("uid") in self.static or is_mirror(pod)

    async def _admit(self, pod: Obj, state: PodState) -> bool:
        """Admit a pod once before it first starts; a rejected one gets Failed with the reason, never runs."""
        uid = pod["metadata"]["uid"]
        if uid in self.admitter.admitted:
            return True
        if uid in self._rejected:
            return False
        if state.sandboxes or state.containers:  # already running here (a restarted kubelet adopts it)
            self.admitter.adopt(uid)
            return True
        if uid in self.static and not self.nodes.has_synced():
            # Before the Node is known (no API yet), a manifest's pod is admitted as is: on a
            # control-plane node it is what brings the API up.
            self.admitter.adopt(uid)
            return True
        await self.nodes.wait_synced()  # workers start with the pod informer's first list
        result = self.admitter.decide(pod)
        if result.admit:
            return True
        self._rejected.add(uid)
        log.info("pod %s/%s rejected: %s: %s", pod["metadata"].get("namespace"), pod["metadata"]["name"],
                 result.reason, result.message)  # fmt: skip
        target = self._status_target(pod)
        if target is not None:
            self.recorder.event(target, "Warning", result.reason, result.message)
            await self.status.set_status(target, rejected_status(target, result))
        return False

    async def _usage(self, resource: str) -> dict[str, dict[str, int]]:
        """Per pod uid, per container: the memory working set (other resources are not measured)."""
        if resource != "memory":
            return {}
        _, containers = await self.snapshots.get()
        running = [c for c in containers if c.state == "running"]
        stats = {s.id: s for s in await self.runtime.stats([c.id for c in running])}
        out: dict[str, dict[str, int]] = {}
        for c in running:
            if c.id in stats:
                uid = c.labels.get(rt.POD_UID, "")
                out.setdefault(uid, {})[c.name] = stats[c.id].memory_working_set_bytes
        return out

    async def _evict(self, pod: Obj, message: str, grace: int) -> None:
        """Failed/Evicted with the message and an Event, then stop its containers within ``grace``."""
        self.recorder.event(pod, "Warning", "Evicted", message)
        await self.status.set_status(pod, evicted_status(pod, message))
        uid = pod["metadata"]["uid"]
        await self.syncer.kill_pod(pod, await self.observe(uid), grace)
        self.workers.update(uid)

    # -- static pods ------------------------------------------------------------------------

    async def _static_loop(self) -> None:
        while True:
            fresh = read_manifests(self.config.pod_manifest_path, self.name)
            changed = set(fresh) ^ set(self.static)  # an edited manifest is a new uid: old stops, new starts
            self.static = fresh
            for uid in changed:
                self.workers.update(uid)
            try:
                await self.mirrors.sync(self.static, self.pods.store.list())
            except (errors.StatusError, OSError) as exc:
                log.warning("mirror pods: %s", exc)
            await asyncio.sleep(self.config.file_check_frequency)

    def _status_target(self, pod: Obj) -> Obj | None:
        """Where a pod's status goes: itself, or a static pod's mirror (None while it has none)."""
        if pod["metadata"]["uid"] not in self.static:
            return pod
        meta = pod["metadata"]
        mirror = self.pods.store.get_by(name=meta["name"], namespace=meta["namespace"])
        return mirror if mirror is not None and is_mirror(mirror) else None

    async def _confirm(self, pod: Obj) -> None:
        if pod["metadata"]["uid"] not in self.static:
            await self.status.confirm_deletion(pod)

    # -- events and lookups ----------------------------------------------------------------

    def _probe_failed(self, pod: Obj, container: Obj, kind: str, message: str) -> None:
        what = {"livenessProbe": "Liveness", "readinessProbe": "Readiness", "startupProbe": "Startup"}[kind]
        target = self._status_target(pod) or pod
        self.recorder.event(target, "Warning", "Unhealthy", f"{what} probe failed: {message}")

    async def _env_context(self, pod: Obj) -> EnvContext:
        """Fetch the ConfigMaps and Secrets the pod's env refers to (GETs, as the Node authorizer allows)."""
        namespace = pod["metadata"]["namespace"]
        wanted: dict[str, set[str]] = {"configmap": set(), "secret": set()}
        spec = pod.get("spec") or {}
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for source in container.get("envFrom") or []:
                if "configMapRef" in source:
                    wanted["configmap"].add(source["configMapRef"].get("name", ""))
                if "secretRef" in source:
                    wanted["secret"].add(source["secretRef"].get("name", ""))
            for var in container.get("env") or []:
                ref = var.get("valueFrom") or {}
                if "configMapKeyRef" in ref:
                    wanted["configmap"].add(ref["configMapKeyRef"].get("name", ""))
                if "secretKeyRef" in ref:
                    wanted["secret"].add(ref["secretKeyRef"].get("name", ""))
        found: dict[tuple[str, str], Obj] = {}
        for kind, names in wanted.items():
            resource = CONFIGMAPS if kind == "configmap" else SECRETS
            for name in names:
                try:
                    found[(kind, name)] = await self.client.get(resource, namespace=namespace, name=name)
                except errors.StatusError as exc:
                    if exc.code != 404:
                        raise
        return EnvContext(
            node_name=self.name,
            host_ip=self.node.node_ip,
            configmaps=lambda _ns, name: found.get(("configmap", name)),
            secrets=lambda _ns, name: found.get(("secret", name)),
            services=self.services.store.list(),
            node_allocatable=dict(self.node.allocatable),
        )


class KubeletPodsSource(RuntimePodsSource):
    """The server's view of pods: sandboxes and containers from the runtime, pod objects from the kubelet."""

    def __init__(self, kubelet: Kubelet) -> None:
        super().__init__(kubelet.runtime)
        self.kubelet = kubelet

    async def list_pods(self) -> list[Obj]:
        return self.kubelet.pod_objects()


NODE_LABEL = "io.kubeling.node"


async def run(config: KubeletConfig) -> None:
    """``kubeling kubelet``: local images, the Docker runtime with CNI, then the Kubelet until cancelled."""
    from kubeling.client.kubeconfig import load_config
    from kubeling.kubelet import images
    from kubeling.kubelet.cni import CNINetwork
    from kubeling.kubelet.docker import DockerRuntime

    try:
        await asyncio.to_thread(images.ensure_images)
    except images.ImagesUnavailable as exc:
        raise SystemExit(f"kubeling kubelet: {exc}") from None
    cni_dir = Path(config.root_dir) / "cni"
    cni = CNINetwork(
        config.cni_conf_dir,
        config.cni_bin_dir,
        str(cni_dir),
        # host-local's reservations live with this kubelet's state: another kubelet on the same
        # machine (a second node, a test) must never see, or garbage-collect, this one's IPs.
        ipam_data_dir=str(cni_dir / "networks"),
        non_masquerade_cidr=config.non_masquerade_cidr,
    )
    runtime = DockerRuntime(
        cni,
        root_dir=config.root_dir,
        pause_image=config.pod_infra_container_image or images.PAUSE_IMAGE,
        # Only what this node made is ours: other kubelets (or test runs) may share the engine.
        labels={NODE_LABEL: config.node_name},
        node_network_container=config.node_network_container,
    )
    client = RESTClient(load_config(config.kubeconfig), component="kubelet")
    rotation = await _start_rotation(config, client)
    kubelet = Kubelet(config, client, runtime)
    try:
        await kubelet.run()
    finally:
        if rotation is not None:
            rotation.cancel()
            await asyncio.gather(rotation, return_exceptions=True)
        await client.close()


async def _start_rotation(config: KubeletConfig, client: RESTClient) -> asyncio.Task[None] | None:
    """``rotateCertificates``: the rotated pair in use from the start, renewal in the background."""
    if not config.rotate_certificates:
        return None
    from kubeling.kubelet.certrotation import ClientCertificateManager, RotationError

    manager = ClientCertificateManager(
        client, node_name=config.node_name, cert_dir=Path(config.root_dir) / "pki"
    )
    await manager.load_stored()
    try:
        manager.current()
    except (OSError, ValueError, RotationError) as exc:
        log.warning("rotateCertificates is on but there is no client certificate to rotate: %s", exc)
        return None
    return asyncio.create_task(manager.run(), name="client-certificate-rotation")
