"""The Docker Engine as the kubelet's container runtime (implements runtime.Runtime).

A pod is a *sandbox*: a pause container started with ``--network none`` whose
network namespace the CNI plugins then wire (``/proc/<pid>/ns/net``), or a
pause container on the host's network for hostNetwork pods (no CNI).  App
containers join the sandbox's network and IPC namespaces (``container:<id>``
modes) and so share its IP, localhost and hostname (the engine copies the
hostname of the container whose network is joined); PID namespaces stay
private.

Everything the kubelet needs to rebuild its view after a restart is in
container labels (runtime.py's names), so :meth:`DockerRuntime.list_sandboxes`
and :meth:`DockerRuntime.list_containers` answer from the engine alone; a
sandbox's IP comes from the CNI result cached on disk.  ``labels`` given to
the constructor are stamped on everything this runtime creates and required
on everything it lists, so several kubelets (or tests) can share one engine.

Control calls go through the SDK's low-level APIClient in the runtime's own
worker threads; long-lived streams (exec/attach, followed logs) use
:mod:`kubeling.kubelet.dockerstreams` on the engine's unix socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import re
import secrets
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors

from kubeling.kubelet import dockerstreams
from kubeling.kubelet.cni import CNIError, CNINetwork, ensure_masquerade, parse_result
from kubeling.kubelet.images import PAUSE_IMAGE
from kubeling.kubelet.runtime import (
    CONTAINER_ATTEMPT,
    CONTAINER_NAME,
    CONTAINER_TYPE,
    POD_NAME,
    POD_NAMESPACE,
    POD_UID,
    ContainerConfig,
    ContainerStats,
    ContainerStatus,
    DeadlineExceeded,
    DNSConfig,
    ExecResult,
    ImageInfo,
    ImageNotPresent,
    NotFound,
    RuntimeFailure,
    RuntimeStatus,
    SandboxConfig,
    SandboxStatus,
    Stream,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

TYPE_SANDBOX = "podsandbox"
TYPE_CONTAINER = "container"
SANDBOX_ID = "io.kubernetes.sandbox.id"  # on containers: the sandbox they joined (dockershim's name)
HOST_NETWORK = "io.kubeling.sandbox.host-network"
LOG_PATH = "io.kubeling.container.log-path"
TERMINATION_LOG = "io.kubeling.container.termination-log"
ANNOTATION_PREFIX = "annotation."  # annotations ride as labels, as dockershim kept them
TERMINATION_MESSAGE_LIMIT = 4096  # bytes, as upstream reads at most
# Where --privileged can't start: every capability the host itself holds, no seccomp/AppArmor
# confinement, writable /proc and /sys paths, all devices allowed (the lab-node flag set in NOTES).
APPROX_PRIVILEGED_OPTS = ("seccomp=unconfined", "apparmor=unconfined")

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_time(value: str | None) -> float:
    """Engine timestamps (RFC 3339 with up to nanoseconds) → epoch seconds; the zero time → 0."""
    m = _TIME.match(value or "")
    if not m or m.group(1).startswith("0001-01-01"):
        return 0.0
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + zone).timestamp() + float("0." + (m.group(2) or "0"))


def resolv_conf(dns: DNSConfig) -> str:
    lines = [f"nameserver {s}" for s in dns.servers]
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    if dns.options:
        lines.append("options " + " ".join(dns.options))
    return "\n".join(lines) + "\n"


def container_name(kind: str, name: str, pod: str, namespace: str, uid: str, attempt: int) -> str:
    """dockershim's naming: k8s_<container>_<pod>_<namespace>_<uid>_<attempt> (POD for the sandbox)."""
    return f"k8s_{name if kind == TYPE_CONTAINER else 'POD'}_{pod}_{namespace}_{uid}_{attempt}"


def exit_reason(state: dict[str, Any]) -> str:
    if state.get("OOMKilled"):
        return "OOMKilled"
    if state.get("Error"):
        return "ContainerCannotRun"
    return "Completed" if state.get("ExitCode", 0) == 0 else "Error"


def user_spec(uid: int | None, gid: int | None) -> str:
    """runAsUser/runAsGroup → the engine's ``--user``; the group alone runs as root (our images' user)."""
    if uid is None and gid is None:
        return ""
    return f"{uid if uid is not None else 0}" + (f":{gid}" if gid is not None else "")


