"""RESTClient and Informer against a real kubeling server, through its admin kubeconfig."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.api.resources import Registry
from kubeling.client.informer import Informer
from kubeling.client.kubeconfig import load_kubeconfig
from kubeling.client.rest import RESTClient
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

REGISTRY = Registry()
CONFIGMAPS = REGISTRY.by_kind("", "v1", "ConfigMap")
NAMESPACES = REGISTRY.by_kind("", "v1", "Namespace")
Obj = dict[str, Any]


# Every namespace also holds the cluster's kube-root-ca.crt ConfigMap; tests
# select their own objects by this label.
MINE = "made-by=client-tests"


def make_configmap(name: str, **data: str) -> Obj:
    metadata = {"name": name, "labels": {"made-by": "client-tests"}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


@pytest.fixture
async def client(server: KubelingServer) -> AsyncIterator[RESTClient]:
    async with RESTClient(load_kubeconfig(server.kubeconfig), component="test") as rest:
        yield rest


@pytest.fixture
async def namespace(client: RESTClient) -> AsyncIterator[str]:
    name = f"client-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await client.delete(NAMESPACES, name=name)


async def test_crud_conflict_and_not_found(client: RESTClient, namespace: str) -> None:
    created = await client.create(CONFIGMAPS, make_configmap("cm", a="1"), namespace=namespace)
    assert created["data"] == {"a": "1"}

    fetched = await client.get(CONFIGMAPS, name="cm", namespace=namespace)
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]

    with pytest.raises(StatusError) as exists:
        await client.create(CONFIGMAPS, make_configmap("cm"), namespace=namespace)
    assert (exists.value.code, exists.value.reason) == (409, "AlreadyExists")
    assert exists.value.details == {"name": "cm", "kind": "configmaps"}

    fetched["data"] = {"a": "2"}
    updated = await client.update(CONFIGMAPS, fetched, namespace=namespace)
    assert updated["data"] == {"a": "2"}
    with pytest.raises(StatusError) as stale:  # fetched still carries the old resourceVersion
        await client.update(CONFIGMAPS, fetched, namespace=namespace)
    assert (stale.value.code, stale.value.reason) == (409, "Conflict")

    patched = await client.patch(CONFIGMAPS, {"data": {"b": "3"}}, name="cm", namespace=namespace)
    assert patched["data"] == {"a": "2", "b": "3"}
    patched = await client.patch(
        CONFIGMAPS, [{"op": "remove", "path": "/data/a"}], name="cm", namespace=namespace, patch_type="json"
    )
    assert patched["data"] == {"b": "3"}

    listed = await client.list(CONFIGMAPS, namespace=namespace, field_selector="metadata.name=cm")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["cm"]

    await client.delete(CONFIGMAPS, name="cm", namespace=namespace)
    with pytest.raises(StatusError) as missing:
        await client.get(CONFIGMAPS, name="cm", namespace=namespace)
    assert (missing.value.code, missing.value.reason) == (404, "NotFound")
    assert missing.value.message == 'configmaps "cm" not found'


async def test_paged_list(client: RESTClient, namespace: str) -> None:
    for index in range(5):
        await client.create(CONFIGMAPS, make_configmap(f"cm-{index}"), namespace=namespace)
    first = await client.list(CONFIGMAPS, namespace=namespace, limit=2, label_selector=MINE)
    assert len(first["items"]) == 2 and first["metadata"]["continue"]
    rest = await client.list(
        CONFIGMAPS, namespace=namespace, continue_token=first["metadata"]["continue"], label_selector=MINE
    )
    names = [i["metadata"]["name"] for i in first["items"] + rest["items"]]
    assert sorted(names) == [f"cm-{i}" for i in range(5)]


async def test_watch_sees_added_modified_deleted(client: RESTClient, namespace: str) -> None:
    start = (await client.list(CONFIGMAPS, namespace=namespace, label_selector=MINE))["metadata"][
        "resourceVersion"
    ]
    await client.create(CONFIGMAPS, make_configmap("w", v="1"), namespace=namespace)
    await client.patch(CONFIGMAPS, {"data": {"v": "2"}}, name="w", namespace=namespace)
    await client.delete(CONFIGMAPS, name="w", namespace=namespace)
    seen: list[tuple[str, str | None]] = []
    async with asyncio.timeout(10):
        async for kind, obj in client.watch(
            CONFIGMAPS, namespace=namespace, resource_version=start, timeout_seconds=5, label_selector=MINE
        ):
            seen.append((kind, (obj.get("data") or {}).get("v")))
            if kind == "DELETED":
                break
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


async def wait_for(condition: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def attach(self, informer: Informer) -> None:
        informer.add_event_handler(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"])),
            on_update=lambda old, new: self.events.append(("update", new["metadata"]["name"])),
            on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"])),
        )


async def test_informer_syncs_and_follows_changes(client: RESTClient, namespace: str) -> None:
    await client.create(CONFIGMAPS, make_configmap("before"), namespace=namespace)
    informer = Informer(client, CONFIGMAPS, namespace=namespace, page_size=1, label_selector=MINE)
    recorder = Recorder()
    recorder.attach(informer)
    task = asyncio.create_task(informer.run())
    try:
        assert await informer.wait_synced(timeout=10)
        assert recorder.events == [("add", "before")]
        await client.create(CONFIGMAPS, make_configmap("after"), namespace=namespace)
        await client.patch(CONFIGMAPS, {"data": {"x": "1"}}, name="before", namespace=namespace)
        await client.delete(CONFIGMAPS, name="after", namespace=namespace)
        await wait_for(lambda: len(recorder.events) == 4)
        assert recorder.events[1:] == [("add", "after"), ("update", "before"), ("delete", "after")]
        assert informer.store.get(f"{namespace}/before")["data"] == {"x": "1"}
        assert informer.store.keys() == [f"{namespace}/before"]
    finally:
        informer.stop()
        await task


async def test_informer_recovers_after_a_server_restart(tmp_path: Path) -> None:
    """A private server is stopped; deletes missed while down arrive as tombstones on relist."""
    private = KubelingServer(tmp_path / "server").start()
    try:
        async with RESTClient(load_kubeconfig(private.kubeconfig), component="test") as rest:
            await rest.create(CONFIGMAPS, make_configmap("stays"), namespace="default")
            await rest.create(CONFIGMAPS, make_configmap("goes"), namespace="default")
            informer = Informer(
                rest, CONFIGMAPS, namespace="default", label_selector=MINE, backoff_base=0.1, backoff_cap=0.5
            )
            recorder = Recorder()
            recorder.attach(informer)
            task = asyncio.create_task(informer.run())
            try:
                assert await informer.wait_synced(timeout=10)
                old_version = informer.last_resource_version
                private.stop()
                # Change the data behind the informer's back while its watch is broken.
                private.start()
                await rest.delete(CONFIGMAPS, name="goes", namespace="default")
                await rest.create(CONFIGMAPS, make_configmap("new"), namespace="default")
                # History before the restart is gone: resuming from it is 410, which forces a relist.
                with pytest.raises(StatusError) as gone:
                    before = str(int(old_version) - 1)
                    async for _ in rest.watch(CONFIGMAPS, resource_version=before, timeout_seconds=5):
                        pass
                assert gone.value.code == 410
                await wait_for(lambda: ("add", "new") in recorder.events)
                await wait_for(lambda: ("delete", "goes") in recorder.events)
                assert sorted(informer.store.keys()) == ["default/new", "default/stays"]
            finally:
                informer.stop()
                await task
    finally:
        private.stop()
