"""The TTL-after-finished controller against a real server (with the garbage collector for the cascade)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import JOBS, NAMESPACES, PODS
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


def make_job(name: str, ttl: int | None) -> Obj:
    spec: Obj = {
        "suspend": True,  # no job controller runs here: the test finishes the Job itself
        "template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
        },
    }
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


async def finish(client: RESTClient, namespace: str, name: str, finished_at: float) -> Obj:
    job = await client.get(JOBS, name=name, namespace=namespace)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished_at))
    conds = [
        {"type": kind, "status": "True", "lastTransitionTime": stamp, "lastProbeTime": stamp}
        for kind in ("SuccessCriteriaMet", "Complete")
    ]
    job["status"] = {"conditions": conds, "startTime": stamp, "completionTime": stamp, "succeeded": 1}
    return await client.update(JOBS, job, namespace=namespace, name=name, subresource="status")


@pytest.fixture
async def env(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str]]:
    client = admin_client(bare_server)
    namespace = f"ttl-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    names = ["ttl-after-finished-controller", "garbage-collector-controller"]
    try:
        async with controllers_running(bare_server, names, ControllerOptions()):
            yield client, namespace
    finally:
        await client.delete(NAMESPACES, name=namespace)
        await client.close()


async def exists(client: RESTClient, namespace: str, name: str) -> bool:
    try:
        await client.get(JOBS, name=name, namespace=namespace)
    except StatusError as exc:
        assert exc.code == 404
        return False
    return True


async def test_finished_jobs_are_deleted_when_their_ttl_expires(env: tuple[RESTClient, str]) -> None:
    client, namespace = env
    for name, ttl in (("soon", 3), ("now", 0), ("never", None), ("running", 0)):
        await client.create(JOBS, make_job(name, ttl), namespace=namespace)
    job = await client.get(JOBS, name="soon", namespace=namespace)
    # A pod of the Job: the foreground cascade removes it before the Job.
    pod = {
        "metadata": {
            "name": "soon-pod",
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "soon",
                    "uid": job["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }
    await client.create(PODS, pod, namespace=namespace)
    finished_at = time.time()
    for name in ("soon", "now", "never"):
        await finish(client, namespace, name, finished_at)

    await eventually(lambda: _not(exists(client, namespace, "now")), timeout=20)
    assert await exists(client, namespace, "soon"), "deleted before its TTL"
    await eventually(lambda: _not(exists(client, namespace, "soon")), timeout=20)
    assert time.time() >= finished_at + 3 - 1  # timestamps have whole seconds
    with pytest.raises(StatusError):
        await client.get(PODS, name="soon-pod", namespace=namespace)
    assert await exists(client, namespace, "never")
    assert await exists(client, namespace, "running")  # not finished: the TTL has not started


async def _not(check: Any) -> bool:
    return not await check
