"""The restore text of one sync: exact chains and rules for each kind of service (upstream's shapes)."""

from __future__ import annotations

import pytest

from kubeling.proxy import chains
from kubeling.proxy.rules import JUMPS, RuleOptions, build_rules
from tests.unit.proxy.builders import NODE, make_endpoint, make_service, make_slice, model, parse_restore

SVC = "KUBE-SVC-XPGD46QRK7WJZT7O"  # upstream's test name for ns1/svc1:p80 tcp
SVL = chains.local_policy_chain("ns1/svc1:p80", "tcp")
EXT = chains.external_chain("ns1/svc1:p80", "tcp")
SEP1 = "KUBE-SEP-SXIVWICOYRO3J4NJ"  # 10.180.0.1:80, as upstream's tests
SEP2 = chains.endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.2:80")
CIDR = "10.0.0.0/8"
NODEPORTS_TAIL = (
    '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" '
    "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
)


def build(services, slices, options=None, **kwargs):
    ports, endpoints = model(services, slices)
    result = build_rules(ports, endpoints, options or RuleOptions(cluster_cidr=CIDR), **kwargs)
    return result, parse_restore(result.text)


def two_endpoints(**conditions):
    return make_slice(
        endpoints=[make_endpoint("10.180.0.1", node=NODE), make_endpoint("10.180.0.2", **conditions)]
    )


def sep_rules(sep: str, ip: str, affinity: bool = False) -> list[str]:
    recent = f"-m recent --name {sep} --set " if affinity else ""
    return [
        f'-m comment --comment "ns1/svc1:p80" -s {ip} -j KUBE-MARK-MASQ',
        f'-m comment --comment "ns1/svc1:p80" {recent}-m tcp -p tcp -j DNAT --to-destination {ip}:80',
    ]


def test_chain_names_are_upstreams_hashes():
    assert chains.cluster_policy_chain("ns1/svc1:p80", "TCP") == SVC
    assert chains.endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == SEP1


def test_cluster_ip_balances_over_endpoints_with_hairpin_masquerade():
    result, tables = build([make_service()], [two_endpoints()])
    nat = tables["nat"]
    assert nat["KUBE-SERVICES"] == [
        '-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ' + SVC,
        NODEPORTS_TAIL,
    ]
    assert nat[SVC] == [
        '-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 '
        f"! -s {CIDR} -j KUBE-MARK-MASQ",
        f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random '
        f"--probability 0.5000000000 -j {SEP1}",
        f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j {SEP2}',
    ]
    assert nat[SEP1] == sep_rules(SEP1, "10.180.0.1")
    assert nat[SEP2] == sep_rules(SEP2, "10.180.0.2")
    assert nat["KUBE-MARK-MASQ"] == ["-j MARK --or-mark 0x4000"]
    assert nat["KUBE-POSTROUTING"] == [
        "-m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-j MARK --xor-mark 0x4000",
        '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]
    assert tables["filter"]["KUBE-SERVICES"] == []
    assert result.active_nat_chains == {SVC, SEP1, SEP2}
    assert result.rule_counts == {"filter": 3, "nat": 13}


def test_probabilities_fall_as_upstreams_over_three_endpoints():
    endpoints = [make_endpoint(f"10.180.0.{i}") for i in (1, 2, 3)]
    _, tables = build([make_service()], [make_slice(endpoints=endpoints)])
    probabilities = [
        rule.split("--probability ")[1].split()[0] for rule in tables["nat"][SVC] if "statistic" in rule
    ]
    assert probabilities == ["0.3333333333", "0.5000000000"]


def test_masquerade_all_marks_every_cluster_ip_packet():
    _, tables = build([make_service()], [two_endpoints()], RuleOptions(masquerade_all=True))
    assert tables["nat"][SVC][0] == (
        '-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 '
        "-j KUBE-MARK-MASQ"
    )


def test_without_cluster_cidr_cluster_ip_traffic_is_not_masqueraded():
    _, tables = build([make_service()], [two_endpoints()], RuleOptions())
    assert not any("KUBE-MARK-MASQ" in rule for rule in tables["nat"][SVC])


def test_node_port_goes_through_the_external_chain_which_masquerades():
    service = make_service(
        type="NodePort", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}]
    )
    _, tables = build([service], [two_endpoints()])
    nat = tables["nat"]
    assert nat["KUBE-NODEPORTS"] == [
        f'-m comment --comment "ns1/svc1:p80" -m tcp -p tcp --dport 30080 -j {EXT}'
    ]
    assert nat[EXT] == [
        '-m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ',
        f"-j {SVC}",
    ]
    assert nat["KUBE-SERVICES"][-1] == NODEPORTS_TAIL


def test_external_ips_jump_to_the_external_chain():
    _, tables = build([make_service(externalIPs=["192.0.2.10"])], [two_endpoints()])
    assert tables["nat"]["KUBE-SERVICES"][1] == (
        f'-m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.0.2.10 --dport 80 -j {EXT}'
    )


