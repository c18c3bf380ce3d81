import re

import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.admission.serviceaccount import ServiceAccount

from .builders import FakeLister, attrs, container, make_pod

MOUNT = {
    "name": "kube-api-access-abcde",
    "readOnly": True,
    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
}
VOLUME = {
    "name": "kube-api-access-abcde",
    "projected": {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
        "defaultMode": 420,
    },
}


def _plugin(*accounts: dict, require: bool = False) -> ServiceAccount:
    lister = FakeLister()
    for account in accounts:
        lister.add("", "serviceaccounts", account)
    return ServiceAccount(lister, require_service_account=require, name_suffix=lambda: "abcde")


def _account(name: str = "default", **fields) -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}, **fields}


async def test_default_account_and_token_volume_shape() -> None:
    pod = make_pod(
        "web",
        container("app"),
        container("sidecar", volumeMounts=[{"name": "data", "mountPath": "/data"}]),
        initContainers=[container("init")],
        volumes=[{"name": "data", "emptyDir": {}}],
    )
    await _plugin(_account()).admit(attrs("pods", "web"), pod, None)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccount"] == "default"
    assert spec["volumes"] == [{"name": "data", "emptyDir": {}}, VOLUME]
    assert spec["initContainers"][0]["volumeMounts"] == [MOUNT]
    assert spec["containers"][0]["volumeMounts"] == [MOUNT]
    assert spec["containers"][1]["volumeMounts"] == [{"name": "data", "mountPath": "/data"}, MOUNT]


async def test_random_volume_name() -> None:
    lister = FakeLister()
    pod = make_pod("web")
    await ServiceAccount(lister).admit(attrs("pods", "web"), pod, None)
    assert re.fullmatch(
        r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", pod["spec"]["volumes"][0]["name"]
    )


@pytest.mark.parametrize(
    ("pod_choice", "account_choice", "mounted"),
    [
        pytest.param(None, None, True, id="default-mounts"),
        pytest.param(False, None, False, id="pod-opts-out"),
        pytest.param(None, False, False, id="account-opts-out"),
        pytest.param(True, False, True, id="pod-wins-over-account"),
    ],
)
async def test_automount_choice(pod_choice: bool | None, account_choice: bool | None, mounted: bool) -> None:
    account = _account("builder")
    if account_choice is not None:
        account["automountServiceAccountToken"] = account_choice
    pod = make_pod("web", serviceAccountName="builder")
    if pod_choice is not None:
        pod["spec"]["automountServiceAccountToken"] = pod_choice
    await _plugin(account).admit(attrs("pods", "web"), pod, None)
    assert pod["spec"]["serviceAccountName"] == "builder"
    assert ("volumes" in pod["spec"]) is mounted
    assert ("volumeMounts" in pod["spec"]["containers"][0]) is mounted


async def test_existing_mount_at_token_path_is_respected() -> None:
    own = {"name": "mine", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    pod = make_pod(
        "web", container("app", volumeMounts=[own]), volumes=[{"name": "mine", "secret": {"secretName": "s"}}]
    )
    await _plugin().admit(attrs("pods", "web"), pod, None)
    assert pod["spec"]["containers"][0]["volumeMounts"] == [own]
    assert pod["spec"]["volumes"] == [{"name": "mine", "secret": {"secretName": "s"}}]


async def test_missing_account_rejected_when_required() -> None:
    pod = make_pod("web", serviceAccountName="robot")
    with pytest.raises(StatusError) as err:
        await _plugin(require=True).admit(attrs("pods", "web"), pod, None)
    assert err.value.code == 403
    assert err.value.message == (
        'pods "web" is forbidden: error looking up service account ns/robot: serviceaccount "robot" not found'
    )


async def test_account_image_pull_secrets_are_copied() -> None:
    account = _account(imagePullSecrets=[{"name": "registry"}])
    pod = make_pod("web")
    await _plugin(account, require=True).admit(attrs("pods", "web"), pod, None)
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry"}]


@pytest.mark.parametrize(
    ("operation", "subresource", "plural"),
    [
        pytest.param("UPDATE", "", "pods", id="update"),
        pytest.param("CREATE", "binding", "pods", id="subresource"),
        pytest.param("CREATE", "", "configmaps", id="other-kind"),
    ],
)
async def test_only_pod_creates_are_mutated(operation: str, subresource: str, plural: str) -> None:
    pod = make_pod("web")
    await _plugin().admit(attrs(plural, "web", operation=operation, subresource=subresource), pod, None)
    assert "serviceAccountName" not in pod["spec"]


async def test_mirror_pods_are_left_alone() -> None:
    pod = make_pod("web")
    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    await _plugin().admit(attrs("pods", "web"), pod, None)
    assert "serviceAccountName" not in pod["spec"] and "volumes" not in pod["spec"]
    pod["spec"]["serviceAccountName"] = "default"
    with pytest.raises(StatusError, match="a mirror pod may not reference service accounts"):
        await _plugin().admit(attrs("pods", "web"), pod, None)
