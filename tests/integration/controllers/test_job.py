"""The Job controller against a real server, with hollow nodes running (and finishing) its pods."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import EVENTS, JOBS, NAMESPACES, NODES, PODS
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
OPTIONS = ControllerOptions(extra={"job_backoff_base": 0.2})


def make_job(name: str, node: str, *, exit_code: str | None = "0", **spec: Any) -> Obj:
    annotations = {"hollow.kubeling.io/exit-code": exit_code} if exit_code is not None else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "nodeName": node,
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36"}],
                },
            },
            **spec,
        },
    }


@pytest.fixture
async def env(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str, str]]:
    """A namespace, a hollow node and the job controller; everything removed afterwards."""
    client = admin_client(bare_server)
    namespace = f"job-{uuid.uuid4().hex[:6]}"
    node = f"job-node-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with (
            hollow_nodes(bare_server, [node]),
            controllers_running(bare_server, ["job-controller"], OPTIONS),
        ):
            yield client, namespace, node
    finally:
        await _clear_finalizers(client, namespace)
        for resource, kwargs in ((NODES, {"name": node}), (NAMESPACES, {"name": namespace})):
            try:
                await client.delete(resource, **kwargs)
            except StatusError:
                pass
        await client.close()


async def _clear_finalizers(client: RESTClient, namespace: str) -> None:
    """Without the controller, tracked pods would keep the namespace from going away."""
    for pod in (await client.list(PODS, namespace=namespace))["items"]:
        if pod["metadata"].get("finalizers"):
            patch = {"metadata": {"finalizers": None}}
            try:
                await client.patch(PODS, patch, name=pod["metadata"]["name"], namespace=namespace)
            except StatusError:
                pass


def cond(job: Obj, kind: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return c
    return None


async def test_completions_four_parallelism_two_never_runs_more_than_two(
    env: tuple[RESTClient, str, str], bare_server: KubelingServer
) -> None:
    client, namespace, node = env
    server = bare_server
    await client.create(JOBS, make_job("work", node, completions=4, parallelism=2), namespace=namespace)
    job = await client.get(JOBS, name="work", namespace=namespace)
    selector = f"batch.kubernetes.io/controller-uid={job['metadata']['uid']}"

    most_running = 0
    seen: set[str] = set()
    # Watch every pod event: at no moment may more than two unfinished pods exist.
    live: dict[str, str] = {}

    async def watch() -> None:
        nonlocal most_running
        async for kind, pod in client.watch(PODS, namespace=namespace, label_selector=selector):
            if kind == "BOOKMARK":
                continue
            name = pod["metadata"]["name"]
            seen.add(name)
            phase = (pod.get("status") or {}).get("phase", "Pending")
            if kind == "DELETED" or phase in ("Succeeded", "Failed"):
                live.pop(name, None)
            else:
                live[name] = phase
            most_running = max(most_running, len(live))

    watcher = asyncio.create_task(watch())
    try:
        # kubectl blocks: run it in a thread so the controller and hollow node keep going.
        waited = await asyncio.to_thread(
            kubectl, server, "wait", "--for=condition=complete", "job/work", "-n", namespace, "--timeout=45s"
        )
        assert "condition met" in waited.stdout
        done = await client.get(JOBS, name="work", namespace=namespace)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    status = done["status"]
    assert status["succeeded"] == 4 and status.get("failed", 0) == 0 and status["active"] == 0
    assert status["startTime"] and status["completionTime"]
    assert cond(done, "SuccessCriteriaMet")["reason"] == "CompletionsReached"
    assert cond(done, "Complete")["reason"] == "CompletionsReached"
    assert not status.get("uncountedTerminatedPods")
    assert most_running <= 2, f"{most_running} pods ran at once"
    pods = (await client.list(PODS, namespace=namespace, label_selector=selector))["items"]
    assert len(pods) == 4 == len(seen)
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == "work"
        assert labels["controller-uid"] == job["metadata"]["uid"]
        assert pod["status"]["phase"] == "Succeeded"
        assert "batch.kubernetes.io/job-tracking" not in (pod["metadata"].get("finalizers") or [])

    async def events() -> set[str]:
        items = (await client.list(EVENTS, namespace=namespace))["items"]
        return {e["reason"] for e in items if e["involvedObject"]["name"] == "work"} >= {
            "SuccessfulCreate",
            "Completed",
        }

    await eventually(events)


async def test_indexed_job_runs_each_index_once(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    body = make_job("idx", node, completions=3, parallelism=3, completionMode="Indexed")
    await client.create(JOBS, body, namespace=namespace)

    async def complete() -> Obj | None:
        current = await client.get(JOBS, name="idx", namespace=namespace)
        return current if cond(current, "Complete") else None

    done = await eventually(complete, timeout=30)
    assert done["status"]["completedIndexes"] == "0-2" and done["status"]["succeeded"] == 3
    pods = (await client.list(PODS, namespace=namespace, label_selector="job-name=idx"))["items"]
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indexes == ["0", "1", "2"]
    for pod in pods:
        index = pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]
        assert pod["spec"]["hostname"] == f"idx-{index}"
        assert pod["metadata"]["name"].startswith(f"idx-{index}-")
        env_names = [e["name"] for e in pod["spec"]["containers"][0].get("env") or []]
        assert "JOB_COMPLETION_INDEX" in env_names


async def test_backoff_limit_fails_the_job(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    await client.create(JOBS, make_job("bad", node, exit_code="3", backoffLimit=1), namespace=namespace)

    async def failed() -> Obj | None:
        current = await client.get(JOBS, name="bad", namespace=namespace)
        return current if cond(current, "Failed") else None

    done = await eventually(failed, timeout=30)
    assert cond(done, "Failed")["reason"] == "BackoffLimitExceeded"
    assert cond(done, "FailureTarget")["message"] == "Job has reached the specified backoff limit"
    assert done["status"]["failed"] == 2 and not cond(done, "Complete")
    assert not done["status"].get("completionTime")

    async def warned() -> bool:
        items = (await client.list(EVENTS, namespace=namespace))["items"]
        return any(e["reason"] == "BackoffLimitExceeded" and e["type"] == "Warning" for e in items)

    await eventually(warned)


async def test_active_deadline_deletes_running_pods(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    body = make_job("slow", node, exit_code=None, parallelism=2, completions=2, activeDeadlineSeconds=2)
    await client.create(JOBS, body, namespace=namespace)

    async def running() -> bool:
        pods = (await client.list(PODS, namespace=namespace, label_selector="job-name=slow"))["items"]
        return len([p for p in pods if p.get("status", {}).get("phase") == "Running"]) == 2

    await eventually(running)

    async def failed() -> Obj | None:
        current = await client.get(JOBS, name="slow", namespace=namespace)
        return current if cond(current, "Failed") else None

    done = await eventually(failed, timeout=30)
    assert cond(done, "Failed")["reason"] == "DeadlineExceeded"
    assert done["status"]["active"] == 0

    async def pods_gone() -> bool:
        return not (await client.list(PODS, namespace=namespace, label_selector="job-name=slow"))["items"]

    await eventually(pods_gone)


async def test_suspend_deletes_pods_and_resume_finishes(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    body = make_job("paused", node, exit_code=None, suspend=True)
    await client.create(JOBS, body, namespace=namespace)

    async def suspended() -> Obj | None:
        current = await client.get(JOBS, name="paused", namespace=namespace)
        return current if cond(current, "Suspended") else None

    job = await eventually(suspended)
    assert cond(job, "Suspended")["reason"] == "JobSuspended"
    assert not (await client.list(PODS, namespace=namespace, label_selector="job-name=paused"))["items"]
    await client.patch(JOBS, {"spec": {"suspend": False}}, name="paused", namespace=namespace)

    async def a_pod_runs() -> bool:
        pods = (await client.list(PODS, namespace=namespace, label_selector="job-name=paused"))["items"]
        return len(pods) == 1

    await eventually(a_pod_runs)
    job = await client.get(JOBS, name="paused", namespace=namespace)
    resumed = next(c for c in job["status"]["conditions"] if c["type"] == "Suspended")
    assert resumed["status"] == "False" and resumed["reason"] == "JobResumed"
    assert job["status"]["startTime"]
    # Suspending again deletes the running pod.
    await client.patch(JOBS, {"spec": {"suspend": True}}, name="paused", namespace=namespace)

    async def no_pods() -> bool:
        return not (await client.list(PODS, namespace=namespace, label_selector="job-name=paused"))["items"]

    await eventually(no_pods)


async def test_pod_failure_policy_fail_job_on_an_exit_code(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    body = make_job("fatal", node, exit_code="42", backoffLimit=6, podFailurePolicy=policy)
    await client.create(JOBS, body, namespace=namespace)

    async def failed() -> Obj | None:
        current = await client.get(JOBS, name="fatal", namespace=namespace)
        return current if cond(current, "Failed") else None

    done = await eventually(failed, timeout=30)
    pods = (await client.list(PODS, namespace=namespace, label_selector="job-name=fatal"))["items"]
    assert len(pods) == 1  # no retries despite backoffLimit 6
    failure = cond(done, "Failed")
    assert failure["reason"] == "PodFailurePolicy"
    assert failure["message"] == (
        f"Container main for pod {namespace}/{pods[0]['metadata']['name']} failed with exit code 42 "
        "matching FailJob rule at index 0"
    )


async def test_pod_failure_policy_ignore_does_not_count(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    policy = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}}]}
    body = make_job("flaky", node, exit_code="7", backoffLimit=0, podFailurePolicy=policy)
    await client.create(JOBS, body, namespace=namespace)

    async def replaced() -> list[Obj]:
        pods = (await client.list(PODS, namespace=namespace, label_selector="job-name=flaky"))["items"]
        return pods if len(pods) >= 3 else []

    await eventually(replaced, timeout=30)
    job = await client.get(JOBS, name="flaky", namespace=namespace)
    assert not cond(job, "Failed") and not cond(job, "FailureTarget")
    assert job["status"].get("failed", 0) == 0
    await client.delete(JOBS, name="flaky", namespace=namespace, propagation_policy="Background")


async def test_success_policy_ends_an_indexed_job_early(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    body = make_job(
        "enough",
        node,
        completions=4,
        parallelism=1,
        completionMode="Indexed",
        successPolicy={"rules": [{"succeededCount": 1}]},
    )
    await client.create(JOBS, body, namespace=namespace)

    async def complete() -> Obj | None:
        current = await client.get(JOBS, name="enough", namespace=namespace)
        return current if cond(current, "Complete") else None

    done = await eventually(complete, timeout=30)
    assert cond(done, "SuccessCriteriaMet")["reason"] == "SuccessPolicy"
    assert cond(done, "Complete")["message"] == "Matched rules at index 0"
    assert done["status"]["completedIndexes"] == "0" and done["status"]["succeeded"] == 1


async def test_deleting_a_running_job_releases_and_removes_its_pods(
    env: tuple[RESTClient, str, str], bare_server: KubelingServer
) -> None:
    client, namespace, node = env
    await client.create(
        JOBS, make_job("doomed", node, exit_code=None, parallelism=2, completions=2), namespace=namespace
    )

    async def running() -> bool:
        pods = (await client.list(PODS, namespace=namespace, label_selector="job-name=doomed"))["items"]
        return len([p for p in pods if p.get("status", {}).get("phase") == "Running"]) == 2

    await eventually(running)
    async with controllers_running(bare_server, ["garbage-collector-controller"]):
        await client.delete(JOBS, name="doomed", namespace=namespace, propagation_policy="Background")

        async def pods_gone() -> bool:
            return not (await client.list(PODS, namespace=namespace, label_selector="job-name=doomed"))[
                "items"
            ]

        # The collector deletes the orphaned pods; the job controller takes its finalizer off them.
        await eventually(pods_gone, timeout=30)


async def test_backoff_limit_per_index_fails_only_the_bad_index(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, node = env
    # Every pod fails (the template is shared), so each index spends its budget of one retry.
    body = make_job(
        "perindex",
        node,
        exit_code="1",
        completions=2,
        parallelism=2,
        completionMode="Indexed",
        backoffLimitPerIndex=1,
    )
    await client.create(JOBS, body, namespace=namespace)

    async def failed() -> Obj | None:
        current = await client.get(JOBS, name="perindex", namespace=namespace)
        return current if cond(current, "Failed") else None

    done = await eventually(failed, timeout=30)
    assert cond(done, "Failed")["reason"] == "FailedIndexes"
    assert cond(done, "Failed")["message"] == "Job has failed indexes"
    assert done["status"]["failedIndexes"] == "0,1" and done["status"]["failed"] == 4
    pods = (await client.list(PODS, namespace=namespace, label_selector="job-name=perindex"))["items"]
    counts = sorted(
        (
            p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
            p["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"],
        )
        for p in pods
    )
    assert counts == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
