import pytest

from kubeling.apiserver.admission.defaultstorageclass import DefaultStorageClass

from .builders import FakeLister, attrs


def _class(name: str, created: str, default: str | None = None, beta: bool = False) -> dict:
    meta: dict = {"name": name, "creationTimestamp": created}
    if default is not None:
        key = (
            "storageclass.beta.kubernetes.io/is-default-class"
            if beta
            else "storageclass.kubernetes.io/is-default-class"
        )
        meta["annotations"] = {key: default}
    return {"metadata": meta, "provisioner": "example.com/disk"}


def _claim(**spec) -> dict:
    return {
        "metadata": {"name": "data", "namespace": "ns"},
        "spec": {"resources": {"requests": {"storage": "1Gi"}}, **spec},
    }


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        pytest.param([], None, id="no-classes"),
        pytest.param([_class("slow", "2024-01-01T00:00:00Z")], None, id="no-default"),
        pytest.param([_class("slow", "2024-01-01T00:00:00Z", "false")], None, id="default-false"),
        pytest.param(
            [_class("old", "2024-01-01T00:00:00Z", "true"), _class("new", "2024-06-01T00:00:00Z", "true")],
            "new",
            id="newest-default",
        ),
        pytest.param(
            [_class("b", "2024-01-01T00:00:00Z", "true"), _class("a", "2024-01-01T00:00:00Z", "true")],
            "a",
            id="tie-by-name",
        ),
        pytest.param(
            [_class("legacy", "2024-01-01T00:00:00Z", "true", beta=True)], "legacy", id="beta-annotation"
        ),
    ],
)
async def test_default_class_is_chosen(classes: list[dict], expected: str | None) -> None:
    lister = FakeLister()
    for storage_class in classes:
        lister.add("storage.k8s.io", "storageclasses", storage_class)
    claim = _claim()
    await DefaultStorageClass(lister).admit(attrs("persistentvolumeclaims", "data"), claim, None)
    assert claim["spec"].get("storageClassName") == expected


@pytest.mark.parametrize(
    ("claim", "operation"),
    [
        pytest.param(_claim(storageClassName="slow"), "CREATE", id="named-class"),
        pytest.param(_claim(storageClassName=""), "CREATE", id="explicitly-none"),
        pytest.param(_claim(), "UPDATE", id="update"),
    ],
)
async def test_claims_with_a_choice_are_untouched(claim: dict, operation: str) -> None:
    lister = FakeLister()
    lister.add("storage.k8s.io", "storageclasses", _class("std", "2024-01-01T00:00:00Z", "true"))
    before = claim["spec"].get("storageClassName")
    await DefaultStorageClass(lister).admit(
        attrs("persistentvolumeclaims", "data", operation=operation), claim, None
    )
    assert claim["spec"].get("storageClassName") == before


async def test_beta_claim_annotation_counts_as_a_choice() -> None:
    lister = FakeLister()
    lister.add("storage.k8s.io", "storageclasses", _class("std", "2024-01-01T00:00:00Z", "true"))
    claim = _claim()
    claim["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "gold"}
    await DefaultStorageClass(lister).admit(attrs("persistentvolumeclaims", "data"), claim, None)
    assert "storageClassName" not in claim["spec"]
