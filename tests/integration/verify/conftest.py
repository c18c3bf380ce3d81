"""One lab node (a systemd container from the nodes lab) with a small fake of an installed host.

The node gets, over SSH as the deploy would: the cluster CA, the kubelet's
kubeconfig and serving pair made by ``kubeling pki init``, a KubeletConfiguration
naming them, a stand-in ``kubelet.service`` (python3 serving ``/healthz`` over
TLS on 10250 with that pair), Debian's etcd started with TLS from the same PKI,
the nested dockerd, and a host-gw route to one fake peer's podCIDR.  The
inventory written for verify puts the node in ``kube_node`` and ``etcd``.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeling.lab import inventory
from kubeling.lab.nodes import NodesLab, NodesLabSpec, free_lab_subnet
from kubeling.pki import commands
from kubeling.pki.layout import Inventory, parse_host
from kubeling.verify.routes import PodNetwork
from tests.integration.lab.conftest import node_image, session_lab_name, ssh

__all__ = ["node_image"]  # the lab's session fixture, used here too

FAKE_KUBELET = """\
import http.server, ssl
class Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")
server = http.server.HTTPServer(("0.0.0.0", 10250), Healthz)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("{crt}", "{key}")
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""
KUBELET_UNIT = """\
[Unit]
Description=stand-in kubelet for kubeling verify's tests
[Service]
ExecStart=/usr/bin/python3 /usr/local/bin/fake-kubelet
[Install]
WantedBy=multi-user.target
"""
ETCD_DEFAULTS = """\
ETCD_NAME="{name}"
ETCD_DATA_DIR="/var/lib/etcd/verify"
ETCD_LISTEN_CLIENT_URLS="https://{ip}:2379,https://127.0.0.1:2379"
ETCD_ADVERTISE_CLIENT_URLS="https://{ip}:2379"
ETCD_LISTEN_PEER_URLS="https://{ip}:2380"
ETCD_INITIAL_ADVERTISE_PEER_URLS="https://{ip}:2380"
ETCD_INITIAL_CLUSTER="{name}=https://{ip}:2380"
ETCD_CERT_FILE="/etc/kubernetes/pki/etcd/server.crt"
ETCD_KEY_FILE="/etc/kubernetes/pki/etcd/server.key"
ETCD_CLIENT_CERT_AUTH="true"
ETCD_TRUSTED_CA_FILE="/etc/kubernetes/pki/etcd/ca.crt"
ETCD_PEER_CERT_FILE="/etc/kubernetes/pki/etcd/peer.crt"
ETCD_PEER_KEY_FILE="/etc/kubernetes/pki/etcd/peer.key"
ETCD_PEER_CLIENT_CERT_AUTH="true"
ETCD_PEER_TRUSTED_CA_FILE="/etc/kubernetes/pki/etcd/ca.crt"
"""


@dataclass
class FakeHost:
    lab: NodesLab
    name: str
    ip: str
    inventory: Path
    routed: PodNetwork  # a peer whose podCIDR the node routes
    unrouted: PodNetwork  # a peer it does not

    def ssh(self, command: str, stdin: bytes | None = None) -> str:
        return ssh(self.lab, self.name, command, stdin=stdin)


def _put(host: FakeHost, path: str, content: bytes, mode: str = "644", owner: str = "root") -> None:
    host.ssh(f"install -D -m {mode} -o {owner} -g {owner} /dev/stdin {path}", stdin=content)


def _install(host: FakeHost, pki: Path) -> None:
    kubelet_crt, kubelet_key = "/etc/kubernetes/pki/kubelet/node.crt", "/etc/kubernetes/pki/kubelet/node.key"
    _put(host, "/etc/kubernetes/pki/ca.crt", (pki / "ca.crt").read_bytes())
    _put(host, kubelet_crt, (pki / "kubelet" / f"{host.name}.crt").read_bytes())
    _put(host, kubelet_key, (pki / "kubelet" / f"{host.name}.key").read_bytes(), "600")
    _put(host, "/etc/kubernetes/kubelet.conf", (pki / f"kubelet-{host.name}.conf").read_bytes(), "600")
    config = f"kind: KubeletConfiguration\ntlsCertFile: {kubelet_crt}\ntlsPrivateKeyFile: {kubelet_key}\n"
    _put(host, "/var/lib/kubelet/config.yaml", config.encode())
    _put(host, "/usr/local/bin/fake-kubelet", FAKE_KUBELET.format(crt=kubelet_crt, key=kubelet_key).encode())
    _put(host, "/etc/systemd/system/kubelet.service", KUBELET_UNIT.encode())
    _put(host, "/etc/kubernetes/pki/etcd/ca.crt", (pki / "etcd" / "ca.crt").read_bytes())
    member = pki / "etcd" / host.name
    for kind in ("server", "peer"):
        remote = f"/etc/kubernetes/pki/etcd/{kind}"
        _put(host, f"{remote}.crt", (member / f"{kind}.crt").read_bytes(), owner="etcd")
        _put(host, f"{remote}.key", (member / f"{kind}.key").read_bytes(), "600", "etcd")
    for suffix, mode in ((".crt", "644"), (".key", "600")):
        source = pki / "etcd" / f"healthcheck-client{suffix}"
        _put(host, f"/etc/kubernetes/pki/etcd/healthcheck-client{suffix}", source.read_bytes(), mode)
    _put(host, "/etc/default/etcd", ETCD_DEFAULTS.format(name=host.name, ip=host.ip).encode())
    host.ssh(f"ip route replace {host.routed.cidr} via {host.routed.node_ip}")
    host.ssh("systemctl daemon-reload && systemctl start docker kubelet etcd")


@pytest.fixture(scope="module")
def fake_host(node_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHost]:
    directory = tmp_path_factory.mktemp("verify-lab")
    spec = NodesLabSpec(
        name=session_lab_name("v"),
        directory=directory / "lab",
        control_planes=1,
        workers=0,
        subnet=free_lab_subnet(),
        image=node_image,
    )
    lab = NodesLab(spec)
    try:
        lab.up()
        node = lab.nodes[0]
        pki = directory / "pki"
        cluster = Inventory(cluster="verify", control_planes=(parse_host(f"{node.name}={node.ip}"),))
        commands.init(commands.InitOptions(directory=pki, inventory=cluster), out=io.StringIO())
        subnet = ipaddress.ip_network(spec.subnet)
        path = directory / "verify.py"
        path.write_text(
            f"kube_node = [({node.name!r}, {inventory.host_data(lab, node)!r})]\netcd = [{node.name!r}]\n"
        )
        host = FakeHost(
            lab,
            node.name,
            node.ip,
            path,
            PodNetwork("peer-a", ipaddress.ip_network("10.244.1.0/24"), subnet.network_address + 50),
            PodNetwork("peer-b", ipaddress.ip_network("10.244.2.0/24"), subnet.network_address + 51),
        )
        _install(host, pki)
        yield host
    finally:
        lab.down()
