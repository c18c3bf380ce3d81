"""``kubeling proxy`` in a node namespace: real iptables, real traffic, a real apiserver.

The proxy process runs inside the lab's node namespace (``ip netns exec``)
against a private apiserver; Services and EndpointSlices are written through
the API, and HTTP clients in the client namespace (FORWARD path) and in the
node itself (OUTPUT path) check where their connections land.  The tests run
in file order: they share one proxy process and build on each other's objects.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.proxy.conftest import ProxyProcess, ReachableServer, wait_for
from tests.integration.proxy.netns import Lab, sh

pytestmark = pytest.mark.integration

SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


def web_slice(lab: Lab, roles: list[str], resource_version: str = "") -> dict:
    meta: dict = {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [lab.endpoint_ip(role)], "conditions": {"ready": True}, "nodeName": "node-b"}
            for role in roles
        ],
    }


@pytest.fixture(scope="module")
def web(lab: Lab, api: ReachableServer, proxy: ProxyProcess) -> dict:
    """Service default/web (NodePort, port 80 → 8080) with both HTTP servers as endpoints."""
    service = api.post(
        "/api/v1/namespaces/default/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
    )
    api.post(SLICES, web_slice(lab, ["ep1", "ep2"]))
    return service


def cluster_ip(web: dict) -> str:
    return web["spec"]["clusterIP"]


def node_port(web: dict) -> int:
    return web["spec"]["ports"][0]["nodePort"]


def test_cluster_ip_reaches_both_endpoints_from_a_client(lab: Lab, web: dict, proxy: ProxyProcess):
    wait_for(
        lambda: lab.probe("client", cluster_ip(web), 80) in (["ep1"], ["ep2"]),
        what=f"service reachable\n{proxy.log()}",
    )
    answers = lab.probe("client", cluster_ip(web), 80, count=30)
    assert set(answers) == {"ep1", "ep2"}, answers


def test_cluster_ip_from_the_node_itself(lab: Lab, web: dict):
    answers = lab.probe("node", cluster_ip(web), 80, count=20)
    assert set(answers) == {"ep1", "ep2"}, answers


def test_node_port_on_the_node_address(lab: Lab, web: dict):
    answers = lab.probe("client", lab.node_ip("client"), node_port(web), count=20)
    assert set(answers) == {"ep1", "ep2"}, answers
    # On the node's loopback too (localhostNodePorts, route_localnet set by the proxy in its namespace).
    assert set(lab.probe("node", "127.0.0.1", node_port(web), count=6)) <= {"ep1", "ep2"}
    # An endpoint reaching its own service through the node port (hairpin, masqueraded).
    assert set(lab.probe("ep1", lab.node_ip("ep1"), node_port(web), count=10)) <= {"ep1", "ep2"}


def test_rules_carry_upstream_chain_names(lab: Lab, web: dict):
    saved = lab.iptables_save()
    assert (
        f'-A KUBE-SERVICES -d {cluster_ip(web)}/32 -p tcp -m comment --comment "default/web:http cluster IP"'
        in saved
    )
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in saved
    assert "-j DNAT --to-destination 10.252.1.2:8080" in saved


def test_the_kubernetes_service_reaches_the_apiserver_from_the_node(lab: Lab, web: dict):
    # The apiserver publishes itself as default/kubernetes' endpoint: in-cluster clients use this path.
    fetch = (
        "import ssl, urllib.request as u\n"
        "c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE\n"
        "print(u.urlopen('https://10.252.128.1/readyz', context=c, timeout=5).read().decode())\n"
    )
    assert wait_for(lambda: lab.run("node", "python3", "-c", fetch, check=False).stdout.strip() == "ok")


def test_external_traffic_policy_local_sends_node_port_traffic_only_to_local_endpoints(
    lab: Lab, api: ReachableServer, web: dict
):
    local = api.post(
        "/api/v1/namespaces/default/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "local"},
            "spec": {
                "type": "NodePort",
                "externalTrafficPolicy": "Local",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
    )
    endpoints = web_slice(lab, ["ep1", "ep2"])
    endpoints["metadata"] = {"name": "local-1", "labels": {"kubernetes.io/service-name": "local"}}
    endpoints["endpoints"][0]["nodeName"] = "node-a"  # ep1 runs on this node, ep2 elsewhere
    api.post(SLICES, endpoints)
    port = local["spec"]["ports"][0]["nodePort"]
    wait_for(lambda: lab.probe("client", lab.node_ip("client"), port) == ["ep1"], what="local node port")
    assert set(lab.probe("client", lab.node_ip("client"), port, count=10)) == {"ep1"}
    assert set(lab.probe("client", local["spec"]["clusterIP"], 80, count=20)) == {"ep1", "ep2"}


def test_session_affinity_keeps_a_client_on_one_endpoint(lab: Lab, api: ReachableServer, web: dict):
    sticky = api.post(
        "/api/v1/namespaces/default/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sticky"},
            "spec": {
                "sessionAffinity": "ClientIP",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
    )
    endpoints = web_slice(lab, ["ep1", "ep2"])
    endpoints["metadata"] = {"name": "sticky-1", "labels": {"kubernetes.io/service-name": "sticky"}}
    api.post(SLICES, endpoints)
    address = sticky["spec"]["clusterIP"]
    wait_for(lambda: lab.probe("client", address, 80) in (["ep1"], ["ep2"]), what="sticky service reachable")
    assert len(set(lab.probe("client", address, 80, count=15))) == 1


def post_udp_service(api: ReachableServer, name: str) -> str:
    """A UDP Service (port 53 to 5353); returns its cluster IP."""
    service = api.post(
        "/api/v1/namespaces/default/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"ports": [{"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]},
        },
    )
    return service["spec"]["clusterIP"]


def udp_slice(lab: Lab, service: str, role: str, resource_version: str = "") -> dict:
    """The Service's EndpointSlice with ``role`` as its one endpoint."""
    body = web_slice(lab, [role], resource_version)
    body["metadata"]["name"] = f"{service}-1"
    body["metadata"]["labels"] = {"kubernetes.io/service-name": service}
    body["ports"] = [{"name": "dns", "port": 5353, "protocol": "UDP"}]
    return body


