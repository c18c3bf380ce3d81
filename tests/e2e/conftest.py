"""A two-node cluster on this machine (network-namespace nodes) with the cluster addons.

Module-scoped per test file that asks for ``services_lab``: the kubeling image is built (or
found current), a lab comes up on its own Docker network, kube-proxy, the cluster DNS and
metrics-server are applied from ``templates/addons`` and waited for.  The nodes' resolv.conf
points at a small resolver the fixture runs on the lab network's gateway, so "names outside
the cluster" are answered without any traffic leaving the machine.
"""

from __future__ import annotations

import asyncio
import json
import socketserver
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from kubeling.addons import DEFAULT_ADDONS, AddonValues, apply_addons
from kubeling.client.kubeconfig import load_kubeconfig
from kubeling.client.rest import RESTClient
from kubeling.lab.netns import LabSpec, NetnsLab, free_subnet

# The name and address the fake upstream resolver knows (TEST-NET-1: documentation only).
OUTSIDE_NAME = "outside.kubeling-upstream.test."
OUTSIDE_IP = "192.0.2.44"


class _Upstream(socketserver.BaseRequestHandler):
    """Knows OUTSIDE_NAME (an A record), NXDOMAIN for every other name (UDP)."""

    def handle(self) -> None:
        data, sock = self.request
        query = DNSRecord.parse(data)
        reply = query.reply()
        qname = str(query.q.qname)
        self.server.seen.append(qname)  # type: ignore[attr-defined]
        if qname.lower() != OUTSIDE_NAME:
            reply.header.rcode = 3  # NXDOMAIN
        elif query.q.qtype == QTYPE.A:
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(OUTSIDE_IP), ttl=60))
        # other types of the known name: NOERROR with no answer (NODATA)
        sock.sendto(reply.pack(), self.client_address)


@dataclass
class ServicesLab:
    lab: NetnsLab
    upstream_seen: list[str]

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60):  # type: ignore[no-untyped-def]
        return self.lab.kubectl(*args, check=check, timeout=timeout)

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


async def _apply(lab: NetnsLab, image: str) -> list[str]:
    client = RESTClient(load_kubeconfig(lab.kubeconfig), component="e2e-addons")
    try:
        values = AddonValues(
            image=image,
            apiserver_url=lab.spec.apiserver_url,
            service_cidr=lab.spec.service_cidr,
            cluster_cidr=lab.spec.cluster_cidr,
        )
        return await apply_addons(client, list(DEFAULT_ADDONS), values)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def services_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicesLab]:
    from kubeling.image.build import ensure_kubeling_image

    image = ensure_kubeling_image()
    image_ref = image if isinstance(image, str) else image.ref
    directory: Path = tmp_path_factory.mktemp("lab")
    subnet = free_subnet(first=100)
    gateway = subnet.rsplit(".", 1)[0] + ".1"
    resolv = directory / "resolv.conf"
    resolv.write_text(f"nameserver {gateway}\n")
    spec = LabSpec(
        name=f"e2e{uuid.uuid4().hex[:5]}",
        directory=directory,
        subnet=subnet,
        resolv_conf=str(resolv),
        secure_port=6443,
    )
    lab = NetnsLab(spec)
    upstream: socketserver.UDPServer | None = None
    try:
        lab.up()
        upstream = socketserver.ThreadingUDPServer((gateway, 53), _Upstream)
        upstream.seen = []  # type: ignore[attr-defined]
        threading.Thread(target=upstream.serve_forever, daemon=True).start()
        lab.wait_rollouts(asyncio.run(_apply(lab, image_ref)))
        yield ServicesLab(lab, upstream.seen)  # type: ignore[attr-defined]
    finally:
        if upstream is not None:
            upstream.shutdown()
            upstream.server_close()
        lab.down()
