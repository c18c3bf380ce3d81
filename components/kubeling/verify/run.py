"""One verification run: API facts first, then every host and the workload checks at once.

The nodes' podCIDRs (what the route check expects) come from the API, so it
is asked first; host checks then run in one thread each (testinfra is
synchronous) while the workload pods run, and the lines are printed in a
fixed order: hosts in inventory order, then the cluster.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from kubeling.client.kubeconfig import ConfigError, load_kubeconfig
from kubeling.client.rest import RESTClient
from kubeling.kubelet.images import BUSYBOX_IMAGE
from kubeling.verify import cluster, hostchecks, layout, report, routes
from kubeling.verify.report import CLUSTER, CheckResult, failed
from kubeling.verify.targets import InventoryError, Target, connections, load_targets, open_host

DEFAULT_DOMAIN = "cluster.local"
CLUSTER_CHECKS = ("nodes-ready", "kube-system-pods", "dns", "service")


class VerifyError(Exception):
    """Bad input (inventory, kubeconfig): exit 2 with this message."""


@dataclass(frozen=True)
class VerifyOptions:
    inventory: Path
    kubeconfig: Path | None = None  # default: admin_kubeconfig_path(inventory)
    warn_days: int = 30
    image: str = BUSYBOX_IMAGE
    workload_timeout: float = 120.0


def admin_kubeconfig_path(inventory: Path, targets: Sequence[Target] = ()) -> Path:
    """Where install.py writes the admin kubeconfig: group data ``admin_kubeconfig``, else next to
    the inventory as ``<stem>.kubeconfig`` (``inventories/lab.py`` → ``inventories/lab.kubeconfig``)."""
    explicit = next((t.data["admin_kubeconfig"] for t in targets if t.data.get("admin_kubeconfig")), None)
    if explicit:
        return Path(str(explicit)).expanduser()
    return inventory.with_suffix(".kubeconfig")


@dataclass
class ClusterFacts:
    client: RESTClient | None
    results: list[CheckResult]
    networks: list[routes.PodNetwork] | None


async def _cluster_facts(kubeconfig: Path, targets: Sequence[Target]) -> ClusterFacts:
    if not kubeconfig.is_file():
        reason = f"no admin kubeconfig at {kubeconfig} (pass --kubeconfig)"
        return ClusterFacts(None, [failed(CLUSTER, c, reason) for c in CLUSTER_CHECKS], None)
    try:
        config = load_kubeconfig(kubeconfig)
    except ConfigError as exc:
        raise VerifyError(f"kubeconfig {kubeconfig}: {exc}") from None
    client = RESTClient(config, component="verify", max_retries=2, request_timeout=15.0)
    try:
        nodes = (await client.list(cluster.NODES)).get("items", [])
        pods = (await client.list(cluster.PODS, namespace="kube-system")).get("items", [])
    except Exception as exc:  # aiohttp, TLS, StatusError...: any failure here is the API's
        await client.close()
        reason = f"the API at {config.server} did not answer: {type(exc).__name__}: {exc}"
        return ClusterFacts(None, [failed(CLUSTER, c, reason) for c in CLUSTER_CHECKS], None)
    results = [cluster.check_nodes(nodes, targets), cluster.check_system_pods(pods)]
    return ClusterFacts(client, results, routes.pod_networks(nodes))


def _host_results(
    target: Target, control_dir: Path, facts: ClusterFacts, etcd_members: int, warn_days: int
) -> list[CheckResult]:
    try:
        host = open_host(target, control_dir)
    except Exception as exc:  # a backend that cannot even start is this host's failure
        return [failed(target.name, "ssh", f"{type(exc).__name__}: {exc}")]
    return hostchecks.check_host(
        host,
        target,
        networks=facts.networks,
        etcd_members=etcd_members,
        now=dt.datetime.now(dt.UTC),
        warn_days=warn_days,
    )


async def verify(options: VerifyOptions) -> list[CheckResult]:
    """All results, hosts in inventory order then the cluster's; raises VerifyError on bad input."""
    try:
        targets = load_targets(options.inventory)
    except InventoryError as exc:
        raise VerifyError(str(exc)) from None
    kubeconfig = options.kubeconfig or admin_kubeconfig_path(options.inventory, targets)
    if options.kubeconfig is not None and not options.kubeconfig.is_file():
        raise VerifyError(f"kubeconfig {options.kubeconfig} does not exist")
    facts = await _cluster_facts(kubeconfig, targets)
    etcd_members = sum(1 for t in targets if layout.ETCD in t.groups)
    domain = str(targets[0].data.get("cluster_domain") or DEFAULT_DOMAIN)
    with connections() as control_dir:
        host_runs = [
            asyncio.to_thread(_host_results, t, control_dir, facts, etcd_members, options.warn_days)
            for t in targets
        ]
        workloads = (
            cluster.check_workloads(
                facts.client, image=options.image, domain=domain, timeout=options.workload_timeout
            )
            if facts.client is not None
            else _nothing()
        )
        try:
            *per_host, workload_results = await asyncio.gather(*host_runs, workloads)
        finally:
            if facts.client is not None:
                await facts.client.close()
    return [r for results in per_host for r in results] + facts.results + list(workload_results)


async def _nothing() -> list[CheckResult]:
    return []


async def run(options: VerifyOptions, out: TextIO = sys.stdout) -> int:
    """Print one line per check and a summary; 0 when all passed, 1 when any failed, 2 on bad input."""
    try:
        results = await verify(options)
    except VerifyError as exc:
        print(f"kubeling verify: error: {exc}", file=sys.stderr)
        return 2
    for line in report.format_results(results):
        print(line, file=out)
    print(report.summary(results), file=out)
    return report.exit_status(results)
