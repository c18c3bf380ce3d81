import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.admission.podsecurity import PodSecurity

from .builders import FakeLister, attrs, container, make_namespace, make_pod

RESTRICTED_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
}


def _plugin(level: str | None, version: str | None = None) -> PodSecurity:
    labels = {}
    if level is not None:
        labels["pod-security.kubernetes.io/enforce"] = level
    if version is not None:
        labels["pod-security.kubernetes.io/enforce-version"] = version
    lister = FakeLister()
    lister.add("", "namespaces", make_namespace("ns", labels=labels))
    return PodSecurity(lister)


async def _reason(plugin: PodSecurity, pod: dict) -> str:
    name = pod["metadata"]["name"]
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", name), pod, None)
    assert err.value.code == 403
    prefix = f'pods "{name}" is forbidden: '
    assert err.value.message.startswith(prefix)
    return err.value.message[len(prefix) :]


async def test_restricted_rejects_a_privileged_pod_like_upstream() -> None:
    pod = make_pod("restricted-pod", container("busybox", securityContext={"privileged": True}))
    assert await _reason(_plugin("restricted", "v1.30"), pod) == (
        'violates PodSecurity "restricted:v1.30": '
        'privileged (container "busybox" must not set securityContext.privileged=true), '
        'allowPrivilegeEscalation != false (container "busybox" must set '
        "securityContext.allowPrivilegeEscalation=false), "
        'unrestricted capabilities (container "busybox" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "busybox" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "busybox" must set securityContext.seccompProfile.type '
        'to "RuntimeDefault" or "Localhost")'
    )


async def test_restricted_names_several_containers() -> None:
    pod = make_pod("web", container("a"), container("b"))
    reason = await _reason(_plugin("restricted"), pod)
    assert reason.startswith(
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(containers "a", "b" must set securityContext.allowPrivilegeEscalation=false), '
    )
    assert (
        'runAsNonRoot != true (pod or containers "a", "b" must set securityContext.runAsNonRoot=true)'
        in reason
    )


async def test_restricted_reports_selinux_and_sysctls_first() -> None:
    pod = make_pod(
        "my-pod",
        container("my-pod", securityContext=RESTRICTED_CONTEXT),
        securityContext={
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
            "seLinuxOptions": {"user": "u", "role": "r"},
            "sysctls": [
                {"name": "net.core.somaxconn", "value": "1"},
                {"name": "kernel.msgmax", "value": "1"},
            ],
        },
    )
    assert await _reason(_plugin("restricted", "v1.32"), pod) == (
        'violates PodSecurity "restricted:v1.32": '
        "seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: "
        "user may not be set; role may not be set), "
        "forbidden sysctls (net.core.somaxconn, kernel.msgmax)"
    )


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        pytest.param(
            make_pod(
                "web",
                container("c", ports=[{"containerPort": 80, "hostPort": 80}]),
                hostNetwork=True,
                hostPID=True,
            ),
            'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true), '
            'hostPort (container "c" uses hostPort 80)',
            id="host-namespaces",
        ),
        pytest.param(
            make_pod("web", volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
            'violates PodSecurity "baseline:latest": hostPath volumes (volume "root")',
            id="hostpath",
        ),
        pytest.param(
            make_pod(
                "web", container("c", securityContext={"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}})
            ),
            'violates PodSecurity "baseline:latest": non-default capabilities '
            '(container "c" must not include "NET_ADMIN" in securityContext.capabilities.add)',
            id="capabilities",
        ),
    ],
)
async def test_baseline_violations(pod: dict, reason: str) -> None:
    assert await _reason(_plugin("baseline"), pod) == reason


@pytest.mark.parametrize(
    ("level", "pod"),
    [
        pytest.param(
            None, make_pod("web", container("c", securityContext={"privileged": True})), id="no-label"
        ),
        pytest.param(
            "privileged",
            make_pod("web", container("c", securityContext={"privileged": True})),
            id="privileged",
        ),
        pytest.param("baseline", make_pod("web"), id="baseline-plain-pod"),
        pytest.param(
            "restricted",
            make_pod(
                "web",
                container("c", securityContext=RESTRICTED_CONTEXT),
                securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}],
            ),
            id="restricted-compliant",
        ),
        pytest.param(
            "restricted",
            make_pod(
                "web",
                container(
                    "c",
                    securityContext={
                        **RESTRICTED_CONTEXT,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "Localhost"},
                    },
                ),
            ),
            id="restricted-container-level",
        ),
    ],
)
async def test_allowed_pods(level: str | None, pod: dict) -> None:
    await _plugin(level).validate(attrs("pods", "web"), pod, None)


async def test_unknown_level_is_restricted() -> None:
    reason = await _reason(_plugin("strict"), make_pod("web"))
    assert reason.startswith('violates PodSecurity "restricted:latest": ')
