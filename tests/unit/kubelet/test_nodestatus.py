"""Node status from machine facts and the runtime's state."""

from __future__ import annotations

import dataclasses

import pytest

from kubeling.kubelet import runtime as rt
from kubeling.kubelet.nodestatus import MachineFacts, NodeInputs, node_status

FACTS = MachineFacts(2, 4 * 2**30, 100 * 2**30, "Debian GNU/Linux 12 (bookworm)", "6.1.0", "m1", "b1")


def inputs(**overrides) -> NodeInputs:
    base = NodeInputs(
        name="node-a",
        node_ip="192.0.2.10",
        max_pods=110,
        facts=FACTS,
        runtime_version=("docker", "20.10.24"),
        runtime_status=rt.RuntimeStatus(True, True),
        images=[rt.ImageInfo("sha256:1", ["kubeling/busybox:0.1.0"], size=10)],
        pod_cidr="10.244.0.0/24",
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


def ready(status: dict) -> dict:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_status_fields() -> None:
    status = node_status(inputs())
    assert status["capacity"] == {
        "cpu": "2",
        "memory": f"{4 * 2**20}Ki",
        "pods": "110",
        "ephemeral-storage": f"{100 * 2**20}Ki",
    }
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "192.0.2.10"},
        {"type": "Hostname", "address": "node-a"},
    ]
    info = status["nodeInfo"]
    assert info["containerRuntimeVersion"] == "docker://20.10.24"
    assert info["kubeletVersion"].startswith("v1.37.0-kubeling.")
    assert (info["osImage"], info["kernelVersion"], info["machineID"], info["bootID"]) == (
        "Debian GNU/Linux 12 (bookworm)",
        "6.1.0",
        "m1",
        "b1",
    )
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert status["images"] == [{"names": ["kubeling/busybox:0.1.0"], "sizeBytes": 10}]
    assert ready(status)["status"] == "True" and ready(status)["reason"] == "KubeletReady"
    assert {c["type"]: c["status"] for c in status["conditions"]}["MemoryPressure"] == "False"


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"pod_cidr": ""}, "network plugin not ready"),
        (
            {"runtime_status": rt.RuntimeStatus(True, False, "NetworkPluginNotReady", "cni")},
            "NetworkReady=false",
        ),
        ({"runtime_status": rt.RuntimeStatus(False, False, "", "down")}, "container runtime is down"),
    ],
)
def test_not_ready(overrides, needle) -> None:
    condition = ready(node_status(inputs(**overrides)))
    assert condition["status"] == "False" and condition["reason"] == "KubeletNotReady"
    assert needle in condition["message"]


def test_transition_time_kept_while_status_holds() -> None:
    first = node_status(inputs())
    ready(first)["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    assert ready(node_status(inputs(), first))["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert ready(node_status(inputs(pod_cidr=""), first))["lastTransitionTime"] != "2020-01-01T00:00:00Z"


def test_machine_facts_probe() -> None:
    facts = MachineFacts.probe("/")
    assert facts.cpu >= 1 and facts.memory_bytes > 0 and facts.ephemeral_bytes > 0


@pytest.mark.parametrize(
    ("facts", "kind", "reason"),
    [
        ({"memory_available": 50 * 2**20}, "MemoryPressure", "KubeletHasInsufficientMemory"),
        ({"disk_available": 2**30}, "DiskPressure", "KubeletHasDiskPressure"),
        ({"pids_used": 2**22 - 10}, "PIDPressure", "KubeletHasInsufficientPID"),
    ],
)
def test_pressure(facts: dict, kind: str, reason: str) -> None:
    status = node_status(inputs(facts=dataclasses.replace(FACTS, **facts)))
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions[kind]["status"] == "True" and conditions[kind]["reason"] == reason
    assert sum(c["status"] == "True" for c in status["conditions"]) == 2  # that one and Ready
