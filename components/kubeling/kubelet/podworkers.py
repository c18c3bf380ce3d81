"""One worker per pod, and the syncPod logic it runs.

:class:`PodWorkers` keeps an asyncio task per pod uid.  A worker sleeps until
woken (the pod changed, the runtime saw its containers change, a probe
verdict flipped) or its own requeue time comes, then syncs the pod's latest
desired state against a fresh runtime view — so one pod's slow image pull
or long grace period never holds another pod up, and a pod is never synced
twice at once.

:class:`PodSyncer` is that sync (upstream's SyncPod): sandbox, init
containers in order, app containers with back-off, image pull policy,
environment, mounts and resources, postStart hooks, probes and status;
termination runs preStop hooks and stops containers within the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubeling.api import errors
from kubeling.api.validation.common import parse_quantity
from kubeling.kubelet import runtime as rt
from kubeling.kubelet.containers import CONTAINER_HASH, BackOff, PodState, compute_actions, container_hash
from kubeling.kubelet.envvars import EnvContext, EnvError, container_env, expand_command
from kubeling.kubelet.podfiles import hostname_and_domain, write_pod_files
from kubeling.kubelet.probes import ProbeManager, run_handler
from kubeling.kubelet.status import ProbeView, StatusManager, compute_status

log = logging.getLogger(__name__)
Obj = dict[str, Any]
NORMAL, WARNING = "Normal", "Warning"
MIN_GRACE = 2  # seconds a container always gets to stop (upstream's minimumGracePeriodInSeconds)
RESYNC = 10.0
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # upstream's log tail for FallbackToLogsOnError


class Recorder(Protocol):
    def event(self, obj: Obj, type: str, reason: str, message: str) -> None: ...


class Volumes(Protocol):
    """What the pod worker needs from the volume manager (kubeling.kubelet.volumes)."""

    async def setup(self, pod: Obj) -> None: ...
    def mounts_for(self, pod: Obj, container: Obj, env: dict[str, str] | None = None) -> list[rt.Mount]: ...
    async def refresh(self, pod: Obj) -> bool: ...
    async def teardown(self, pod_uid: str) -> None: ...


@dataclass
class SyncContext:
    """Everything a sync needs from the kubelet around it."""

    runtime: rt.Runtime
    recorder: Recorder
    status: StatusManager
    probes: ProbeManager
    volumes: Volumes
    root_dir: Path
    node_name: str
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"  # the node's resolvers: dnsPolicy Default pods get them
    host_ip: Callable[[], str] = lambda: ""
    env_context: Callable[[Obj], Awaitable[EnvContext]] | None = None  # fetches what the pod refers to
    status_target: Callable[[Obj], Obj | None] = lambda pod: pod  # static pods report on their mirror
    clock: Callable[[], float] = time.time


def _millis(value: Any) -> int:
    return int(parse_quantity(value) * 1000)


def resources(container: Obj) -> rt.Resources:
    """requests/limits → cgroup settings: shares = milliCPU*1024/1000 (min 2), quota from the limit."""
    spec = container.get("resources") or {}
    requests, limits = spec.get("requests") or {}, spec.get("limits") or {}
    out = rt.Resources()
    cpu_request = requests.get("cpu", limits.get("cpu"))
    if cpu_request is not None:
        out.cpu_shares = max(2, _millis(cpu_request) * 1024 // 1000)
    if limits.get("cpu") is not None:
        out.cpu_quota = max(1000, _millis(limits["cpu"]) * out.cpu_period // 1000)
    if limits.get("memory") is not None:
        out.memory_limit = int(parse_quantity(limits["memory"]))
    return out


def security(pod: Obj, container: Obj) -> rt.SecurityContext:
    """The pod's securityContext under the container's (the container's wins)."""
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    caps = sc.get("capabilities") or {}

    def pick(name: str) -> Any:
        return sc.get(name, pod_sc.get(name))

    return rt.SecurityContext(
        run_as_user=pick("runAsUser"),
        run_as_group=pick("runAsGroup"),
        supplemental_groups=list(pod_sc.get("supplementalGroups") or []),
        privileged=bool(sc.get("privileged")),
        read_only_root_filesystem=bool(sc.get("readOnlyRootFilesystem")),
        capabilities_add=list(caps.get("add") or []),
        capabilities_drop=list(caps.get("drop") or []),
        allow_privilege_escalation=sc.get("allowPrivilegeEscalation"),
    )


def pull_policy(container: Obj) -> str:
    if container.get("imagePullPolicy"):
        return container["imagePullPolicy"]
    image = container.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"


def grace_period(pod: Obj) -> int:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    value = meta.get("deletionGracePeriodSeconds")
    if value is None:
        value = spec.get("terminationGracePeriodSeconds", 30)
    return int(value)


def pod_ref(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', '')}({meta['uid']})"


class PodSyncer:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.backoff = BackOff()
        self.image_backoff = BackOff()
        self.image_backoff_since: dict[str, float] = {}  # when each image key last failed to pull

    def pod_dir(self, uid: str) -> Path:
        return self.ctx.root_dir / "pods" / uid

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, pod: Obj, state: PodState, refresh: Callable[[], Awaitable[PodState]]) -> float:
        """Bring the pod's containers toward its spec; returns seconds until it wants to run again."""
        ctx = self.ctx
        unhealthy = {cid: why for cid, why in ctx.probes.results.liveness_failed.items()}
        actions = compute_actions(pod, state, unhealthy=unhealthy)
        waiting: dict[str, tuple[str, str]] = {}
        requeue = RESYNC
        if actions.kill_pod:
            await self.kill_pod(pod, state, grace_period(pod) if not actions.create_sandbox else MIN_GRACE)
            state = await refresh()
        try:  # idempotent: new volumes are set up, configMap/secret contents follow their objects
            await ctx.volumes.setup(pod)
            await ctx.volumes.refresh(pod)
        except Exception as exc:  # any volume failure is reported and retried
            for message in getattr(exc, "failures", None) or [str(exc)]:
                ctx.recorder.event(pod, WARNING, getattr(exc, "reason", "FailedMount"), message)
            await self.write_status(pod, state, waiting)
            return 2.0
        if actions.create_sandbox:
            try:
                sandbox_id = await self.run_sandbox(pod, actions.sandbox_attempt)
                # Its own status, not a relist: under a burst of new pods a listing of the whole
                # engine waits behind everyone else's calls.
                fresh = await ctx.runtime.sandbox_status(sandbox_id)
            except rt.RuntimeFailure as exc:
                ctx.recorder.event(
                    pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}"
                )
                await self.write_status(pod, state, waiting)
                return 2.0
            state = PodState([*state.sandboxes, fresh], state.containers)
        sandbox = state.latest_sandbox()
        if sandbox is None or not sandbox.ready:
            await self.write_status(pod, state, waiting)
            return requeue
        sandbox_config = self.sandbox_config(pod, sandbox.attempt)
        self.write_files(pod, sandbox.ips or ([sandbox.ip] if sandbox.ip else []))
        for cid, why in actions.kill.items():
            status = next(c for c in state.containers if c.id == cid)
            await self.kill_container(pod, status, grace_period(pod), why)
        specs = (pod.get("spec") or {}).get("containers") or []
        to_start = [specs[i] for i in actions.start]
        if actions.next_init is not None:
            to_start = [pod["spec"]["initContainers"][actions.next_init]]
        if actions.kill:
            state = await refresh()
        started: list[str] = []
        for container in to_start:
            wait = await self.start_container(
                pod, container, state, sandbox, sandbox_config, waiting, started=started
            )
            if wait is not None:
                requeue = min(requeue, max(wait, 0.5))
        if to_start and len(started) == len(to_start):  # the new containers' own statuses, no relist
            fresh = await asyncio.gather(*(ctx.runtime.container_status(cid) for cid in started))
            state = PodState(state.sandboxes, [*state.containers, *fresh])
        else:
            state = await refresh()
        await self.garbage_collect(state)
        self.ensure_probes(pod, state, sandbox)
        await self.write_status(pod, state, waiting)
        return requeue

    def ensure_probes(self, pod: Obj, state: PodState, sandbox: rt.SandboxStatus) -> None:
        specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        # A host-network pod's IP is its node's (as its status says), so probes without a host go there.
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        address = self.ctx.host_ip if host_network else (lambda: sandbox.ip)
        running = set()
        for status in state.running():
            container = specs.get(status.name)
            if container is None:
                continue
            running.add(status.id)
            self.ctx.probes.ensure(pod, container, status, address)
        self.ctx.probes.retain(pod["metadata"]["uid"], running)

    async def write_status(self, pod: Obj, state: PodState, waiting: dict[str, tuple[str, str]]) -> None:
        target = self.ctx.status_target(pod)
        if target is None:
            return
        await self.fallback_messages(pod, state)
        spec = pod.get("spec") or {}
        results = self.ctx.probes.results
        view = ProbeView(
            ready=dict(results.ready),
            started=dict(results.started),
            has_readiness={c["name"] for c in spec.get("containers") or [] if "readinessProbe" in c},
            has_startup={c["name"] for c in spec.get("containers") or [] if "startupProbe" in c},
        )
        merged = {**target, "spec": spec}
        status = compute_status(merged, state, waiting=waiting, probes=view, host_ip=self.ctx.host_ip())
        await self.ctx.status.set_status(target, status)

    # -- sandbox ---------------------------------------------------------------------------

    def sandbox_config(self, pod: Obj, attempt: int) -> rt.SandboxConfig:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        hostname, _ = hostname_and_domain(pod, self.ctx.cluster_domain)
        pod_dir = self.pod_dir(meta["uid"])
        ports = [
            rt.PortMapping(
                p["containerPort"], p["hostPort"], p.get("protocol") or "TCP", p.get("hostIP") or ""
            )
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
            if p.get("hostPort")
        ]
        labels = {
            **(meta.get("labels") or {}),
            rt.POD_UID: meta["uid"],
            rt.POD_NAME: meta["name"],
            rt.POD_NAMESPACE: meta.get("namespace", ""),
        }
        return rt.SandboxConfig(
            pod_uid=meta["uid"],
            name=meta["name"],
            namespace=meta.get("namespace", ""),
            attempt=attempt,
            hostname="" if spec.get("hostNetwork") else hostname,
            host_network=bool(spec.get("hostNetwork")),
            hosts_file=str(pod_dir / "etc-hosts"),
            resolv_file=str(pod_dir / "resolv.conf"),
            port_mappings=ports,
            labels=labels,
            annotations=dict(meta.get("annotations") or {}),
            sysctls={s["name"]: s["value"] for s in (spec.get("securityContext") or {}).get("sysctls") or []},
        )

    def write_files(self, pod: Obj, pod_ips: list[str]) -> rt.DNSConfig:
        _, _, dns = write_pod_files(
            self.pod_dir(pod["metadata"]["uid"]),
            pod,
            pod_ips=pod_ips,
            cluster_dns=self.ctx.cluster_dns,
            cluster_domain=self.ctx.cluster_domain,
            host_resolv=self.ctx.resolv_conf,
        )
        return dns

    async def run_sandbox(self, pod: Obj, attempt: int) -> str:
        config = self.sandbox_config(pod, attempt)
        config.dns = self.write_files(pod, [])
        return await self.ctx.runtime.run_sandbox(config)

    # -- containers ------------------------------------------------------------------------

    async def start_container(
        self,
        pod: Obj,
        container: Obj,
        state: PodState,
        sandbox: rt.SandboxStatus,
        sandbox_config: rt.SandboxConfig,
        waiting: dict[str, tuple[str, str]],
        *,
        started: list[str] | None = None,
    ) -> float | None:
        """Start one container (back-off, image, env, create, start, postStart); a wait when held back.

        The id of a container that started is appended to ``started``."""
        ctx, name, uid = self.ctx, container["name"], pod["metadata"]["uid"]
        now = ctx.clock()
        latest = state.latest(name)
        attempt = latest.attempt + 1 if latest is not None else 0
        key = f"{uid}/{name}"
        if latest is not None and latest.state in ("exited", "created"):
            since = latest.finished_at or latest.created_at
            if self.backoff.in_backoff_since(key, since, now):
                delay = self.backoff.delay(key)
                message = f"back-off {delay:g}s restarting failed container={name} pod={pod_ref(pod)}"
                waiting[name] = ("CrashLoopBackOff", message)
                ctx.recorder.event(
                    pod,
                    WARNING,
                    "BackOff",
                    f"Back-off restarting failed container {name} in pod {pod_ref(pod)}",
                )
                return self.backoff.remaining(key, since, now)
            self.backoff.next(key, now)
        held = await self.ensure_image(pod, container, waiting)
        if held is not None:
            return held
        env_context = await ctx.env_context(pod) if ctx.env_context is not None else EnvContext()
        env_context.pod_ips = sandbox.ips or ([sandbox.ip] if sandbox.ip else [])
        try:
            env = container_env(pod, container, env_context)
        except EnvError as exc:
            waiting[name] = (EnvError.reason, str(exc))
            ctx.recorder.event(pod, WARNING, "Failed", f"Error: {exc}")
            return 2.0
        try:
            mounts = ctx.volumes.mounts_for(pod, container, dict(env))
        except Exception as exc:  # the volume manager's MountError carries the waiting reason
            reason = getattr(exc, "reason", "CreateContainerConfigError")
            waiting[name] = (reason, str(exc))
            ctx.recorder.event(pod, WARNING, "Failed", f"Error: {exc}")
            return 2.0
        config = rt.ContainerConfig(
            name=name,
            image=container.get("image", ""),
            command=expand_command(list(container.get("command") or []), env),
            args=expand_command(list(container.get("args") or []), env),
            working_dir=container.get("workingDir", ""),
            env=env,
            mounts=mounts,
            resources=resources(container),
            security=security(pod, container),
            tty=bool(container.get("tty")),
            stdin=bool(container.get("stdin")),
            stdin_once=bool(container.get("stdinOnce")),
            attempt=attempt,
            labels={
                rt.POD_UID: uid,
                rt.POD_NAME: pod["metadata"]["name"],
                rt.POD_NAMESPACE: pod["metadata"].get("namespace", ""),
                rt.CONTAINER_NAME: name,
                rt.CONTAINER_ATTEMPT: str(attempt),
                CONTAINER_HASH: container_hash(container),
            },
            termination_message_path=container.get("terminationMessagePath") or "/dev/termination-log",
        )
        try:
            cid = await ctx.runtime.create_container(sandbox.id, config, sandbox_config)
        except rt.RuntimeFailure as exc:
            waiting[name] = ("CreateContainerError", str(exc))
            ctx.recorder.event(pod, WARNING, "Failed", f"Error: {exc}")
            return 2.0
        ctx.recorder.event(pod, NORMAL, "Created", f"Created container: {name}")
        try:
            await ctx.runtime.start_container(cid)
        except rt.RuntimeFailure as exc:
            ctx.recorder.event(pod, WARNING, "Failed", f"Error: {exc}")
            return 1.0
        ctx.recorder.event(pod, NORMAL, "Started", f"Started container {name}")
        if started is not None:
            started.append(cid)
        hook = (container.get("lifecycle") or {}).get("postStart")
        if hook:
            outcome = await run_handler(
                ctx.runtime, hook, container=container, container_id=cid, pod_ip=sandbox.ip,
                timeout=float(grace_period(pod) or MIN_GRACE),
            )  # fmt: skip
            if not outcome.ok:
                ctx.recorder.event(
                    pod, WARNING, "FailedPostStartHook", f"PostStartHook failed: {outcome.message}"
                )
                await ctx.runtime.stop_container(cid, MIN_GRACE)
        return None

    async def ensure_image(
        self, pod: Obj, container: Obj, waiting: dict[str, tuple[str, str]]
    ) -> float | None:
        """Honour imagePullPolicy; a missing image sets ErrImagePull/ImagePullBackOff and returns a wait."""
        ctx, name, image = self.ctx, container["name"], container.get("image", "")
        policy = pull_policy(container)
        key = f"{pod['metadata']['uid']}/{name}/{image}"
        now = ctx.clock()
        present = await ctx.runtime.image_status(image)
        if present is not None and policy != "Always":
            ctx.recorder.event(pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine')
            return None
        if policy == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            waiting[name] = ("ErrImageNeverPull", message)
            ctx.recorder.event(pod, WARNING, "ErrImageNeverPull", message)
            return 5.0
        if self.image_backoff.in_backoff_since(key, self.image_backoff_since.get(key, 0.0), now):
            waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            ctx.recorder.event(pod, NORMAL, "BackOff", f'Back-off pulling image "{image}"')
            return self.image_backoff.remaining(key, self.image_backoff_since.get(key, 0.0), now)
        ctx.recorder.event(pod, NORMAL, "Pulling", f'Pulling image "{image}"')
        started = ctx.clock()
        try:
            await ctx.runtime.pull_image(image)
        except rt.RuntimeFailure as exc:
            if present is not None:  # Always, but the registry is unreachable: run what we have
                ctx.recorder.event(
                    pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine'
                )
                return None
            self.image_backoff.next(key, now)
            self.image_backoff_since[key] = now
            waiting[name] = ("ErrImagePull", str(exc))
            ctx.recorder.event(pod, WARNING, "Failed", f'Failed to pull image "{image}": {exc}')
            return self.image_backoff.delay(key)
        self.image_backoff.forget_prefix(key)
        took = ctx.clock() - started
        ctx.recorder.event(pod, NORMAL, "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s')
        return None

    async def fallback_messages(self, pod: Obj, state: PodState) -> None:
        """FallbackToLogsOnError: a failed container without a termination message gets its log's tail."""
        spec = pod.get("spec") or {}
        by_name = {c["name"]: c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}
        for status in state.containers:
            container = by_name.get(status.name) or {}
            if container.get("terminationMessagePolicy") != "FallbackToLogsOnError":
                continue
            if status.state != "exited" or status.exit_code == 0 or status.message:
                continue
            chunks = []
            with contextlib.suppress(rt.RuntimeFailure):
                async for chunk in self.ctx.runtime.logs(status.id, tail_lines=FALLBACK_LINES):
                    chunks.append(chunk)
            status.message = b"".join(chunks)[-FALLBACK_BYTES:].decode(errors="replace")

    async def kill_container(
        self, pod: Obj | None, status: rt.ContainerStatus, grace: int, why: str = ""
    ) -> None:
        """preStop hook within the grace period, then stop (SIGTERM, SIGKILL after what is left)."""
        ctx = self.ctx
        started = ctx.clock()
        container = None
        if pod is not None:
            spec = pod.get("spec") or {}
            container = next(
                (
                    c
                    for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                    if c["name"] == status.name
                ),
                None,
            )
            message = why or f"Stopping container {status.name}"
            ctx.recorder.event(pod, NORMAL, "Killing", message)
        hook = ((container or {}).get("lifecycle") or {}).get("preStop")
        if hook and grace > 0 and container is not None and pod is not None:
            outcome = await run_handler(
                ctx.runtime,
                hook,
                container=container,
                container_id=status.id,
                pod_ip="",
                timeout=float(grace),
            )
            if not outcome.ok:
                ctx.recorder.event(
                    pod, WARNING, "FailedPreStopHook", f"PreStopHook failed: {outcome.message}"
                )
        left = max(MIN_GRACE, grace - (ctx.clock() - started))
        with contextlib.suppress(rt.NotFound):
            await ctx.runtime.stop_container(status.id, left)
        ctx.probes.results.forget(status.id)

    async def kill_pod(self, pod: Obj | None, state: PodState, grace: int) -> None:
        """Stop every running container (in parallel), then the sandboxes."""
        await asyncio.gather(*(self.kill_container(pod, c, grace) for c in state.running()))
        for sandbox in state.sandboxes:
            if sandbox.ready:
                with contextlib.suppress(rt.NotFound):
                    await self.ctx.runtime.stop_sandbox(sandbox.id)
        if state.sandboxes:
            self.ctx.probes.retain(state.sandboxes[0].pod_uid, set())

    async def garbage_collect(self, state: PodState) -> None:
        """Keep one dead container per name besides the current one (upstream's MaxPerPodContainer 1)."""
        for name in {c.name for c in state.containers}:
            dead = [c for c in state.history(name) if c.state != "running"]
            for old in dead[1:]:
                with contextlib.suppress(rt.NotFound):
                    await self.ctx.runtime.remove_container(old.id)
        # Sandboxes replaced by a newer one go once no container refers to them.
        latest = state.latest_sandbox()
        used = {c.sandbox_id for c in state.containers}
        for sandbox in state.sandboxes:
            if sandbox is not latest and not sandbox.ready and sandbox.id not in used:
                with contextlib.suppress(rt.NotFound):
                    await self.ctx.runtime.remove_sandbox(sandbox.id)

    async def remove_all(self, uid: str, state: PodState) -> None:
        """The pod is gone: stop and remove its containers and sandboxes, volumes and files."""
        await self.kill_pod(None, state, MIN_GRACE)
        for status in state.containers:
            with contextlib.suppress(rt.NotFound):
                await self.ctx.runtime.remove_container(status.id)
        for sandbox in state.sandboxes:
            with contextlib.suppress(rt.NotFound):
                await self.ctx.runtime.stop_sandbox(sandbox.id)
                await self.ctx.runtime.remove_sandbox(sandbox.id)
        await self.ctx.volumes.teardown(uid)
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
        self.backoff.forget_prefix(uid)
        self.image_backoff.forget_prefix(uid)
        self.ctx.probes.remove_pod(uid)
        self.ctx.status.forget(uid)


# -- workers -----------------------------------------------------------------------------------


class PodWorkers:
    """An asyncio task per pod uid; see the module docstring."""

    def __init__(
        self,
        syncer: PodSyncer,
        *,
        desired: Callable[[str], Obj | None],
        observe: Callable[[str], Awaitable[PodState]],
        on_removed: Callable[[Obj], Awaitable[None]] | None = None,
        admit: Callable[[Obj, PodState], Awaitable[bool]] | None = None,
    ) -> None:
        self.syncer = syncer
        self.admit = admit  # False: the pod was rejected (its status says why) and must not start
        self.desired = desired  # the pod as the kubelet should run it now, None once it is gone
        self.observe = observe  # a fresh runtime view of one pod uid
        self.on_removed = on_removed  # confirm a deletion in the API (the pod's containers are gone)
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def update(self, uid: str) -> None:
        """Wake the pod's worker, starting one if needed."""
        event = self._wake.setdefault(uid, asyncio.Event())
        event.set()
        task = self._tasks.get(uid)
        if task is None or task.done():
            self._tasks[uid] = asyncio.create_task(self._run(uid), name=f"pod-worker-{uid}")

    def known(self) -> set[str]:
        return {uid for uid, task in self._tasks.items() if not task.done()}

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _run(self, uid: str) -> None:
        event = self._wake[uid]
        failures = 0
        while True:
            event.clear()
            delay = RESYNC
            try:
                pod = self.desired(uid)
                state = await self.observe(uid)
                if pod is None:
                    await self.syncer.remove_all(uid, state)
                    self._wake.pop(uid, None)
                    return
                if pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in (
                    "Succeeded",
                    "Failed",
                ):
                    delay = await self._terminate(pod, state)
                elif self.admit is not None and not await self.admit(pod, state):
                    delay = RESYNC
                else:
                    delay = await self.syncer.sync(pod, state, lambda: self.observe(uid))
                failures = 0
            except asyncio.CancelledError:
                raise
            except (errors.StatusError, rt.RuntimeFailure, OSError) as exc:
                # Expected now and then: the API or the engine refused or went away (e.g. a pod deleted
                # meanwhile is no longer this node's to write); the next round sees the new state.
                failures += 1
                delay = min(0.5 * 2**failures, 30.0)
                log.warning("sync of pod %s failed (%s); retrying in %.1fs", uid, exc, delay)
            except Exception:  # a bug: keep the traceback, but one pod's failure must not stop its worker
                failures += 1
                delay = min(0.5 * 2**failures, 30.0)
                log.exception("sync of pod %s failed; retrying in %.1fs", uid, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), delay)

    async def _terminate(self, pod: Obj, state: PodState) -> float:
        syncer = self.syncer
        if state.running() or any(s.ready for s in state.sandboxes):
            await syncer.kill_pod(pod, state, grace_period(pod))
            state = await self.observe(pod["metadata"]["uid"])
        await syncer.write_status(pod, state, {})
        if pod["metadata"].get("deletionTimestamp") and not state.running() and self.on_removed is not None:
            await self.on_removed(pod)
        return RESYNC
