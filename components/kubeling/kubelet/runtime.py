"""The container runtime interface the kubelet drives (a small CRI).

The kubelet thinks in pods; a runtime thinks in *sandboxes* (one per pod:
the network namespace, IPC namespace, hostname and the pod's IP) and
*containers* that join a sandbox.  Every method is a coroutine and every
value is a plain dataclass, so the kubelet never sees Docker (or whatever
else) types.  Implementations:

- :mod:`kubeling.kubelet.docker` — the Docker Engine, pause sandboxes wired
  by CNI plugins;
- a fake in unit tests of the kubelet's pod logic.

Identity lives in labels, as upstream's dockershim kept it: every sandbox
and container carries the pod's uid/name/namespace, containers also their
container name and attempt (restart count), so a restarted kubelet
rebuilds its whole view from :meth:`Runtime.list_sandboxes` and
:meth:`Runtime.list_containers` alone.

Errors: :class:`RuntimeFailure` subclasses, never the implementation's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

# Labels every sandbox/container carries (upstream's names, from the CRI shims).
POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
CONTAINER_ATTEMPT = "io.kubernetes.container.restartCount"  # as annotation upstream; a label here
CONTAINER_TYPE = "io.kubernetes.docker.type"  # "podsandbox" or "container"


class RuntimeFailure(Exception):
    """A runtime operation failed; ``reason`` is what the kubelet reports (e.g. ErrImagePull)."""

    def __init__(self, message: str, reason: str = "RuntimeError") -> None:
        super().__init__(message)
        self.reason = reason


class NotFound(RuntimeFailure):
    def __init__(self, message: str) -> None:
        super().__init__(message, "NotFound")


class DeadlineExceeded(RuntimeFailure):
    """An operation outlived its timeout (exec_sync: the command was killed; probes report "timed out")."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "DeadlineExceeded")


class ImageNotPresent(RuntimeFailure):
    """The image is not on the node, and pulling it is not allowed or failed (ErrImagePull)."""


# -- sandboxes --------------------------------------------------------------------------------


@dataclass
class PortMapping:
    container_port: int
    host_port: int
    protocol: str = "TCP"  # TCP | UDP | SCTP
    host_ip: str = ""


@dataclass
class DNSConfig:
    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class SandboxConfig:
    pod_uid: str
    name: str
    namespace: str
    attempt: int = 0
    hostname: str = ""
    host_network: bool = False
    dns: DNSConfig | None = None  # None: the node's own resolv.conf (dnsPolicy Default / hostNetwork)
    hosts_file: str = ""  # a file the kubelet wrote, bind-mounted as /etc/hosts in every container
    resolv_file: str = ""  # likewise /etc/resolv.conf
    port_mappings: list[PortMapping] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""
    sysctls: dict[str, str] = field(default_factory=dict)


@dataclass
class SandboxStatus:
    id: str
    pod_uid: str
    name: str
    namespace: str
    attempt: int
    ready: bool  # the sandbox process runs and its network is set up
    ip: str = ""
    ips: list[str] = field(default_factory=list)
    created_at: float = 0.0  # epoch seconds
    host_network: bool = False
    labels: dict[str, str] = field(default_factory=dict)


# -- containers -------------------------------------------------------------------------------


@dataclass
class Mount:
    host_path: str
    container_path: str
    read_only: bool = False
    sub_path: str = ""  # resolved by the kubelet into host_path; kept for messages


@dataclass
class Resources:
    cpu_shares: int = 2  # cgroup v1 cpu.shares (upstream: milliCPU * 1024 / 1000, min 2)
    cpu_quota: int = 0  # microseconds per period; 0 = no limit
    cpu_period: int = 100_000
    memory_limit: int = 0  # bytes; 0 = no limit
    oom_score_adj: int = 0


@dataclass
class SecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: list[int] = field(default_factory=list)
    privileged: bool = False
    read_only_root_filesystem: bool = False
    capabilities_add: list[str] = field(default_factory=list)
    capabilities_drop: list[str] = field(default_factory=list)
    allow_privilege_escalation: bool | None = None


