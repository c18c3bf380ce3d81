import pytest

from kubeling.apiserver.admission.defaulttolerationseconds import DefaultTolerationSeconds

from .builders import attrs, make_pod

NOT_READY = {
    "key": "node.kubernetes.io/not-ready",
    "operator": "Exists",
    "effect": "NoExecute",
    "tolerationSeconds": 300,
}
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}


async def test_both_tolerations_added() -> None:
    pod = make_pod("web")
    await DefaultTolerationSeconds().admit(attrs("pods", "web"), pod, None)
    assert pod["spec"]["tolerations"] == [NOT_READY, UNREACHABLE]


async def test_seconds_come_from_the_flags() -> None:
    pod = make_pod("web")
    plugin = DefaultTolerationSeconds(not_ready_seconds=60, unreachable_seconds=30)
    await plugin.admit(attrs("pods", "web"), pod, None)
    assert [t["tolerationSeconds"] for t in pod["spec"]["tolerations"]] == [60, 30]


@pytest.mark.parametrize(
    ("existing", "added"),
    [
        (
            [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
            [UNREACHABLE],
        ),
        ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}], [NOT_READY]),
        ([{"operator": "Exists"}], []),
        ([{"operator": "Exists", "effect": "NoExecute"}], []),
        ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}], None),
    ],
    ids=["has-not-ready", "unreachable-any-effect", "tolerates-everything", "all-noexecute", "noschedule"],
)
async def test_existing_tolerations_are_respected(existing: list[dict], added: list[dict] | None) -> None:
    pod = make_pod("web", tolerations=[dict(t) for t in existing])
    await DefaultTolerationSeconds().admit(attrs("pods", "web"), pod, None)
    expected = existing + (added if added is not None else [NOT_READY, UNREACHABLE])
    assert pod["spec"].get("tolerations", []) == expected


async def test_subresources_are_left_alone() -> None:
    pod = make_pod("web")
    await DefaultTolerationSeconds().admit(attrs("pods", "web", subresource="status"), pod, None)
    assert "tolerations" not in pod["spec"]
