"""Issue acceptance: the whole control plane of ``kubeling server`` driven by real kubectl.

One private all-in-one server on a private etcd (apiserver, controller-manager
and scheduler in one process, as users run it) and three hollow kubelets, each its own
``kubeling hollow-node`` process so one can die like a real node.  Tests run
in file order: the ones that add or kill nodes come last.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import yaml

from tests.fixtures.etcd import EtcdServer
from tests.fixtures.server import REPO, KubelingServer, kubectl

pytestmark = pytest.mark.integration

T = TypeVar("T")
NODE_PREFIX = "worker-"
GRACE = 6  # --node-monitor-grace-period of this cluster, seconds


class HollowProcess:
    """One ``kubeling hollow-node`` process simulating one node."""

    def __init__(self, server: KubelingServer, index: int) -> None:
        self.name = f"{NODE_PREFIX}{index}"
        log = (server.data_dir / f"{self.name}.log").open("ab")
        command = [
            sys.executable,
            "-m",
            "kubeling.cli",
            "hollow-node",
            "--kubeconfig",
            str(server.kubeconfig),
        ]
        command += ["--name-prefix", NODE_PREFIX, "--index-offset", str(index), "--count", "1"]
        command += ["--lease-renew-interval", "1"]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_until(check: Callable[[], T], timeout: float = 60.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not met in {timeout}s; last: {last!r}")


class Cluster:
    def __init__(self, server: KubelingServer) -> None:
        self.server = server
        self.nodes: dict[str, HollowProcess] = {}

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return kubectl(self.server, *args, **kwargs)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest: str | dict[str, Any], namespace: str) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        self.kubectl("apply", "-n", namespace, "-f", "-", input=text)

    def add_node(self, index: int) -> str:
        node = HollowProcess(self.server, index)
        self.nodes[node.name] = node
        wait_until(lambda: self.node_ready(node.name), 30, f"node {node.name} Ready")
        return node.name

    def node_ready(self, name: str) -> bool:
        answer = self.kubectl("get", "node", name, "-o", "json", check=False)
        if answer.returncode != 0:
            return False
        conditions = {c["type"]: c["status"] for c in json.loads(answer.stdout)["status"]["conditions"]}
        taints = json.loads(answer.stdout)["spec"].get("taints") or []
        # Ready, and the lifecycle controller has lifted the not-ready taint new nodes start with.
        return conditions.get("Ready") == "True" and not any(
            t["key"].startswith("node.kubernetes.io/not-ready") for t in taints
        )

    def pods(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", "pods", "-n", namespace] + (["-l", selector] if selector else [])
        return self.json(*args)["items"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # On a real etcd of its own: the datastore a multi-node cluster uses.
    etcd = EtcdServer(tmp_path_factory.mktemp("control-loops-etcd")).start()
    server = KubelingServer(
        tmp_path_factory.mktemp("control-loops"),
        etcd_servers=etcd.endpoints,
        extra_args=["--node-monitor-grace-period", f"{GRACE}s"],
    )
    cluster = Cluster(server)
    try:
        server.start()
        for index in range(3):
            cluster.add_node(index)
        yield cluster
    finally:
        for node in cluster.nodes.values():
            node.kill()
        server.stop()
        etcd.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name


def deployment(name: str, replicas: int, image: str = "busybox:1.36", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
            **spec,
        },
    }


def available(cluster: Cluster, namespace: str, name: str, replicas: int) -> bool:
    status = cluster.json("get", "deployment", name, "-n", namespace).get("status") or {}
    return status.get("availableReplicas") == replicas and status.get("updatedReplicas") == replicas


# -- workloads ------------------------------------------------------------------------------


def test_a_deployment_of_five_spreads_over_three_nodes_and_scales(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", 5), namespace)
    wait_until(lambda: available(cluster, namespace, "web", 5), what="5 available replicas")
    pods = cluster.pods(namespace, "app=web")
    assert len(pods) == 5
    per_node: dict[str, int] = {}
    for pod in pods:
        per_node[pod["spec"]["nodeName"]] = per_node.get(pod["spec"]["nodeName"], 0) + 1
    assert sorted(per_node) == sorted(cluster.nodes)  # every node got some
    assert max(per_node.values()) - min(per_node.values()) <= 1  # and the scheduler balanced them

    cluster.kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=8")
    wait_until(lambda: available(cluster, namespace, "web", 8), what="scaled up to 8")
    cluster.kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=2")
    wait_until(lambda: len(cluster.pods(namespace, "app=web")) == 2, what="scaled down to 2 pods")
    wait_until(lambda: available(cluster, namespace, "web", 2), what="2 available replicas")


class AvailabilityWatch:
    """Samples a Deployment's pods in the background: the fewest available seen during a rollout."""

    def __init__(self, cluster: Cluster, namespace: str, selector: str) -> None:
        import threading

        self.cluster, self.namespace, self.selector = cluster, namespace, selector
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self) -> int:
        path = f"/api/v1/namespaces/{self.namespace}/pods?labelSelector={self.selector}"
        status, body = self.cluster.server.request("GET", path)
        assert status == 200, body
        ready = 0
        for pod in json.loads(body)["items"]:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
            ready += conditions.get("Ready") == "True"
        return ready

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._count())
            time.sleep(0.05)

    def __enter__(self) -> AvailabilityWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_rollout_honours_max_unavailable_and_can_be_undone(cluster: Cluster, namespace: str) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}
    cluster.apply(deployment("roll", 4, "busybox:1.36", strategy=strategy, minReadySeconds=1), namespace)
    wait_until(lambda: available(cluster, namespace, "roll", 4), what="4 available replicas")
    with AvailabilityWatch(cluster, namespace, "app=roll") as watch:
        cluster.kubectl("set", "image", "deployment/roll", "main=busybox:1.37", "-n", namespace)
        status = cluster.kubectl("rollout", "status", "deployment/roll", "-n", namespace, "--timeout=90s")
    assert "successfully rolled out" in status.stdout
    # Pods of both versions carry the app label; never fewer than replicas - maxUnavailable were ready.
    assert watch.samples and min(watch.samples) >= 3, watch.samples
    replicasets = cluster.json("get", "replicasets", "-n", namespace, "-l", "app=roll")["items"]
    images = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: (
            rs["spec"]["template"]["spec"]["containers"][0]["image"],
            rs["spec"]["replicas"],
        )
        for rs in replicasets
    }
    assert images == {"1": ("busybox:1.36", 0), "2": ("busybox:1.37", 4)}

    history = cluster.kubectl("rollout", "history", "deployment/roll", "-n", namespace).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    cluster.kubectl("rollout", "undo", "deployment/roll", "-n", namespace)
    cluster.kubectl("rollout", "status", "deployment/roll", "-n", namespace, "--timeout=90s")
    current = cluster.json("get", "deployment", "roll", "-n", namespace)
    assert current["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert current["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    pods = cluster.pods(namespace, "app=roll")
    assert {
        p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp")
    } == {"busybox:1.36"}


def test_a_statefulset_creates_its_pods_in_order(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "sts"}, "ports": [{"port": 80}]},
        },
        namespace,
    )
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "serviceName": "web",
                "replicas": 3,
                "minReadySeconds": 1,
                "selector": {"matchLabels": {"app": "sts"}},
                "template": {
                    "metadata": {"labels": {"app": "sts"}},
                    "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
                },
            },
        },
        namespace,
    )
    cluster.kubectl("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=90s")
    pods = {p["metadata"]["name"]: p for p in cluster.pods(namespace, "app=sts")}
    assert sorted(pods) == ["web-0", "web-1", "web-2"]

    def created(name: str) -> str:
        return pods[name]["metadata"]["creationTimestamp"]

    def ready_at(name: str) -> str:
        return next(c for c in pods[name]["status"]["conditions"] if c["type"] == "Ready")[
            "lastTransitionTime"
        ]

    # OrderedReady: each pod was created only once its predecessor was Ready.
    assert ready_at("web-0") <= created("web-1") and ready_at("web-1") <= created("web-2")
    assert pods["web-1"]["spec"]["hostname"] == "web-1" and pods["web-1"]["spec"]["subdomain"] == "web"


