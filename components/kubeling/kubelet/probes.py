"""Liveness, readiness and startup probes, and lifecycle hooks' handlers.

One :class:`ProbeWorker` (an asyncio task) per (container id, probe kind):
it waits ``initialDelaySeconds`` from the container's start, then probes
every ``periodSeconds`` with ``timeoutSeconds``, and flips its verdict only
after ``failureThreshold`` failures or ``successThreshold`` successes in a
row (upstream's prober worker).  Verdicts live in :class:`ProbeResults`; a
change calls ``on_change(pod_uid)`` so the pod worker syncs (a liveness
failure kills the container; readiness feeds the Ready condition).
Startup gates the other two: they wait until it has succeeded.

:func:`run_handler` runs one exec / httpGet / tcpSocket action; hooks use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from kubeling.kubelet import runtime as rt

log = logging.getLogger(__name__)
Obj = dict[str, Any]
KINDS = ("startupProbe", "livenessProbe", "readinessProbe")


@dataclass
class Outcome:
    ok: bool
    message: str = ""


def _port(container: Obj, port: Any) -> int:
    """A probe port: a number or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"port {port!r} not found in container {container.get('name')!r}")


async def run_handler(
    runtime: rt.Runtime, handler: Obj, *, container: Obj, container_id: str, pod_ip: str, timeout: float
) -> Outcome:
    """One probe or hook action; a timeout or error is a failure with a message, never an exception."""
    try:
        if "exec" in handler:
            command = list((handler["exec"] or {}).get("command") or [])
            result = await runtime.exec_sync(container_id, command, timeout)
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            if result.exit_code != 0:
                return Outcome(False, f"command {command!r} exited with {result.exit_code}: {output}")
            return Outcome(True, output)
        if "httpGet" in handler:
            return await _http_get(handler["httpGet"], container, pod_ip, timeout)
        if "tcpSocket" in handler:
            spec = handler["tcpSocket"]
            host, port = spec.get("host") or pod_ip, _port(container, spec.get("port"))
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return Outcome(True)
        if "sleep" in handler:
            await asyncio.sleep(min(float(handler["sleep"].get("seconds", 0)), timeout))
            return Outcome(True)
    except TimeoutError:
        return Outcome(False, f"timeout after {timeout:g}s")
    except (OSError, ValueError, aiohttp.ClientError, rt.RuntimeFailure) as exc:
        return Outcome(False, str(exc) or type(exc).__name__)
    return Outcome(False, "no action (exec, httpGet, tcpSocket) given")


async def _http_get(spec: Obj, container: Obj, pod_ip: str, timeout: float) -> Outcome:
    scheme = (spec.get("scheme") or "HTTP").lower()
    host = spec.get("host") or pod_ip
    port = _port(container, spec.get("port"))
    path = spec.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    headers = {"User-Agent": "kube-probe/1.37"}
    headers.update({h["name"]: h.get("value", "") for h in spec.get("httpHeaders") or []})
    url = f"{scheme}://{host}:{port}{path}"
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.get(url, headers=headers, ssl=False, allow_redirects=True) as response,
    ):
        body = (await response.content.read(10 * 1024)).decode(errors="replace")
        if 200 <= response.status < 400:
            return Outcome(True, body)
        return Outcome(False, f"HTTP probe failed with statuscode: {response.status}")


@dataclass
class ProbeResults:
    """Current verdicts per container id: ``None`` until a probe says otherwise."""

    liveness_failed: dict[str, str] = field(default_factory=dict)  # container id -> message
    ready: dict[str, bool] = field(default_factory=dict)
    started: dict[str, bool] = field(default_factory=dict)

    def forget(self, container_id: str) -> None:
        self.liveness_failed.pop(container_id, None)
        self.ready.pop(container_id, None)
        self.started.pop(container_id, None)


