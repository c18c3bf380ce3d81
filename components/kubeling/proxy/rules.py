"""The whole ``iptables-restore --noflush`` input of one sync, built in memory (pure).

Layout, as upstream's iptables proxier writes it::

    *filter   KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS,
              KUBE-PROXY-FIREWALL (each flushed by its ":CHAIN" line, then refilled):
              REJECT (no endpoints) or DROP (no local endpoints) for service VIPs
    *nat      KUBE-SERVICES  -> KUBE-SVC-* (ClusterIP), KUBE-EXT-* (externalIPs, LB IPs)
                             -> KUBE-NODEPORTS (last rule) -> KUBE-EXT-*
              KUBE-EXT-*     -> masquerade, then KUBE-SVC-* (Cluster) / KUBE-SVL-* (Local)
              KUBE-SVC/SVL-* -> KUBE-SEP-* by "-m statistic --probability 1/n" (and "-m recent")
              KUBE-SEP-*     -> hairpin masquerade, DNAT to ip:port
              KUBE-MARK-MASQ sets the mark; KUBE-POSTROUTING masquerades marked packets

Builtin chains are never flushed: jump rules missing from them are inserted
at the top (``-I CHAIN 1``).  A partial sync leaves the per-service chains of
unchanged services out of the text (with ``--noflush`` they stay as they
are) while KUBE-SERVICES and friends are always rewritten whole.  Service
chains found in the table but no longer wanted are flushed and deleted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kubeling.proxy import chains
from kubeling.proxy.servicemodel import Endpoint, ServicePort, ServicePortName, categorize


@dataclass(frozen=True)
class JumpRule:
    """A rule kube-proxy keeps at the top of a builtin chain, jumping to one of its own."""

    table: str
    chain: str
    target: str
    comment: str
    match: tuple[str, ...] = ()
    misplaced: bool = field(default=False, compare=False)  # present, but below another's rule

    def spec(self) -> str:
        return " ".join([*self.match, "-m", "comment", "--comment", f'"{self.comment}"', "-j", self.target])


_NEW = ("-m", "conntrack", "--ctstate", "NEW")
JUMPS: tuple[JumpRule, ...] = (
    JumpRule(
        "filter", "INPUT", chains.EXTERNAL_SERVICES, "kubernetes externally-visible service portals", _NEW
    ),
    JumpRule(
        "filter", "FORWARD", chains.EXTERNAL_SERVICES, "kubernetes externally-visible service portals", _NEW
    ),
    JumpRule("filter", "INPUT", chains.NODEPORTS, "kubernetes health check service ports"),
    JumpRule("filter", "FORWARD", chains.SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "OUTPUT", chains.SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "FORWARD", chains.FORWARD, "kubernetes forwarding rules"),
    JumpRule("filter", "INPUT", chains.PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "OUTPUT", chains.PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "FORWARD", chains.PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("nat", "OUTPUT", chains.SERVICES, "kubernetes service portals"),
    JumpRule("nat", "PREROUTING", chains.SERVICES, "kubernetes service portals"),
    JumpRule("nat", "POSTROUTING", chains.POSTROUTING, "kubernetes postrouting rules"),
)


@dataclass(frozen=True)
class RuleOptions:
    cluster_cidr: str = ""  # "" : no local-traffic detection (no masquerade of off-cluster sources)
    masquerade_all: bool = False
    masquerade_mark: str = "0x4000"
    nodeport_ips: tuple[str, ...] | None = None  # None: NodePorts on every local address
    localhost_nodeports: bool = True


@dataclass
class RuleSet:
    text: str
    active_nat_chains: set[str]
    rule_counts: dict[str, int]  # table -> rules it holds after this sync (unchanged chains included)
    deleted_chains: list[str]
    no_local_endpoints: dict[str, int] = field(default_factory=lambda: {"internal": 0, "external": 0})


class _Buffer:
    """Lines of one table; ``rules`` counts the ``-A`` lines written."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.rules = 0

    def chain(self, name: str) -> None:
        self.lines.append(f":{name} - [0:0]")

    def rule(self, *parts: str) -> None:
        self.lines.append(" ".join(parts))
        self.rules += 1