def test_session_affinity_pins_clients_with_recent():
    service = make_service(
        sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}
    )
    _, tables = build([service], [two_endpoints()])
    nat = tables["nat"]
    assert nat[SVC][1:3] == [
        f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name {SEP1} '
        f"--rcheck --seconds 600 --reap -j {SEP1}",
        f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -m recent --name {SEP2} '
        f"--rcheck --seconds 600 --reap -j {SEP2}",
    ]
    assert nat[SEP1] == sep_rules(SEP1, "10.180.0.1", affinity=True)


def test_session_affinity_defaults_to_three_hours():
    _, tables = build([make_service(sessionAffinity="ClientIP")], [two_endpoints()])
    assert "--seconds 10800" in tables["nat"][SVC][1]


def test_external_traffic_policy_local_uses_only_local_endpoints_and_keeps_the_source():
    service = make_service(
        type="NodePort",
        externalTrafficPolicy="Local",
        ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}],
    )
    result, tables = build([service], [two_endpoints()])
    nat = tables["nat"]
    assert nat[EXT] == [
        f'-m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s {CIDR} -j {SVC}',
        '-m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" '
        "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
        '-m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" '
        f"-m addrtype --src-type LOCAL -j {SVC}",
        f"-j {SVL}",
    ]
    assert nat[SVL] == [f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j {SEP1}']
    assert len(nat[SVC]) == 3  # cluster IP traffic still goes to both
    assert result.active_nat_chains == {SVC, SVL, EXT, SEP1, SEP2}


def test_external_policy_local_without_local_endpoints_drops_external_traffic():
    service = make_service(
        type="NodePort",
        externalTrafficPolicy="Local",
        ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}],
    )
    remote_only = make_slice(endpoints=[make_endpoint("10.180.0.2")])
    result, tables = build([service], [remote_only])
    assert tables["filter"]["KUBE-EXTERNAL-SERVICES"] == [
        '-m comment --comment "ns1/svc1:p80 has no local endpoints" -m addrtype --dst-type LOCAL '
        "-m tcp -p tcp --dport 30080 -j DROP"
    ]
    assert f"-j {SVL}" not in tables["nat"][EXT]  # only the short-circuits for local sources remain
    assert SVL not in tables["nat"]
    assert result.no_local_endpoints == {"internal": 0, "external": 1}


def test_internal_traffic_policy_local():
    service = make_service(internalTrafficPolicy="Local")
    result, tables = build([service], [two_endpoints()])
    nat = tables["nat"]
    assert nat["KUBE-SERVICES"][0].endswith(f"-j {SVL}")
    assert nat[SVL] == [
        '-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 '
        f"! -s {CIDR} -j KUBE-MARK-MASQ",
        f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j {SEP1}',
    ]
    assert SVC not in nat and SEP2 not in nat
    assert result.active_nat_chains == {SVL, SEP1}


def test_internal_traffic_policy_local_without_local_endpoints_drops():
    service = make_service(internalTrafficPolicy="Local")
    result, tables = build([service], [make_slice(endpoints=[make_endpoint("10.180.0.2")])])
    assert tables["filter"]["KUBE-SERVICES"] == [
        '-m comment --comment "ns1/svc1:p80 has no local endpoints" '
        "-m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP"
    ]
    assert tables["nat"]["KUBE-SERVICES"] == [NODEPORTS_TAIL]
    assert result.no_local_endpoints["internal"] == 1


@pytest.mark.parametrize(
    "slices",
    [
        pytest.param([], id="no-slice"),
        pytest.param([make_slice(endpoints=[])], id="empty-slice"),
        pytest.param([make_slice(endpoints=[make_endpoint("10.180.0.1", ready=False)])], id="not-ready"),
        pytest.param(
            [
                make_slice(
                    endpoints=[make_endpoint("10.180.0.1", ready=False, serving=False, terminating=True)]
                )
            ],
            id="terminating-not-serving",
        ),
    ],
)
def test_no_usable_endpoints_rejects_in_the_filter_table(slices):
    service = make_service(
        type="NodePort",
        externalIPs=["192.0.2.10"],
        ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}],
    )
    result, tables = build([service], slices)
    comment = '-m comment --comment "ns1/svc1:p80 has no endpoints"'
    assert tables["filter"]["KUBE-SERVICES"] == [
        f"{comment} -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT"
    ]
    assert tables["filter"]["KUBE-EXTERNAL-SERVICES"] == [
        f"{comment} -m tcp -p tcp -d 192.0.2.10 --dport 80 -j REJECT",
        f"{comment} -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT",
    ]
    assert tables["nat"]["KUBE-SERVICES"] == [NODEPORTS_TAIL]
    assert tables["nat"]["KUBE-NODEPORTS"] == []
    assert result.active_nat_chains == set()


