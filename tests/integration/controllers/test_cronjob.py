"""The CronJob controller against a real server; its wall clock is shifted so schedules fire in seconds."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import CRONJOBS, EVENTS, JOBS, NAMESPACES, NODES, PODS
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


class ShiftedClock:
    """Real time plus an offset the test moves."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset

    def just_before_a_minute(self, lead: float = 3.0) -> None:
        """Shift forward so that the shifted time is ``lead`` seconds before a minute boundary."""
        real = time.time()
        to_boundary = 60 - real % 60
        self.offset = to_boundary - lead if to_boundary > lead + 2 else to_boundary - lead + 60


def make_cronjob(name: str, schedule: str, node: str | None = None, **spec: Any) -> Obj:
    pod_spec: Obj = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}
    if node:
        pod_spec["nodeName"] = node
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"from": name}},
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"hollow.kubeling.io/exit-code": "0"}},
                        "spec": pod_spec,
                    }
                },
            },
            **spec,
        },
    }


@pytest.fixture
async def ns(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str]]:
    client = admin_client(bare_server)
    namespace = f"cron-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        yield client, namespace
    finally:
        for pod in (await client.list(PODS, namespace=namespace))["items"]:
            if pod["metadata"].get("finalizers"):
                try:
                    await client.patch(
                        PODS,
                        {"metadata": {"finalizers": None}},
                        name=pod["metadata"]["name"],
                        namespace=namespace,
                    )
                except StatusError:
                    pass
        await client.delete(NAMESPACES, name=namespace)
        await client.close()


async def reasons(client: RESTClient, namespace: str, name: str) -> set[str]:
    items = (await client.list(EVENTS, namespace=namespace))["items"]
    return {e["reason"] for e in items if e["involvedObject"]["name"] == name}


async def jobs_of(client: RESTClient, namespace: str) -> list[Obj]:
    return (await client.list(JOBS, namespace=namespace))["items"]