def test_udp_flows_to_a_removed_endpoint_are_flushed(lab: Lab, api: ReachableServer):
    address = post_udp_service(api, "udp")
    created = api.post(SLICES, udp_slice(lab, "udp", "ep1"))
    wait_for(lambda: lab.udp_probe("client", address, 53, source_port=40053) == "ep1", what="udp via ep1")
    # The client keeps its source port, so without the flush its conntrack entry would keep it on ep1.
    api.put(f"{SLICES}/udp-1", udp_slice(lab, "udp", "ep2", created["metadata"]["resourceVersion"]))
    wait_for(lambda: "10.252.2.2:5353" in lab.iptables_save(), what="ep2 programmed")
    wait_for(
        lambda: lab.udp_probe("client", address, 53, source_port=40053) == "ep2", timeout=5, what="flow moved"
    )


def last_sync(lab: Lab) -> float:
    """The proxy's kubeproxy_sync_proxy_rules_last_timestamp_seconds (0 while it does not answer)."""
    fetch = (
        "import urllib.request as u\n"
        "for line in u.urlopen('http://127.0.0.1:10249/metrics', timeout=2).read().decode().splitlines():\n"
        "    if line.startswith('kubeproxy_sync_proxy_rules_last_timestamp_seconds '):\n"
        "        print(line.split()[1])\n"
    )
    answer = lab.run("node", "python3", "-c", fetch, check=False).stdout.strip()
    return float(answer) if answer else 0.0