def test_a_job_with_four_completions_runs_two_at_a_time(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "work"},
            "spec": {
                "completions": 4,
                "parallelism": 2,
                "template": {
                    # The hollow kubelet finishes a pod with this exit code, as if its container ran.
                    "metadata": {"annotations": {"hollow.kubeling.io/exit-code": "0"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox:1.36"}],
                    },
                },
            },
        },
        namespace,
    )
    cluster.kubectl("wait", "--for=condition=complete", "job/work", "-n", namespace, "--timeout=90s")
    job = cluster.json("get", "job", "work", "-n", namespace)
    assert job["status"]["succeeded"] == 4
    pods = cluster.pods(namespace, "job-name=work")
    assert len(pods) == 4 and all(p["status"]["phase"] == "Succeeded" for p in pods)


def test_deleting_a_deployment_cascades_unless_orphaned(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("gone", 2), namespace)
    cluster.apply(deployment("kept", 2), namespace)
    wait_until(lambda: available(cluster, namespace, "gone", 2) and available(cluster, namespace, "kept", 2))
    cluster.kubectl("delete", "deployment", "gone", "-n", namespace)
    cluster.kubectl("delete", "deployment", "kept", "-n", namespace, "--cascade=orphan")
    wait_until(
        lambda: (
            not cluster.json("get", "replicasets", "-n", namespace, "-l", "app=gone")["items"]
            and not cluster.pods(namespace, "app=gone")
        ),
        what="the deleted deployment's ReplicaSets and pods gone",
    )
    kept = cluster.json("get", "replicasets", "-n", namespace, "-l", "app=kept")["items"]
    assert len(kept) == 1 and not kept[0]["metadata"].get("ownerReferences")
    assert (
        len([p for p in cluster.pods(namespace, "app=kept") if not p["metadata"].get("deletionTimestamp")])
        == 2
    )


