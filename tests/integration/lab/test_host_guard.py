"""A lab's bridged traffic is immune to the host's stale masquerade rules.

A host kubelet killed without CNI DEL leaves ``-s <pod IP>/32 -j CNI-…``
(MASQUERADE) in the host's ``nat POSTROUTING``; a lab pod with that IP would
have its cross-node traffic masqueraded by the host.  Here node cp holds a
"pod" address, worker routes it back via cp, and a stale rule of this test's
own masquerades that address on the host: the worker must still see the pod's
own address as the peer.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from kubeling.lab import hostguard
from tests.integration.lab.conftest import BootedLab, ssh

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

POD_IP = "10.244.250.77"  # a lab "pod" address; no host kubelet hands this one out
PORT = 7077
SERVER = (
    "import socket\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {PORT})); s.listen(); s.settimeout(20)\n"
    "c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()\n"
)


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def stale_host_masquerade() -> Iterator[str]:
    """A leftover like CNI's: a chain that MASQUERADEs POD_IP, appended to the host's POSTROUTING."""
    chain = f"ISO-STALE-{POD_IP.rsplit('.', 1)[1]}"
    jump = ["POSTROUTING", "-s", f"{POD_IP}/32", "-m", "comment", "--comment", "iso test stale", "-j", chain]
    # De-NATed replies for POD_IP must not leave through the host's uplink.
    subprocess.run(["ip", "route", "add", "blackhole", f"{POD_IP}/32"], capture_output=True)
    try:
        _iptables("-t", "nat", "-N", chain)
        _iptables("-t", "nat", "-A", chain, "-j", "MASQUERADE")
        _iptables("-t", "nat", "-A", *jump)
        yield chain
    finally:
        _iptables("-t", "nat", "-D", *jump, check=False)
        _iptables("-t", "nat", "-F", chain, check=False)
        _iptables("-t", "nat", "-X", chain, check=False)
        subprocess.run(["ip", "route", "del", "blackhole", f"{POD_IP}/32"], capture_output=True)


def test_up_guards_the_lab_bridge_once(nodes_lab: BootedLab) -> None:
    assert len(hostguard.guarded(nodes_lab.spec.name)) == 2
    nodes_lab._network()  # what a second `up` does
    lines = hostguard.guarded(nodes_lab.spec.name)
    assert len(lines) == 2
    assert any(f"-o {nodes_lab.bridge} " in line and "-j RETURN" in line for line in lines)
    nat = _iptables("-t", "nat", "-S", "POSTROUTING").stdout.splitlines()
    assert hostguard.comment(nodes_lab.spec.name) in nat[1]  # first rule after the policy line


def test_cross_node_pod_traffic_passes_a_stale_host_masquerade(
    nodes_lab: BootedLab, stale_host_masquerade: str
) -> None:
    cp, worker = nodes_lab.nodes[0], nodes_lab.nodes[-1]
    ssh(nodes_lab, cp.name, f"ip addr replace {POD_IP}/32 dev eth0")
    ssh(nodes_lab, worker.name, f"ip route replace {POD_IP}/32 via {cp.ip}")
    server = subprocess.Popen(
        [*nodes_lab.ssh_argv(worker), "python3", "-c", f'"{SERVER}"'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = (
            "import socket, time\n"
            "for _ in range(50):\n"
            "    try:\n"
            f"        c = socket.create_connection(('{worker.ip}', {PORT}), timeout=3, "
            f"source_address=('{POD_IP}', 0)); break\n"
            "    except ConnectionRefusedError: time.sleep(0.1)\n"
            "print(c.recv(64).decode())\n"
        )
        seen = ssh(nodes_lab, cp.name, f'python3 -c "{client}"').strip()
        assert seen == POD_IP  # not the host's address on the lab bridge
    finally:
        server.kill()
        server.wait(timeout=10)
        ssh(nodes_lab, cp.name, f"ip addr del {POD_IP}/32 dev eth0 || true")


def test_unguard_removes_the_guard_rules(nodes_lab: BootedLab) -> None:
    hostguard.unguard(nodes_lab.bridge, nodes_lab.spec.name)
    assert hostguard.guarded(nodes_lab.spec.name) == []
    hostguard.guard(nodes_lab.bridge, nodes_lab.spec.name)  # the fixture's down removes it again
