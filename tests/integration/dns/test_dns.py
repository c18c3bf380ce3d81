"""``kubeling dns`` as a subprocess against a real apiserver, asked with dnslib over UDP and TCP.

Services and EndpointSlices are created through the API (selector-less
Services with hand-made slices, so no pods need to run); non-cluster names
go to a fake upstream resolver on 127.0.0.54.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from tests.fixtures.server import REPO, KubelingServer, free_port
from tests.integration.dns.fakeupstream import FakeUpstream

pytestmark = pytest.mark.integration

NS = "dns-it"
ZONE = "cluster.local"


class DNSProcess:
    def __init__(
        self,
        server: KubelingServer,
        upstream: str,
        log_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lameduck: str = "0",  # the tests stop it often; the lame-duck test sets its own
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.health_port, self.ready_port, self.metrics_port = free_port(), free_port(), free_port()
        command = [
            sys.executable, "-m", "kubeling.cli", "dns",
            "--kubeconfig", str(server.kubeconfig),
            "--bind-address", host, "--port", str(self.port),
            "--upstream", upstream, "--forward-timeout", "0.5",
            "--health-port", str(self.health_port), "--ready-port", str(self.ready_port),
            "--metrics-port", str(self.metrics_port), "--health-bind-address", "127.0.0.1",
            "--lameduck", lameduck,
        ]  # fmt: skip
        self.log_path = log_path
        self.process = subprocess.Popen(
            command, stdout=log_path.open("ab"), stderr=subprocess.STDOUT, cwd=REPO
        )

    def http(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kubeling dns exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if self.http(self.ready_port, "/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"kubeling dns not ready:\n{self.log_path.read_text()[-3000:]}")

    def ask(self, name: str, qtype: str = "A", *, tcp: bool = False, edns: int | None = None) -> DNSRecord:
        request = DNSRecord.question(name, qtype)
        if edns is not None:
            request.add_ar(EDNS0(udp_len=edns))
        return DNSRecord.parse(request.send(self.host, self.port, tcp=tcp, timeout=5))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _create(server: KubelingServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, data = server.request(
        "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    assert status == 201, data
    return json.loads(data)


def _service(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def _slice(service: str, endpoints: list[dict[str, Any]], ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-1", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def cluster(server: KubelingServer) -> dict[str, str]:
    """The objects every test reads; returns the allocated cluster IPs by service."""
    _create(server, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    base = f"/api/v1/namespaces/{NS}/services"
    web = _create(server, base, _service("web", {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}))
    _create(server, base, _service("db", {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}))
    _create(server, base, _service("ext", {"type": "ExternalName", "externalName": "ext.example.test"}))
    _create(server, base, _service("many", {"clusterIP": "None", "ports": [{"port": 80}]}))
    slices = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
    db_endpoints = [
        {"addresses": ["10.244.9.10"], "hostname": "db-0", "conditions": {"ready": True}},
        {"addresses": ["10.244.9.11"], "hostname": "db-1", "conditions": {"ready": True}},
        {"addresses": ["10.244.9.12"], "conditions": {"ready": False}},
    ]
    _create(server, slices, _slice("db", db_endpoints, [{"name": "pg", "port": 5432, "protocol": "TCP"}]))
    many = [{"addresses": [f"10.244.8.{i}"], "conditions": {"ready": True}} for i in range(1, 61)]
    _create(server, slices, _slice("many", many, [{"port": 80, "protocol": "TCP"}]))
    return {"web": web["spec"]["clusterIP"]}


@pytest.fixture(scope="module")
def dns(
    server: KubelingServer,
    cluster: dict[str, str],
    upstream: FakeUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DNSProcess]:
    process = DNSProcess(server, upstream.address, tmp_path_factory.mktemp("dns") / "dns.log")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _values(reply: DNSRecord, rtype: int | None = None) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr if rtype is None or rr.rtype == rtype)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_cluster_ip_service(dns: DNSProcess, cluster: dict[str, str], tcp: bool) -> None:
    reply = dns.ask(f"web.{NS}.svc.{ZONE}", tcp=tcp)
    assert (reply.header.rcode, reply.header.aa) == (RCODE.NOERROR, 1)
    assert _values(reply) == [cluster["web"]]
    assert reply.rr[0].ttl == 30
    srv = dns.ask(f"_http._tcp.web.{NS}.svc.{ZONE}", "SRV", tcp=tcp)
    assert _values(srv) == [f"0 100 80 web.{NS}.svc.{ZONE}."]
    ptr = dns.ask(".".join(reversed(cluster["web"].split("."))) + ".in-addr.arpa", "PTR", tcp=tcp)
    assert _values(ptr) == [f"web.{NS}.svc.{ZONE}."]


def test_headless_service_endpoints_hostnames_srv_and_ptr(dns: DNSProcess) -> None:
    assert _values(dns.ask(f"db.{NS}.svc.{ZONE}")) == ["10.244.9.10", "10.244.9.11"]
    assert _values(dns.ask(f"db-1.db.{NS}.svc.{ZONE}")) == ["10.244.9.11"]
    srv = dns.ask(f"_pg._tcp.db.{NS}.svc.{ZONE}", "SRV")
    assert _values(srv) == [f"0 50 5432 db-0.db.{NS}.svc.{ZONE}.", f"0 50 5432 db-1.db.{NS}.svc.{ZONE}."]
    assert sorted(str(rr.rdata) for rr in srv.ar) == ["10.244.9.10", "10.244.9.11"]
    assert _values(dns.ask("10.9.244.10.in-addr.arpa", "PTR")) == [f"db-0.db.{NS}.svc.{ZONE}."]


def test_external_name_is_a_cname_chased_upstream(dns: DNSProcess) -> None:
    reply = dns.ask(f"ext.{NS}.svc.{ZONE}")
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [
        ("CNAME", "ext.example.test."),
        ("A", "192.0.2.1"),
    ]


def test_pod_names_nodata_and_nxdomain(dns: DNSProcess) -> None:
    assert _values(dns.ask(f"10-244-3-4.{NS}.pod.{ZONE}")) == ["10.244.3.4"]
    nodata = dns.ask(f"web.{NS}.svc.{ZONE}", "AAAA")
    assert (nodata.header.rcode, nodata.rr, nodata.header.aa) == (RCODE.NOERROR, [], 1)
    assert [QTYPE[rr.rtype] for rr in nodata.auth] == ["SOA"]
    for name in (f"nope.{NS}.svc.{ZONE}", f"web.{NS}.svc.{ZONE}.{NS}.svc.{ZONE}"):
        nx = dns.ask(name)
        assert (nx.header.rcode, nx.rr) == (RCODE.NXDOMAIN, [])
        assert [QTYPE[rr.rtype] for rr in nx.auth] == ["SOA"]


def test_big_answers_truncate_over_udp_and_come_whole_over_tcp(dns: DNSProcess) -> None:
    udp = dns.ask(f"many.{NS}.svc.{ZONE}")
    assert udp.header.tc == 1 and len(udp.pack()) <= 512 and len(udp.rr) < 60
    edns = dns.ask(f"many.{NS}.svc.{ZONE}", edns=4096)
    assert edns.header.tc == 0 and len(edns.rr) == 60
    tcp = dns.ask(f"many.{NS}.svc.{ZONE}", tcp=True)
    assert tcp.header.tc == 0 and len(tcp.rr) == 60


def test_changes_reach_answers(dns: DNSProcess, server: KubelingServer) -> None:
    base = f"/api/v1/namespaces/{NS}/services"
    _create(server, base, _service("late", {"ports": [{"port": 80}]}))
    _wait_for(lambda: dns.ask(f"late.{NS}.svc.{ZONE}").header.rcode == RCODE.NOERROR)
    status, _ = server.request("DELETE", f"{base}/late")
    assert status == 200
    _wait_for(lambda: dns.ask(f"late.{NS}.svc.{ZONE}").header.rcode == RCODE.NXDOMAIN)


def test_forwarding_with_cache(dns: DNSProcess, upstream: FakeUpstream) -> None:
    first = dns.ask("www.cached.test")
    assert (first.header.rcode, first.header.aa, _values(first)) == (RCODE.NOERROR, 0, ["192.0.2.1"])
    second = dns.ask("www.cached.test")
    assert _values(second) == ["192.0.2.1"] and second.rr[0].ttl <= 30  # capped by `cache 30`
    assert upstream.asked("www.cached.test") == 1
    nx = dns.ask("nx.test")
    assert nx.header.rcode == RCODE.NXDOMAIN
    dns.ask("nx.test")
    assert upstream.asked("nx.test") == 1  # denials are cached too


def test_truncated_upstream_answers_are_asked_again_over_tcp(dns: DNSProcess, upstream: FakeUpstream) -> None:
    reply = dns.ask("big.test", tcp=True)
    assert _values(reply) == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
    assert upstream.asked("big.test", "udp") == 1 and upstream.asked("big.test", "tcp") == 1


def test_upstream_failure_is_servfail(dns: DNSProcess) -> None:
    started = time.monotonic()
    reply = dns.ask("slow.test")
    assert reply.header.rcode == RCODE.SERVFAIL
    assert time.monotonic() - started < 2.0  # the forward timeout, not the upstream's delay


def test_health_ready_and_metrics(dns: DNSProcess) -> None:
    assert dns.http(dns.health_port, "/health") == (200, "OK")
    assert dns.http(dns.ready_port, "/ready") == (200, "OK")
    dns.ask("www.metrics.test")
    dns.ask("www.metrics.test")
    status, text = dns.http(dns.metrics_port, "/metrics")
    assert status == 200
    for needle in (
        'coredns_dns_requests_total{server="dns://:',
        'rcode="NXDOMAIN"',
        "coredns_dns_request_duration_seconds_bucket{",
        'coredns_cache_hits_total{server="dns://:',
        "coredns_cache_misses_total{",
        f'coredns_forward_requests_total{{to="{dns_upstream(text)}"}}',
    ):
        assert needle in text, needle


def dns_upstream(metrics: str) -> str:
    marker = 'coredns_forward_requests_total{to="'
    start = metrics.index(marker) + len(marker)
    return metrics[start : metrics.index('"', start)]


def test_busybox_nslookup(
    server: KubelingServer, cluster: dict[str, str], upstream: FakeUpstream, tmp_path: Path
) -> None:
    """busybox nslookup has no port option: a second server on 127.0.0.153:53 when that is free."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.skip("no busybox")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.153", 53))
        except OSError as exc:
            pytest.skip(f"127.0.0.153:53 unavailable: {exc}")
    process = DNSProcess(server, upstream.address, tmp_path / "dns.log", host="127.0.0.153", port=53)
    try:
        process.wait_ready()
        result = subprocess.run(
            [str(busybox), "nslookup", f"web.{NS}.svc.{ZONE}", "127.0.0.153"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert cluster["web"] in result.stdout, result.stdout + result.stderr
    finally:
        process.stop()


def test_sigterm_goes_lame_duck_before_stopping(
    server: KubelingServer, cluster: dict[str, str], upstream: FakeUpstream, tmp_path: Path
) -> None:
    """After SIGTERM it fails /ready but still answers for --lameduck, then exits (CoreDNS's lameduck)."""
    process = DNSProcess(server, upstream.address, tmp_path / "dns.log", lameduck="3s")
    try:
        process.wait_ready()
        process.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        answered = 0
        while time.monotonic() - signalled < 2.0:
            assert process.process.poll() is None, "exited during its lame-duck period"
            reply = process.ask(f"web.{NS}.svc.{ZONE}")
            assert reply.header.rcode == RCODE.NOERROR and str(reply.rr[0].rdata) == cluster["web"]
            answered += 1
            time.sleep(0.1)
        assert answered >= 10
        assert process.http(process.ready_port, "/ready")[0] == 503
        assert process.process.wait(timeout=10) == 0
        assert time.monotonic() - signalled >= 3.0
    finally:
        process.stop()
