"""Lab nodes as systemd containers: small Debian hosts on a private Docker network, reached over SSH.

Each node is a container of ``kubeling/node`` (``lab/nodeimage.py``) booting
systemd as PID 1, with sshd, a nested Docker Engine (its ``/var/lib/docker``
a named volume, so it can use overlay2) and a static address on the lab's own
network.  Nothing kubeling-specific runs on them after ``up``: the install
deploy reaches them over SSH exactly as it reaches real hosts, with an
ed25519 key made for the lab and the nodes' host keys pinned in the lab's
``known_hosts``.

Order of ``up``: network → one container per node (started one after another,
~0.5 s each) → all nodes booting at once; each is waited for until systemd
reports ``running`` or ``degraded``, then gets the lab key as root's
authorized key, its host key is recorded, and ``up`` returns once SSH with
that key answers on every node.  A failure part way removes what was made.

Every container, volume and the network carry the label :data:`LAB_LABEL`
with the lab's name, which is what ``down`` removes; the lab's state
(:data:`STATE_FILE`, the key, ``known_hosts``) lives in its directory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from kubeling.lab import hostguard
from kubeling.lab.netns import LabError, free_subnet

LAB_LABEL = "io.kubeling.nodes-lab"
ROLE_LABEL = "io.kubeling.lab-role"
STATE_FILE = "nodes.json"
KEY_FILE = "id_ed25519"
KNOWN_HOSTS_FILE = "known_hosts"
SUBNET_PREFIX = "10.251"
# What NOTES.md found boots systemd here: --privileged fails on this VM (no CAP_SYS_RESOURCE).
NODE_RUN_FLAGS = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
    "--cgroupns=host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "--stop-timeout", "30",
)  # fmt: skip
BOOTED_STATES = ("running", "degraded")


class Role(StrEnum):
    CONTROL_PLANE = "control-plane"
    WORKER = "worker"


@dataclass(frozen=True)
class Node:
    name: str
    role: Role
    ip: str


@dataclass(frozen=True)
class BootTimes:
    systemd: float  # seconds from docker run to `running`/`degraded`
    ssh: float  # seconds from docker run to SSH with the lab key answering


@dataclass(frozen=True)
class NodesLabSpec:
    name: str
    directory: Path
    control_planes: int = 1
    workers: int = 2
    subnet: str = f"{SUBNET_PREFIX}.0.0/24"
    image: str = "kubeling/node:0.1.0"

    @property
    def network(self) -> str:
        return f"kbln-{self.name}"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    def nodes(self) -> list[Node]:
        base = ipaddress.ip_network(self.subnet).network_address
        cps = [Node(f"{self.name}-cp-{i}", Role.CONTROL_PLANE, "") for i in range(1, self.control_planes + 1)]
        workers = [Node(f"{self.name}-worker-{i}", Role.WORKER, "") for i in range(1, self.workers + 1)]
        # .1 is the gateway; nodes from .11 on, control planes first.
        return [Node(n.name, n.role, str(base + 11 + i)) for i, n in enumerate(cps + workers)]

    def check(self) -> None:
        """Refuse what Docker or the address plan cannot take, with the reason."""
        if not self.name.isalnum() or len(self.name) > 10:
            raise LabError(f"lab name {self.name!r}: letters and digits only, at most 10")
        if self.control_planes < 1:
            raise LabError("a lab needs at least one control plane (--control-planes)")
        if self.workers < 0 or self.control_planes + self.workers > 200:
            raise LabError("--nodes: between 0 and 200 - control planes")
        try:
            network = ipaddress.ip_network(self.subnet)
        except ValueError:
            raise LabError(f"lab subnet {self.subnet!r} is not a network address/prefix") from None
        if network.version != 4 or network.prefixlen > 24:
            raise LabError(f"lab subnet {self.subnet}: an IPv4 /24 or larger")


def _run(
    argv: list[str], *, check: bool = True, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: no answer in {timeout:.0f}s") from None
    if check and result.returncode:
        raise LabError(f"{' '.join(argv)}: {(result.stderr or result.stdout).strip()}")
    return result


class NodesLab:
    """``spec.control_planes`` + ``spec.workers`` systemd containers reachable over SSH."""

    def __init__(self, spec: NodesLabSpec) -> None:
        self.spec = spec
        self.dir = spec.directory.resolve()
        self.nodes = spec.nodes()
        # The pyinfra inventory written for this lab, and what installing onto it makes on this
        # machine (admin kubeconfig, the cluster's PKI): down removes them with the nodes.
        self.inventory: Path | None = None
        self.generated: list[Path] = []

    # -- state -------------------------------------------------------------------------------

    @property
    def key(self) -> Path:
        return self.dir / KEY_FILE

    @property
    def known_hosts(self) -> Path:
        return self.dir / KNOWN_HOSTS_FILE

    def save(self) -> None:
        spec = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.spec).items()}
        state = {
            "spec": spec,
            # The nodes as they are now: add_worker/remove change them after up.
            "nodes": [asdict(node) for node in self.nodes],
            "inventory": str(self.inventory or ""),
            "generated": [str(p) for p in self.generated],
        }
        (self.dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> NodesLab:
        state = json.loads((directory / STATE_FILE).read_text())
        spec = NodesLabSpec(**{**state["spec"], "directory": Path(state["spec"]["directory"])})
        lab = cls(spec)
        if "nodes" in state:
            lab.nodes = [Node(n["name"], Role(n["role"]), n["ip"]) for n in state["nodes"]]
        lab.inventory = Path(state["inventory"]) if state.get("inventory") else None
        lab.generated = [Path(p) for p in state.get("generated", [])]
        return lab

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name or node.name == f"{self.spec.name}-{name}":
                return node
        raise LabError(f"lab {self.spec.name} has no node {name!r} ({', '.join(n.name for n in self.nodes)})")

    def volume(self, node: Node) -> str:
        return f"kbln-{node.name}-var-lib-docker"

    # -- up ----------------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> dict[str, BootTimes]:
        """Make and boot every node; returns how long each took from its ``docker run``."""
        self.spec.check()
        missing = [tool for tool in ("docker", "ssh", "ssh-keygen") if shutil.which(tool) is None]
        if missing:
            raise LabError(f"{', '.join(missing)} not found: install docker.io and openssh-client")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.save()
        try:
            self._network()
            self._keypair()
            started = {node.name: self._start(node) for node in self.nodes}
            booted = self._wait_booted(timeout)
            self.known_hosts.write_text("".join(self._authorize(node) for node in self.nodes))
            answered = self._wait_ssh(timeout)
        except BaseException:
            self.down()  # nothing of a half-made lab is worth keeping: a retry starts clean
            raise
        return {
            name: BootTimes(systemd=booted[name] - started[name], ssh=answered[name] - started[name])
            for name in started
        }

    def _labels(self) -> list[str]:
        return ["--label", f"{LAB_LABEL}={self.spec.name}"]

    @property
    def bridge(self) -> str:
        """The host's interface of the lab network (named at create, within Linux's 15 characters)."""
        return self.spec.network[:15]

    def _network(self) -> None:
        if _run(["docker", "network", "inspect", self.spec.network], check=False).returncode != 0:
            self._create_network()
        hostguard.guard(self.bridge, self.spec.name)

    def _create_network(self) -> None:
        _run([
            "docker", "network", "create", "--driver", "bridge",
            "--subnet", self.spec.subnet, "--gateway", self.spec.gateway,
            *self._labels(),
            "--opt", f"com.docker.network.bridge.name={self.bridge}",
            self.spec.network,
        ])  # fmt: skip

    def _keypair(self) -> None:
        if self.key.exists():
            return
        comment = f"kubeling-lab-{self.spec.name}"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(self.key)])

    def _start(self, node: Node) -> float:
        owner = _run(
            ["docker", "inspect", "-f", f'{{{{index .Config.Labels "{LAB_LABEL}"}}}}', node.name], check=False
        )
        if owner.returncode == 0:
            if owner.stdout.strip() != self.spec.name:
                raise LabError(f"a container {node.name} exists and is not this lab's: pick another --name")
            _run(["docker", "rm", "-f", "-v", node.name])
        _run(["docker", "volume", "create", *self._labels(), self.volume(node)])
        _run([
            "docker", "run", "-d", "--name", node.name, "--hostname", node.name,
            "--network", self.spec.network, "--ip", node.ip,
            *self._labels(), "--label", f"{ROLE_LABEL}={node.role}",
            *NODE_RUN_FLAGS,
            "-v", f"{self.volume(node)}:/var/lib/docker",
            self.spec.image,
        ])  # fmt: skip
        return time.monotonic()

    def system_state(self, node: Node) -> str:
        """``systemctl is-system-running`` on the node, or why it cannot be asked."""
        result = _run(["docker", "exec", node.name, "systemctl", "is-system-running"], check=False)
        return (result.stdout or result.stderr).strip() or f"exit {result.returncode}"

    def failed_units(self, node: Node) -> list[str]:
        result = _run(
            ["docker", "exec", node.name, "systemctl", "list-units", "--failed", "--plain", "--no-legend"],
            check=False,
        )
        return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]

    def _wait_booted(self, timeout: float, nodes: list[Node] | None = None) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        waiting = {node.name: node for node in (self.nodes if nodes is None else nodes)}
        booted: dict[str, float] = {}
        while waiting:
            for name, node in list(waiting.items()):
                if self.system_state(node) in BOOTED_STATES:
                    booted[name] = time.monotonic()
                    del waiting[name]
            if not waiting:
                break
            if time.monotonic() > deadline:
                states = {name: self.system_state(node) for name, node in waiting.items()}
                raise LabError(f"nodes did not boot in {timeout:.0f}s: {states}")
            time.sleep(0.2)
        return booted

    def _authorize(self, node: Node) -> str:
        """Install the lab key for root; returns the node's known_hosts line."""
        public = self.key.with_suffix(".pub").read_text()
        script = "umask 077; mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys"
        _run(["docker", "exec", "-i", node.name, "sh", "-c", script], stdin=public)
        host_key = _run(["docker", "exec", node.name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout
        key_type, key = host_key.split()[:2]
        return f"{node.name},{node.ip} {key_type} {key}\n"

    def _wait_ssh(self, timeout: float, nodes: list[Node] | None = None) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        answered: dict[str, float] = {}
        for node in self.nodes if nodes is None else nodes:
            while True:
                result = _run([*self.ssh_argv(node, connect_timeout=2), "true"], check=False, timeout=10)
                if result.returncode == 0:
                    answered[node.name] = time.monotonic()
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"ssh to {node.name} ({node.ip}) failed: {result.stderr.strip()}")
                time.sleep(0.3)
        return answered

    # -- grow and shrink ---------------------------------------------------------------------

    def next_worker(self) -> Node:
        """The node ``add_worker`` would make: the next worker number, the first free address."""
        numbers = [int(n.name.rsplit("-", 1)[1]) for n in self.nodes if n.role == Role.WORKER]
        taken = {n.ip for n in self.nodes}
        network = ipaddress.ip_network(self.spec.subnet)
        free = next(
            (
                str(ip)
                for ip in network.hosts()
                if int(ip) - int(network.network_address) > 10 and str(ip) not in taken
            ),
            None,
        )
        if free is None:
            raise LabError(f"no free address left in {self.spec.subnet}")
        return Node(f"{self.spec.name}-worker-{max(numbers, default=0) + 1}", Role.WORKER, free)

    def add_worker(self, timeout: float = 120.0) -> tuple[Node, BootTimes]:
        """Boot one more worker on the lab's network and make it reachable over SSH."""
        node = self.next_worker()
        self.nodes.append(node)
        try:
            started = self._start(node)
            booted = self._wait_booted(timeout, [node])[node.name]
            with self.known_hosts.open("a") as known:
                known.write(self._authorize(node))
            answered = self._wait_ssh(timeout, [node])[node.name]
        except BaseException:
            self.remove(node)
            raise
        self.save()
        return node, BootTimes(systemd=booted - started, ssh=answered - started)

    def remove(self, node: Node) -> None:
        """Delete one node's container and volume and forget it (its host key too)."""
        _run(["docker", "rm", "-f", "-v", node.name], check=False, timeout=120)
        _run(["docker", "volume", "rm", "-f", self.volume(node)], check=False, timeout=120)
        self.nodes = [n for n in self.nodes if n.name != node.name]
        if self.known_hosts.exists():
            lines = self.known_hosts.read_text().splitlines(keepends=True)
            kept = [ln for ln in lines if not ln.startswith(f"{node.name},")]
            self.known_hosts.write_text("".join(kept))
        self.save()

    # -- use ---------------------------------------------------------------------------------

    def ssh_argv(self, node: Node, *, connect_timeout: int = 10) -> list[str]:
        """``ssh`` to root on the node with the lab key and pinned host keys; append a command."""
        return [
            "ssh", "-i", str(self.key),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "LogLevel=ERROR",
            f"root@{node.ip}",
        ]  # fmt: skip

    def container_states(self) -> dict[str, str]:
        """Each node's container state as Docker reports it (``missing`` when there is none)."""
        states = {}
        for node in self.nodes:
            result = _run(["docker", "inspect", "-f", "{{.State.Status}}", node.name], check=False)
            states[node.name] = result.stdout.strip() if result.returncode == 0 else "missing"
        return states

    # -- down --------------------------------------------------------------------------------

    def down(self, *, remove: bool = True) -> None:
        """Remove the lab's containers, volumes and network; with ``remove`` also its directory."""
        label = f"label={LAB_LABEL}={self.spec.name}"
        ids = _run(["docker", "ps", "-aq", "--filter", label], check=False).stdout.split()
        if ids:
            # systemd stops its units on SIGRTMIN+3; the nested engine's containers go with the node.
            _run(["docker", "rm", "-f", "-v", *ids], check=False, timeout=120)
        volumes = _run(["docker", "volume", "ls", "-q", "--filter", label], check=False).stdout.split()
        if volumes:
            _run(["docker", "volume", "rm", "-f", *volumes], check=False, timeout=120)
        with contextlib.suppress(LabError):
            _run(["docker", "network", "rm", self.spec.network], check=False)
        with contextlib.suppress(LabError):
            hostguard.unguard(self.bridge, self.spec.name)
        if remove:
            for path in [self.inventory, *self.generated]:
                if path is not None and path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                elif path is not None:
                    path.unlink(missing_ok=True)
            shutil.rmtree(self.dir, ignore_errors=True)


def free_lab_subnet() -> str:
    """A /24 under 10.251.0.0/16 that no Docker network uses (the netns labs take 10.250)."""
    return free_subnet(SUBNET_PREFIX)


def leftovers(name: str) -> dict[str, list[str]]:
    """What Docker still holds of lab ``name`` (empty lists after a clean ``down``)."""
    label = f"label={LAB_LABEL}={name}"
    return {
        "containers": _run(["docker", "ps", "-aq", "--filter", label], check=False).stdout.split(),
        "volumes": _run(["docker", "volume", "ls", "-q", "--filter", label], check=False).stdout.split(),
        "networks": _run(["docker", "network", "ls", "-q", "--filter", label], check=False).stdout.split(),
    }
