"""computeActions and the crash back-off, table-driven."""

from __future__ import annotations

import pytest

from kubeling.kubelet.containers import BackOff, PodActions, PodState, compute_actions
from tests.unit.kubelet.builders import container, make_pod, sandbox

TWO = [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]
INITS = [{"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}]


@pytest.mark.parametrize(
    ("pod", "state", "expected"),
    [
        pytest.param(
            make_pod(containers=TWO), PodState(), PodActions(create_sandbox=True, start=[0, 1]), id="new-pod"
        ),
        pytest.param(
            make_pod(containers=TWO, init=INITS),
            PodState(),
            PodActions(create_sandbox=True, next_init=0),
            id="new-pod-init",
        ),
        pytest.param(
            make_pod(containers=TWO, init=INITS),
            PodState([sandbox()], [container("x", "i1", state="exited")]),
            PodActions(next_init=1),
            id="second-init-after-first-succeeded",
        ),
        pytest.param(
            make_pod(containers=TWO, init=INITS),
            PodState([sandbox()], [container("x", "i1")]),
            PodActions(),
            id="init-running-wait",
        ),
        pytest.param(
            make_pod(containers=TWO, init=INITS),
            PodState([sandbox()], [container("x", "i1", state="exited", exit_code=1)]),
            PodActions(next_init=0),
            id="failed-init-restarts",
        ),
        pytest.param(
            make_pod(containers=TWO, init=INITS, restart="Never"),
            PodState([sandbox()], [container("x", "i1", state="exited", exit_code=1)]),
            PodActions(kill_pod=True),
            id="failed-init-never-kills-pod",
        ),
        pytest.param(
            make_pod(containers=TWO, init=INITS),
            PodState(
                [sandbox()],
                [
                    container("x", "i1", state="exited"),
                    container("y", "i2", state="exited"),
                    container("z", "a"),
                ],
            ),
            PodActions(start=[1]),
            id="inits-done-start-missing-app",
        ),
        pytest.param(
            make_pod(containers=TWO),
            PodState([sandbox()], [container("x", "a", spec=TWO[0]), container("y", "b", spec=TWO[1])]),
            PodActions(),
            id="all-running-noop",
        ),
        pytest.param(
            make_pod(containers=TWO),
            PodState(
                [sandbox()],
                [container("x", "a", spec=TWO[0]), container("y", "b", state="exited", exit_code=0)],
            ),
            PodActions(start=[1]),
            id="always-restarts-completed",
        ),
        pytest.param(
            make_pod(containers=TWO, restart="OnFailure"),
            PodState(
                [sandbox()],
                [container("x", "a", spec=TWO[0]), container("y", "b", state="exited", exit_code=0)],
            ),
            PodActions(),
            id="onfailure-keeps-completed",
        ),
        pytest.param(
            make_pod(containers=TWO, restart="OnFailure"),
            PodState(
                [sandbox()],
                [container("x", "a", spec=TWO[0]), container("y", "b", state="exited", exit_code=2)],
            ),
            PodActions(start=[1]),
            id="onfailure-restarts-failed",
        ),
        pytest.param(
            make_pod(containers=TWO, restart="Never"),
            PodState(
                [sandbox()],
                [
                    container("x", "a", state="exited", exit_code=0),
                    container("y", "b", state="exited", exit_code=2),
                ],
            ),
            PodActions(kill_pod=True),
            id="never-all-done-kills-sandbox",
        ),
        pytest.param(
            make_pod(containers=TWO),
            PodState([sandbox(ready=False)], [container("x", "a", state="exited")]),
            PodActions(create_sandbox=True, sandbox_attempt=1, start=[0, 1]),
            id="dead-sandbox-recreated",
        ),
        pytest.param(
            make_pod(containers=TWO, restart="Never"),
            PodState([sandbox(ready=False)], [container("x", "a", state="exited")]),
            PodActions(kill_pod=True, sandbox_attempt=1),
            id="dead-sandbox-never-is-done",
        ),
        pytest.param(
            make_pod(containers=[{"name": "a", "image": "busybox:new"}]),
            PodState([sandbox()], [container("x", "a", spec=TWO[0])]),
            PodActions(start=[0], kill={"x": "Container a definition changed, will be restarted"}),
            id="spec-change-restarts",
        ),
    ],
)
def test_compute_actions(pod, state, expected) -> None:
    assert compute_actions(pod, state) == expected


def test_liveness_failure_kills_and_restarts_unless_never() -> None:
    state = PodState([sandbox()], [container("x", "a", spec=TWO[0]), container("y", "b", spec=TWO[1])])
    why = {"x": "Container a failed liveness probe, will be restarted"}
    assert compute_actions(make_pod(containers=TWO), state, unhealthy=why) == PodActions(start=[0], kill=why)
    assert compute_actions(make_pod(containers=TWO, restart="Never"), state, unhealthy=why) == PodActions(
        kill=why
    )


def test_backoff_doubles_caps_and_resets() -> None:
    backoff = BackOff()
    assert not backoff.in_backoff_since("k", since=0.0, now=0.0)
    assert [backoff.next("k", now) for now in (0, 1, 2, 3, 4, 5, 6)] == [10, 20, 40, 80, 160, 300, 300]
    assert backoff.in_backoff_since("k", since=10.0, now=300.0)
    assert not backoff.in_backoff_since("k", since=10.0, now=311.0)
    # Ten quiet minutes (the container ran): the next failure starts over.
    assert not backoff.in_backoff_since("k", since=700.0, now=700.0)
    assert backoff.next("k", 700.0) == 10
    backoff.forget_prefix("k")
    assert backoff.delay("k") == 0