async def test_a_cronjob_fires_and_its_job_completes(
    bare_server: KubelingServer, ns: tuple[RESTClient, str]
) -> None:
    client, namespace = ns
    node = f"cron-node-{uuid.uuid4().hex[:6]}"
    clock = ShiftedClock()
    clock.just_before_a_minute()
    options = ControllerOptions(extra={"wall_clock": clock})
    try:
        async with (
            hollow_nodes(bare_server, [node]),
            controllers_running(bare_server, ["cronjob-controller", "job-controller"], options),
        ):
            await client.create(CRONJOBS, make_cronjob("tick", "* * * * *", node), namespace=namespace)
            cronjob = await client.get(CRONJOBS, name="tick", namespace=namespace)

            async def fired() -> list[Obj]:
                return await jobs_of(client, namespace)

            jobs = await eventually(fired, timeout=20)
            assert len(jobs) == 1
            job = jobs[0]
            scheduled = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            epoch = time.mktime(time.strptime(scheduled, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            assert epoch % 60 == 0
            assert job["metadata"]["name"] == f"tick-{int(epoch) // 60}"
            assert job["metadata"]["labels"]["from"] == "tick"
            ref = job["metadata"]["ownerReferences"][0]
            assert ref["kind"] == "CronJob" and ref["uid"] == cronjob["metadata"]["uid"] and ref["controller"]

            async def recorded_success() -> Obj | None:
                current = await client.get(CRONJOBS, name="tick", namespace=namespace)
                status = current.get("status") or {}
                return current if status.get("lastSuccessfulTime") and not status.get("active") else None

            done = await eventually(recorded_success, timeout=30)
            assert done["status"]["lastScheduleTime"] == scheduled
            await eventually(
                lambda: _has(reasons(client, namespace, "tick"), {"SuccessfulCreate", "SawCompletedJob"})
            )
    finally:
        await client.delete(NODES, name=node)


async def _has(found: Any, wanted: set[str]) -> bool:
    return wanted <= await found


async def _touch(client: RESTClient, namespace: str, name: str) -> None:
    """Any change enqueues the CronJob: the test does not wait for the controller's timer."""
    await client.patch(
        CRONJOBS, {"metadata": {"labels": {"touched": uuid.uuid4().hex[:8]}}}, name=name, namespace=namespace
    )


async def _finish(client: RESTClient, namespace: str, job: Obj, kind: str) -> None:
    """Mark a Job finished as the job controller would (no pods needed)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cond = {"type": kind, "status": "True", "lastTransitionTime": stamp, "lastProbeTime": stamp}
    other = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
    status: Obj = {"conditions": [{**cond, "type": other}, cond], "startTime": stamp}
    if kind == "Complete":
        status["completionTime"] = stamp
    body = {**job, "status": status}
    await client.update(JOBS, body, namespace=namespace, name=job["metadata"]["name"], subresource="status")


async def test_missed_times_forbid_replace_and_history(
    bare_server: KubelingServer, ns: tuple[RESTClient, str]
) -> None:
    client, namespace = ns
    # 200 minutes in the future: everything since creation was missed.
    clock = ShiftedClock(200 * 60)
    options = ControllerOptions(extra={"wall_clock": clock})
    async with controllers_running(bare_server, ["cronjob-controller"], options):
        body = make_cronjob("often", "* * * * *", concurrencyPolicy="Forbid", successfulJobsHistoryLimit=1)
        await client.create(CRONJOBS, body, namespace=namespace)

        async def one_job() -> list[Obj]:
            return await jobs_of(client, namespace)

        first = (await eventually(one_job))[0]
        expected_minute = int(clock()) // 60
        assert abs(int(first["metadata"]["name"].rsplit("-", 1)[1]) - expected_minute) <= 1
        await eventually(lambda: _has(reasons(client, namespace, "often"), {"TooManyMissedTimes"}))

        # Forbid: the next minute comes while the first Job runs → nothing new.
        clock.offset += 60
        await _touch(client, namespace, "often")
        await eventually(lambda: _has(reasons(client, namespace, "often"), {"JobAlreadyActive"}))
        assert len(await jobs_of(client, namespace)) == 1

        # Replace: the running Job is deleted and a new one created.
        await client.patch(
            CRONJOBS, {"spec": {"concurrencyPolicy": "Replace"}}, name="often", namespace=namespace
        )

        async def replaced() -> list[Obj]:
            jobs = await jobs_of(client, namespace)
            names = [j["metadata"]["name"] for j in jobs if not j["metadata"].get("deletionTimestamp")]
            return jobs if names and first["metadata"]["name"] not in names else []

        second = (await eventually(replaced))[0]
        cronjob = await client.get(CRONJOBS, name="often", namespace=namespace)
        assert [r["name"] for r in cronjob["status"]["active"]] == [second["metadata"]["name"]]

        # History: with a limit of one, an older completed Job goes when a newer one completes.
        await _finish(client, namespace, second, "Complete")
        await eventually(lambda: _inactive(client, namespace))
        clock.offset += 60
        await _touch(client, namespace, "often")

        async def third_created() -> list[Obj]:
            jobs = await jobs_of(client, namespace)
            return [j for j in jobs if j["metadata"]["name"] != second["metadata"]["name"]]

        third = (await eventually(third_created))[0]
        await _finish(client, namespace, third, "Complete")

        async def trimmed() -> bool:
            names = {j["metadata"]["name"] for j in await jobs_of(client, namespace)}
            return names == {third["metadata"]["name"]}

        await eventually(trimmed)
        cronjob = await client.get(CRONJOBS, name="often", namespace=namespace)
        assert cronjob["status"]["lastSuccessfulTime"]

        # Suspended: the next minute passes without a Job.
        await client.patch(CRONJOBS, {"spec": {"suspend": True}}, name="often", namespace=namespace)
        await eventually(lambda: _inactive(client, namespace))
        clock.offset += 60
        await _touch(client, namespace, "often")
        before = await reasons(client, namespace, "often")
        assert {j["metadata"]["name"] for j in await jobs_of(client, namespace)} == {
            third["metadata"]["name"]
        }
        assert before  # events were recorded all along


async def _inactive(client: RESTClient, namespace: str) -> bool:
    cronjob = await client.get(CRONJOBS, name="often", namespace=namespace)
    return not (cronjob.get("status") or {}).get("active")


async def test_schedule_is_read_in_the_time_zone(
    bare_server: KubelingServer, ns: tuple[RESTClient, str]
) -> None:
    client, namespace = ns
    clock = ShiftedClock()
    clock.just_before_a_minute()
    tokyo = ZoneInfo("Asia/Tokyo")
    due = datetime.fromtimestamp(clock() + 10, tokyo)  # the coming minute, in Tokyo's wall time
    schedule = f"{due.minute} {due.hour} * * *"  # read as UTC it would be nine hours off
    async with controllers_running(
        bare_server, ["cronjob-controller"], ControllerOptions(extra={"wall_clock": clock})
    ):
        await client.create(
            CRONJOBS, make_cronjob("zoned", schedule, timeZone="Asia/Tokyo"), namespace=namespace
        )

        async def fired() -> list[Obj]:
            return await jobs_of(client, namespace)

        job = (await eventually(fired, timeout=20))[0]
        stamp = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        assert stamp.endswith("+09:00")
        assert datetime.fromisoformat(stamp).astimezone(tokyo).strftime("%H:%M") == due.strftime("%H:%M")


@pytest.mark.slow
async def test_real_clock_every_minute_schedule_fires(
    bare_server: KubelingServer, ns: tuple[RESTClient, str]
) -> None:
    client, namespace = ns
    async with controllers_running(bare_server, ["cronjob-controller"]):
        await client.create(CRONJOBS, make_cronjob("real", "* * * * *"), namespace=namespace)

        async def fired() -> list[Obj]:
            return await jobs_of(client, namespace)

        jobs = await eventually(fired, timeout=70, interval=1.0)
        assert jobs[0]["metadata"]["name"].startswith("real-")
