"""Preflight: every host is checked before anything changes anywhere.

Runs while pyinfra prepares the run (facts only, no operation), for all hosts
at once the first time a host's deploy reaches it, and stops the run with one
message listing every failure as ``<host>: <check>: <what is wrong>``.
Ports held by kubeling's own processes (a second install) pass.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from pyinfra import inventory
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.server import Hostname

from deploys.cluster import Cluster, Node
from deploys.tasks.ops import EpochSeconds, ListeningPorts, MemTotalKiB, OsRelease, SwapTotalKiB

MIN_MEMORY_KIB = 1024 * 1024 * 9 // 10  # 1 GiB, less what firmware and kernel keep back
MAX_CLOCK_SKEW = 30.0  # seconds: certificates and leases assume agreeing clocks
OURS = {"kubeling", "etcd", "python3", "python"}
CONTROL_PLANE_PORTS = (6443, 10257, 10259)
ETCD_PORTS = (2379, 2380)
NODE_PORTS = (10250,)


@dataclass(frozen=True)
class Failure:
    host: str
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.host}: {self.check}: {self.detail}"


def ports_for(node: Node) -> list[int]:
    ports = list(NODE_PORTS)
    if node.control_plane:
        ports += CONTROL_PLANE_PORTS
    if node.etcd:
        ports += ETCD_PORTS
    return ports


def check_host(node: Node, facts: dict[str, Any], *, now: float, allow_swap: bool = False) -> list[Failure]:
    """The checks of one host from its facts (pure, so tests feed it facts)."""
    failures = []
    name = node.name
    os_release = facts["os"]
    if os_release.get("ID") != "debian" or os_release.get("VERSION_ID") != "12":
        found = os_release.get("PRETTY_NAME") or "unknown (no /etc/os-release)"
        failures.append(Failure(name, "os", f"Debian 12 is required, found {found}"))
    memory = facts["memory_kib"]
    if memory < MIN_MEMORY_KIB:
        failures.append(Failure(name, "memory", f"at least 1 GiB is required, found {memory // 1024} MiB"))
    for port in ports_for(node):
        holders = facts["ports"].get(port)
        if holders is not None and not holders & OURS:
            who = ", ".join(sorted(holders)) or "another process"
            failures.append(Failure(name, "ports", f"port {port} is in use by {who}"))
    swap = facts["swap_kib"]
    if swap and not allow_swap:
        failures.append(
            Failure(
                name,
                "swap",
                f"swap is on ({swap // 1024} MiB): turn it off (swapoff -a, and in /etc/fstab) "
                "or set allow_swap = True in group data",
            )
        )
    skew = facts["epoch"] - now
    if abs(skew) > MAX_CLOCK_SKEW:
        failures.append(
            Failure(name, "time sync", f"clock is {skew:+.0f}s off the deploying machine's (max ±30s)")
        )
    return failures


def check_hostnames(hostnames: dict[str, str]) -> list[Failure]:
    """node name → the host's own hostname; two hosts with one hostname fail."""
    seen: dict[str, str] = {}
    failures = []
    for node, hostname in hostnames.items():
        key = hostname.lower()
        if key in seen:
            failures.append(Failure(node, "unique hostnames", f"hostname {hostname!r} is also {seen[key]}'s"))
        else:
            seen[key] = node
    return failures


_lock = threading.Lock()
_verdicts: dict[int, str] = {}  # id(inventory) -> "" (passed) or the failure message


def run(cluster: Cluster) -> None:
    """Check every host of the inventory once per run; DeployError lists the failures (raised in
    every host's deploy, as pyinfra prepares hosts in parallel)."""
    with _lock:
        if id(inventory) not in _verdicts:
            _verdicts[id(inventory)] = _message(check_all(cluster))
    if _verdicts[id(inventory)]:
        raise DeployError(_verdicts[id(inventory)])


def _message(failures: list[Failure]) -> str:
    if not failures:
        return ""
    listed = "\n  ".join(str(f) for f in failures)
    return f"preflight failed, nothing was changed:\n  {listed}"


def check_all(cluster: Cluster) -> list[Failure]:
    failures: list[Failure] = []
    hostnames: dict[str, str] = {}
    for pyinfra_host in inventory:
        name = pyinfra_host.data.get("node_name") or pyinfra_host.name
        node = next((n for n in cluster.nodes if n.name == name), None)
        if node is None:
            continue
        try:
            facts = {
                "os": pyinfra_host.get_fact(OsRelease),
                "memory_kib": pyinfra_host.get_fact(MemTotalKiB),
                "ports": pyinfra_host.get_fact(ListeningPorts),
                "swap_kib": pyinfra_host.get_fact(SwapTotalKiB),
                "epoch": pyinfra_host.get_fact(EpochSeconds),
            }
            hostnames[node.name] = pyinfra_host.get_fact(Hostname)
        except Exception as exc:  # a host we cannot ask is a failed check, not a traceback
            failures.append(Failure(node.name, "reachable", str(exc) or type(exc).__name__))
            continue
        failures += check_host(
            node, facts, now=time.time(), allow_swap=bool(pyinfra_host.data.get("allow_swap"))
        )
    return failures + check_hostnames(hostnames)
