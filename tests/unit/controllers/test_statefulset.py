"""StatefulSet pod identity: ordinals, names, labels, hostname and claims."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers.statefulset import claims_for, new_pod, ordinal_of

Obj = dict[str, Any]


def make_set(**spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "u-1"},
        "spec": {
            "serviceName": "svc",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "main", "image": "busybox"}],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": {"tier": "db"}},
                    "spec": {"accessModes": ["ReadWriteOnce"]},
                }
            ],
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [("web-0", 0), ("web-12", 12), ("web-x", -1), ("webs-1", -1), ("web", -1), ("my-web-1", -1)],
)
def test_ordinal_of(name: str, expected: int) -> None:
    assert ordinal_of("web", {"metadata": {"name": name}}) == expected


def test_new_pod_has_identity_revision_and_claims() -> None:
    pod = new_pod(make_set(), "web-abc", 2)
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["name"] == "web-2" and "generateName" not in meta
    assert meta["labels"] == {
        "app": "web",
        "statefulset.kubernetes.io/pod-name": "web-2",
        "apps.kubernetes.io/pod-index": "2",
        "controller-revision-hash": "web-abc",
    }
    assert meta["ownerReferences"][0]["kind"] == "StatefulSet"
    assert (spec["hostname"], spec["subdomain"]) == ("web-2", "svc")
    # The claim replaces the template's volume of the same name; others stay.
    assert spec["volumes"] == [
        {"name": "cache", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-2"}},
    ]


def test_claims_carry_template_and_selector_labels() -> None:
    [claim] = claims_for(make_set(), 1)
    assert claim["metadata"] == {"name": "data-web-1", "labels": {"tier": "db", "app": "web"}}
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"]}
    assert "ownerReferences" not in claim["metadata"]