class ProbeWorker:
    def __init__(
        self,
        *,
        kind: str,
        runtime: rt.Runtime,
        results: ProbeResults,
        pod: Obj,
        container: Obj,
        container_id: str,
        started_at: float,
        pod_ip: Callable[[], str],
        on_change: Callable[[str], None],
        on_failure: Callable[[Obj, Obj, str, str], None],
        clock: Callable[[], float],
    ) -> None:
        self.kind = kind
        self.runtime = runtime
        self.results = results
        self.pod = pod
        self.container = container
        self.container_id = container_id
        self.started_at = started_at
        self.pod_ip = pod_ip
        self.on_change = on_change
        self.on_failure = on_failure
        self.clock = clock
        self.spec: Obj = container[kind]
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"probe-{self.kind}-{self.container_id[:12]}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        spec = self.spec
        period = max(1, int(spec.get("periodSeconds") or 10))
        timeout = max(1, int(spec.get("timeoutSeconds") or 1))
        failures_needed = max(1, int(spec.get("failureThreshold") or 3))
        successes_needed = max(1, int(spec.get("successThreshold") or 1))
        delay = self.started_at + int(spec.get("initialDelaySeconds") or 0) - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)
        successes = failures = 0
        uid = self.pod["metadata"]["uid"]
        while True:
            gated = self.kind != "startupProbe" and "startupProbe" in self.container
            if gated and not self.results.started.get(self.container_id):
                await asyncio.sleep(min(period, 1))
                continue
            outcome = await run_handler(
                self.runtime,
                spec,
                container=self.container,
                container_id=self.container_id,
                pod_ip=self.pod_ip(),
                timeout=float(timeout),
            )
            if outcome.ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.on_failure(self.pod, self.container, self.kind, outcome.message)
            if self._record(outcome, successes, successes_needed, failures, failures_needed):
                self.on_change(uid)
            if (
                self.kind in ("livenessProbe", "startupProbe")
                and self.container_id in self.results.liveness_failed
            ):
                return  # the container is being killed; a new container gets a new worker
            if self.kind == "startupProbe" and self.results.started.get(self.container_id):
                return  # startup probes stop once they succeed
            await asyncio.sleep(period)

    def _record(self, outcome: Outcome, successes: int, s_needed: int, failures: int, f_needed: int) -> bool:
        """Update the verdict; True when it changed."""
        cid = self.container_id
        if self.kind == "readinessProbe":
            if outcome.ok and successes >= s_needed and not self.results.ready.get(cid):
                self.results.ready[cid] = True
                return True
            if not outcome.ok and failures >= f_needed and self.results.ready.get(cid, True):
                self.results.ready[cid] = False
                return True
            return False
        if self.kind == "startupProbe" and outcome.ok and successes >= s_needed:
            self.results.started[cid] = True
            return True
        if not outcome.ok and failures >= f_needed:
            what = "liveness" if self.kind == "livenessProbe" else "startup"
            self.results.liveness_failed[cid] = (
                f"Container {self.container['name']} failed {what} probe, will be restarted"
            )
            return True
        return False


class ProbeManager:
    """Keeps one worker per (container id, kind) for the running containers that declare probes."""

    def __init__(
        self,
        runtime: rt.Runtime,
        *,
        on_change: Callable[[str], None],
        on_failure: Callable[[Obj, Obj, str, str], None],
        clock: Callable[[], float],
    ) -> None:
        self.runtime = runtime
        self.results = ProbeResults()
        self.on_change = on_change
        self.on_failure = on_failure
        self.clock = clock
        self._workers: dict[tuple[str, str], ProbeWorker] = {}
        self._by_pod: dict[str, set[tuple[str, str]]] = {}

    def ensure(self, pod: Obj, container: Obj, status: rt.ContainerStatus, pod_ip: Callable[[], str]) -> None:
        uid = pod["metadata"]["uid"]
        for kind in KINDS:
            key = (status.id, kind)
            if kind not in container or key in self._workers:
                continue
            worker = ProbeWorker(
                kind=kind,
                runtime=self.runtime,
                results=self.results,
                pod=pod,
                container=container,
                container_id=status.id,
                started_at=status.started_at or self.clock(),
                pod_ip=pod_ip,
                on_change=self.on_change,
                on_failure=self.on_failure,
                clock=self.clock,
            )
            self._workers[key] = worker
            self._by_pod.setdefault(uid, set()).add(key)
            worker.start()

    def retain(self, uid: str, running_ids: set[str]) -> None:
        """Stop the workers of the pod's containers that no longer run."""
        for key in list(self._by_pod.get(uid, ())):
            if key[0] not in running_ids:
                self._workers.pop(key).stop()
                self._by_pod[uid].discard(key)
                self.results.forget(key[0])

    def remove_pod(self, uid: str) -> None:
        self.retain(uid, set())
        self._by_pod.pop(uid, None)

    def stop_all(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()
        self._by_pod.clear()
