"""Coalesced runtime listings: shared while one runs, never older than the request."""

from __future__ import annotations

import asyncio

from kubeling.kubelet import runtime as rt
from kubeling.kubelet.kubelet import RuntimeSnapshots
from tests.unit.kubelet.fakeruntime import FakeRuntime


class SlowRuntime(FakeRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    async def list_sandboxes(self) -> list[rt.SandboxStatus]:
        self.listings += 1
        found = await super().list_sandboxes()  # what exists when the listing starts...
        await asyncio.sleep(0.05)  # ...arrives a little later
        return found


async def test_waiters_share_listings_that_started_after_they_asked() -> None:
    runtime = SlowRuntime()
    snapshots = RuntimeSnapshots(runtime)
    first = asyncio.create_task(snapshots.get())
    await asyncio.sleep(0.01)  # the first listing runs now
    await runtime.run_sandbox(rt.SandboxConfig(pod_uid="u", name="p", namespace="default"))
    later = await asyncio.gather(*(snapshots.get() for _ in range(20)))
    assert (await first)[0] == []  # started before the sandbox existed
    assert all(len(sandboxes) == 1 for sandboxes, _ in later)  # all twenty see it...
    assert runtime.listings == 2  # ...from one shared listing
    await snapshots.close()
