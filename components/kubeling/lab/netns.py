"""Several nodes on one machine: each node is a network namespace of its own.

A node is an "anchor" container (the pause image, on a private Docker
network) that only holds a network namespace; the node's kubelet runs on the
host but inside that namespace (``nsenter --net``), so the node has its own
IP, its own ``cni0`` bridge and pod routes, its own iptables (kube-proxy's
rules), while every node shares the one Docker Engine (the kubelets tell
their containers apart by the ``io.kubeling.node`` label).  hostNetwork pods
join the anchor's namespace (``--node-network-container``).

The control plane (``kubeling server`` without a kubelet) runs on the host,
bound to the Docker network's gateway address, which is also what the
``kubernetes`` Service points at.  Pod networks of the nodes are joined the
host-gw way: each node routes every other node's podCIDR via that node's IP,
and so does the host (the apiserver reaches aggregated APIs on pod IPs).

This is lighter than the systemd-node lab (no nested engine, no image
copies) and is what the cluster-services tests run on.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LAB_LABEL = "io.kubeling.netns-lab"
PAUSE_IMAGE = "kubeling/pause:0.1.0"
STATE_FILE = "lab.json"
# Each netns lab's pod network is a /20 of this pool (16 nodes of /24, the controller's default
# mask), recorded on its Docker network: labs up at once must not route into each other's pods.
POD_CIDR_LABEL = "io.kubeling.netns-lab.pod-cidr"
POD_CIDR_POOL = "10.248.0.0/15"  # 10.250 and 10.251 hold the labs' node networks
POD_CIDR_PREFIX = 20
LEGACY_POD_CIDR = "10.248.0.0/16"  # what a lab made before the pool took (its network has no label)


class LabError(RuntimeError):
    pass


@dataclass
class NodeState:
    name: str
    ip: str
    container: str = ""  # the anchor container's id
    kubelet_pid: int = 0


@dataclass
class LabSpec:
    name: str
    directory: Path
    nodes: int = 2
    subnet: str = "10.250.0.0/24"
    cluster_cidr: str = ""  # empty: up takes a free slice of POD_CIDR_POOL
    service_cidr: str = "10.96.0.0/12"
    secure_port: int = 6443
    # The resolver config pods with dnsPolicy Default (and so the cluster DNS's upstreams) get.
    resolv_conf: str = "/etc/resolv.conf"
    etcd_servers: list[str] = field(default_factory=list)
    node_monitor_grace_period: str = "40s"

    @property
    def network(self) -> str:
        return f"kbl-{self.name}"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    @property
    def dns_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr).network_address + 10)

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.gateway}:{self.secure_port}"

    def node_name(self, index: int) -> str:
        return f"{self.name}-node-{index}"

    def node_ip(self, index: int) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 10 + index)


def _run(argv: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise LabError(f"{' '.join(argv)}: {(result.stderr or result.stdout).strip()}")
    return result


def _nsenter(pid: int) -> list[str]:
    return ["nsenter", f"--net=/proc/{pid}/ns/net"]


class NetnsLab:
    """A control plane on the host plus ``spec.nodes`` kubelets, each in a network namespace."""

    def __init__(self, spec: LabSpec) -> None:
        self.spec = spec
        self.dir = spec.directory.resolve()
        self.server_dir = self.dir / "control-plane"
        self.nodes: list[NodeState] = [
            NodeState(spec.node_name(i), spec.node_ip(i)) for i in range(1, spec.nodes + 1)
        ]
        self.server_pid = 0

    # -- state -------------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.server_dir / "admin.kubeconfig"

    def save(self) -> None:
        state = {
            "spec": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.spec).items()},
            "server_pid": self.server_pid,
            "nodes": [asdict(n) for n in self.nodes],
        }
        (self.dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> NetnsLab:
        state = json.loads((directory / STATE_FILE).read_text())
        spec = LabSpec(**{**state["spec"], "directory": Path(state["spec"]["directory"])})
        lab = cls(spec)
        lab.server_pid = state["server_pid"]
        lab.nodes = [NodeState(**n) for n in state["nodes"]]
        return lab

    # -- up ----------------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> None:
        """Network, control plane, node namespaces, kubelets; returns once every node is Ready
        and pod routes are in place."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.spec.cluster_cidr:
            taken = netns_lab_pod_cidrs()
            self.spec.cluster_cidr = taken.pop(self.spec.name, "") or pick_pod_cidr(taken.values())
        self.save()
        try:
            self._network()
            self._control_plane(timeout)
            for node in self.nodes:
                self._anchor(node)
                self.save()
            for node in self.nodes:
                self._kubelet(node)
                self.save()
            self.wait_ready(timeout)
            self.sync_routes()
        except BaseException:
            self.down()
            raise

    @property
    def bridge(self) -> str:
        """The host's interface of the lab network (named at create, within Linux's 15 characters)."""
        return self.spec.network[:15]

    def _network(self) -> None:
        from kubeling.lab import hostguard

        if _run(["docker", "network", "inspect", self.spec.network], check=False).returncode != 0:
            _run([
                "docker", "network", "create",
                "--driver", "bridge",
                "--subnet", self.spec.subnet,
                "--gateway", self.spec.gateway,
                "--label", f"{LAB_LABEL}={self.spec.name}",
                "--label", f"{POD_CIDR_LABEL}={self.spec.cluster_cidr}",
                "--opt", f"com.docker.network.bridge.name={self.bridge}",
                self.spec.network,
            ])  # fmt: skip
        hostguard.guard(self.bridge, self.spec.name)

    def _control_plane(self, timeout: float) -> None:
        self.server_dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.unlink(missing_ok=True)
        argv = [
            sys.executable, "-m", "kubeling.cli", "server",
            "--data-dir", str(self.server_dir),
            "--bind-address", self.spec.gateway,
            "--advertise-address", self.spec.gateway,
            "--secure-port", str(self.spec.secure_port),
            "--cluster-cidr", self.spec.cluster_cidr,
            "--service-cluster-ip-range", self.spec.service_cidr,
            "--node-monitor-grace-period", self.spec.node_monitor_grace_period,
        ]  # fmt: skip
        if self.spec.etcd_servers:
            argv += ["--etcd-servers", ",".join(self.spec.etcd_servers)]
        self.server_pid = self._spawn(argv, self.server_dir / "server.log")
        self.save()
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if not _alive(self.server_pid):
                raise LabError(f"the control plane exited; see {self.server_dir / 'server.log'}")
            if time.monotonic() > deadline:
                raise LabError(f"the control plane did not come up in {timeout:.0f}s")
            time.sleep(0.2)

    def _anchor(self, node: NodeState) -> None:
        name = f"{self.spec.network}-{node.name.removeprefix(self.spec.name + '-')}"
        _run(["docker", "rm", "-f", name], check=False)
        node.container = _run([
            "docker", "run", "-d",
            "--name", name,
            "--hostname", node.name,
            "--network", self.spec.network,
            "--ip", node.ip,
            "--label", f"{LAB_LABEL}={self.spec.name}",
            "--sysctl", "net.ipv4.ip_forward=1",
            "--restart", "unless-stopped",
            PAUSE_IMAGE,
        ]).stdout.strip()  # fmt: skip
        pid = self.anchor_pid(node)
        # kube-proxy needs bridged pod traffic to pass iptables (replies of a Service's
        # backend on the same bridge must be un-DNATed); the setting is per namespace.
        _run([*_nsenter(pid), "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], check=False)

    def anchor_pid(self, node: NodeState) -> int:
        pid = _run(["docker", "inspect", "-f", "{{.State.Pid}}", node.container]).stdout.strip()
        if not pid or pid == "0":
            raise LabError(f"node {node.name}: its namespace container is not running")
        return int(pid)

    def _kubelet(self, node: NodeState) -> None:
        from kubeling.pki.selfsigned import ensure_client_cert
        from kubeling.server import write_kubeconfig

        pki = self.server_dir / "pki"
        node_dir = self.dir / node.name
        node_dir.mkdir(parents=True, exist_ok=True)
        crt, key = ensure_client_cert(
            pki,
            f"kubelet-{node.name}",
            common_name=f"system:node:{node.name}",
            organizations=("system:nodes",),
        )
        kubeconfig = node_dir / "kubelet.kubeconfig"
        write_kubeconfig(
            kubeconfig,
            server=self.spec.apiserver_url,
            ca_file=pki / "ca.crt",
            client_cert=crt,
            client_key=key,
            user=f"system:node:{node.name}",
        )
        (node_dir / "manifests").mkdir(exist_ok=True)
        argv = [
            *_nsenter(self.anchor_pid(node)),
            sys.executable, "-m", "kubeling.cli", "kubelet",
            "--kubeconfig", str(kubeconfig),
            "--hostname-override", node.name,
            "--node-ip", node.ip,
            "--root-dir", str(node_dir / "kubelet"),
            "--cni-conf-dir", str(node_dir / "cni"),
            "--pod-manifest-path", str(node_dir / "manifests"),
            "--cluster-dns", self.spec.dns_ip,
            "--client-ca-file", str(pki / "ca.crt"),
            "--resolv-conf", self.spec.resolv_conf,
            "--node-network-container", node.container,
            "--non-masquerade-cidr", self.spec.cluster_cidr,
        ]  # fmt: skip
        node.kubelet_pid = self._spawn(argv, node_dir / "kubelet.log")

    def _spawn(self, argv: list[str], log_path: Path) -> int:
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir
            )
        return process.pid

    # -- readiness and routes ----------------------------------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        kubectl = str(Path(sys.executable).with_name("kubectl"))
        if not os.access(kubectl, os.X_OK):
            kubectl = "kubectl"
        return _run([kubectl, "--kubeconfig", str(self.kubeconfig), *args], check=check, timeout=timeout)

    def node_objects(self) -> dict[str, dict[str, Any]]:
        items = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        return {n["metadata"]["name"]: n for n in items}

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        wanted = {n.name for n in self.nodes}
        while True:
            for node in self.nodes:
                if node.kubelet_pid and not _alive(node.kubelet_pid):
                    raise LabError(
                        f"the kubelet of {node.name} exited; see {self.dir / node.name / 'kubelet.log'}"
                    )
            objects = self.node_objects()
            ready = {
                name
                for name, obj in objects.items()
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in (obj.get("status") or {}).get("conditions") or []
                )
                and (obj.get("spec") or {}).get("podCIDR")
            }
            if wanted <= ready:
                return
            if time.monotonic() > deadline:
                raise LabError(
                    f"nodes not Ready with a podCIDR after {timeout:.0f}s: {sorted(wanted - ready)}"
                )
            time.sleep(0.5)

    def wait_rollouts(self, workloads: list[str], namespace: str = "kube-system", timeout: int = 180) -> None:
        """Wait until every ``deployment/NAME`` or ``daemonset/NAME`` in ``workloads`` is rolled out
        (other kinds in the list are skipped)."""
        for workload in workloads:
            if workload.split("/")[0] in ("deployment", "daemonset"):
                self.kubectl(
                    "-n", namespace, "rollout", "status", workload, f"--timeout={timeout}s",
                    timeout=timeout + 20,
                )  # fmt: skip

    def pod_cidrs(self) -> dict[str, str]:
        objects = self.node_objects()
        return {n.name: (objects.get(n.name, {}).get("spec") or {}).get("podCIDR", "") for n in self.nodes}

    def sync_routes(self) -> None:
        """host-gw: every node (and the host) routes each other node's podCIDR via its IP."""
        cidrs = self.pod_cidrs()
        for node in self.nodes:
            pid = self.anchor_pid(node)
            for other in self.nodes:
                if other is not node and cidrs.get(other.name):
                    _run([*_nsenter(pid), "ip", "route", "replace", cidrs[other.name], "via", other.ip])
        for node in self.nodes:
            if cidrs.get(node.name):
                _run(["ip", "route", "replace", cidrs[node.name], "via", node.ip])

    # -- down --------------------------------------------------------------------------------

    def down(self, *, remove: bool = False) -> None:
        """Stop everything the lab started and remove its containers, routes and network; with
        ``remove`` also its directory (datastore, certificates, logs), so the next ``up`` is new."""
        for node in self.nodes:
            _stop(node.kubelet_pid)
            node.kubelet_pid = 0
        # Pods of the lab's nodes: the kubelets are gone, so remove their containers here.
        for node in self.nodes:
            ids = _run(
                ["docker", "ps", "-aq", "--filter", f"label=io.kubeling.node={node.name}"], check=False
            )
            if ids.stdout.split():
                _run(["docker", "rm", "-f", *ids.stdout.split()], check=False)
        _stop(self.server_pid)
        self.server_pid = 0
        with contextlib.suppress(LabError, subprocess.TimeoutExpired):
            for route in _host_routes_via({n.ip for n in self.nodes}):
                _run(["ip", "route", "del", route], check=False)
        ids = _run(["docker", "ps", "-aq", "--filter", f"label={LAB_LABEL}={self.spec.name}"], check=False)
        if ids.stdout.split():
            _run(["docker", "rm", "-f", *ids.stdout.split()], check=False)
        _run(["docker", "network", "rm", self.spec.network], check=False)
        from kubeling.lab import hostguard

        with contextlib.suppress(LabError):
            hostguard.unguard(self.bridge, self.spec.name)
        _unmount_under(self.dir)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir.exists():
            self.save()


