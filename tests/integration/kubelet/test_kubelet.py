"""The kubelet on the real Docker Engine against a real kubeling server (controllers and scheduler on).

One server per module, whose ``--cluster-cidr`` is the session's test pod
network, so node-ipam hands this kubelet's Node exactly that /24 and the CNI
bridge of the test network serves it.  Each test runs its own in-process
Kubelet with the node's own credentials (the server's kubelet.kubeconfig:
Node authorizer and NodeRestriction apply) on the ``docker_runtime``
fixture, which removes every container it made; pods left bound to the node
are force-deleted after each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.kubelet.config import KubeletConfig
from kubeling.kubelet.images import BUSYBOX_IMAGE
from kubeling.kubelet.kubelet import LEASES, NODES, PODS, Kubelet
from kubeling.kubelet.static import MIRROR
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

# The server writes DATA_DIR/kubelet.kubeconfig for system:node:<host name>: the kubelet runs as that node.
NODE = socket.gethostname().lower()
_REGISTRY = Registry()
DEPLOYMENTS = _REGISTRY.get("apps", "v1", "deployments")
NAMESPACES = _REGISTRY.get("", "v1", "namespaces")
EVENTS = _REGISTRY.get("", "v1", "events")
CONFIGMAPS = _REGISTRY.get("", "v1", "configmaps")
SECRETS = _REGISTRY.get("", "v1", "secrets")


@pytest.fixture(scope="module")
def kserver(tmp_path_factory: pytest.TempPathFactory, test_network) -> Iterator[KubelingServer]:
    server = KubelingServer(
        tmp_path_factory.mktemp("kubelet-server"), extra_args=["--cluster-cidr", test_network.pod_cidr]
    ).start()
    yield server
    server.stop()


class Harness:
    def __init__(self, server: KubelingServer, runtime, tmp_path: Path, test_network) -> None:
        self.server = server
        self.runtime = runtime
        self.tmp_path = tmp_path
        self.network = test_network
        self.client = RESTClient(load_config(str(server.kubeconfig)), component="kubelet-test")
        self.manifests = tmp_path / "manifests"
        self.manifests.mkdir()
        self.namespace = f"t{uuid.uuid4().hex[:8]}"
        self.kubelet: Kubelet | None = None
        self.overrides: dict = {}  # KubeletConfig fields a test sets before (re)starting the kubelet
        self.task: asyncio.Task[None] | None = None

    def config(self) -> KubeletConfig:
        return KubeletConfig(
            hostname_override=NODE,
            root_dir=str(self.tmp_path / "kubelet"),
            pod_manifest_path=str(self.manifests),
            cluster_dns=["10.96.0.10"],
            file_check_frequency=1.0,
            node_status_update_frequency=1.0,
            port=0,  # a free port; the Node's daemonEndpoints tell the apiserver which
            client_ca_file=str(self.server.data_dir / "pki" / "ca.crt"),
            container_log_dir=str(self.tmp_path / "log" / "containers"),  # not the host's /var/log
            node_log_dir=str(self.tmp_path / "log"),
            **self.overrides,
        )

    async def start(self) -> Kubelet:
        node_kubeconfig = self.server.data_dir / "kubelet.kubeconfig"
        kubelet_client = RESTClient(load_config(str(node_kubeconfig)), component="kubelet")
        self.kubelet = Kubelet(self.config(), kubelet_client, self.runtime, relist_period=0.5)
        self.task = asyncio.create_task(self.kubelet.run())
        return self.kubelet

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            assert self.kubelet is not None
            await self.kubelet.client.close()
            self.task = None

    async def eventually(self, check, timeout: float = 30.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.task is not None and self.task.done():
                self.task.result()  # a crashed kubelet fails the test with its own error
            with contextlib.suppress(errors.StatusError):
                last = await check()
                if last:
                    return last
            assert time.monotonic() < deadline, f"{what} not met in {timeout}s (last: {last!r})"
            await asyncio.sleep(0.25)

    async def create_pod(self, name: str, spec: dict, **meta) -> dict:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta}, "spec": spec}
        return await self.client.create(PODS, body, namespace=self.namespace)

    async def pod(self, name: str) -> dict:
        return await self.client.get(PODS, namespace=self.namespace, name=name)

    async def pod_when(self, name: str, predicate, timeout: float = 30.0, what: str = "") -> dict:
        async def check():
            pod = await self.pod(name)
            return pod if predicate(pod) else None

        return await self.eventually(check, timeout, what or f"pod {name}")

    async def cleanup(self) -> None:
        for pod in (await self.client.list(PODS, namespace=self.namespace)).get("items", []):
            print(
                "pod", pod["metadata"]["name"], yaml.safe_dump(pod.get("status"))
            )  # shown when a test fails
        for event in (await self.client.list(EVENTS, namespace=self.namespace)).get("items", []):
            print("event", event["involvedObject"]["name"], event["reason"], event["message"])
        with contextlib.suppress(errors.StatusError):
            for deployment in (await self.client.list(DEPLOYMENTS, namespace=self.namespace)).get(
                "items", []
            ):
                await self.client.delete(
                    DEPLOYMENTS,
                    namespace=self.namespace,
                    name=deployment["metadata"]["name"],
                    propagation_policy="Orphan",
                )
        for _ in range(3):  # a ReplicaSet may still add a pod while its Deployment goes
            pods = (await self.client.list(PODS, field_selector=f"spec.nodeName={NODE}")).get("items", [])
            for pod in pods:
                with contextlib.suppress(errors.StatusError):
                    meta = pod["metadata"]
                    await self.client.delete(
                        PODS, namespace=meta["namespace"], name=meta["name"], grace_period_seconds=0
                    )
            if not pods:
                break
            await asyncio.sleep(0.5)


def ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
    )


def phase(pod: dict) -> str:
    return pod.get("status", {}).get("phase", "")


def container_status(pod: dict, name: str = "c", init: bool = False) -> dict:
    key = "initContainerStatuses" if init else "containerStatuses"
    return next((s for s in pod.get("status", {}).get(key, []) if s["name"] == name), {})


@pytest.fixture
async def harness(kserver, docker_runtime, tmp_path, test_network, images) -> AsyncIterator[Harness]:
    h = Harness(kserver, docker_runtime, tmp_path, test_network)
    await h.client.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": h.namespace}}
    )
    await h.start()
    try:
        yield h
    finally:
        await h.cleanup()
        await h.stop()
        await h.client.close()
        # Pods keep running across a kubelet stop; their volumes (tmpfs mounts) go with the test.
        assert h.kubelet is not None
        for pod_dir in (tmp_path / "kubelet" / "pods").glob("*"):
            await h.kubelet.syncer.ctx.volumes.teardown(pod_dir.name)


HTTPD = {"name": "c", "image": BUSYBOX_IMAGE, "command": ["httpd", "-f", "-p", "8080", "-h", "/etc"]}


async def test_node_and_deployment_run_with_pod_ips(harness: Harness) -> None:
    h = harness

    async def node_ready():
        node = await h.client.get(NODES, name=NODE)
        conditions = {c["type"]: c for c in node.get("status", {}).get("conditions", [])}
        return node if conditions.get("Ready", {}).get("status") == "True" else None

    node = await h.eventually(node_ready, what="Node Ready")
    assert node["spec"]["podCIDR"] == h.network.pod_cidr
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == NODE and labels["kubernetes.io/os"] == "linux"
    info = node["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("docker://20.")
    assert info["kubeletVersion"].startswith("v1.37.0-kubeling.")
    assert int(node["status"]["capacity"]["pods"]) == 110
    assert any(BUSYBOX_IMAGE in image["names"] for image in node["status"]["images"])
    lease = await h.client.get(LEASES, namespace="kube-node-lease", name=NODE)
    assert lease["spec"]["holderIdentity"] == NODE

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            **HTTPD,
                            "readinessProbe": {
                                "httpGet": {"path": "/hostname", "port": 8080},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }
    await h.client.create(DEPLOYMENTS, deployment, namespace=h.namespace)

    async def running_pods():
        pods = (await h.client.list(PODS, namespace=h.namespace, label_selector="app=web"))["items"]
        good = [p for p in pods if phase(p) == "Running" and ready(p)]
        return good if len(good) == 2 else None

    pods = await h.eventually(running_pods, timeout=45, what="2 Running, Ready web pods")
    network = ipaddress.ip_network(h.network.pod_cidr)
    for pod in pods:
        ip = pod["status"]["podIP"]
        assert ipaddress.ip_address(ip) in network
        assert pod["status"]["hostIP"] and pod["status"]["qosClass"] == "BestEffort"
        status = container_status(pod)
        assert status["containerID"].startswith("docker://") and status["ready"] and status["started"]
        # The node reaches the pod on its own bridge; httpd serves the pod's /etc/hostname.
        with urllib.request.urlopen(f"http://{ip}:8080/hostname", timeout=5) as response:
            assert response.read().decode().strip() == pod["metadata"]["name"]
        hosts = (Path(h.kubelet.root_dir) / "pods" / pod["metadata"]["uid"] / "etc-hosts").read_text()
        assert f"{ip}\t{pod['metadata']['name']}" in hosts

    # One pod fetches the other's page by pod IP, across the node's bridge.
    first = container_status(pods[0])["containerID"].removeprefix("docker://")
    url = f"http://{pods[1]['status']['podIP']}:8080/hostname"
    fetched = await h.runtime.exec_sync(first, ["wget", "-q", "-O", "-", url], 10)
    assert fetched.stdout.decode().strip() == pods[1]["metadata"]["name"]

    events = (await h.client.list(EVENTS, namespace=h.namespace))["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == pods[0]["metadata"]["name"]}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= reasons

    # A graceful delete ends with the kubelet removing the pod object once its containers stopped.
    victim = pods[0]["metadata"]
    await h.client.delete(PODS, namespace=h.namespace, name=victim["name"])

    async def gone():
        try:
            await h.pod(victim["name"])
        except errors.StatusError as exc:
            return exc.code == 404
        return False

    await h.eventually(gone, timeout=20, what="deleted pod gone")
    left = [
        c for c in await h.runtime.list_containers() if c.labels.get("io.kubernetes.pod.uid") == victim["uid"]
    ]
    assert all(c.state != "running" for c in left)


async def test_liveness_failure_restarts_and_readiness_flips(harness: Harness) -> None:
    h = harness
    await h.create_pod(
        "live",
        {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "c",
                    "image": BUSYBOX_IMAGE,
                    "command": ["sleep", "600"],
                    "livenessProbe": {
                        "exec": {"command": ["false"]},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                }
            ],
        },
    )
    await h.create_pod(
        "ready",
        {
            "containers": [
                {
                    "name": "c",
                    "image": BUSYBOX_IMAGE,
                    "command": ["sh", "-c", "touch /tmp/ready; sleep 3; rm /tmp/ready; sleep 600"],
                    "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
                }
            ],
        },
    )
    await h.pod_when("ready", ready, what="ready pod Ready")
    became_unready = await h.pod_when(
        "ready", lambda p: phase(p) == "Running" and not ready(p), what="Ready False"
    )
    assert container_status(became_unready)["ready"] is False
    restarted = await h.pod_when(
        "live", lambda p: container_status(p).get("restartCount", 0) >= 1, what="restart"
    )
    last = container_status(restarted)["lastState"]["terminated"]
    assert last["exitCode"] == 137 or last["reason"] in ("Error", "Completed")

    async def unhealthy_event():
        events = (await h.client.list(EVENTS, namespace=h.namespace))["items"]
        return [e for e in events if e["reason"] == "Unhealthy" and e["involvedObject"]["name"] == "live"]

    (event, *_) = await h.eventually(unhealthy_event, what="Unhealthy event")
    assert event["message"].startswith("Liveness probe failed")


async def test_init_containers_exit_codes_and_termination_message(harness: Harness) -> None:
    h = harness
    await h.create_pod(
        "job",
        {
            "restartPolicy": "Never",
            "volumes": [{"name": "work", "emptyDir": {}}],
            "initContainers": [
                {"name": "first", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "echo first >> /work/o"],
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
                {"name": "second", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "echo second >> /work/o"],
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
            ],
            "containers": [
                {"name": "c", "image": BUSYBOX_IMAGE,
                 "command": ["sh", "-c", "tr '\\n' , < /work/o > /dev/termination-log; exit 3"],
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
            ],
        },
    )  # fmt: skip
    # A missing image is never pulled under Never (no registry traffic): the container waits.
    await h.create_pod(
        "never",
        {"containers": [{"name": "c", "image": "kubeling/absent:1", "imagePullPolicy": "Never"}]},
    )
    pod = await h.pod_when("job", lambda p: phase(p) == "Failed", what="pod Failed")
    terminated = container_status(pod)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert terminated["message"] == "first,second,"
    for name in ("first", "second"):
        init = container_status(pod, name, init=True)["state"]["terminated"]
        assert (init["exitCode"], init["reason"]) == (0, "Completed")
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Initialized"] == "True" and conditions["Ready"] == "False"

    def never_pulled(pod: dict) -> bool:
        return container_status(pod).get("state", {}).get("waiting", {}).get("reason") == "ErrImageNeverPull"

    never = await h.pod_when("never", never_pulled, what="ErrImageNeverPull")
    assert "pull policy of Never" in container_status(never)["state"]["waiting"]["message"]
    assert phase(never) == "Pending"


async def test_static_pod_runs_mirrors_and_stops(harness: Harness) -> None:
    h = harness
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "static-web", "namespace": h.namespace},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{**HTTPD}]},
    }
    (h.manifests / "web.yaml").write_text(yaml.safe_dump(manifest))
    name = f"static-web-{NODE}"
    mirror = await h.pod_when(name, lambda p: phase(p) == "Running" and ready(p), what="mirror pod Running")
    annotations = mirror["metadata"]["annotations"]
    assert annotations["kubernetes.io/config.source"] == "file" and annotations[MIRROR]
    assert mirror["metadata"]["ownerReferences"][0]["kind"] == "Node"
    assert ipaddress.ip_address(mirror["status"]["podIP"]) in ipaddress.ip_network(h.network.pod_cidr)
    uid = annotations[MIRROR]

    async def running(uid: str) -> bool:
        return any(
            c.labels.get("io.kubernetes.pod.uid") == uid and c.state == "running"
            for c in await h.runtime.list_containers()
        )

    assert await running(uid)
    # An edited manifest is a new pod: the old one stops, the mirror is replaced.
    manifest["spec"]["containers"][0]["env"] = [{"name": "EDITED", "value": "yes"}]
    (h.manifests / "web.yaml").write_text(yaml.safe_dump(manifest))

    def replaced(pod: dict) -> bool:
        return pod["metadata"]["annotations"].get(MIRROR) not in (None, uid) and phase(pod) == "Running"

    edited = await h.pod_when(name, replaced, what="mirror of the edited manifest Running")
    await h.eventually(lambda: _not(running(uid)), timeout=20, what="old static pod stopped")
    uid = edited["metadata"]["annotations"][MIRROR]
    assert await running(uid)
    (h.manifests / "web.yaml").unlink()

    async def mirror_gone():
        try:
            await h.pod(name)
        except errors.StatusError as exc:
            return exc.code == 404
        return False

    await h.eventually(mirror_gone, timeout=20, what="mirror pod deleted")
    await h.eventually(lambda: _not(running(uid)), timeout=20, what="static pod stopped")


async def _not(awaitable) -> bool:
    return not await awaitable


async def test_kubelet_restart_keeps_running_containers(harness: Harness) -> None:
    h = harness
    sleeper = {"containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"]}]}
    await h.create_pod("keep", sleeper)
    await h.create_pod("host", {**sleeper, "hostNetwork": True})
    await h.create_pod("orphan", {**sleeper, "terminationGracePeriodSeconds": 1})
    before = await h.pod_when("keep", lambda p: phase(p) == "Running", what="pod Running")
    host = await h.pod_when("host", lambda p: phase(p) == "Running", what="hostNetwork pod Running")
    assert host["status"]["podIP"] == host["status"]["hostIP"]
    orphan = await h.pod_when("orphan", lambda p: phase(p) == "Running", what="orphan Running")
    container_id = container_status(before)["containerID"]
    await h.stop()
    # While the kubelet is down the orphan's object goes for good: its containers belong to nobody now.
    await h.client.delete(PODS, namespace=h.namespace, name="orphan", grace_period_seconds=0)
    await h.start()

    async def orphan_removed() -> bool:
        uid = orphan["metadata"]["uid"]
        return not [
            c for c in await h.runtime.list_containers() if c.labels.get("io.kubernetes.pod.uid") == uid
        ]

    await h.eventually(orphan_removed, timeout=20, what="orphan's containers removed")
    after = await h.pod_when("keep", lambda p: phase(p) == "Running", what="pod still Running")
    status = container_status(after)
    assert (status["containerID"], status["restartCount"]) == (container_id, 0)
    uid = before["metadata"]["uid"]
    running = [c for c in await h.runtime.list_containers() if c.labels.get("io.kubernetes.pod.uid") == uid]
    assert [(f"docker://{c.id}", c.state) for c in running] == [(container_id, "running")]


async def test_logs_and_exec_through_the_apiserver(harness: Harness) -> None:
    h = harness
    await h.create_pod(
        "talk",
        {
            "containers": [
                {"name": "c", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "echo hello-log; sleep 600"]}
            ]
        },
    )
    await h.pod_when("talk", lambda p: phase(p) == "Running", what="pod Running")
    node = await h.client.get(NODES, name=NODE)
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == h.kubelet.server.port

    def run(*args: str) -> str:
        return kubectl(h.server, "-n", h.namespace, *args, timeout=20).stdout

    logs = await asyncio.to_thread(run, "logs", "talk")
    assert logs.strip() == "hello-log"
    out = await asyncio.to_thread(run, "exec", "talk", "--", "sh", "-c", "echo $((1+2)) $HOSTNAME")
    assert out.split() == ["3", "talk"]


async def test_env_dns_files_and_oom(harness: Harness) -> None:
    h = harness
    await h.client.create(
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"COLOR": "blue"}},
        namespace=h.namespace,
    )
    await h.client.create(
        SECRETS,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"PW": "hunter2"}},
        namespace=h.namespace,
    )
    env = [
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "COLOR"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MSG", "value": "$(COLOR)-$(POD_NAME)"},
    ]
    await h.create_pod(
        "env",
        {
            "hostAliases": [{"ip": "192.0.2.77", "hostnames": ["alias.example"]}],
            "containers": [
                {"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"], "env": env,
                 "envFrom": [{"secretRef": {"name": "sec"}, "prefix": "S_"}]},
            ],
        },
    )  # fmt: skip
    await h.create_pod(
        "oom",
        {
            "restartPolicy": "Never",
            "containers": [
                {"name": "c", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "head -c 200m /dev/zero|tail"],
                 "resources": {"limits": {"memory": "16Mi"}}},
            ],
        },
    )  # fmt: skip
    pod = await h.pod_when("env", lambda p: phase(p) == "Running", what="env pod Running")
    cid = container_status(pod)["containerID"].removeprefix("docker://")

    async def sh(command: str) -> str:
        result = await h.runtime.exec_sync(cid, ["sh", "-c", command], 10)
        return result.stdout.decode()

    values = dict(line.split("=", 1) for line in (await sh("env")).splitlines() if "=" in line)
    assert values["COLOR"] == "blue" and values["S_PW"] == "hunter2" and values["MSG"] == "blue-env"
    assert values["POD_IP"] == pod["status"]["podIP"] and values["KUBERNETES_SERVICE_HOST"]
    resolv = await sh("cat /etc/resolv.conf")
    assert "nameserver 10.96.0.10" in resolv and f"search {h.namespace}.svc.cluster.local" in resolv
    assert "options ndots:5" in resolv
    hosts = await sh("cat /etc/hosts")
    assert f"{pod['status']['podIP']}\tenv" in hosts and "192.0.2.77\talias.example" in hosts

    oom = await h.pod_when("oom", lambda p: phase(p) == "Failed", what="oom pod Failed")
    terminated = container_status(oom)["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled" and terminated["exitCode"] == 137


async def test_hooks_and_crash_loop_back_off(harness: Harness) -> None:
    h = harness
    out = h.tmp_path / "hooks"
    out.mkdir()
    hooks = {
        "postStart": {"exec": {"command": ["sh", "-c", "echo started > /out/post-start"]}},
        "preStop": {"exec": {"command": ["sh", "-c", "echo stopping > /out/pre-stop"]}},
    }
    await h.create_pod(
        "hooks",
        {
            "terminationGracePeriodSeconds": 5,
            "volumes": [{"name": "out", "hostPath": {"path": str(out), "type": "Directory"}}],
            "containers": [
                {"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"], "lifecycle": hooks,
                 "volumeMounts": [{"name": "out", "mountPath": "/out"}]},
            ],
        },
    )  # fmt: skip
    await h.create_pod(
        "crash", {"containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "exit 2"]}]}
    )
    await h.pod_when("hooks", lambda p: phase(p) == "Running", what="hooks pod Running")
    assert (out / "post-start").read_text() == "started\n"
    await h.client.delete(PODS, namespace=h.namespace, name="hooks")

    def waiting(pod: dict) -> dict:
        return container_status(pod).get("state", {}).get("waiting") or {}

    crash = await h.pod_when(
        "crash", lambda p: waiting(p).get("reason") == "CrashLoopBackOff", what="back-off"
    )
    assert "back-off 10s restarting failed container=c" in waiting(crash)["message"]
    status = container_status(crash)
    assert status["restartCount"] >= 1 and status["lastState"]["terminated"]["exitCode"] == 2
    assert phase(crash) == "Running"  # restartPolicy Always: the pod runs on, restarting
    # The next failure doubles the back-off, as upstream's 10s, 20s, 40s ... 5m.
    grown = await h.pod_when(
        "crash", lambda p: "back-off 20s" in waiting(p).get("message", ""), what="back-off grows", timeout=60
    )
    assert container_status(grown)["restartCount"] >= 2

    async def hooks_gone() -> bool:
        try:
            await h.pod("hooks")
        except errors.StatusError as exc:
            return exc.code == 404
        return False

    await h.eventually(hooks_gone, timeout=20, what="hooks pod deleted")
    assert (out / "pre-stop").read_text() == "stopping\n"


@pytest.mark.slow
async def test_pods_keep_running_while_the_apiserver_is_down(harness: Harness) -> None:
    """Runs last in the module: it restarts the module's server."""
    h = harness
    sleeper = {"containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"]}]}
    await h.create_pod("steady", sleeper)
    before = await h.pod_when("steady", lambda p: phase(p) == "Running", what="pod Running")
    await asyncio.to_thread(h.server.stop)
    await asyncio.sleep(4)  # the kubelet's watches, status writes and lease renewals fail meanwhile
    assert h.task is not None and not h.task.done()
    uid = before["metadata"]["uid"]
    running = [c for c in await h.runtime.list_containers() if c.labels.get("io.kubernetes.pod.uid") == uid]
    assert [c.state for c in running] == ["running"]
    await asyncio.to_thread(h.server.start)
    # It catches up: a pod created after the outage runs, the old one was never restarted.
    await h.create_pod("after", sleeper)
    await h.pod_when(
        "after", lambda p: phase(p) == "Running", timeout=45, what="new pod Running after the outage"
    )
    after = await h.pod("steady")
    assert container_status(after)["containerID"] == container_status(before)["containerID"]
    assert container_status(after)["restartCount"] == 0


