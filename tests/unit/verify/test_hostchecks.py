"""Host checks against a fake testinfra host: which command, which verdict, which reason."""

from __future__ import annotations

import datetime as dt
import json

from kubeling.pki import kubeconfig
from kubeling.verify import hostchecks, routes
from kubeling.verify.layout import CONTROL_PLANE, ETCD, KUBELET_CONFIG
from tests.unit.verify.conftest import NOW, FakeHost, FakeResult, make_cert, make_target

WORKER = make_target("w1", node_ip="10.0.0.2")
CONTROL = make_target("cp1", CONTROL_PLANE, ETCD, node_ip="10.0.0.1")


def _by_check(results: list) -> dict[str, tuple[bool, str]]:
    return {r.check: (r.ok, r.detail) for r in results}


def test_units_report_the_systemctl_state() -> None:
    host = FakeHost({"systemctl is-active docker kubelet etcd": FakeResult(3, "active\ninactive\nactive\n")})
    found = _by_check(hostchecks.check_units(host, CONTROL))
    assert found == {
        "unit docker": (True, ""),
        "unit kubelet": (False, "systemctl is-active says inactive"),
        "unit etcd": (True, ""),
    }


def test_ports_by_role() -> None:
    ss = "LISTEN 0 4096 *:10250 *:*\nLISTEN 0 4096 0.0.0.0:6443 0.0.0.0:*\n"
    host = FakeHost({"ss -Htln": FakeResult(0, ss)})
    found = _by_check(hostchecks.check_ports(host, CONTROL))
    closed = [c for c, (ok, _) in found.items() if not ok]
    assert closed == ["port 10257", "port 10259", "port 2379", "port 2380"]
    assert _by_check(hostchecks.check_ports(host, WORKER)) == {"port 10250": (True, "listening")}


def _worker_files(host: FakeHost, *, key_mode: int = 0o600, cert_days: int = 365) -> None:
    cert, key = make_cert(days=cert_days)
    conf = kubeconfig.render(kubeconfig.Credentials("c", "https://10.0.0.1:6443", cert, "u", cert, key))
    host.add_file("/etc/kubernetes/pki/ca.crt", cert)
    host.add_file("/etc/kubernetes/kubelet.conf", conf, 0o600)
    host.add_file("/etc/kubernetes/pki/kubelet/w1.crt", cert)
    host.add_file("/etc/kubernetes/pki/kubelet/w1.key", key, key_mode)
    config = (
        "tlsCertFile: /etc/kubernetes/pki/kubelet/w1.crt\n"
        "tlsPrivateKeyFile: /etc/kubernetes/pki/kubelet/w1.key\n"
    )
    host.add_file(KUBELET_CONFIG, config.encode())


def _certs(host: FakeHost, target=WORKER, *, now: dt.datetime = NOW) -> dict[str, tuple[bool, str]]:
    extra = hostchecks.kubelet_serving_cert(host)
    return _by_check(hostchecks.check_certificates(host, target, now=now, extra=extra))


def test_worker_certificates_pass() -> None:
    host = FakeHost()
    _worker_files(host)
    found = _certs(host, now=NOW + dt.timedelta(days=1))
    assert list(found) == [
        "cert /etc/kubernetes/pki/ca.crt",
        "cert /etc/kubernetes/kubelet.conf",
        "key /etc/kubernetes/kubelet.conf",
        "cert /etc/kubernetes/pki/kubelet/w1.crt",
        "key /etc/kubernetes/pki/kubelet/w1.key",
    ]
    assert all(ok for ok, _ in found.values()), found
    assert found["key /etc/kubernetes/pki/kubelet/w1.key"] == (True, "mode 0600")


def test_readable_key_expiring_and_missing_files_fail() -> None:
    host = FakeHost()
    _worker_files(host, key_mode=0o644, cert_days=20)
    del host.files["/etc/kubernetes/pki/ca.crt"]
    found = _certs(host, now=NOW + dt.timedelta(days=1))
    assert found["key /etc/kubernetes/pki/kubelet/w1.key"] == (False, "mode 0644, want 0600")
    assert found["cert /etc/kubernetes/pki/ca.crt"] == (False, "missing")
    ok, reason = found["cert /etc/kubernetes/pki/kubelet/w1.crt"]
    assert not ok and "in 19 days (< 30)" in reason


