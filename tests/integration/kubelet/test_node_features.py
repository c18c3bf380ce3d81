"""The kubelet's node features on the real Docker Engine and a real kubeling server.

Pod admission (pods bound straight to the node with ``nodeName``, past the
scheduler), node-pressure eviction under an eviction threshold set
artificially high (no real memory is exhausted), the node-log endpoint
through ``kubectl get --raw .../proxy/logs/`` and the container log links.
The harness is test_kubelet's (its own server for this module); log
directories are the test's own, never the host's /var/log.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from kubeling.kubelet.images import BUSYBOX_IMAGE
from kubeling.kubelet.kubelet import NODES, PODS
from tests.fixtures.server import kubectl
from tests.integration.kubelet import test_kubelet
from tests.integration.kubelet.test_kubelet import EVENTS, NODE, Harness, container_status, phase

# test_kubelet's fixtures, registered here too: this module gets a server of its own.
kserver = test_kubelet.kserver
harness = test_kubelet.harness

pytestmark = pytest.mark.integration

SLEEP = {"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"]}


def pod_spec(**extra) -> dict:
    """A pod bound straight to this node (no scheduler), quick to stop."""
    return {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [dict(SLEEP)], **extra}


async def wait_ready(h: Harness) -> None:
    """The kubelet is up (server listening, node registered and Ready): a stop now cuts nothing short."""

    async def ready():
        return h.kubelet.server is not None and (await node_condition(h, "Ready"))["status"] == "True"

    await h.eventually(ready, what="node Ready")


async def restart(h: Harness, **overrides) -> None:
    await wait_ready(h)
    await h.stop()
    h.overrides = overrides
    await h.start()


async def node_condition(h: Harness, kind: str) -> dict:
    node = await h.client.get(NODES, name=NODE)
    return next((c for c in node.get("status", {}).get("conditions", []) if c["type"] == kind), {})


async def memory_taint(h: Harness, wanted: bool) -> bool:
    """Whether the Node's memory-pressure NoSchedule taint (TaintNodesByCondition) is as wanted."""
    node = await h.client.get(NODES, name=NODE)
    taints = node.get("spec", {}).get("taints") or []
    present = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"} in [
        {"key": t["key"], "effect": t["effect"]} for t in taints
    ]
    return present == wanted


async def warning_events(h: Harness, name: str) -> list[dict]:
    events = (await h.client.list(EVENTS, namespace=h.namespace))["items"]
    return [e for e in events if e["involvedObject"]["name"] == name and e["type"] == "Warning"]


async def test_admission_rejects_what_does_not_fit(harness: Harness) -> None:
    h = harness
    await restart(h, max_pods=2)
    with_port = {**SLEEP, "ports": [{"containerPort": 8080, "hostPort": 18181}]}
    await h.create_pod("port-a", pod_spec(containers=[with_port]))
    await h.pod_when("port-a", lambda p: phase(p) == "Running", what="port-a Running")

    rejected = {
        "port-b": (pod_spec(containers=[with_port]), "NodePorts"),
        "big-cpu": (
            pod_spec(containers=[{**SLEEP, "resources": {"requests": {"cpu": "1000"}}}]),
            "OutOfcpu",
        ),
        "big-memory": (
            pod_spec(containers=[{**SLEEP, "resources": {"requests": {"memory": "1000Gi"}}}]),
            "OutOfmemory",
        ),
        "picky": (pod_spec(nodeSelector={"disktype": "ssd"}), "NodeAffinity"),
    }
    for name, (spec, _) in rejected.items():
        await h.create_pod(name, spec)
    for name, (_, reason) in rejected.items():
        pod = await h.pod_when(name, lambda p: phase(p) == "Failed", what=f"{name} Failed")
        assert pod["status"]["reason"] == reason, pod["status"]
        assert pod["status"]["message"].startswith("Pod was rejected: ")
        assert "containerID" not in container_status(pod)  # nothing ever started
        (event, *_) = await h.eventually(lambda n=name: warning_events(h, n), what=f"{name} event")
        assert event["reason"] == reason
    big = await h.pod("big-cpu")
    assert big["status"]["message"] == (
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 1000000, used: 0, "
        f"capacity: {os.cpu_count() * 1000}"
    )
    ports = await h.pod("port-b")
    assert ports["status"]["message"] == (
        "Pod was rejected: Predicate NodePorts failed: "
        "node(s) didn't have free ports for the requested pod ports"
    )

    # Rejected pods hold nothing: a second pod still fits under --max-pods 2, a third does not.
    await h.create_pod("second", pod_spec())
    await h.pod_when("second", lambda p: phase(p) == "Running", what="second Running")
    await h.create_pod("third", pod_spec())
    third = await h.pod_when("third", lambda p: phase(p) == "Failed", what="third Failed")
    assert third["status"]["reason"] == "OutOfpods"
    assert third["status"]["message"].endswith("pods, requested: 1, used: 2, capacity: 2")
    names = {c.labels.get("io.kubernetes.pod.name") for c in await h.runtime.list_containers()}
    assert names == {"port-a", "second"}


