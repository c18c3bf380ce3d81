"""The rollout test the upgrade's ``wait-addons`` step applies (as ``kubectl rollout status``)."""

from __future__ import annotations

from deploys.tasks.api import _rolled_out


def daemonset(generation: int, observed: int, desired: int, updated: int, available: int) -> dict:
    return {
        "kind": "DaemonSet",
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
        },
    }


def deployment(desired: int, **status: int) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {"generation": 2},
        "spec": {"replicas": desired},
        "status": status,
    }


def test_daemonset_rolled_out_when_every_node_runs_an_available_updated_pod() -> None:
    assert _rolled_out(daemonset(2, 2, 3, 3, 3))
    assert not _rolled_out(daemonset(2, 1, 3, 3, 3))  # the controller has not seen the new spec
    assert not _rolled_out(daemonset(2, 2, 3, 2, 3))  # one node still runs the old pod
    assert not _rolled_out(daemonset(2, 2, 3, 3, 2))  # an updated pod is not available yet


def test_deployment_rolled_out_when_old_pods_are_gone() -> None:
    done = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert _rolled_out(deployment(2, **done))
    assert not _rolled_out(deployment(2, **(done | {"replicas": 3})))  # an old pod still terminating
    assert not _rolled_out(deployment(2, **(done | {"availableReplicas": 1})))
    assert not _rolled_out(deployment(2, **(done | {"observedGeneration": 1})))
