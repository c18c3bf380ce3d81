"""syncPod on the fake runtime: sandbox, init order, back-off, pull policy, env/config errors, termination."""

from __future__ import annotations

import pytest

from kubeling.kubelet.containers import PodState
from kubeling.kubelet.podworkers import PodSyncer, SyncContext, resources, security
from kubeling.kubelet.probes import ProbeManager
from kubeling.kubelet.status import StatusManager
from tests.unit.kubelet.builders import make_pod
from tests.unit.kubelet.fakeruntime import FakeRuntime, FakeVolumes


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj, type, reason, message) -> None:
        self.events.append((type, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]


class Client:
    def __init__(self) -> None:
        self.statuses: list[dict] = []
        self.deleted: list[str] = []

    async def patch(self, resource, body, **kwargs):
        self.statuses.append(body["status"])
        return {}

    async def delete(self, resource, **kwargs):
        self.deleted.append(kwargs["name"])
        return {}


class Harness:
    def __init__(self, tmp_path, images=("busybox",)) -> None:
        self.runtime = FakeRuntime(images)
        self.recorder = Recorder()
        self.client = Client()
        self.now = 1000.0
        self.syncer = PodSyncer(
            SyncContext(
                runtime=self.runtime,
                recorder=self.recorder,
                status=StatusManager(self.client, "pods"),
                probes=ProbeManager(
                    self.runtime,
                    on_change=lambda uid: None,
                    on_failure=lambda *a: None,
                    clock=lambda: self.now,
                ),
                volumes=FakeVolumes(tmp_path / "vol"),
                root_dir=tmp_path,
                node_name="node-a",
                cluster_dns=["10.96.0.10"],
                clock=lambda: self.now,
            )
        )

    async def state(self, uid: str = "uid-web") -> PodState:
        return PodState(
            [s for s in self.runtime.sandboxes.values() if s.pod_uid == uid],
            [c for c in self.runtime.containers.values() if c.labels.get("io.kubernetes.pod.uid") == uid],
        )

    async def sync(self, pod: dict) -> float:
        return await self.syncer.sync(pod, await self.state(), self.state)

    @property
    def status(self) -> dict:
        return self.client.statuses[-1]


async def test_init_containers_run_in_order_then_apps(tmp_path) -> None:
    h = Harness(tmp_path)
    pod = make_pod(init=[{"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}])
    await h.sync(pod)
    assert [c.name for c in h.runtime.containers.values()] == ["i1"]
    assert h.status["phase"] == "Pending"
    h.runtime.exit(h.runtime.by_name("i1")[0].id, 0)
    await h.sync(pod)
    h.runtime.exit(h.runtime.by_name("i2")[0].id, 0)
    await h.sync(pod)
    assert [c.name for c in h.runtime.containers.values()] == ["i1", "i2", "c"]
    assert h.status["phase"] == "Running"
    assert h.recorder.reasons().count("Started") == 3
    # The sandbox got the pod's files and DNS.
    config = next(iter(h.runtime.sandbox_configs.values()))
    assert config.dns is not None and config.dns.servers == ["10.96.0.10"]
    assert "10.244.0.2\tweb" in (tmp_path / "pods" / "uid-web" / "etc-hosts").read_text()


async def test_crash_back_off(tmp_path) -> None:
    h = Harness(tmp_path)
    pod = make_pod()
    await h.sync(pod)
    h.runtime.exit(h.runtime.by_name("c")[0].id, 1)
    await h.sync(pod)  # the first restart is immediate
    assert [c.attempt for c in h.runtime.by_name("c")] == [0, 1]
    h.runtime.exit(h.runtime.by_name("c")[1].id, 1)
    h.runtime.containers[h.runtime.by_name("c")[1].id].finished_at = h.now
    wait = await h.sync(pod)
    assert 0 < wait <= 10
    (cs,) = h.status["containerStatuses"]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 1
    assert "BackOff" in h.recorder.reasons()
    h.now += 11
    await h.sync(pod)
    assert [c.attempt for c in h.runtime.by_name("c")] == [1, 2]  # the oldest dead one was collected


async def test_pull_policies(tmp_path) -> None:
    h = Harness(tmp_path)
    never = make_pod("never", containers=[{"name": "c", "image": "missing:1", "imagePullPolicy": "Never"}])
    await h.syncer.sync(never, PodState(), lambda: h.state("uid-never"))
    assert h.status["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    missing = make_pod("missing", containers=[{"name": "c", "image": "missing:1"}])
    await h.syncer.sync(missing, await h.state("uid-missing"), lambda: h.state("uid-missing"))
    assert h.status["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull"
    await h.syncer.sync(missing, await h.state("uid-missing"), lambda: h.state("uid-missing"))
    assert h.status["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert h.runtime.calls.count(("pull", "missing:1")) == 1


async def test_missing_configmap_is_a_config_error(tmp_path) -> None:
    h = Harness(tmp_path)
    container = {
        "name": "c",
        "image": "busybox",
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}],
    }
    await h.sync(make_pod(containers=[container]))
    waiting = h.status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError" and "nope" in waiting["message"]


async def test_termination_runs_pre_stop_and_stops_everything(tmp_path) -> None:
    h = Harness(tmp_path)
    container = {
        "name": "c",
        "image": "busybox",
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "bye"]}}},
    }
    pod = make_pod(containers=[container])
    await h.sync(pod)
    await h.syncer.kill_pod(pod, await h.state(), 30)
    assert ("exec", "sh -c bye") in h.runtime.calls
    assert all(c.state == "exited" for c in h.runtime.containers.values())
    assert not any(s.ready for s in h.runtime.sandboxes.values())
    assert "Killing" in h.recorder.reasons()
    await h.syncer.remove_all("uid-web", await h.state())
    assert not h.runtime.containers and not h.runtime.sandboxes


@pytest.mark.parametrize(
    ("spec", "shares", "quota", "memory"),
    [
        ({}, 2, 0, 0),
        ({"requests": {"cpu": "250m"}}, 256, 0, 0),
        ({"requests": {"cpu": "1m"}}, 2, 0, 0),
        ({"limits": {"cpu": "500m", "memory": "64Mi"}}, 512, 50_000, 64 * 2**20),
    ],
)
def test_resources(spec, shares, quota, memory) -> None:
    got = resources({"resources": spec})
    assert (got.cpu_shares, got.cpu_quota, got.memory_limit) == (shares, quota, memory)


def test_security_context_container_overrides_pod() -> None:
    pod = make_pod(securityContext={"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4]})
    got = security(pod, {"securityContext": {"runAsUser": 2000, "capabilities": {"add": ["NET_ADMIN"]}}})
    assert (got.run_as_user, got.run_as_group, got.supplemental_groups, got.capabilities_add) == (
        2000,
        3000,
        [4],
        ["NET_ADMIN"],
    )


async def test_replaced_sandbox_is_collected(tmp_path) -> None:
    h = Harness(tmp_path)
    pod = make_pod()
    await h.sync(pod)
    (old,) = h.runtime.sandboxes
    h.runtime.sandboxes[old].ready = False  # the sandbox died: a new one is made, the old collected
    for cid in list(h.runtime.containers):
        h.runtime.exit(cid, 137)
    await h.sync(pod)
    assert old in h.runtime.sandboxes  # its container is still around (kept as the last dead one)
    h.runtime.containers = {k: v for k, v in h.runtime.containers.items() if v.sandbox_id != old}
    await h.sync(pod)
    assert old not in h.runtime.sandboxes and len(h.runtime.sandboxes) == 1


@pytest.mark.parametrize(("host_network", "address"), [(True, "192.0.2.7"), (False, "10.244.0.2")])
async def test_probes_target_the_node_ip_of_host_network_pods(tmp_path, host_network, address) -> None:
    h = Harness(tmp_path)
    h.syncer.ctx.host_ip = lambda: "192.0.2.7"
    targets: list[str] = []
    h.syncer.ctx.probes.ensure = lambda pod, container, status, pod_ip: targets.append(pod_ip())  # type: ignore[method-assign]
    pod = make_pod()
    pod["spec"]["hostNetwork"] = host_network
    pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 10254}}
    await h.sync(pod)
    await h.sync(pod)
    assert targets and set(targets) == {address}
