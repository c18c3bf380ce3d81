"""Pod status computation: phase, container states, conditions."""

from __future__ import annotations

import copy

import pytest

from kubeling.kubelet.containers import PodState
from kubeling.kubelet.status import ProbeView, StatusManager, compute_status
from tests.unit.kubelet.builders import container, make_pod, sandbox


def conditions(status: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


@pytest.mark.parametrize(
    ("restart", "exit_codes", "phase"),
    [
        ("Always", [0], "Running"),
        ("OnFailure", [0], "Succeeded"),
        ("OnFailure", [1], "Running"),
        ("Never", [0], "Succeeded"),
        ("Never", [1], "Failed"),
        ("Never", [0, 3], "Failed"),
    ],
)
def test_phase_of_exited_containers(restart: str, exit_codes: list[int], phase: str) -> None:
    specs = [{"name": f"c{i}", "image": "busybox"} for i in range(len(exit_codes))]
    state = PodState(
        [sandbox()],
        [container(f"x{i}", f"c{i}", state="exited", exit_code=code) for i, code in enumerate(exit_codes)],
    )
    assert compute_status(make_pod(containers=specs, restart=restart), state)["phase"] == phase


def test_running_pod_status() -> None:
    pod = make_pod()
    status = compute_status(pod, PodState([sandbox()], [container("abc", "c")]), host_ip="192.0.2.1")
    assert status["phase"] == "Running"
    assert status["podIP"] == "10.244.0.5" and status["podIPs"] == [{"ip": "10.244.0.5"}]
    assert status["hostIP"] == "192.0.2.1"
    assert status["qosClass"] == "BestEffort"
    (cs,) = status["containerStatuses"]
    assert cs["state"] == {"running": {"startedAt": "1970-01-01T00:03:21Z"}}
    assert cs["containerID"] == "docker://abc" and cs["ready"] and cs["started"] and cs["restartCount"] == 0
    assert conditions(status) == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "ContainersReady": "True",
        "Ready": "True",
    }


def test_crash_loop_shows_waiting_with_last_state() -> None:
    pod = make_pod()
    state = PodState([sandbox()], [container("old", "c", state="exited", exit_code=2, attempt=3)])
    status = compute_status(
        pod, state, waiting={"c": ("CrashLoopBackOff", "back-off 40s restarting failed container")}
    )
    (cs,) = status["containerStatuses"]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert (
        cs["lastState"]["terminated"]["exitCode"] == 2 and cs["lastState"]["terminated"]["reason"] == "Error"
    )
    assert cs["restartCount"] == 3
    assert status["phase"] == "Running"
    assert conditions(status)["Ready"] == "False"


def test_readiness_and_startup_probes_gate_ready() -> None:
    pod = make_pod()
    state = PodState([sandbox()], [container("abc", "c")])
    unready = compute_status(pod, state, probes=ProbeView(has_readiness={"c"}))
    assert conditions(unready)["Ready"] == "False"
    assert unready["containerStatuses"][0]["ready"] is False
    ready = compute_status(pod, state, probes=ProbeView(ready={"abc": True}, has_readiness={"c"}))
    assert conditions(ready)["Ready"] == "True"
    not_started = compute_status(pod, state, probes=ProbeView(has_startup={"c"}))
    assert not_started["containerStatuses"][0]["started"] is False


def test_init_containers_pending_then_initialized() -> None:
    pod = make_pod(init=[{"name": "i", "image": "busybox"}])
    pending = compute_status(pod, PodState([sandbox()], [container("i1", "i")]))
    assert pending["phase"] == "Pending"
    assert conditions(pending)["Initialized"] == "False"
    assert pending["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    done = compute_status(
        pod, PodState([sandbox()], [container("i1", "i", state="exited"), container("a", "c")])
    )
    assert done["phase"] == "Running" and conditions(done)["Initialized"] == "True"
    assert done["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_failed_init_with_never_fails_pod() -> None:
    pod = make_pod(init=[{"name": "i", "image": "busybox"}], restart="Never")
    status = compute_status(pod, PodState([sandbox()], [container("i1", "i", state="exited", exit_code=1)]))
    assert status["phase"] == "Failed"


def test_readiness_gates_and_kept_conditions() -> None:
    pod = make_pod(readinessGates=[{"conditionType": "example.com/ok"}])
    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
    status = compute_status(pod, PodState([sandbox()], [container("abc", "c")]))
    assert conditions(status)["Ready"] == "False" and conditions(status)["PodScheduled"] == "True"
    pod["status"]["conditions"].append({"type": "example.com/ok", "status": "True"})
    assert conditions(compute_status(pod, PodState([sandbox()], [container("abc", "c")])))["Ready"] == "True"


def test_terminal_phase_sticks() -> None:
    pod = make_pod()
    pod["status"]["phase"] = "Failed"
    assert compute_status(pod, PodState([sandbox()], [container("abc", "c")]))["phase"] == "Failed"


class RecordingClient:
    def __init__(self) -> None:
        self.patches: list[dict] = []

    async def patch(self, resource, patch, **kwargs):
        self.patches.append(patch)
        return {"metadata": {"resourceVersion": str(100 + len(self.patches))}}


async def test_status_manager_patches_only_changes() -> None:
    client = RecordingClient()
    manager = StatusManager(client, "pods")
    pod = make_pod()
    status = compute_status(pod, PodState([sandbox()], [container("abc", "c")]))
    assert await manager.set_status(pod, status)
    assert not await manager.set_status(
        pod, compute_status(pod, PodState([sandbox()], [container("abc", "c")]))
    )
    assert client.patches[0]["metadata"] == {"uid": "uid-web"}
    exited = compute_status(pod, PodState([sandbox()], [container("abc", "c", state="exited")]))
    assert await manager.set_status(pod, exited)
    assert len(client.patches) == 2


def test_host_network_pod_ip_is_the_node_ip() -> None:
    status = compute_status(
        make_pod(hostNetwork=True), PodState([sandbox(ip="")], [container("abc", "c")]), host_ip="192.0.2.1"
    )
    assert status["podIP"] == "192.0.2.1" and status["podIPs"] == [{"ip": "192.0.2.1"}]


async def test_status_rewritten_after_someone_else_changed_it() -> None:
    """The node lifecycle controller marked the pod not Ready while the node was away: the
    kubelet, seeing the same status it wrote last, still writes it again."""
    client = RecordingClient()
    manager = StatusManager(client, "pods")
    pod = make_pod()
    running = PodState([sandbox()], [container("abc", "c")])
    status = compute_status(pod, running)
    assert await manager.set_status(pod, status)  # written at revision 101

    lagging = {**pod, "metadata": {**pod["metadata"], "resourceVersion": "90"}}
    assert not await manager.set_status(lagging, compute_status(pod, running))  # the cache lags

    marked = copy.deepcopy(pod)
    marked["metadata"]["resourceVersion"] = "150"
    marked["status"] = copy.deepcopy(status)
    for condition in marked["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = "False"
    assert await manager.set_status(marked, compute_status(pod, running))
    assert len(client.patches) == 2

    seen_again = {**marked, "status": copy.deepcopy(status)}  # our rewrite, observed
    seen_again["metadata"] = {**marked["metadata"], "resourceVersion": "102"}
    assert not await manager.set_status(seen_again, compute_status(pod, running))
