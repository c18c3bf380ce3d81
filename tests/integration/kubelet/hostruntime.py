"""A stand-in runtime for the kubelet server's tests until the Docker runtime lands: real host processes.

One "pod" is a sandbox whose ports map to loopback ports; its one
"container" is a real ``sh`` process whose output is logged to a file.
Exec runs real commands (``sh -c ...``) as host processes; attach joins the
container process's stdio.  Only what the kubelet server calls is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from kubeling.kubelet import runtime as rt


class ProcessStream:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def write_stdin(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def close_stdin(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()

        async def pump(fd: int, reader: asyncio.StreamReader | None) -> None:
            if reader is not None:
                while chunk := await reader.read(65536):
                    queue.put_nowait((fd, chunk))
            queue.put_nowait((fd, b""))

        tasks = [
            asyncio.create_task(pump(1, self.process.stdout)),
            asyncio.create_task(pump(2, self.process.stderr)),
        ]
        open_pipes = 2
        try:
            while open_pipes:
                fd, chunk = await queue.get()
                if chunk:
                    yield fd, chunk
                else:
                    open_pipes -= 1
        finally:
            for task in tasks:
                task.cancel()

    async def resize(self, width: int, height: int) -> None:
        pass

    async def wait(self) -> int:
        return await self.process.wait()

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


class AttachStream(ProcessStream):
    """The container's own process: output from its log file onwards, stdin into its pipe."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        super().__init__(process)
        self.log_path = log_path

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        with self.log_path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            while True:
                chunk = handle.read(65536)
                if chunk:
                    yield 1, chunk
                elif self.process.returncode is not None:
                    return
                else:
                    await asyncio.sleep(0.05)

    async def close_stdin(self) -> None:
        pass  # detaching never closes the container's stdin

    async def close(self) -> None:
        pass  # detaching leaves the container running


class HostRuntime:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sandboxes: dict[str, rt.SandboxStatus] = {}
        self.containers: dict[str, rt.ContainerStatus] = {}
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.ports: dict[str, dict[int, int]] = {}  # sandbox -> container port -> loopback port

    async def add_pod(
        self, *, uid: str, name: str, namespace: str, container: str, script: str, ports: dict[int, int]
    ) -> str:
        sid = f"sandbox-{uid}"
        self.sandboxes[sid] = rt.SandboxStatus(
            id=sid,
            pod_uid=uid,
            name=name,
            namespace=namespace,
            attempt=0,
            ready=True,
            ip="127.0.0.1",
            created_at=time.time(),
            labels={rt.POD_UID: uid, rt.POD_NAME: name, rt.POD_NAMESPACE: namespace},
        )
        self.ports[sid] = ports
        return await self.add_container(sid, uid=uid, container=container, script=script)

    async def add_container(
        self, sid: str, *, uid: str, container: str, script: str, attempt: int = 0
    ) -> str:
        """Start (attempt n of) a container in the sandbox; a script that ends leaves an exited one."""
        cid = f"{container}-{uid}-{attempt}"
        log_path = self.workdir / f"{cid}.log"
        log = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            "sh", "-c", script, stdin=asyncio.subprocess.PIPE, stdout=log, stderr=log, cwd=self.workdir
        )
        log.close()
        self.processes[cid] = process
        self.containers[cid] = rt.ContainerStatus(
            id=cid,
            sandbox_id=sid,
            name=container,
            attempt=attempt,
            state="running",
            created_at=time.time(),
            started_at=time.time(),
            labels={rt.POD_UID: uid, rt.CONTAINER_NAME: container},
            log_path=str(log_path),
        )
        return cid

    async def shutdown(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    async def list_sandboxes(self) -> list[rt.SandboxStatus]:
        return list(self.sandboxes.values())

    async def list_containers(self, sandbox_id: str | None = None) -> list[rt.ContainerStatus]:
        for cid, status in self.containers.items():
            code = self.processes[cid].returncode
            if code is not None:
                status.state, status.exit_code = "exited", code
        return [c for c in self.containers.values() if sandbox_id in (None, c.sandbox_id)]

    async def exec(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> rt.Stream:
        if container_id not in self.containers:
            raise rt.NotFound(container_id)
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if tty else asyncio.subprocess.PIPE,
                cwd=self.workdir,
            )
        except OSError as exc:
            raise rt.RuntimeFailure(f"exec failed: {exc}") from None
        return ProcessStream(process)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> rt.Stream:
        return AttachStream(self.processes[container_id], Path(self.containers[container_id].log_path))

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
        path = Path(self.containers[container_id].log_path)
        with path.open("rb") as handle:
            data = handle.read()
            if tail_lines is not None:
                lines = data.splitlines(keepends=True)
                data = b"".join(lines[-tail_lines:]) if tail_lines else b""
            if limit_bytes is not None:
                data = data[:limit_bytes]
            if data:
                yield data
            while follow:
                chunk = handle.read(65536)
                if chunk:
                    yield chunk
                elif self.processes[container_id].returncode is not None:
                    return
                else:
                    await asyncio.sleep(0.05)

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[object, object]:
        target = self.ports[sandbox_id].get(port)
        if target is None:
            raise ConnectionRefusedError(f"nothing listens on port {port}")
        return await asyncio.open_connection("127.0.0.1", target)

    async def stats(self, container_ids: list[str]) -> list[rt.ContainerStats]:
        return [
            rt.ContainerStats(
                id=c, cpu_usage_core_nanoseconds=1000, memory_working_set_bytes=4096, timestamp=time.time()
            )
            for c in container_ids
        ]