def test_deleting_a_namespace_empties_and_removes_it(cluster: Cluster) -> None:
    name = f"doomed-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    cluster.apply(deployment("app", 2), name)
    cluster.kubectl("create", "configmap", "settings", "-n", name, "--from-literal=a=b")
    cluster.kubectl("create", "secret", "generic", "token", "-n", name, "--from-literal=a=b")
    wait_until(lambda: available(cluster, name, "app", 2))
    cluster.kubectl("delete", "namespace", name, "--timeout=90s")
    assert cluster.kubectl("get", "namespace", name, check=False).returncode != 0


@pytest.mark.slow  # a real minute passes before a '* * * * *' schedule fires
def test_a_cronjob_fires_on_the_real_clock(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "tick"},
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "metadata": {"annotations": {"hollow.kubeling.io/exit-code": "0"}},
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "main", "image": "busybox:1.36"}],
                            },
                        }
                    }
                },
            },
        },
        namespace,
    )

    def finished_job() -> str:
        for job in cluster.json("get", "jobs", "-n", namespace)["items"]:
            done = any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in job["status"].get("conditions") or []
            )
            if done:
                return job["metadata"]["name"]
        return ""

    name = wait_until(finished_job, 130, "a Job of the CronJob completed")
    assert name.startswith("tick-")
    cronjob = cluster.json("get", "cronjob", "tick", "-n", namespace)
    assert cronjob["status"].get("lastScheduleTime") and cronjob["status"].get("lastSuccessfulTime")


# -- scheduling -------------------------------------------------------------------------------


def test_a_pod_too_big_for_any_node_stays_pending_and_says_why(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "huge"},
            "spec": {
                "containers": [
                    {"name": "main", "image": "busybox:1.36", "resources": {"requests": {"cpu": "64"}}}
                ]
            },
        },
        namespace,
    )

    def failed_scheduling() -> str:
        events = cluster.json(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=huge"
        )
        messages = [e["message"] for e in events["items"] if e["reason"] == "FailedScheduling"]
        return messages[0] if messages else ""

    message = wait_until(failed_scheduling, what="a FailedScheduling event")
    assert message.startswith("0/3 nodes are available: 3 Insufficient cpu."), message
    pod = cluster.json("get", "pod", "huge", "-n", namespace)
    assert pod["status"]["phase"] == "Pending"
    condition = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    described = cluster.kubectl("describe", "pod", "huge", "-n", namespace).stdout
    assert "FailedScheduling" in described and "Insufficient cpu" in described


