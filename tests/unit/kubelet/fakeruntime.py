"""An in-memory Runtime for unit tests of the kubelet's pod logic: containers "run" until told to exit."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from kubeling.kubelet import runtime as rt


class FakeRuntime:
    def __init__(self, images: tuple[str, ...] = ("busybox",)) -> None:
        self.sandboxes: dict[str, rt.SandboxStatus] = {}
        self.sandbox_configs: dict[str, rt.SandboxConfig] = {}
        self.containers: dict[str, rt.ContainerStatus] = {}
        self.configs: dict[str, rt.ContainerConfig] = {}
        self.images = {ref: rt.ImageInfo(id=f"sha256:{ref}", tags=[ref]) for ref in images}
        self.exec_results: dict[tuple[str, ...], rt.ExecResult] = {}
        self.calls: list[tuple[str, str]] = []
        self.pod_cidr = ""
        self.up = True
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)

    # helpers for tests
    def exit(self, container_id: str, code: int, reason: str = "") -> None:
        status = self.containers[container_id]
        status.state, status.exit_code, status.finished_at = "exited", code, time.time()
        status.reason = reason or ("Completed" if code == 0 else "Error")

    def by_name(self, name: str) -> list[rt.ContainerStatus]:
        return sorted((c for c in self.containers.values() if c.name == name), key=lambda c: c.attempt)

    async def version(self) -> tuple[str, str]:
        return "fake", "1.0"

    async def status(self) -> rt.RuntimeStatus:
        ready = bool(self.pod_cidr)
        return rt.RuntimeStatus(self.up, ready, "" if ready else "NetworkPluginNotReady", "no pod CIDR")

    async def update_pod_cidr(self, pod_cidr: str) -> None:
        self.pod_cidr = pod_cidr

    async def run_sandbox(self, config: rt.SandboxConfig) -> str:
        sid = f"s{next(self._ids)}"
        ip = "" if config.host_network else f"10.244.0.{next(self._ips)}"
        self.sandboxes[sid] = rt.SandboxStatus(
            id=sid,
            pod_uid=config.pod_uid,
            name=config.name,
            namespace=config.namespace,
            attempt=config.attempt,
            ready=True,
            ip=ip,
            ips=[ip] if ip else [],
            created_at=time.time(),
            host_network=config.host_network,
        )
        self.sandbox_configs[sid] = config
        self.calls.append(("run_sandbox", config.name))
        return sid

    async def stop_sandbox(self, sandbox_id: str) -> None:
        if sandbox_id in self.sandboxes:
            self.sandboxes[sandbox_id].ready = False
        self.calls.append(("stop_sandbox", sandbox_id))

    async def remove_sandbox(self, sandbox_id: str) -> None:
        self.sandboxes.pop(sandbox_id, None)

    async def sandbox_status(self, sandbox_id: str) -> rt.SandboxStatus:
        if sandbox_id not in self.sandboxes:
            raise rt.NotFound(sandbox_id)
        return replace(self.sandboxes[sandbox_id])

    async def list_sandboxes(self) -> list[rt.SandboxStatus]:
        return [replace(s) for s in self.sandboxes.values()]

    async def create_container(
        self, sandbox_id: str, config: rt.ContainerConfig, sandbox: rt.SandboxConfig
    ) -> str:
        cid = f"c{next(self._ids)}"
        self.containers[cid] = rt.ContainerStatus(
            id=cid,
            sandbox_id=sandbox_id,
            name=config.name,
            attempt=config.attempt,
            state="created",
            image=config.image,
            image_ref=f"sha256:{config.image}",
            created_at=time.time(),
            labels=dict(config.labels),
        )
        self.configs[cid] = config
        self.calls.append(("create", config.name))
        return cid

    async def start_container(self, container_id: str) -> None:
        status = self.containers[container_id]
        status.state, status.started_at = "running", time.time()
        self.calls.append(("start", status.name))

    async def stop_container(self, container_id: str, timeout: float) -> None:
        status = self.containers.get(container_id)
        if status is not None and status.state == "running":
            self.exit(container_id, 137)
        self.calls.append(("stop", container_id))

    async def remove_container(self, container_id: str) -> None:
        self.containers.pop(container_id, None)
        self.calls.append(("remove", container_id))

    async def container_status(self, container_id: str) -> rt.ContainerStatus:
        if container_id not in self.containers:
            raise rt.NotFound(container_id)
        return replace(self.containers[container_id])

    async def list_containers(self, sandbox_id: str | None = None) -> list[rt.ContainerStatus]:
        return [replace(c) for c in self.containers.values() if sandbox_id in (None, c.sandbox_id)]

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> rt.ExecResult:
        self.calls.append(("exec", " ".join(command)))
        return self.exec_results.get(tuple(command), rt.ExecResult(0))

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> rt.Stream:
        raise NotImplementedError

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> rt.Stream:
        raise NotImplementedError

    async def logs(self, container_id: str, **_: object) -> AsyncIterator[bytes]:  # type: ignore[override]
        yield b""

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[object, object]:
        raise NotImplementedError

    async def stats(self, container_ids: list[str]) -> list[rt.ContainerStats]:
        return []

    async def image_status(self, ref: str) -> rt.ImageInfo | None:
        return self.images.get(ref)

    async def pull_image(self, ref: str) -> rt.ImageInfo:
        self.calls.append(("pull", ref))
        if ref not in self.images:
            raise rt.ImageNotPresent(f"pull access denied for {ref}", "ErrImagePull")
        return self.images[ref]

    async def list_images(self) -> list[rt.ImageInfo]:
        return list(self.images.values())


class FakeVolumes:
    """emptyDir only, under ``root``; enough for the pod worker's unit tests."""

    def __init__(self, root) -> None:
        self.root = root
        self.torn_down: list[str] = []

    async def setup(self, pod: dict) -> None:
        for volume in pod["spec"].get("volumes") or []:
            (self.root / pod["metadata"]["uid"] / volume["name"]).mkdir(parents=True, exist_ok=True)

    def mounts_for(self, pod: dict, container: dict, env: dict | None = None) -> list[rt.Mount]:
        return [
            rt.Mount(str(self.root / pod["metadata"]["uid"] / m["name"]), m["mountPath"])
            for m in container.get("volumeMounts") or []
        ]

    async def refresh(self, pod: dict) -> bool:
        return False

    async def teardown(self, pod_uid: str) -> None:
        self.torn_down.append(pod_uid)