def _comment(text: str) -> tuple[str, str, str, str]:
    return ("-m", "comment", "--comment", f'"{text}"')


def build_rules(
    services: Mapping[ServicePortName, ServicePort],
    endpoints: Mapping[ServicePortName, Sequence[Endpoint]],
    options: RuleOptions,
    *,
    existing_nat_chains: Iterable[str] | None = None,
    unchanged: Collection[str] = (),
    missing_jumps: Iterable[JumpRule] = (),
) -> RuleSet:
    """The restore text for ``services`` and their ``endpoints``.

    ``unchanged`` holds ``namespace/name`` of services whose chains are already
    right in the kernel (a partial sync leaves them out); ``existing_nat_chains``
    (from ``iptables-save``) lets stale service chains be deleted.
    """
    filter_chains, filter_rules = _Buffer(), _Buffer()
    nat_chains, nat_rules = _Buffer(), _Buffer()
    skipped_chains, skipped_rules = _Buffer(), _Buffer()  # counted, not written
    for name in chains.FILTER_CHAINS:
        filter_chains.chain(name)
    for name in chains.NAT_CHAINS:
        nat_chains.chain(name)
    mark = f"{options.masquerade_mark}/{options.masquerade_mark}"
    nat_rules.rule("-A", chains.POSTROUTING, "-m", "mark", "!", "--mark", mark, "-j", "RETURN")
    nat_rules.rule("-A", chains.POSTROUTING, "-j", "MARK", "--xor-mark", options.masquerade_mark)
    nat_rules.rule(
        "-A", chains.POSTROUTING, *_comment("kubernetes service traffic requiring SNAT"),
        "-j", "MASQUERADE", "--random-fully",
    )  # fmt: skip
    nat_rules.rule("-A", chains.MARK_MASQ, "-j", "MARK", "--or-mark", options.masquerade_mark)
    filter_rules.rule("-A", chains.FORWARD, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
    filter_rules.rule(
        "-A", chains.FORWARD, *_comment("kubernetes forwarding rules"),
        "-m", "mark", "--mark", mark, "-j", "ACCEPT",
    )  # fmt: skip
    filter_rules.rule(
        "-A", chains.FORWARD, *_comment("kubernetes forwarding conntrack rule"),
        "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT",
    )  # fmt: skip

    active: set[str] = set()
    no_local = {"internal": 0, "external": 0}
    for key in sorted(services):
        service = services[key]
        own_chains, own_rules = nat_chains, nat_rules
        if service.name.namespaced_name in unchanged:
            own_chains, own_rules = skipped_chains, skipped_rules
        _write_service(
            service,
            list(endpoints.get(key, ())),
            options,
            shared_nat=nat_rules,
            shared_filter=filter_rules,
            own_chains=own_chains,
            own_rules=own_rules,
            active=active,
            no_local=no_local,
        )

    _write_nodeports_tail(nat_rules, options)

    deleted: list[str] = []
    for chain in sorted(set(existing_nat_chains or ()) - active):
        if chains.is_service_chain(chain):
            nat_chains.chain(chain)  # flushes it, so it can be deleted
            nat_rules.lines.append(f"-X {chain}")
            deleted.append(chain)

    jumps = {"filter": [], "nat": []}  # type: dict[str, list[str]]
    for jump in missing_jumps:
        if jump.misplaced:
            jumps[jump.table].append(f"-D {jump.chain} {jump.spec()}")
        jumps[jump.table].append(f"-I {jump.chain} 1 {jump.spec()}")
    text = "\n".join(
        [
            "*filter",
            *filter_chains.lines,
            *jumps["filter"],
            *filter_rules.lines,
            "COMMIT",
            "*nat",
            *nat_chains.lines,
            *jumps["nat"],
            *nat_rules.lines,
            "COMMIT",
            "",
        ]
    )
    return RuleSet(
        text=text,
        active_nat_chains=active,
        rule_counts={"filter": filter_rules.rules, "nat": nat_rules.rules + skipped_rules.rules},
        deleted_chains=deleted,
        no_local_endpoints=no_local,
    )


def _write_service(
    service: ServicePort,
    endpoints: list[Endpoint],
    options: RuleOptions,
    *,
    shared_nat: _Buffer,
    shared_filter: _Buffer,
    own_chains: _Buffer,
    own_rules: _Buffer,
    active: set[str],
    no_local: dict[str, int],
) -> None:
    name, proto = str(service.name), service.protocol
    match = ("-m", proto, "-p", proto)
    picked = categorize(service, endpoints)
    has_endpoints = picked.has_any
    cluster_chain, local_chain = service.cluster_chain, service.local_chain
    uses_cluster_chain = bool(picked.cluster) and service.uses_cluster_endpoints
    uses_local_chain = bool(picked.local) and service.uses_local_endpoints

    internal_chain, has_internal = cluster_chain, has_endpoints
    if service.internal_policy_local:
        internal_chain, has_internal = local_chain, bool(picked.local)
    external_policy_chain, has_external = cluster_chain, has_endpoints
    if service.external_policy_local:
        external_policy_chain, has_external = local_chain, bool(picked.local)
    external_chain = service.external_chain if service.externally_accessible else cluster_chain

    # What the filter table does with traffic that finds no endpoint.
    if not has_endpoints:
        internal_target = external_target = "REJECT"
        internal_comment = external_comment = f"{name} has no endpoints"
    else:
        internal_target = external_target = "DROP"
        internal_comment = external_comment = f"{name} has no local endpoints"
        no_local["internal"] += not has_internal
        no_local["external"] += not has_external and service.externally_accessible

    # ClusterIP.
    vip = ("-d", service.cluster_ip, "--dport", str(service.port))
    if has_internal:
        if options.masquerade_all:
            own_rules.rule(
                "-A", internal_chain, *_comment(f"{name} cluster IP"), *match, *vip, "-j", chains.MARK_MASQ
            )
        elif options.cluster_cidr:
            # Off-cluster sources routed to a service IP may bounce to another node: masquerade them.
            own_rules.rule(
                "-A", internal_chain, *_comment(f"{name} cluster IP"), *match, *vip,
                "!", "-s", options.cluster_cidr, "-j", chains.MARK_MASQ,
            )  # fmt: skip
        shared_nat.rule(
            "-A", chains.SERVICES, *_comment(f"{name} cluster IP"), *match, *vip, "-j", internal_chain
        )
    else:
        shared_filter.rule(
            "-A", chains.SERVICES, *_comment(internal_comment), *match, *vip, "-j", internal_target
        )  # fmt: skip

    # externalIPs and load-balancer IPs.
    for kind, addresses in (
        ("external IP", service.external_ips),
        ("loadbalancer IP", service.load_balancer_ips),
    ):
        for address in addresses:
            dest = ("-d", address, "--dport", str(service.port))
            if has_endpoints:
                shared_nat.rule(
                    "-A", chains.SERVICES, *_comment(f"{name} {kind}"), *match, *dest, "-j", external_chain
                )
            if not has_external:
                shared_filter.rule(
                    "-A", chains.EXTERNAL_SERVICES, *_comment(external_comment), *match, *dest,
                    "-j", external_target,
                )  # fmt: skip

    # NodePort.
    if service.node_port:
        dport = ("--dport", str(service.node_port))
        if has_endpoints:
            shared_nat.rule("-A", chains.NODEPORTS, *_comment(name), *match, *dport, "-j", external_chain)
        if not has_external:
            shared_filter.rule(
                "-A", chains.EXTERNAL_SERVICES, *_comment(external_comment),
                "-m", "addrtype", "--dst-type", "LOCAL", *match, *dport, "-j", external_target,
            )  # fmt: skip

    # The external chain: masquerade as the policy needs, then on to the policy chain.
    if service.externally_accessible and has_endpoints:
        own_chains.chain(external_chain)
        active.add(external_chain)
        if not service.external_policy_local:
            # Endpoints may be on other nodes: masquerade so replies come back through this one.
            own_rules.rule(
                "-A", external_chain, *_comment(f"masquerade traffic for {name} external destinations"),
                "-j", chains.MARK_MASQ,
            )  # fmt: skip
        else:
            if options.cluster_cidr:
                # Pods reaching an external address go "out and back in": no policy applies.
                own_rules.rule(
                    "-A", external_chain, *_comment(f"pod traffic for {name} external destinations"),
                    "-s", options.cluster_cidr, "-j", cluster_chain,
                )  # fmt: skip
            # The node itself: its source is a local address, so it needs masquerade and any endpoint.
            own_rules.rule(
                "-A", external_chain, *_comment(f"masquerade LOCAL traffic for {name} external destinations"),
                "-m", "addrtype", "--src-type", "LOCAL", "-j", chains.MARK_MASQ,
            )  # fmt: skip
            own_rules.rule(
                "-A", external_chain, *_comment(f"route LOCAL traffic for {name} external destinations"),
                "-m", "addrtype", "--src-type", "LOCAL", "-j", cluster_chain,
            )  # fmt: skip
        if has_external:
            own_rules.rule("-A", external_chain, "-j", external_policy_chain)

    # Policy chains and endpoint chains.
    if uses_cluster_chain:
        own_chains.chain(cluster_chain)
        active.add(cluster_chain)
        _write_balancing(own_rules, service, cluster_chain, picked.cluster)
    if uses_local_chain:
        own_chains.chain(local_chain)
        active.add(local_chain)
        _write_balancing(own_rules, service, local_chain, picked.local)
    for endpoint in picked.reachable:
        chain = endpoint.chain(service)
        own_chains.chain(chain)
        active.add(chain)
        # Hairpin: an endpoint reaching its own service must see the reply come back through NAT.
        own_rules.rule("-A", chain, *_comment(name), "-s", endpoint.ip, "-j", chains.MARK_MASQ)
        affinity = ("-m", "recent", "--name", chain, "--set") if service.affinity_seconds else ()
        own_rules.rule(
            "-A", chain, *_comment(name), *affinity, *match, "-j", "DNAT", "--to-destination", str(endpoint)
        )  # fmt: skip


def probability(remaining: int) -> str:
    return f"{1.0 / remaining:0.10f}"


def _write_balancing(rules: _Buffer, service: ServicePort, chain: str, endpoints: list[Endpoint]) -> None:
    name = str(service.name)
    if service.affinity_seconds:
        # A client seen recently goes back to the endpoint it had.
        for endpoint in endpoints:
            sep = endpoint.chain(service)
            rules.rule(
                "-A", chain, *_comment(f"{name} -> {endpoint}"), "-m", "recent", "--name", sep,
                "--rcheck", "--seconds", str(service.affinity_seconds), "--reap", "-j", sep,
            )  # fmt: skip
    for index, endpoint in enumerate(endpoints):
        remaining = len(endpoints) - index
        pick = ("-m", "statistic", "--mode", "random", "--probability", probability(remaining))
        rules.rule(
            "-A", chain, *_comment(f"{name} -> {endpoint}"), *(pick if remaining > 1 else ()),
            "-j", endpoint.chain(service),
        )  # fmt: skip


def _write_nodeports_tail(nat: _Buffer, options: RuleOptions) -> None:
    comment = _comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
    if options.nodeport_ips is None:
        local_only = ("-m", "addrtype", "--dst-type", "LOCAL")
        if not options.localhost_nodeports:
            local_only += ("!", "-d", "127.0.0.0/8")
        nat.rule("-A", chains.SERVICES, *comment, *local_only, "-j", chains.NODEPORTS)
        return
    for ip in options.nodeport_ips:
        if ip.startswith("127.") and not options.localhost_nodeports:
            continue
        nat.rule("-A", chains.SERVICES, *comment, "-d", ip, "-j", chains.NODEPORTS)
