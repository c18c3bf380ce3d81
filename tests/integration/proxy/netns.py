"""A private little network for kube-proxy tests: a node namespace and its neighbours.

Topology (all addresses in 10.252.0.0/16, which belongs to these tests)::

    host ──veth── node (10.252.0.<4k+2>)     host side 10.252.0.<4k+1>: reaches the apiserver
                  node ──veth── ep1    10.252.1.1 / 10.252.1.2   an HTTP server answering "ep1"
                  node ──veth── ep2    10.252.2.1 / 10.252.2.2   an HTTP server answering "ep2"
                  node ──veth── client 10.252.64.1 / 10.252.64.2  (outside the cluster CIDR)

The node forwards, and routes the service range back out towards the
client, so traffic that finds no rule still has a route (as a default route
would on a real node).  Nothing touches the host's iptables; the host only
gets one veth end with a /30.  :meth:`Lab.destroy` removes every namespace
and that veth, and kills the servers, whatever state the test left.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "kbl-px-"
SERVICE_RANGE = "10.252.128.0/20"
CLUSTER_CIDR = "10.252.0.0/20"
NEIGHBOURS = {"ep1": 1, "ep2": 2, "client": 64}  # third octets: the endpoints are "pods", the client is not


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass
class Lab:
    workdir: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    slot: int = field(default_factory=lambda: secrets.randbelow(60) + 1)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    last_durations: list[float] = field(
        default_factory=list
    )  # seconds each connection of the last probe took
    created: list[str] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"{PREFIX}{self.tag}-{role}"

    @property
    def host_ip(self) -> str:
        return f"10.252.0.{4 * self.slot + 1}"

    @property
    def node_uplink_ip(self) -> str:
        return f"10.252.0.{4 * self.slot + 2}"

    @property
    def host_veth(self) -> str:
        return f"kpx{self.tag}"

    def exec(self, role: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def run(
        self, role: str, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return sh(*self.exec(role, *argv), check=check, timeout=timeout)

    def create(self) -> Lab:
        for role in ("node", *NEIGHBOURS):
            sh("ip", "netns", "add", self.ns(role))
            self.created.append(self.ns(role))
            sh("ip", "-n", self.ns(role), "link", "set", "lo", "up")
        node = self.ns("node")
        sh("ip", "link", "add", self.host_veth, "type", "veth", "peer", "name", "uplink", "netns", node)
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_veth)
        sh("ip", "link", "set", self.host_veth, "up")
        sh("ip", "-n", node, "addr", "add", f"{self.node_uplink_ip}/30", "dev", "uplink")
        sh("ip", "-n", node, "link", "set", "uplink", "up")
        for role, subnet in NEIGHBOURS.items():
            peer = self.ns(role)
            sh("ip", "-n", node, "link", "add", role, "type", "veth", "peer", "name", "eth0", "netns", peer)
            sh("ip", "-n", node, "addr", "add", f"10.252.{subnet}.1/24", "dev", role)
            sh("ip", "-n", node, "link", "set", role, "up")
            sh("ip", "-n", peer, "addr", "add", f"10.252.{subnet}.2/24", "dev", "eth0")
            sh("ip", "-n", peer, "link", "set", "eth0", "up")
            sh("ip", "-n", peer, "route", "add", "default", "via", f"10.252.{subnet}.1")
        self.run("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", node, "route", "add", SERVICE_RANGE, "via", self.endpoint_ip("client"))
        return self

    def endpoint_ip(self, role: str) -> str:
        return f"10.252.{NEIGHBOURS[role]}.2"

    def node_ip(self, towards: str = "client") -> str:
        return f"10.252.{NEIGHBOURS[towards]}.1"

    def start_http(self, role: str, port: int = 8080) -> None:
        """busybox httpd in ``role``'s namespace; GET /name answers the role."""
        root = self.workdir / f"www-{role}"
        root.mkdir(parents=True, exist_ok=True)
        (root / "name").write_text(role)
        self.servers.append(
            subprocess.Popen(self.exec(role, "busybox", "httpd", "-f", "-p", str(port), "-h", str(root)))
        )

    def start_udp(self, role: str, port: int = 5353) -> None:
        """A UDP server in ``role``'s namespace answering every datagram with the role."""
        code = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(sys.argv[1])))\n"
            "while True:\n"
            "    data, peer = s.recvfrom(512); s.sendto(sys.argv[2].encode(), peer)\n"
        )
        self.servers.append(subprocess.Popen(self.exec(role, sys.executable, "-c", code, str(port), role)))

    def udp_probe(self, role: str, host: str, port: int, *, source_port: int) -> str:
        """One datagram from a fixed source port (so it reuses its conntrack entry); the reply or TIMEOUT."""
        code = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', int(sys.argv[3])))\n"
            "s.settimeout(1.0); s.sendto(b'?', (sys.argv[1], int(sys.argv[2])))\n"
            "try:\n    print(s.recv(512).decode())\nexcept OSError:\n    print('TIMEOUT')\n"
        )
        return self.run(role, sys.executable, "-c", code, host, str(port), str(source_port)).stdout.strip()

    def probe(self, role: str, host: str, port: int, *, count: int = 1, timeout: float = 3.0) -> list[str]:
        """``count`` HTTP GETs of /name from ``role``'s namespace: each the body, or the errno name.

        How long each took (measured inside the namespace) is left in :attr:`last_durations`.
        """
        result = self.run(
            role, sys.executable, "-c", _PROBE, host, str(port), str(count), str(timeout), timeout=60
        )
        answers = json.loads(result.stdout)
        self.last_durations = [seconds for _, seconds in answers]
        return [answer for answer, _ in answers]

    def iptables_save(self, role: str = "node") -> str:
        return self.run(role, "iptables-save").stdout

    def destroy(self) -> None:
        for server in self.servers:
            server.kill()
            server.wait()
        sh("ip", "link", "del", self.host_veth, check=False)
        for name in self.created:
            sh("ip", "netns", "del", name, check=False)


# Runs inside a namespace: fresh connections, so each may be balanced anew.
_PROBE = r"""
import errno, json, socket, sys, time
host, port, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out = []
for _ in range(count):
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"GET /name HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        answer = data.split(b"\r\n\r\n", 1)[-1].decode()
    except socket.timeout:
        answer = "TIMEOUT"
    except OSError as exc:
        answer = errno.errorcode.get(exc.errno, str(exc))
    out.append([answer, time.monotonic() - started])
print(json.dumps(out))
"""