async def test_volumes_hold_the_right_content_inside_the_container(harness: Harness) -> None:
    h = harness
    await h.client.create(
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "files"}, "data": {"a.txt": "alpha"}},
        namespace=h.namespace,
    )
    await h.client.create(
        SECRETS,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"pw": "s3cret"}},
        namespace=h.namespace,
    )
    volumes = [
        {"name": "cm", "configMap": {"name": "files"}},
        {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        ]}},
        {"name": "scratch", "emptyDir": {}},
    ]  # fmt: skip
    mounts = [
        {"name": "cm", "mountPath": "/etc/cm"},
        {"name": "sec", "mountPath": "/etc/sec", "readOnly": True},
        {"name": "info", "mountPath": "/etc/info"},
        {"name": "scratch", "mountPath": "/scratch"},
    ]
    spec = {
        "volumes": volumes,
        "containers": [
            {"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"], "volumeMounts": mounts}
        ],
    }
    await h.create_pod("vols", spec, labels={"app": "vols", "tier": "test"})
    pod = await h.pod_when("vols", lambda p: phase(p) == "Running", what="vols pod Running")
    cid = container_status(pod)["containerID"].removeprefix("docker://")

    async def sh(command: str) -> str:
        result = await h.runtime.exec_sync(cid, ["sh", "-c", command], 10)
        return result.stdout.decode()

    assert await sh("cat /etc/cm/a.txt") == "alpha"
    assert await sh("cat /etc/sec/pw") == "s3cret"
    assert await sh("cat /etc/info/name") == "vols"
    assert (await sh("cat /etc/info/labels")).splitlines() == ['app="vols"', 'tier="test"']
    # The projected ServiceAccount volume the admission plugin added: token, CA and namespace.
    account = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert await sh(f"cat {account}/namespace") == h.namespace
    assert (await sh(f"cat {account}/ca.crt")).startswith("-----BEGIN CERTIFICATE-----")
    assert (await sh(f"cat {account}/token")).count(".") == 2  # a JWT
    # emptyDir is writable; the secret mount is read-only.
    assert await sh("echo ok > /scratch/f && cat /scratch/f") == "ok\n"
    assert (await h.runtime.exec_sync(cid, ["sh", "-c", "echo x > /etc/sec/pw"], 10)).exit_code != 0

    # A ConfigMap update reaches the running container (through the ..data swap).
    await h.client.patch(CONFIGMAPS, {"data": {"a.txt": "beta"}}, name="files", namespace=h.namespace)

    async def updated() -> bool:
        return await sh("cat /etc/cm/a.txt") == "beta"

    await h.eventually(updated, 60, "the ConfigMap update inside the container")