def test_serving_terminating_endpoints_are_the_fallback_when_none_is_ready():
    draining = make_endpoint("10.180.0.1", ready=False, serving=True, terminating=True)
    gone = make_endpoint("10.180.0.2", ready=False, serving=False, terminating=True)
    _, tables = build([make_service()], [make_slice(endpoints=[draining, gone])])
    assert tables["nat"][SVC][1:] == [f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j {SEP1}']


def test_ready_endpoints_win_over_terminating_ones():
    draining = make_endpoint("10.180.0.1", ready=False, serving=True, terminating=True)
    _, tables = build([make_service()], [make_slice(endpoints=[draining, make_endpoint("10.180.0.2")])])
    assert tables["nat"][SVC][1:] == [f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j {SEP2}']


def test_stale_service_chains_are_flushed_and_deleted_and_foreign_chains_left_alone():
    old_svc = chains.cluster_policy_chain("ns1/gone:p80", "tcp")
    old_sep = chains.endpoint_chain("ns1/gone:p80", "tcp", "10.180.9.9:80")
    existing = {
        SVC,
        SEP1,
        SEP2,
        old_svc,
        old_sep,
        "KUBE-SERVICES",
        "KUBE-KUBELET-CANARY",
        "CNI-HOSTPORT-DNAT",
    }
    result, tables = build([make_service()], [two_endpoints()], existing_nat_chains=existing)
    assert result.deleted_chains == sorted([old_sep, old_svc])
    assert tables["nat"]["-X"] == sorted([old_sep, old_svc])
    assert tables["nat"][old_svc] == [] and tables["nat"][old_sep] == []  # declared, hence flushed first
    assert "KUBE-KUBELET-CANARY" not in tables["nat"]


def test_partial_sync_leaves_unchanged_services_chains_out_but_keeps_their_entry_rules():
    services = [make_service(), make_service("svc2", cluster_ip="172.30.0.42")]
    slices = [two_endpoints(), make_slice("svc2", [make_endpoint("10.180.0.3")])]
    full, _ = build(services, slices)
    partial, tables = build(services, slices, unchanged={"ns1/svc1"})
    nat = tables["nat"]
    assert SVC not in nat and SEP1 not in nat and SEP2 not in nat
    svc2 = chains.cluster_policy_chain("ns1/svc2:p80", "tcp")
    assert svc2 in nat
    assert [rule.split(" -j ")[-1] for rule in nat["KUBE-SERVICES"]] == [SVC, svc2, "KUBE-NODEPORTS"]
    assert partial.active_nat_chains == full.active_nat_chains
    assert partial.rule_counts == full.rule_counts


def test_missing_jump_rules_are_inserted_at_the_top_of_builtin_chains():
    _, tables = build([], [], missing_jumps=[j for j in JUMPS if j.chain in ("PREROUTING", "OUTPUT")])
    assert tables["nat"]["-I"] == [
        'OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        'PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]
    assert tables["filter"]["-I"] == [
        'OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        'OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
    ]


def test_nodeport_addresses_limit_the_nodeports_jump_to_those_ips():
    options = RuleOptions(nodeport_ips=("10.252.1.1", "127.0.0.1"), localhost_nodeports=False)
    _, tables = build([], [], options)
    assert tables["nat"]["KUBE-SERVICES"] == [
        '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" '
        "-d 10.252.1.1 -j KUBE-NODEPORTS"
    ]


def test_udp_and_unnamed_ports():
    service = make_service("dns", cluster_ip="172.30.0.10", ports=[{"port": 53, "protocol": "UDP"}])
    endpoints = make_slice("dns", [make_endpoint("10.180.0.5")], ports=[{"port": 5353, "protocol": "UDP"}])
    _, tables = build([service], [endpoints])
    svc = chains.cluster_policy_chain("ns1/dns", "udp")
    sep = chains.endpoint_chain("ns1/dns", "udp", "10.180.0.5:5353")
    assert tables["nat"]["KUBE-SERVICES"][0] == (
        f'-m comment --comment "ns1/dns cluster IP" -m udp -p udp -d 172.30.0.10 --dport 53 -j {svc}'
    )
    assert (
        tables["nat"][sep][1]
        == '-m comment --comment "ns1/dns" -m udp -p udp -j DNAT --to-destination 10.180.0.5:5353'
    )


@pytest.mark.parametrize(
    "service",
    [
        pytest.param(make_service(cluster_ip="None"), id="headless"),
        pytest.param(
            make_service(cluster_ip="", type="ExternalName", externalName="example.org"), id="externalname"
        ),
        pytest.param(make_service(cluster_ip="fd00::10"), id="ipv6-only"),
    ],
)
def test_services_without_an_ipv4_virtual_ip_get_no_rules(service):
    result, tables = build([service], [two_endpoints()])
    assert tables["nat"]["KUBE-SERVICES"] == [NODEPORTS_TAIL]
    assert result.active_nat_chains == set()