@dataclass
class ContainerConfig:
    name: str
    image: str
    command: list[str] = field(default_factory=list)  # the image's entrypoint when empty
    args: list[str] = field(default_factory=list)  # the image's cmd when both are empty
    working_dir: str = ""
    env: list[tuple[str, str]] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    security: SecurityContext = field(default_factory=SecurityContext)
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    attempt: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""  # where the kubelet wants the log (a symlink target under /var/log/pods)
    termination_message_path: str = "/dev/termination-log"


@dataclass
class ContainerStatus:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: str  # "created" | "running" | "exited" | "unknown"
    image: str = ""
    image_ref: str = ""  # the image ID (docker-pullable://... or sha256:...)
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""  # "OOMKilled" | "Error" | "Completed" | "ContainerCannotRun" ...
    message: str = ""  # the termination message, or the runtime's error
    labels: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    engine_log_path: str = ""  # the runtime's own log file (Docker's json-file LogPath), once started


@dataclass
class ImageInfo:
    id: str
    tags: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


class Stream(Protocol):
    """A running exec or attach session: bytes in and out, resize, and the exit code at the end."""

    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(1 = stdout | 2 = stderr, data) chunks until the process ends."""
        ...

    async def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int: ...
    async def close(self) -> None: ...


@dataclass
class ContainerStats:
    id: str
    cpu_usage_nanocores: int = 0
    cpu_usage_core_nanoseconds: int = 0
    memory_working_set_bytes: int = 0
    memory_usage_bytes: int = 0
    timestamp: float = 0.0


@dataclass
class RuntimeStatus:
    """CRI Status: the RuntimeReady and NetworkReady conditions the kubelet's Ready condition reflects."""

    runtime_ready: bool
    network_ready: bool
    reason: str = ""  # e.g. "NetworkPluginNotReady"
    message: str = ""  # e.g. "cni config uninitialized"


class Runtime(Protocol):
    """What the kubelet needs from a container runtime; see the module docstring."""

    async def version(self) -> tuple[str, str]:
        """(runtime name, version), e.g. ("docker", "20.10.24"), for nodeInfo.containerRuntimeVersion."""
        ...

    async def status(self) -> RuntimeStatus:
        """Whether the engine answers and pod networking is configured (CNI config written)."""
        ...

    async def update_pod_cidr(self, pod_cidr: str) -> None:
        """The node's podCIDR is known or changed (CRI UpdateRuntimeConfig): write the CNI config for it.

        Until the first call the network is not ready and run_sandbox of a non-hostNetwork pod fails.
        """
        ...

    # sandboxes
    async def run_sandbox(self, config: SandboxConfig) -> str: ...
    async def stop_sandbox(self, sandbox_id: str) -> None:
        """Stop the sandbox and tear its network down (CNI DEL); idempotent."""
        ...

    async def remove_sandbox(self, sandbox_id: str) -> None: ...
    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus: ...
    async def list_sandboxes(self) -> list[SandboxStatus]: ...

    # containers
    async def create_container(
        self, sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig
    ) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM (or the image's stop signal), then SIGKILL after ``timeout`` seconds."""
        ...

    async def remove_container(self, container_id: str) -> None: ...
    async def container_status(self, container_id: str) -> ContainerStatus: ...
    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...
    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        """Run a command to completion (exec probes, hooks); ``timeout`` bounds it (DeadlineExceeded)."""
        ...

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> Stream: ...
    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> Stream: ...
    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]: ...

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[object, object]:
        """An (asyncio StreamReader, StreamWriter) pair connected to ``port`` inside the pod's network."""
        ...

    async def stats(self, container_ids: list[str]) -> list[ContainerStats]: ...

    # images
    async def image_status(self, ref: str) -> ImageInfo | None: ...
    async def pull_image(self, ref: str) -> ImageInfo: ...
    async def list_images(self) -> list[ImageInfo]: ...
