import pytest

from kubeling.apiserver.admission.interface import Attributes
from kubeling.apiserver.admission.storageobjectinuseprotection import StorageObjectInUseProtection

from .builders import REGISTRY


def _attrs(plural: str, operation: str = "CREATE") -> Attributes:
    resource = REGISTRY.get("", "v1", plural)
    assert resource is not None
    return Attributes(operation, resource, "", "ns" if plural.endswith("claims") else "", "x", "u", (), False)


@pytest.mark.parametrize(
    ("plural", "finalizer"),
    [
        ("persistentvolumeclaims", "kubernetes.io/pvc-protection"),
        ("persistentvolumes", "kubernetes.io/pv-protection"),
    ],
)
async def test_finalizer_added_once_on_create(plural: str, finalizer: str) -> None:
    obj = {"metadata": {"name": "x", "finalizers": ["keep"]}}
    plugin = StorageObjectInUseProtection()
    await plugin.admit(_attrs(plural), obj, None)
    await plugin.admit(_attrs(plural), obj, None)
    assert obj["metadata"]["finalizers"] == ["keep", finalizer]


async def test_updates_and_other_kinds_untouched() -> None:
    plugin = StorageObjectInUseProtection()
    claim = {"metadata": {"name": "x"}}
    await plugin.admit(_attrs("persistentvolumeclaims", "UPDATE"), claim, dict(claim))
    pod = {"metadata": {"name": "x"}}
    await plugin.admit(_attrs("pods"), pod, None)
    assert claim == {"metadata": {"name": "x"}} and pod == {"metadata": {"name": "x"}}
