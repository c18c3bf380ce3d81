"""Builders shared by the kubelet's unit tests."""

from __future__ import annotations

from typing import Any

from kubeling.kubelet import runtime as rt
from kubeling.kubelet.containers import CONTAINER_HASH, container_hash

Obj = dict[str, Any]


def make_pod(
    name: str = "web",
    *,
    containers: list[Obj] | None = None,
    init: list[Obj] | None = None,
    restart: str = "Always",
    namespace: str = "default",
    **spec: Any,
) -> Obj:
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": {"app": name}},
        "spec": {
            "nodeName": "node-a",
            "restartPolicy": restart,
            "containers": containers or [{"name": "c", "image": "busybox"}],
            **spec,
        },
        "status": {"phase": "Pending"},
    }
    if init:
        pod["spec"]["initContainers"] = init
    return pod


def sandbox(
    sid: str = "s1", *, ready: bool = True, attempt: int = 0, ip: str = "10.244.0.5"
) -> rt.SandboxStatus:
    return rt.SandboxStatus(
        id=sid,
        pod_uid="uid-web",
        name="web",
        namespace="default",
        attempt=attempt,
        ready=ready,
        ip=ip,
        ips=[ip],
        created_at=100.0 + attempt,
    )


def container(
    cid: str,
    name: str = "c",
    *,
    state: str = "running",
    attempt: int = 0,
    exit_code: int = 0,
    spec: Obj | None = None,
    reason: str = "",
) -> rt.ContainerStatus:
    labels = {CONTAINER_HASH: container_hash(spec)} if spec is not None else {}
    return rt.ContainerStatus(
        id=cid,
        sandbox_id="s1",
        name=name,
        attempt=attempt,
        state=state,
        image="busybox",
        image_ref="sha256:abc",
        created_at=200.0 + attempt,
        started_at=201.0 + attempt,
        finished_at=(250.0 + attempt) if state == "exited" else 0.0,
        exit_code=exit_code,
        reason=reason or ("" if state != "exited" else ("Completed" if exit_code == 0 else "Error")),
        labels=labels,
    )