def cpu_nanocores(stats: dict[str, Any]) -> int:
    """Usage rate between the engine's two samples (precpu_stats → cpu_stats), in nanocores."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get("total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    if used <= 0 or system <= 0:
        return 0
    return int(used / system * cpus * 1e9)


def working_set(memory: dict[str, Any]) -> int:
    """Usage minus inactive file pages, as cAdvisor computes the working set (cgroup v1 and v2)."""
    usage = memory.get("usage", 0)
    extra = memory.get("stats") or {}
    inactive = extra.get("total_inactive_file", extra.get("inactive_file", 0))
    return max(usage - inactive, 0)


# Linux capabilities by bit number (capability.h), in the engine's spelling.
CAPABILITIES = (  # noqa: SIM905 - one name per bit, in order
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
    "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
    "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
    "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
).split()


# Docker 20.10 knows capabilities up to AUDIT_READ: it refuses newer names in --cap-drop, and
# its --cap-add ALL never grants them, so they need no dropping.
ENGINE_CAPABILITIES = CAPABILITIES[: CAPABILITIES.index("AUDIT_READ") + 1]


def missing_host_caps(status: str | None = None) -> list[str]:
    """Capabilities the engine knows that are absent from this process's bounding set
    (``CapBnd`` in /proc/self/status): a node that is itself a container lacks some."""
    if status is None:
        with open("/proc/self/status") as f:
            status = f.read()
    bound = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("CapBnd:")), -1)
    return [name for bit, name in enumerate(ENGINE_CAPABILITIES) if not bound >> bit & 1]


def _default_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


class DockerRuntime:
    """runtime.Runtime on the Docker Engine; see the module docstring."""

    def __init__(
        self,
        cni: CNINetwork | None,
        *,
        root_dir: str,
        pause_image: str = PAUSE_IMAGE,
        cgroup_parent: str = "",
        socket_path: str = "",
        labels: dict[str, str] | None = None,
        pull_timeout: float = 120.0,
        log_max_size: str = "10m",
        log_max_files: int = 5,
        workers: int = 64,  # threads (and engine connections): a burst of pods blocks many at once
        node_network_container: str = "",
    ) -> None:
        self.cni = cni
        # hostNetwork pods share the node's network namespace: the host's, or this container's
        # when the node is one of several on the machine, each in a namespace of its own.
        self.host_network_mode = f"container:{node_network_container}" if node_network_container else "host"
        self.root_dir = Path(root_dir)
        self.pause_image = pause_image
        self.cgroup_parent = cgroup_parent
        self.socket_path = socket_path or _default_socket()
        self.labels = dict(labels or {})
        self.pull_timeout = pull_timeout
        # json-file rotation, as the kubelet's containerLogMaxSize/containerLogMaxFiles.
        self._log_config = {
            "Type": "json-file",
            "Config": {"max-size": log_max_size, "max-file": str(log_max_files)},
        }
        self.api = docker.APIClient(
            base_url=f"unix://{self.socket_path}", version="auto", timeout=60, max_pool_size=workers
        )
        # Our own threads: slow engine calls (stats, stop with a grace period) must not starve
        # the event loop's default executor, which every other component shares.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker-runtime")
        self._status_cache: dict[str, tuple[str, ContainerStatus]] = {}
        # A sandbox's IPs from its CNI result, read once: every relist lists every sandbox.
        self._sandbox_ips: dict[str, list[str]] = {}
        self._privileged: bool | None = None

    # -- plumbing ---------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An SDK call in a worker thread; engine errors become RuntimeFailure/NotFound."""
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, functools.partial(fn, *args, **kwargs)
            )
        except docker.errors.NotFound as exc:
            raise NotFound(str(exc.explanation or exc)) from exc
        except docker.errors.APIError as exc:
            raise RuntimeFailure(str(exc.explanation or exc)) from exc

    async def _force_remove(self, container_id: str) -> None:
        """Remove a container; one already gone, or being removed by someone else, is fine."""
        try:
            await self._call(self.api.remove_container, container_id, force=True)
        except NotFound:
            pass
        except RuntimeFailure as exc:
            # 409 "removal ... is already in progress": another remover (garbage collection,
            # a pod's teardown) got there first, and the container is going either way.
            if "already in progress" not in str(exc):
                raise

    def _filters(self, kind: str, **extra: str) -> dict[str, list[str]]:
        wanted = {CONTAINER_TYPE: kind, **self.labels, **extra}
        return {"label": [f"{k}={v}" for k, v in wanted.items()]}

    def close(self) -> None:
        self.api.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def version(self) -> tuple[str, str]:
        info = await self._call(self.api.version)
        return "docker", str(info.get("Version", ""))

    async def status(self) -> RuntimeStatus:
        try:
            await self._call(self.api.ping)
        except (RuntimeFailure, OSError, docker.errors.DockerException) as exc:
            return RuntimeStatus(False, False, "DockerDaemonNotReady", str(exc))
        if self.cni is None:
            return RuntimeStatus(True, True)
        ok, why = self.cni.ready()
        return RuntimeStatus(True, ok, "" if ok else "NetworkPluginNotReady", why)

    async def update_pod_cidr(self, pod_cidr: str) -> None:
        if self.cni is not None and pod_cidr:
            await asyncio.get_running_loop().run_in_executor(self._pool, self.cni.configure, pod_cidr)
            if self.cni.non_masquerade_cidr:
                await ensure_masquerade(pod_cidr, self.cni.non_masquerade_cidr)

    # -- sandboxes --------------------------------------------------------------------------------

    def _sandbox_dir(self, uid: str, sandbox_name: str) -> Path:
        return self.root_dir / "pods" / uid / "sandboxes" / sandbox_name

    def _write_resolv(self, sandbox: SandboxConfig) -> str:
        """A resolv.conf from ``sandbox.dns`` when the kubelet gave no file of its own ("" for none)."""
        if sandbox.dns is None or sandbox.host_network:
            return ""
        path = self.root_dir / "pods" / sandbox.pod_uid / "resolv.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(resolv_conf(sandbox.dns))
        return str(path)

    async def run_sandbox(self, config: SandboxConfig) -> str:
        if not config.host_network and self.cni is None:
            raise RuntimeFailure(
                "no pod network configured (CNI) for a non-hostNetwork pod", "NetworkNotReady"
            )
        if not config.host_network:
            ok, why = self.cni.ready()  # type: ignore[union-attr]
            if not ok:
                raise RuntimeFailure(why, "NetworkNotReady")
        labels = {
            **config.labels,
            **{ANNOTATION_PREFIX + k: v for k, v in config.annotations.items()},
            **self.labels,
            POD_UID: config.pod_uid,
            POD_NAME: config.name,
            POD_NAMESPACE: config.namespace,
            CONTAINER_NAME: "POD",
            CONTAINER_ATTEMPT: str(config.attempt),
            CONTAINER_TYPE: TYPE_SANDBOX,
            HOST_NETWORK: str(config.host_network).lower(),
        }
        host_config = self.api.create_host_config(
            network_mode=self.host_network_mode if config.host_network else "none",
            ipc_mode="shareable",  # app containers join it with container:<id>
            cgroup_parent=config.cgroup_parent or self.cgroup_parent or None,
            sysctls=config.sysctls or None,
            log_config=self._log_config,
        )
        name = container_name(
            TYPE_SANDBOX, "POD", config.name, config.namespace, config.pod_uid, config.attempt
        )
        created = await self._create(
            name,
            image=self.pause_image,
            hostname=None if config.host_network else (config.hostname or config.name)[:63],
            labels=labels,
            host_config=host_config,
        )
        sandbox_id = created["Id"]
        try:
            await self._call(self.api.start, sandbox_id)
            if not config.host_network:
                pid = (await self._call(self.api.inspect_container, sandbox_id))["State"]["Pid"]
                cni_args = (
                    f"IgnoreUnknown=1;K8S_POD_NAMESPACE={config.namespace};K8S_POD_NAME={config.name};"
                    f"K8S_POD_INFRA_CONTAINER_ID={sandbox_id};K8S_POD_UID={config.pod_uid}"
                )
                await self.cni.add(  # type: ignore[union-attr]
                    sandbox_id, f"/proc/{pid}/ns/net", config.port_mappings, cni_args
                )
        except (RuntimeFailure, CNIError, OSError, TimeoutError) as exc:
            with contextlib.suppress(RuntimeFailure):
                await self._call(self.api.remove_container, sandbox_id, force=True)
            if isinstance(exc, RuntimeFailure):
                raise
            raise RuntimeFailure(f"failed to set up sandbox network: {exc}", "CreatePodSandboxError") from exc
        return sandbox_id

    async def _create(self, name: str, **kwargs: Any) -> dict[str, Any]:
        """create_container; a name taken by an earlier try gets a random suffix (as dockershim)."""
        stdin_once = kwargs.pop("stdin_once", False)
        kwargs.setdefault("command", None)
        config = self.api.create_container_config(**kwargs)
        config["StdinOnce"] = stdin_once  # the SDK has no argument for it
        try:
            return await self._call(self.api.create_container_from_config, config, name)
        except RuntimeFailure as exc:
            cause = exc.__cause__
            if isinstance(cause, docker.errors.ImageNotFound):
                msg = f'image "{kwargs.get("image")}" is not present on the node: {cause.explanation}'
                raise ImageNotPresent(msg, "ErrImageNeverPull") from exc
            if isinstance(cause, docker.errors.APIError) and cause.status_code == 409:
                return await self._call(
                    self.api.create_container_from_config, config, f"{name}_{secrets.token_hex(4)}"
                )
            raise

    async def stop_sandbox(self, sandbox_id: str) -> None:
        try:
            info = await self._call(self.api.inspect_container, sandbox_id)
        except NotFound:
            if self.cni is not None and self.cni.cached(sandbox_id) is not None:
                await self._network_down(sandbox_id, "")
            return
        # Containers first (the kubelet has normally stopped them gracefully already).
        for c in await self.list_containers(sandbox_id):
            if c.state == "running":
                await self.stop_container(c.id, 0)
        host_network = info["Config"]["Labels"].get(HOST_NETWORK) == "true"
        running, pid = info["State"]["Running"], info["State"]["Pid"]
        # A stopped sandbox without a cached result had its DEL already (DEL is idempotent, but
        # four plugin execs per kubelet sync of a dead pod add up).
        if self.cni is not None and not host_network and (running or self.cni.cached(sandbox_id)):
            # Never pass a netns path of a dead pid: it may be someone else's by now.
            await self._network_down(sandbox_id, f"/proc/{pid}/ns/net" if running and pid else "")
        with contextlib.suppress(NotFound):
            await self._call(self.api.stop, sandbox_id, timeout=10)

    async def _network_down(self, sandbox_id: str, netns: str) -> None:
        self._sandbox_ips.pop(sandbox_id, None)
        try:
            await self.cni.delete(sandbox_id, netns)  # type: ignore[union-attr]
        except (CNIError, OSError, TimeoutError, RuntimeError) as exc:
            raise RuntimeFailure(f"failed to tear down the network of sandbox {sandbox_id}: {exc}") from exc

    async def remove_sandbox(self, sandbox_id: str) -> None:
        for c in await self.list_containers(sandbox_id):
            await self.remove_container(c.id)
        try:
            info = await self._call(self.api.inspect_container, sandbox_id)
        except NotFound:
            return
        if info["State"]["Running"]:
            await self.stop_sandbox(sandbox_id)
        await self._force_remove(sandbox_id)
        labels = info["Config"]["Labels"]
        shutil.rmtree(self._sandbox_dir(labels.get(POD_UID, "_"), sandbox_id), ignore_errors=True)

    def _sandbox_from(self, cid: str, labels: dict[str, str], running: bool, created: float) -> SandboxStatus:
        host_network = labels.get(HOST_NETWORK) == "true"
        ips: list[str] = []
        if self.cni is not None and not host_network:
            ips = self._sandbox_ips.get(cid) or []
            cached = None if ips else self.cni.cached(cid)
            if cached:
                ips = parse_result(cached.get("result") or {}).ips
                if ips and running:
                    self._sandbox_ips[cid] = ips
        return SandboxStatus(
            id=cid,
            pod_uid=labels.get(POD_UID, ""),
            name=labels.get(POD_NAME, ""),
            namespace=labels.get(POD_NAMESPACE, ""),
            attempt=int(labels.get(CONTAINER_ATTEMPT, "0") or 0),
            ready=running and (host_network or bool(ips) or self.cni is None),
            ip=ips[0] if ips else "",
            ips=ips,
            created_at=created,
            host_network=host_network,
            labels=labels,
        )

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        info = await self._call(self.api.inspect_container, sandbox_id)
        labels = info["Config"]["Labels"] or {}
        if labels.get(CONTAINER_TYPE) != TYPE_SANDBOX:
            raise NotFound(f"{sandbox_id} is not a pod sandbox")
        return self._sandbox_from(info["Id"], labels, info["State"]["Running"], parse_time(info["Created"]))

    async def list_sandboxes(self) -> list[SandboxStatus]:
        found = await self._call(self.api.containers, all=True, filters=self._filters(TYPE_SANDBOX))
        live = {c["Id"] for c in found if c.get("State") == "running"}
        self._sandbox_ips = {k: v for k, v in self._sandbox_ips.items() if k in live}
        return [
            self._sandbox_from(
                c["Id"], c.get("Labels") or {}, c.get("State") == "running", float(c["Created"])
            )
            for c in found
        ]

    async def cleanup_network(self) -> None:
        """Remove CNI leftovers of sandboxes that no longer exist on this engine (any runtime's)."""
        if self.cni is None:
            return
        live = await self._call(self.api.containers, all=True, quiet=True)
        try:
            await self.cni.garbage_collect({c["Id"] for c in live})
        except (OSError, TimeoutError, RuntimeError) as exc:
            raise RuntimeFailure(f"CNI garbage collection failed: {exc}") from exc

    # -- containers -------------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig) -> str:
        sandbox_info = await self._call(self.api.inspect_container, sandbox_id)
        host_network = sandbox_info["Config"]["Labels"].get(HOST_NETWORK) == "true"
        binds = [f"{m.host_path}:{m.container_path}:{'ro' if m.read_only else 'rw'}" for m in config.mounts]
        if sandbox.hosts_file:
            binds.append(f"{sandbox.hosts_file}:/etc/hosts:rw")
        resolv = sandbox.resolv_file or self._write_resolv(sandbox)
        if resolv:
            binds.append(f"{resolv}:/etc/resolv.conf:rw")
        termination_log = ""
        if config.termination_message_path:
            tdir = self._sandbox_dir(sandbox.pod_uid, sandbox_id) / "containers" / config.name
            tdir.mkdir(parents=True, exist_ok=True)
            termination = tdir / f"termination-log-{config.attempt}-{secrets.token_hex(3)}"
            termination.touch(mode=0o666)
            os.chmod(termination, 0o666)  # whatever user the container runs as may write it
            termination_log = str(termination)
            binds.append(f"{termination_log}:{config.termination_message_path}:rw")
        res, sec = config.resources, config.security
        security_opt = ["no-new-privileges"] if sec.allow_privilege_escalation is False else None
        privileged = sec.privileged and await self._privileged_supported()
        cap_add, cap_drop = sec.capabilities_add, sec.capabilities_drop
        if sec.privileged and not privileged:  # the engine can't grant every capability here
            cap_add, cap_drop, security_opt = ["ALL"], missing_host_caps(), list(APPROX_PRIVILEGED_OPTS)
        host_config = self.api.create_host_config(
            binds=binds or None,
            network_mode=f"container:{sandbox_id}",
            ipc_mode=f"container:{sandbox_id}",
            cpu_shares=res.cpu_shares or None,
            cpu_quota=res.cpu_quota or None,
            cpu_period=res.cpu_period if res.cpu_quota else None,
            mem_limit=res.memory_limit or None,
            memswap_limit=res.memory_limit or None,  # no swap beyond the limit, as upstream
            oom_score_adj=res.oom_score_adj or None,
            privileged=privileged,
            device_cgroup_rules=["a *:* rwm"] if sec.privileged and not privileged else None,
            read_only=sec.read_only_root_filesystem,
            cap_add=cap_add or None,
            cap_drop=cap_drop or None,
            group_add=[str(g) for g in sec.supplemental_groups] or None,
            security_opt=security_opt,
            cgroup_parent=sandbox.cgroup_parent or self.cgroup_parent or None,
            log_config=self._log_config,
        )
        if sec.privileged and not privileged:
            host_config["MaskedPaths"], host_config["ReadonlyPaths"] = [], []  # systempaths=unconfined
        labels = {
            **config.labels,
            **{ANNOTATION_PREFIX + k: v for k, v in config.annotations.items()},
            **self.labels,
            POD_UID: sandbox.pod_uid,
            POD_NAME: sandbox.name,
            POD_NAMESPACE: sandbox.namespace,
            CONTAINER_NAME: config.name,
            CONTAINER_ATTEMPT: str(config.attempt),
            CONTAINER_TYPE: TYPE_CONTAINER,
            SANDBOX_ID: sandbox_id,
            HOST_NETWORK: str(host_network).lower(),
            LOG_PATH: config.log_path,
            TERMINATION_LOG: termination_log,
        }
        name = container_name(
            TYPE_CONTAINER, config.name, sandbox.name, sandbox.namespace, sandbox.pod_uid, config.attempt
        )
        created = await self._create(
            name,
            image=config.image,
            # A command replaces the image's entrypoint *and* its cmd (Kubernetes semantics).
            entrypoint=config.command or None,
            command=config.args if (config.args or config.command) else None,
            working_dir=config.working_dir or None,
            environment=[f"{k}={v}" for k, v in config.env] or None,
            user=user_spec(sec.run_as_user, sec.run_as_group) or None,
            tty=config.tty,
            stdin_open=config.stdin,
            stdin_once=config.stdin_once,
            labels=labels,
            host_config=host_config,
        )
        return str(created["Id"])

    async def _privileged_supported(self) -> bool:
        """Whether ``--privileged`` starts here (it fails where the host itself lacks a capability,
        e.g. CAP_SYS_RESOURCE in some VMs); probed once with a throwaway pause container."""
        if self._privileged is None:
            probe = ""
            try:
                host_config = self.api.create_host_config(privileged=True, network_mode="none")
                probe = (
                    await self._call(
                        self.api.create_container,
                        self.pause_image,
                        labels={**self.labels, "io.kubeling.probe": "privileged"},
                        host_config=host_config,
                    )
                )["Id"]
                await self._call(self.api.start, probe)
                self._privileged = True
            except RuntimeFailure as exc:
                log.warning("privileged containers are approximated on this host: %s", exc)
                self._privileged = False
            finally:
                if probe:
                    with contextlib.suppress(RuntimeFailure):
                        await self._call(self.api.remove_container, probe, force=True)
        return self._privileged

    async def start_container(self, container_id: str) -> None:
        try:
            await self._call(self.api.start, container_id)
        except NotFound:
            raise
        except RuntimeFailure as exc:
            raise RuntimeFailure(str(exc), "RunContainerError") from exc
        info = await self._call(self.api.inspect_container, container_id)
        link, target = info["Config"]["Labels"].get(LOG_PATH, ""), info.get("LogPath", "")
        if link and target:  # /var/log/pods/... → the engine's json log, as upstream keeps it
            Path(link).parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(target, link)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        try:
            await self._call(self.api.stop, container_id, timeout=max(math.ceil(timeout), 0))
        except NotFound:
            return

    async def remove_container(self, container_id: str) -> None:
        self._status_cache.pop(container_id, None)
        try:
            info = await self._call(self.api.inspect_container, container_id)
        except NotFound:
            return
        link = info["Config"]["Labels"].get(LOG_PATH, "")
        await self._force_remove(container_id)
        if link and os.path.islink(link):
            os.unlink(link)
        termination = info["Config"]["Labels"].get(TERMINATION_LOG, "")
        if termination:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(termination)

    def _status_from(self, info: dict[str, Any]) -> ContainerStatus:
        state, labels = info["State"], info["Config"]["Labels"] or {}
        status = state.get("Status", "")
        mapped = {"created": "created", "running": "running", "exited": "exited", "dead": "exited"}
        result = ContainerStatus(
            id=info["Id"],
            sandbox_id=labels.get(SANDBOX_ID, ""),
            name=labels.get(CONTAINER_NAME, ""),
            attempt=int(labels.get(CONTAINER_ATTEMPT, "0") or 0),
            state=mapped.get(status, "unknown"),
            image=info["Config"].get("Image", ""),
            image_ref=info.get("Image", ""),
            created_at=parse_time(info.get("Created")),
            started_at=parse_time(state.get("StartedAt")),
            finished_at=parse_time(state.get("FinishedAt")),
            exit_code=int(state.get("ExitCode", 0)),
            labels=labels,
            log_path=labels.get(LOG_PATH, ""),
            engine_log_path=info.get("LogPath") or "",
        )
        if result.finished_at and result.finished_at < result.started_at:
            result.finished_at = result.started_at  # the engine stamps StartedAt late for quick exits
        if result.state == "exited" or (result.state == "created" and state.get("Error")):
            result.reason = exit_reason(state)
            result.message = state.get("Error", "") or self._termination_message(labels)
        return result

    @staticmethod
    def _termination_message(labels: dict[str, str]) -> str:
        path = labels.get(TERMINATION_LOG, "")
        if not path:
            return ""
        try:
            with open(path, "rb") as f:
                return f.read(TERMINATION_MESSAGE_LIMIT).decode(errors="replace")
        except OSError:
            return ""

    async def container_status(self, container_id: str) -> ContainerStatus:
        info = await self._call(self.api.inspect_container, container_id)
        if (info["Config"]["Labels"] or {}).get(CONTAINER_TYPE) != TYPE_CONTAINER:
            raise NotFound(f"{container_id} is not a pod container")
        return self._status_from(info)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        extra = {SANDBOX_ID: sandbox_id} if sandbox_id else {}
        found = await self._call(
            self.api.containers, all=True, filters=self._filters(TYPE_CONTAINER, **extra)
        )
        # Inspect only what changed since the last look (a container's details are fixed per state),
        # all at once: thirty pods starting together must not queue thirty inspects behind each other.
        changed = [
            c
            for c in found
            if (cached := self._status_cache.get(c["Id"])) is None or cached[0] != c.get("State")
        ]

        async def inspect(c: dict[str, Any]) -> None:
            try:
                status = self._status_from(await self._call(self.api.inspect_container, c["Id"]))
            except NotFound:  # removed meanwhile
                self._status_cache.pop(c["Id"], None)
                return
            self._status_cache[c["Id"]] = (c.get("State", ""), status)

        await asyncio.gather(*(inspect(c) for c in changed))
        out = [self._status_cache[c["Id"]][1] for c in found if c["Id"] in self._status_cache]
        live = {c["Id"] for c in found}
        if sandbox_id is None:
            self._status_cache = {k: v for k, v in self._status_cache.items() if k in live}
        return out

    # -- exec, attach, logs, port-forward ---------------------------------------------------------

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        # Over the hijacked stream, not the SDK: a probe that hangs must not hold a worker thread.
        stream = await self.exec(container_id, command, tty=False, stdin=False)
        out: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}

        async def collect() -> None:
            async for fd, data in stream.output():
                out.setdefault(fd, bytearray()).extend(data)

        try:
            await asyncio.wait_for(collect(), timeout if timeout > 0 else None)
        except TimeoutError:
            # Kill the command (by its host pid) so nothing lingers in the container.
            pid = (await self._call(self.api.exec_inspect, stream.exec_id)).get("Pid", 0)
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise DeadlineExceeded(f"command {command!r} timed out after {timeout}s") from None
        finally:
            await stream.close()
        return ExecResult(await stream.wait(), bytes(out[1]), bytes(out[2]))

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> Stream:
        created = await self._call(
            self.api.exec_create, container_id, command, stdout=True, stderr=True, stdin=stdin, tty=tty
        )
        exec_id = created["Id"]
        reader, writer, _ = await dockerstreams.request(
            self.socket_path,
            "POST",
            f"/exec/{exec_id}/start",
            body={"Detach": False, "Tty": tty},
            upgrade=True,
        )

        async def resize(width: int, height: int) -> None:
            await self._call(self.api.exec_resize, exec_id, height=height, width=width)

        async def exit_code() -> int:
            for _ in range(50):  # the engine records the code a moment after the stream ends
                info = await self._call(self.api.exec_inspect, exec_id)
                if not info.get("Running"):
                    return int(info.get("ExitCode") or 0)
                await asyncio.sleep(0.1)
            return -1

        stream = dockerstreams.HijackedStream(reader, writer, tty=tty, resize=resize, exit_code=exit_code)
        stream.exec_id = exec_id
        return stream

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> Stream:
        query = {"stream": 1, "stdout": 1, "stderr": 1, "stdin": int(stdin)}
        reader, writer, _ = await dockerstreams.request(
            self.socket_path, "POST", f"/containers/{container_id}/attach", query, upgrade=True
        )

        async def resize(width: int, height: int) -> None:
            await self._call(self.api.resize, container_id, height=height, width=width)

        async def exit_code() -> int:
            info = await self._call(self.api.inspect_container, container_id)
            return int(info["State"].get("ExitCode") or 0)

        return dockerstreams.HijackedStream(reader, writer, tty=tty, resize=resize, exit_code=exit_code)

    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        info = await self._call(self.api.inspect_container, container_id)
        async for chunk in dockerstreams.logs(
            self.socket_path,
            container_id,
            tty=bool(info["Config"].get("Tty")),
            follow=follow,
            tail_lines=tail_lines,
            since=since,
            timestamps=timestamps,
            limit_bytes=limit_bytes,
        ):
            yield chunk

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[object, object]:
        """Connect from the node to the pod's IP (the pod network is routable from here)."""
        sandbox = await self.sandbox_status(sandbox_id)
        host = "127.0.0.1" if sandbox.host_network else sandbox.ip
        if not host:
            raise RuntimeFailure(f"sandbox {sandbox_id} has no IP to forward to")
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError) as exc:
            raise RuntimeFailure(
                f"unable to connect to {host}:{port} in sandbox {sandbox_id}: {exc}"
            ) from exc

    async def stats(self, container_ids: list[str]) -> list[ContainerStats]:
        async def one(cid: str) -> ContainerStats | None:
            try:
                raw = await self._call(self.api.stats, cid, stream=False)
            except NotFound:
                return None
            memory = raw.get("memory_stats") or {}
            return ContainerStats(
                id=cid,
                cpu_usage_nanocores=cpu_nanocores(raw),
                cpu_usage_core_nanoseconds=int(
                    (raw.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage", 0)
                ),
                memory_working_set_bytes=working_set(memory),
                memory_usage_bytes=int(memory.get("usage", 0)),
                timestamp=parse_time(raw.get("read")) or time.time(),
            )

        results = await asyncio.gather(*(one(c) for c in container_ids))
        return [r for r in results if r is not None]

    # -- images -----------------------------------------------------------------------------------

    @staticmethod
    def _image(info: dict[str, Any]) -> ImageInfo:
        return ImageInfo(
            id=info["Id"],
            tags=[t for t in info.get("RepoTags") or [] if t != "<none>:<none>"],
            digests=[d for d in info.get("RepoDigests") or [] if not d.startswith("<none>")],
            size=int(info.get("Size") or 0),
        )

    async def image_status(self, ref: str) -> ImageInfo | None:
        try:
            return self._image(await self._call(self.api.inspect_image, ref))
        except NotFound:
            return None

    async def list_images(self) -> list[ImageInfo]:
        return [self._image(i) for i in await self._call(self.api.images)]

    async def pull_image(self, ref: str) -> ImageInfo:
        repo, tag = _split_ref(ref)
        try:
            out = await asyncio.wait_for(self._call(self.api.pull, repo, tag=tag), self.pull_timeout)
        except (RuntimeFailure, TimeoutError, OSError, docker.errors.DockerException) as exc:
            why = str(exc) or type(exc).__name__
            raise ImageNotPresent(f'failed to pull image "{ref}": {why}', "ErrImagePull") from exc
        # A streamed pull reports failures in its last JSON line, with status 200.
        for line in reversed(str(out).strip().splitlines()):
            with contextlib.suppress(ValueError):
                if "error" in (msg := json.loads(line)):
                    raise ImageNotPresent(f'failed to pull image "{ref}": {msg["error"]}', "ErrImagePull")
            break
        image = await self.image_status(ref)
        if image is None:
            raise ImageNotPresent(f'failed to pull image "{ref}": not present after pull', "ErrImagePull")
        return image


def _split_ref(ref: str) -> tuple[str, str | None]:
    """``repo[:tag][@digest]`` → (repo, tag or digest); a bare name means :latest."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"
