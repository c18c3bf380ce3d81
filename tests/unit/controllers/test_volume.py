import pytest

from kubeling.controllers.volume import claims_of_pod, find_best_volume, provisioned_volume, volume_fits


def _pv(
    name: str, size: str, *, cls: str = "manual", modes: tuple[str, ...] = ("ReadWriteOnce",), **spec
) -> dict:
    labels = spec.pop("labels", {})
    phase = spec.pop("phase", "Available")
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls, **spec},
        "status": {"phase": phase},
    }


def _claim(
    size: str = "1Gi", *, cls: str = "manual", modes: tuple[str, ...] = ("ReadWriteOnce",), **spec
) -> dict:
    return {
        "metadata": {"name": "data", "namespace": "ns", "uid": "c-1"},
        "spec": {
            "accessModes": list(modes),
            "resources": {"requests": {"storage": size}},
            "storageClassName": cls,
            **spec,
        },
    }


def _names(volume: dict | None) -> str | None:
    return volume["metadata"]["name"] if volume else None


def test_smallest_fitting_volume_wins() -> None:
    volumes = [_pv("big", "10Gi"), _pv("exact", "1Gi"), _pv("small", "500Mi"), _pv("mid", "2Gi")]
    assert _names(find_best_volume(_claim("1Gi"), volumes)) == "exact"
    assert _names(find_best_volume(_claim("1500Mi"), volumes)) == "mid"
    assert find_best_volume(_claim("20Gi"), volumes) is None


def test_prebound_volume_wins_and_others_claims_are_skipped() -> None:
    ref = {"namespace": "ns", "name": "data"}
    other = {"namespace": "ns", "name": "other", "uid": "x"}
    volumes = [_pv("free", "1Gi"), _pv("mine", "5Gi", claimRef=ref), _pv("taken", "1Gi", claimRef=other)]
    assert _names(find_best_volume(_claim(), volumes)) == "mine"
    assert _names(find_best_volume(_claim(), volumes[::2])) == "free"
    assert find_best_volume(_claim(), [volumes[2]]) is None


@pytest.mark.parametrize(
    ("volume", "claim", "fits"),
    [
        (_pv("v", "1Gi", cls="fast"), _claim(), False),
        (_pv("v", "1Gi", cls=""), _claim(cls=""), True),
        (_pv("v", "1Gi", modes=("ReadWriteOnce", "ReadOnlyMany")), _claim(modes=("ReadOnlyMany",)), True),
        (_pv("v", "1Gi"), _claim(modes=("ReadWriteMany",)), False),
        (_pv("v", "1Gi", volumeMode="Block"), _claim(), False),
        (_pv("v", "1Gi", volumeMode="Block"), _claim(volumeMode="Block"), True),
        (_pv("v", "1Gi", labels={"tier": "gold"}), _claim(selector={"matchLabels": {"tier": "gold"}}), True),
        (_pv("v", "1Gi", labels={"tier": "iron"}), _claim(selector={"matchLabels": {"tier": "gold"}}), False),
        (_pv("v", "1G"), _claim("1Gi"), False),
    ],
    ids=[
        "class",
        "no-class",
        "modes-subset",
        "modes-missing",
        "mode-mismatch",
        "block",
        "selector",
        "selector-no",
        "units",
    ],
)
def test_volume_fits(volume: dict, claim: dict, fits: bool) -> None:
    assert volume_fits(volume, claim) is fits


def test_node_affinity_checked_against_the_selected_node() -> None:
    term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}
    volume = _pv("local", "1Gi", nodeAffinity={"required": {"nodeSelectorTerms": [term]}})
    n1 = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}}
    n2 = {"metadata": {"name": "n2", "labels": {"kubernetes.io/hostname": "n2"}}}
    assert volume_fits(volume, _claim(), n1) and not volume_fits(volume, _claim(), n2)


def test_released_and_deleting_volumes_are_not_candidates() -> None:
    deleting = _pv("d", "1Gi")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert find_best_volume(_claim(), [_pv("r", "1Gi", phase="Released"), deleting]) is None


def test_claims_of_pod() -> None:
    pod = {
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "volumes": [
                {"name": "a", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}},
                {"name": "tmp", "emptyDir": {}},
            ]
        },
    }
    assert claims_of_pod(pod) == ["ns/data", "ns/web-scratch"]


def test_provisioned_volume() -> None:
    claim = _claim("3Gi", cls="lab")
    storage_class = {
        "metadata": {"name": "lab"},
        "provisioner": "kubeling.io/hostpath",
        "reclaimPolicy": "Retain",
    }
    pv = provisioned_volume(claim, storage_class, "n1")
    assert pv["metadata"]["name"] == "pvc-c-1"
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "kubeling.io/hostpath"
    assert pv["spec"]["hostPath"] == {
        "path": "/var/lib/kubeling/volumes/pvc-c-1",
        "type": "DirectoryOrCreate",
    }
    assert pv["spec"]["capacity"] == {"storage": "3Gi"}
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["claimRef"]["uid"] == "c-1"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0][
        "values"
    ] == ["n1"]
    assert "nodeAffinity" not in provisioned_volume(claim, storage_class, None)["spec"]