def test_control_plane_files_include_etcd_and_kubeconfigs() -> None:
    names = _certs(FakeHost(), CONTROL)
    assert "key /etc/kubernetes/admin.conf" in names and "key /etc/kubernetes/pki/sa.key" in names
    assert "cert /etc/kubernetes/pki/etcd/server.crt" in names
    assert "key /etc/kubernetes/pki/ca.key" not in names  # CA keys stay on the deploying machine
    assert sum(1 for n in names if n == "cert /etc/kubernetes/pki/etcd/ca.crt") == 1


def test_kubelet_health_falls_back_to_the_tls_port() -> None:
    class Answers(FakeHost):
        def run(self, command: str, *args: str) -> FakeResult:
            self.ran.append(command)
            if "10248" in command:
                return FakeResult(1, "URLError <urlopen error [Errno 111] Connection refused>")
            return FakeResult(0, "200 ok")

    host = Answers()
    [result] = hostchecks.check_kubelet_health(host, WORKER)
    assert result.ok and result.detail == "https://127.0.0.1:10250/healthz: 200 ok"
    assert len(host.ran) == 2


def test_kubelet_health_names_both_attempts() -> None:
    host = FakeHost({"": FakeResult(1, "URLError <urlopen error [Errno 111] Connection refused>")})
    [result] = hostchecks.check_kubelet_health(host, WORKER)
    assert not result.ok
    assert result.detail.count("Connection refused") == 3
    assert "https://10.0.0.2:10250/healthz" in result.detail


def test_static_pods() -> None:
    manifest = "metadata: {name: %s, namespace: kube-system}\nspec: {containers: [{name: %s}]}\n"
    host = FakeHost({"docker ps": FakeResult(0, "kube-apiserver-cp1 kube-apiserver\n")})
    for name in ("kube-apiserver", "kube-controller-manager"):
        host.add_file(f"/etc/kubernetes/manifests/{name}.yaml", (manifest % (name, name)).encode())
    found = _by_check(hostchecks.check_static_pods(host, CONTROL))
    assert found == {
        "static-pod kube-apiserver": (True, "1 container(s) running"),
        "static-pod kube-controller-manager": (False, "container(s) not running: kube-controller-manager"),
        "static-pod kube-scheduler": (False, "/etc/kubernetes/manifests/kube-scheduler.yaml missing"),
    }


def test_pod_routes() -> None:
    table = [{"dst": "10.244.0.0/24", "gateway": "10.0.0.1", "dev": "eth0"}]
    host = FakeHost({"ip -json route show": FakeResult(0, json.dumps(table))})
    networks = routes.pod_networks(
        {
            "metadata": {"name": name},
            "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }
        for name, cidr, ip in [("cp1", "10.244.0.0/24", "10.0.0.1"), ("w1", "10.244.1.0/24", "10.0.0.2")]
    )
    assert _by_check(hostchecks.check_pod_routes(host, WORKER, networks)) == {
        "pod-routes": (True, "1 other node(s) routed")
    }
    ok, reason = _by_check(hostchecks.check_pod_routes(host, CONTROL, networks))["pod-routes"]
    assert not ok and reason == "no route to 10.244.1.0/24 (w1)"
    ok, reason = _by_check(hostchecks.check_pod_routes(host, WORKER, None))["pod-routes"]
    assert not ok and "API did not answer" in reason


def test_etcd_through_etcdctl_counts_members() -> None:
    out = "https://10.0.0.1:2379 is healthy: successfully committed proposal: took = 2ms\n"
    host = FakeHost({"ETCDCTL_API=3 etcdctl": FakeResult(0, out)}, binaries={"etcdctl"})
    assert _by_check(hostchecks.check_etcd(host, CONTROL, members=1)) == {
        "etcd health": (True, "1 member(s) healthy")
    }
    ok, reason = _by_check(hostchecks.check_etcd(host, CONTROL, members=3))["etcd health"]
    assert not ok and reason == "1 member(s) answer, the inventory has 3"
    assert "--cacert=/etc/kubernetes/pki/etcd/ca.crt" in host.ran[0]


def test_unreachable_host_is_one_failure() -> None:
    class Unreachable(FakeHost):
        def run(self, command: str, *args: str) -> FakeResult:
            said = "ssh: connect to host 10.0.0.2 port 22: Connection refused\n"
            raise RuntimeError(FakeResult(255, "", said))

    results = hostchecks.check_host(Unreachable(), WORKER, networks=[], etcd_members=0, now=NOW)
    assert [(r.check, r.ok, r.detail) for r in results] == [
        ("ssh", False, "ssh: connect to host 10.0.0.2 port 22: Connection refused")
    ]
