"""Which sandbox and containers serve a pod: what the kubelet server asks before it streams.

:class:`PodsSource` is the small interface the server needs; the kubelet
core implements it from its own pod state.  :class:`RuntimePodsSource`
answers from the runtime's labels alone (pod uid/name/namespace, container
name and attempt), which is enough for a server on its own and after a
restart, before the core has caught up.
"""

from __future__ import annotations

from typing import Any, Protocol

from kubeling.kubelet import runtime as rt


class PodsSource(Protocol):
    async def sandbox_id(self, namespace: str, name: str) -> str | None:
        """The running sandbox of the pod, or None."""
        ...

    async def container_id(
        self, namespace: str, name: str, container: str, *, previous: bool = False
    ) -> str | None:
        """The pod's current container of that name (or the one before it with ``previous``), or None."""
        ...

    async def list_pods(self) -> list[dict[str, Any]]:
        """v1 Pod objects of what this kubelet runs (as /pods serves them).

        /stats/summary and /metrics read them too: ``status.startTime`` and the
        ``containerStatuses`` (``containerID`` as ``<runtime>://<id>``, ``state.running.startedAt``).
        """
        ...


class RuntimePodsSource:
    def __init__(self, runtime: rt.Runtime) -> None:
        self.runtime = runtime

    async def _sandboxes(self, namespace: str, name: str) -> list[rt.SandboxStatus]:
        found = [
            s
            for s in await self.runtime.list_sandboxes()
            if (s.namespace == namespace and s.name == name)
            or (s.labels.get(rt.POD_NAMESPACE) == namespace and s.labels.get(rt.POD_NAME) == name)
        ]
        # The newest sandbox first: a re-created pod's old sandbox may linger until collected.
        return sorted(found, key=lambda s: (s.ready, s.created_at), reverse=True)

    async def sandbox_id(self, namespace: str, name: str) -> str | None:
        sandboxes = await self._sandboxes(namespace, name)
        return sandboxes[0].id if sandboxes and sandboxes[0].ready else None

    async def container_id(
        self, namespace: str, name: str, container: str, *, previous: bool = False
    ) -> str | None:
        sandboxes = await self._sandboxes(namespace, name)
        if not sandboxes:
            return None
        uid = sandboxes[0].pod_uid
        candidates = [
            c
            for c in await self.runtime.list_containers()
            if c.name == container
            and (
                c.labels.get(rt.POD_UID) == uid
                or c.sandbox_id in {s.id for s in sandboxes if s.pod_uid == uid}
            )
        ]
        candidates.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
        index = 1 if previous else 0
        return candidates[index].id if len(candidates) > index else None

    async def list_pods(self) -> list[dict[str, Any]]:
        containers = await self.runtime.list_containers()
        pods = []
        for sandbox in await self.runtime.list_sandboxes():
            if not sandbox.ready:
                continue
            own = [
                c
                for c in containers
                if c.sandbox_id == sandbox.id or c.labels.get(rt.POD_UID) == sandbox.pod_uid
            ]
            latest: dict[str, rt.ContainerStatus] = {}
            for c in sorted(own, key=lambda c: (c.attempt, c.created_at)):
                latest[c.name] = c
            pods.append(_pod_object(sandbox, list(latest.values())))
        return pods


def _pod_object(sandbox: rt.SandboxStatus, containers: list[rt.ContainerStatus]) -> dict[str, Any]:
    statuses = []
    for c in containers:
        state: dict[str, Any]
        if c.state == "running":
            state = {"running": {"startedAt": _rfc3339(c.started_at)}}
        elif c.state == "exited":
            state = {"terminated": {"exitCode": c.exit_code, "reason": c.reason or "Completed"}}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        statuses.append(
            {
                "name": c.name,
                "state": state,
                "ready": c.state == "running",
                "restartCount": c.attempt,
                "image": c.image,
                "imageID": c.image_ref,
                "containerID": f"docker://{c.id}",
            }
        )
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": sandbox.name, "namespace": sandbox.namespace, "uid": sandbox.pod_uid},
        "spec": {"containers": [{"name": c.name, "image": c.image} for c in containers]},
        "status": {
            "phase": "Running",
            "podIP": sandbox.ip,
            "startTime": _rfc3339(sandbox.created_at),
            "containerStatuses": statuses,
        },
    }


def _rfc3339(epoch: float) -> str | None:
    import datetime

    if not epoch:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
