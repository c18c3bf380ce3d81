import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.admission.interface import Attributes
from kubeling.apiserver.admission.priority import Priority, default_class

from .builders import REGISTRY, FakeLister, attrs, make_pod


def _pc(name: str, value: int, *, default: bool = False, preemption: str = "PreemptLowerPriority") -> dict:
    return {
        "metadata": {"name": name},
        "value": value,
        "globalDefault": default,
        "preemptionPolicy": preemption,
    }


def _pc_attrs(name: str, operation: str = "CREATE") -> Attributes:
    resource = REGISTRY.get("scheduling.k8s.io", "v1", "priorityclasses")
    assert resource is not None
    return Attributes(operation, resource, "", "", name, "alice", (), False)


def _plugin(*classes: dict) -> Priority:
    lister = FakeLister()
    for pc in classes:
        lister.add("scheduling.k8s.io", "priorityclasses", pc)
    return Priority(lister)


async def test_class_resolves_to_priority_and_policy() -> None:
    plugin = _plugin(_pc("high", 1000, preemption="Never"))
    pod = make_pod("web", priorityClassName="high")
    await plugin.admit(attrs("pods", "web"), pod, None)
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (1000, "Never")


async def test_no_class_and_no_default_gives_zero() -> None:
    pod = make_pod("web")
    await _plugin(_pc("high", 1000)).admit(attrs("pods", "web"), pod, None)
    assert pod["spec"]["priority"] == 0
    assert pod["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
    assert "priorityClassName" not in pod["spec"]


async def test_global_default_fills_name_and_value() -> None:
    pod = make_pod("web")
    await _plugin(_pc("high", 1000), _pc("base", 10, default=True)).admit(attrs("pods", "web"), pod, None)
    assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == ("base", 10)


def test_lowest_of_several_defaults_wins() -> None:
    found = default_class([_pc("a", 50, default=True), _pc("b", 5, default=True), _pc("c", 1)])
    assert found is not None and found["metadata"]["name"] == "b"


async def test_unknown_class_is_forbidden() -> None:
    with pytest.raises(StatusError) as err:
        await _plugin().admit(attrs("pods", "web"), make_pod("web", priorityClassName="gold"), None)
    assert err.value.code == 403
    assert err.value.message == 'pods "web" is forbidden: no PriorityClass with name gold was found'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"priority": 7},
            "the integer value of priority (7) must not be provided in pod spec; priority admission "
            "controller computed 1000 from the given PriorityClass name",
        ),
        (
            {"preemptionPolicy": "Never"},
            "the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority "
            "admission controller computed PreemptLowerPriority from the given PriorityClass name",
        ),
    ],
    ids=["priority", "preemption-policy"],
)
async def test_own_values_must_match_the_class(spec: dict, message: str) -> None:
    pod = make_pod("web", priorityClassName="high", **spec)
    with pytest.raises(StatusError) as err:
        await _plugin(_pc("high", 1000)).admit(attrs("pods", "web"), pod, None)
    assert err.value.message == f'pods "web" is forbidden: {message}'


async def test_matching_own_priority_is_accepted() -> None:
    pod = make_pod("web", priorityClassName="high", priority=1000)
    await _plugin(_pc("high", 1000)).admit(attrs("pods", "web"), pod, None)
    assert pod["spec"]["priority"] == 1000


async def test_update_keeps_values_from_create() -> None:
    old = make_pod("web", priority=1000, preemptionPolicy="Never")
    pod = make_pod("web")
    await _plugin().admit(attrs("pods", "web", operation="UPDATE"), pod, old)
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (1000, "Never")


async def test_subresources_and_other_kinds_are_ignored() -> None:
    pod = make_pod("web", priorityClassName="missing")
    await _plugin().admit(attrs("pods", "web", subresource="status"), pod, None)
    assert "priority" not in pod["spec"]


async def test_second_global_default_is_forbidden() -> None:
    plugin = _plugin(_pc("base", 10, default=True))
    with pytest.raises(StatusError) as err:
        await plugin.validate(_pc_attrs("other"), _pc("other", 5, default=True), None)
    assert err.value.code == 403
    assert err.value.message == (
        'priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass base is already marked '
        "as default. Only one default can exist"
    )


async def test_default_may_be_updated_and_non_defaults_created() -> None:
    plugin = _plugin(_pc("base", 10, default=True))
    await plugin.validate(_pc_attrs("base", "UPDATE"), _pc("base", 10, default=True), _pc("base", 10))
    await plugin.validate(_pc_attrs("other"), _pc("other", 5), None)
    with pytest.raises(StatusError):
        await plugin.validate(_pc_attrs("x", "UPDATE"), _pc("x", 5, default=True), _pc("x", 5))