def test_a_restarted_proxy_keeps_the_udp_flows_already_natted(
    lab: Lab, api: ReachableServer, proxy: ProxyProcess
):
    """Every service looks new to a restarted proxy; its flush must spare flows NATed to an endpoint
    (a DNS lookup in flight during a kube-proxy rollout lost its answer when they were flushed)."""
    address = post_udp_service(api, "udp-restart")
    api.post(SLICES, udp_slice(lab, "udp-restart", "ep1"))
    wait_for(lambda: lab.udp_probe("client", address, 53, source_port=40062) == "ep1", what="udp via ep1")

    def flows() -> int:
        listed = lab.run("node", "conntrack", "-L", "-p", "udp", "--orig-dst", address, check=False).stdout
        return sum(1 for line in listed.splitlines() if "sport=40062" in line and "sport=5353" in line)

    assert flows() == 1
    restarted = time.time()
    proxy.stop()
    proxy.start()
    wait_for(lambda: last_sync(lab) > restarted, timeout=30, what=f"a sync after restart\n{proxy.log()}")
    assert flows() == 1, "the restarted proxy flushed a flow already NATed to a live endpoint"
    assert lab.udp_probe("client", address, 53, source_port=40062) == "ep1"


def test_scaling_to_zero_rejects_connections_quickly(lab: Lab, api: ReachableServer, web: dict):
    _, body = api.request("GET", f"{SLICES}/web-1")
    current = json.loads(body)
    api.put(f"{SLICES}/web-1", web_slice(lab, [], current["metadata"]["resourceVersion"]))
    wait_for(
        lambda: lab.probe("client", cluster_ip(web), 80, timeout=2) == ["ECONNREFUSED"], what="rejection"
    )
    # Refused, never timed out (5 s).  A rejection sent to another host is an ICMP error the kernel
    # rate-limits per peer (net.ipv4.icmp_ratelimit, one a second), so back-to-back connections from
    # the client see their first SYN go unanswered and the retransmission refused; the node's own
    # connections (OUTPUT, over loopback) are refused at once.
    for role, host, port, within in (
        ("client", cluster_ip(web), 80, 2.5),  # FORWARD
        ("client", lab.node_ip("client"), node_port(web), 2.5),  # INPUT (node port)
        ("node", cluster_ip(web), 80, 0.5),  # OUTPUT
    ):
        assert lab.probe(role, host, port, count=3, timeout=5) == ["ECONNREFUSED"] * 3, (role, host, port)
        assert max(lab.last_durations) < within, (role, lab.last_durations)
    # Back to one endpoint: only it answers.
    _, body = api.request("GET", f"{SLICES}/web-1")
    api.put(f"{SLICES}/web-1", web_slice(lab, ["ep2"], json.loads(body)["metadata"]["resourceVersion"]))
    wait_for(lambda: lab.probe("client", cluster_ip(web), 80) == ["ep2"], what="one endpoint")
    assert set(lab.probe("client", cluster_ip(web), 80, count=10)) == {"ep2"}


def test_deleted_service_chains_are_removed(lab: Lab, api: ReachableServer, web: dict):
    status, _ = api.request("DELETE", "/api/v1/namespaces/default/services/web")
    assert status == 200
    wait_for(lambda: "default/web:http" not in lab.iptables_save(), what="web's rules gone")
    assert lab.probe("client", cluster_ip(web), 80, timeout=1) in (
        ["TIMEOUT"],
        ["EHOSTUNREACH"],
        ["ECONNREFUSED"],
    )


def test_health_and_metrics(lab: Lab, web: dict):
    fetch = (
        "import sys, urllib.request as u\n"
        "r = u.urlopen(sys.argv[1], timeout=5)\n"
        "print(r.status); print(r.read().decode())\n"
    )
    health = lab.run("node", "python3", "-c", fetch, "http://127.0.0.1:10256/healthz").stdout
    status, body = health.split("\n", 1)
    assert status == "200" and json.loads(body)["nodeEligible"] is True
    metrics = lab.run("node", "python3", "-c", fetch, "http://127.0.0.1:10249/metrics").stdout
    assert "kubeproxy_sync_proxy_rules_duration_seconds_count" in metrics
    assert 'kubeproxy_sync_proxy_rules_iptables_total{table="nat"}' in metrics
    assert "kubeproxy_sync_proxy_rules_last_timestamp_seconds" in metrics


def test_cleanup_leaves_no_kube_chains(lab: Lab, proxy: ProxyProcess):
    assert proxy.stop() == 0
    assert "KUBE-" in lab.iptables_save()
    result = sh(*proxy.command("--cleanup"), check=False)
    assert result.returncode == 0, result.stderr
    assert "KUBE-" not in lab.iptables_save()
