from kubeling.apiserver.admission.interface import Attributes
from kubeling.apiserver.admission.taintnodesbycondition import TaintNodesByCondition

from .builders import REGISTRY

NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


def _attrs(operation: str = "CREATE", subresource: str = "") -> Attributes:
    resource = REGISTRY.get("", "v1", "nodes")
    assert resource is not None
    return Attributes(operation, resource, subresource, "", "n1", "kubelet", (), False)


async def test_new_node_gets_not_ready_taint() -> None:
    node = {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}
    await TaintNodesByCondition().admit(_attrs(), node, None)
    assert node["spec"]["taints"] == [{"key": "gpu", "effect": "NoSchedule"}, NOT_READY]


async def test_existing_taint_not_duplicated() -> None:
    node = {"metadata": {"name": "n1"}, "spec": {"taints": [dict(NOT_READY, value="x")]}}
    await TaintNodesByCondition().admit(_attrs(), node, None)
    assert node["spec"]["taints"] == [dict(NOT_READY, value="x")]


async def test_updates_are_left_alone() -> None:
    node = {"metadata": {"name": "n1"}, "spec": {}}
    await TaintNodesByCondition().admit(_attrs("UPDATE"), node, {"metadata": {"name": "n1"}})
    assert node["spec"] == {}