def test_taints_selectors_and_anti_affinity_place_pods(cluster: Cluster, namespace: str) -> None:
    first, second = sorted(cluster.nodes)[:2]
    cluster.kubectl("label", "node", first, "disk=ssd", "--overwrite")
    cluster.kubectl("taint", "node", second, "dedicated=db:NoSchedule", "--overwrite")
    try:
        base = {"containers": [{"name": "main", "image": "busybox:1.36"}]}
        pods = {
            "on-ssd": {**base, "nodeSelector": {"disk": "ssd"}},
            "db": {
                **base,
                "nodeSelector": {"kubernetes.io/hostname": second},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
                ],
            },
            "intolerant": {**base, "nodeSelector": {"kubernetes.io/hostname": second}},
        }
        for name, spec in pods.items():
            cluster.apply(
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}, namespace
            )
        spread = deployment("spread", 3)
        spread["spec"]["template"]["spec"]["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"app": "spread"}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
        spread["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
        cluster.apply(spread, namespace)

        def node_of(name: str) -> str:
            return cluster.json("get", "pod", name, "-n", namespace)["spec"].get("nodeName", "")

        wait_until(lambda: node_of("on-ssd") and node_of("db"), what="selector and toleration pods bound")
        assert node_of("on-ssd") == first and node_of("db") == second
        wait_until(lambda: available(cluster, namespace, "spread", 3), what="anti-affine pods available")
        nodes = [p["spec"]["nodeName"] for p in cluster.pods(namespace, "app=spread")]
        assert len(set(nodes)) == 3  # one per node
        time.sleep(1)
        assert node_of("intolerant") == ""  # its only node is tainted
    finally:
        cluster.kubectl("label", "node", first, "disk-")
        cluster.kubectl("taint", "node", second, "dedicated=db:NoSchedule-")


# -- nodes come and go (last: they change the node set) ------------------------------------------


def test_a_daemonset_runs_on_every_node_and_follows_a_new_one(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
                },
            },
        },
        namespace,
    )
    cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s")
    assert sorted(p["spec"]["nodeName"] for p in cluster.pods(namespace, "app=agent")) == sorted(
        cluster.nodes
    )
    new = cluster.add_node(3)
    wait_until(
        lambda: new in {p["spec"].get("nodeName") for p in cluster.pods(namespace, "app=agent")},
        what="a daemon pod on the new node",
    )
    # Removing the node again: its daemon pod is left to the pod GC (orphans go after a 40 s
    # quarantine, tested in tests/integration/controllers/test_podgc.py); the DaemonSet wants one fewer.
    cluster.nodes.pop(new).kill()
    cluster.kubectl("delete", "node", new)
    wait_until(
        lambda: (
            cluster.json("get", "daemonset", "agent", "-n", namespace)["status"].get("desiredNumberScheduled")
            == len(cluster.nodes)
        ),
        what="the DaemonSet desiring one pod fewer",
    )


def test_a_dead_nodes_pods_are_evicted_and_replaced(cluster: Cluster, namespace: str) -> None:
    spec = deployment("survivor", 3)
    # Evict 2 s after the node is declared unreachable (the default is 300 s).
    spec["spec"]["template"]["spec"]["tolerations"] = [
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 2,
        },
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 2,
        },
    ]
    cluster.apply(spec, namespace)
    wait_until(lambda: available(cluster, namespace, "survivor", 3))
    victim = sorted(cluster.nodes)[-1]
    on_victim = [
        p["metadata"]["name"]
        for p in cluster.pods(namespace, "app=survivor")
        if p["spec"]["nodeName"] == victim
    ]
    assert on_victim, "the scheduler put no pod on the victim node"
    cluster.nodes.pop(victim).kill()

    def unreachable() -> bool:
        node = cluster.json("get", "node", victim)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        return ready["status"] == "Unknown" and ("node.kubernetes.io/unreachable", "NoExecute") in taints

    wait_until(unreachable, GRACE + 30, "the dead node Unknown and tainted unreachable:NoExecute")

    def replaced() -> bool:
        pods = [
            p for p in cluster.pods(namespace, "app=survivor") if not p["metadata"].get("deletionTimestamp")
        ]
        names = {p["metadata"]["name"] for p in pods}
        return (
            not names & set(on_victim)
            and len(pods) == 3
            and all(p["spec"].get("nodeName") not in ("", None, victim) for p in pods)
        )

    wait_until(replaced, 60, "the dead node's pods replaced on live nodes")
    wait_until(lambda: available(cluster, namespace, "survivor", 3), what="3 available again")