def free_subnet(prefix: str = "10.250", first: int = 0) -> str:
    """A /24 under ``prefix``.0.0/16 that no Docker network uses yet."""
    names = _run(["docker", "network", "ls", "-q"]).stdout.split()
    used: set[str] = set()
    if names:
        template = "{{range .IPAM.Config}}{{.Subnet}} {{end}}"
        used = set(_run(["docker", "network", "inspect", "-f", template, *names]).stdout.split())
    for third in range(first, 256):
        subnet = f"{prefix}.{third}.0/24"
        if subnet not in used:
            return subnet
    raise LabError(f"no free {prefix}.x.0/24 for a lab network")


def pick_pod_cidr(taken: Iterable[str]) -> str:
    """The first /20 of :data:`POD_CIDR_POOL` that overlaps none of ``taken``."""
    used = [ipaddress.ip_network(cidr, strict=False) for cidr in taken if cidr]
    for candidate in ipaddress.ip_network(POD_CIDR_POOL).subnets(new_prefix=POD_CIDR_PREFIX):
        if not any(candidate.overlaps(other) for other in used):
            return str(candidate)
    raise LabError(f"every /{POD_CIDR_PREFIX} of {POD_CIDR_POOL} is taken by a netns lab: take one down")


def netns_lab_pod_cidrs() -> dict[str, str]:
    """Lab name -> pod network of every netns lab whose Docker network exists on this machine."""
    ids = _run(["docker", "network", "ls", "-q", "--filter", f"label={LAB_LABEL}"]).stdout.split()
    if not ids:
        return {}
    template = f'{{{{index .Labels "{LAB_LABEL}"}}}} {{{{index .Labels "{POD_CIDR_LABEL}"}}}}'
    found = {}
    for line in _run(["docker", "network", "inspect", "-f", template, *ids]).stdout.splitlines():
        name, _, cidr = line.strip().partition(" ")
        if name:
            found[name] = cidr.strip() or LEGACY_POD_CIDR
    return found


def _host_routes_via(gateways: set[str]) -> Iterator[str]:
    for line in _run(["ip", "-4", "route", "show"]).stdout.splitlines():
        parts = line.split()
        if "via" in parts and parts[parts.index("via") + 1] in gateways:
            yield parts[0]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours is not alive: reap it.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    return True


def _stop(pid: int, grace: float = 15.0) -> None:
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _unmount_under(directory: Path) -> None:
    """Volumes the kubelets mounted (tmpfs for secrets) must go before the directory can."""
    prefix = str(directory) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        _run(["umount", "-l", point], check=False)