async def test_eviction_under_an_artificial_memory_threshold(harness: Harness) -> None:
    h = harness
    await wait_ready(h)
    network = await node_condition(h, "NetworkUnavailable")
    assert (network["status"], network["reason"]) == ("False", "RouteCreated")
    await h.create_pod("besteffort", pod_spec())
    guaranteed_memory = {"requests": {"memory": "1Gi"}}
    await h.create_pod("burstable", pod_spec(containers=[{**SLEEP, "resources": guaranteed_memory}]))
    for name in ("besteffort", "burstable"):
        await h.pod_when(name, lambda p: phase(p) == "Running", what=f"{name} Running")

    # memory.available can never be above 1000Ti: the threshold is met from the first round on.
    await restart(
        h,
        eviction_hard={"memory.available": "1000Ti"},
        eviction_monitoring_interval=3.0,
        eviction_pressure_transition_period=1.0,
    )

    async def memory_pressure():
        condition = await node_condition(h, "MemoryPressure")
        return condition if condition["status"] == "True" else None

    condition = await h.eventually(memory_pressure, what="MemoryPressure True")
    assert condition["reason"] == "KubeletHasInsufficientMemory"
    await h.eventually(lambda: memory_taint(h, True), what="memory-pressure taint")  # node lifecycle's
    evicted = await h.pod_when(
        "besteffort", lambda p: p["status"].get("reason") == "Evicted", what="besteffort Evicted"
    )
    # Ranked first: its usage exceeds its (zero) request; the burstable pod's 1Gi request covers its use.
    assert phase(await h.pod("burstable")) == "Running"
    status = evicted["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith(
        "The node was low on resource: memory. Threshold quantity: 1000Ti, available: "
    )
    # The container's share, when the engine reports memory statistics (not every host's does).
    if "Container" in status["message"]:
        assert "Container c was using " in status["message"]
        assert status["message"].endswith("request is 0, has larger consumption of memory. ")
    disruption = next(c for c in status["conditions"] if c["type"] == "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "TerminationByKubelet")
    uid = evicted["metadata"]["uid"]

    async def stopped():
        containers = [
            c for c in await h.runtime.list_containers() if c.labels.get("io.kubernetes.pod.uid") == uid
        ]
        return containers and all(c.state != "running" for c in containers)

    await h.eventually(stopped, timeout=15, what="evicted pod's containers stopped")
    assert any(e["reason"] == "Evicted" for e in await warning_events(h, "besteffort"))

    # Under memory pressure no new BestEffort pod is admitted.
    await h.create_pod("late", pod_spec())
    late = await h.pod_when("late", lambda p: phase(p) == "Failed", what="late rejected")
    assert (late["status"]["reason"], late["status"]["message"]) == (
        "Evicted",
        "Pod was rejected: The node had condition: [MemoryPressure]. ",
    )

    # Back to upstream's default thresholds: the pressure goes once the transition period has passed.
    await restart(h)

    async def no_pressure():
        return (await node_condition(h, "MemoryPressure"))["status"] == "False"

    await h.eventually(no_pressure, what="MemoryPressure False")
    await h.eventually(lambda: memory_taint(h, False), what="memory-pressure taint removed")


async def test_node_logs_endpoint_and_container_log_links(harness: Harness) -> None:
    h = harness
    log_dir = h.tmp_path / "log"
    log_dir.mkdir(exist_ok=True)
    (log_dir / "hello.log").write_text("hello from the node\n")
    await h.create_pod(
        "talker", pod_spec(containers=[{**SLEEP, "command": ["sh", "-c", "echo said-by-talker; sleep 600"]}])
    )
    pod = await h.pod_when("talker", lambda p: phase(p) == "Running", what="talker Running")
    cid = container_status(pod)["containerID"].removeprefix("docker://")
    link = log_dir / "containers" / f"talker_{h.namespace}_c-{cid}.log"
    await h.eventually(lambda: asyncio.sleep(0, link.is_symlink()), what="container log link")
    info = await asyncio.to_thread(h.runtime.api.inspect_container, cid)
    assert os.readlink(link) == info["LogPath"]
    assert "said-by-talker" in link.read_text()

    def raw(path: str, check: bool = True):
        return kubectl(
            h.server, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/logs/{path}", check=check, timeout=20
        )

    listing = await asyncio.to_thread(raw, "")
    assert '<a href="hello.log">hello.log</a>' in listing.stdout
    assert '<a href="containers/">containers/</a>' in listing.stdout
    assert (await asyncio.to_thread(raw, "hello.log")).stdout == "hello from the node\n"
    through_link = await asyncio.to_thread(raw, f"containers/{link.name}")
    assert "said-by-talker" in through_link.stdout
    climbing = await asyncio.to_thread(raw, "../../etc/hostname", False)
    assert climbing.returncode != 0

    # The container removed (pod deleted), its link goes too.
    await h.client.delete(PODS, namespace=h.namespace, name="talker", grace_period_seconds=0)

    async def link_gone():
        return not link.is_symlink()

    await h.eventually(link_gone, timeout=30, what="link removed with its container")

    # Debugging handlers off: no /logs/.
    await restart(h, enable_debugging_handlers=False)

    async def off():
        result = await asyncio.to_thread(raw, "", False)
        return result.returncode != 0 and "(NotFound)" in result.stderr

    await h.eventually(off, what="/logs/ gone")
