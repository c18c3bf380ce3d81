"""The version-skew policy and the plan's verdict and table (pure)."""

from __future__ import annotations

import pytest

from kubeling.upgrade import skew
from kubeling.upgrade.plan import Component, make_plan

V = skew.Version.parse


def test_versions_parse_and_compare() -> None:
    assert V("v0.2.0") == skew.Version(0, 2, 0)
    assert V("1.3") == skew.Version(1, 3, 0)
    assert str(V("0.2.0rc1")) == "0.2.0rc1"
    assert V("0.10.0") > V("0.9.9")
    with pytest.raises(skew.BadVersion, match="not a version"):
        V("latest")


@pytest.mark.parametrize(
    ("reported", "version"),
    [
        pytest.param("v1.37.0+kubeling-0.2.0", "0.2.0", id="apiserver-gitVersion"),
        pytest.param("v1.37.0-kubeling.0.1.0", "0.1.0", id="kubeletVersion"),
    ],
)
def test_kubeling_version_inside_a_reported_version(reported: str, version: str) -> None:
    assert skew.kubeling_version_of(reported) == version


def test_a_reported_version_without_kubeling_is_a_clear_error() -> None:
    with pytest.raises(skew.BadVersion, match="carries no kubeling version"):
        skew.kubeling_version_of("v1.37.0")


@pytest.mark.parametrize(
    ("current", "target", "problem"),
    [
        pytest.param("0.1.0", "0.2.0", None, id="next-minor"),
        pytest.param("0.1.0", "0.1.7", None, id="patch"),
        pytest.param("0.2.0", "0.2.0", None, id="same"),
        pytest.param("0.1.0", "0.3.0", "skips a minor version: upgrade to 0.2.x first", id="skip"),
        pytest.param("0.2.0", "0.1.0", "downgrade", id="downgrade"),
        pytest.param("0.9.0", "1.0.0", "major", id="major"),
    ],
)
def test_control_plane_moves_one_minor_at_a_time(current: str, target: str, problem: str | None) -> None:
    problems = skew.control_plane_problems([V(current)], V(target))
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    ("kubelet", "apiserver", "problem"),
    [
        pytest.param("0.2.0", "0.2.0", None, id="same"),
        pytest.param("0.2.0", "0.5.3", None, id="three-behind"),
        pytest.param("0.1.0", "0.5.0", "4 minor versions older", id="four-behind"),
        pytest.param("0.3.0", "0.2.0", "newer than the apiserver", id="newer"),
        pytest.param("0.2.9", "0.2.0", None, id="newer-patch-same-minor"),
    ],
)
def test_kubelet_skew(kubelet: str, apiserver: str, problem: str | None) -> None:
    problems = skew.kubelet_problems({"w-1": V(kubelet)}, V(apiserver), when="now")
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0] and "w-1" in problems[0]


def _cluster(cp: str = "0.1.0", workers: tuple[str, ...] = ("0.1.0", "0.1.0")) -> list[Component]:
    components = [
        Component("kube-apiserver", "cp-1", cp),
        Component("kube-controller-manager", "cp-1", cp),
        Component("kube-scheduler", "cp-1", cp),
        Component("kubelet", "cp-1", cp),
    ]
    return components + [Component("kubelet", f"w-{i}", v) for i, v in enumerate(workers, 1)]


def test_an_allowed_plan_lists_every_component() -> None:
    plan = make_plan(_cluster(), "0.2.0")
    assert plan.allowed and len(plan.pending) == 6
    table = plan.render()
    assert table.splitlines()[0].split() == ["COMPONENT", "NODE", "CURRENT", "TARGET"]
    assert "kubelet                  w-2   0.1.0    0.2.0   upgrade" in table
    assert "upgrade to 0.2.0 allowed: 6 component(s)" in table


def test_a_plan_half_done_continues() -> None:
    plan = make_plan(_cluster(cp="0.2.0", workers=("0.2.0", "0.1.0")), "0.2.0")
    assert plan.allowed and [(c.kind, c.node) for c in plan.pending] == [("kubelet", "w-2")]


def test_nothing_to_do() -> None:
    plan = make_plan(_cluster(cp="0.2.0", workers=("0.2.0",)), "0.2.0")
    assert plan.allowed and not plan.pending
    assert "nothing to upgrade: every component is at 0.2.0" in plan.render()


@pytest.mark.parametrize(
    ("components", "target", "reason"),
    [
        pytest.param(_cluster(), "0.3.0", "skips a minor version", id="skip"),
        pytest.param(
            _cluster(cp="0.4.0", workers=("0.1.0",)), "0.5.0", "4 minor versions older", id="old-kubelet"
        ),
        pytest.param(_cluster(), "latest", "target: 'latest' is not a version", id="bad-target"),
        pytest.param(
            [*_cluster()[:3], Component("kubelet", "w-1", None, "'v1.37.0' carries no kubeling version")],
            "0.2.0",
            "kubelet on w-1: 'v1.37.0' carries no kubeling version",
            id="unreadable",
        ),
        pytest.param(_cluster()[3:], "0.2.0", "no kube-apiserver mirror pod", id="no-apiserver"),
    ],
)
def test_refused_plans_say_why(components: list[Component], target: str, reason: str) -> None:
    plan = make_plan(components, target)
    assert not plan.allowed
    text = plan.render()
    assert f"upgrade to {target} refused:" in text and reason in text