async def test_kubelet_started_without_the_apiserver_runs_static_pods_and_adopts_the_rest(
    harness: Harness,
) -> None:
    """A control-plane node's kubelet starts before its API server (a static pod) is up. Runs last."""
    h = harness
    sleeper = {"containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"]}]}
    await h.create_pod("survivor", sleeper)
    before = await h.pod_when("survivor", lambda p: phase(p) == "Running", what="pod Running")
    await h.stop()
    await asyncio.to_thread(h.server.stop)
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "early", "namespace": h.namespace},
        "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 1, **sleeper},
    }
    (h.manifests / "early.yaml").write_text(yaml.safe_dump(manifest))
    await h.start()

    async def containers_of(pod_name: str) -> list:
        return [
            c
            for c in await h.runtime.list_containers()
            if c.labels.get("io.kubernetes.pod.name", "").startswith(pod_name) and c.state == "running"
        ]

    await h.eventually(lambda: containers_of("early"), timeout=30, what="static pod running with no API")
    await asyncio.sleep(2)  # several relists: a pod in no manifest must not be taken for an orphan
    uid = before["metadata"]["uid"]
    kept = [c for c in await h.runtime.list_containers() if c.labels.get("io.kubernetes.pod.uid") == uid]
    assert [c.state for c in kept] == ["running"]
    assert h.task is not None and not h.task.done(), "the kubelet must keep retrying, not exit"
    await asyncio.to_thread(h.server.start)
    await h.pod_when(f"early-{NODE}", lambda p: phase(p) == "Running", timeout=45, what="mirror pod")
    after = await h.pod_when("survivor", lambda p: phase(p) == "Running", timeout=45, what="adopted")
    assert container_status(after)["containerID"] == container_status(before)["containerID"]
    (h.manifests / "early.yaml").unlink()
    # Leave nothing mounted behind: the adopted pod's volumes are torn down on its deletion.
    await h.client.delete(PODS, namespace=h.namespace, name="survivor", grace_period_seconds=0)
    pod_dir = str(h.tmp_path / "kubelet" / "pods" / uid)

    async def unmounted() -> bool:
        with open("/proc/self/mounts") as mounts:
            return not any(line.split()[1].startswith(pod_dir) for line in mounts)

    await h.eventually(unmounted, timeout=30, what="the adopted pod's volumes unmounted")
