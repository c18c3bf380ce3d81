"""``kubeling proxy``: the process — informers, the proxier's runner, the HTTP servers.

Three informers feed the proxier: Services and EndpointSlices (both minus
those labelled for another proxy or headless, as upstream) and this node's
own Node (eligibility for ``/healthz``, addresses for
``nodePortAddresses: [primary]``).  The first sync waits until Services and
EndpointSlices are listed, so a restart never programs an empty table over
working rules.  Everything acts on the network namespace the process runs in.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from kubeling.client.informer import Informer
from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.proxy.config import ProxyConfig
from kubeling.proxy.healthz import HTTPServerError, HTTPServers
from kubeling.proxy.proxier import Proxier, ProxierOptions
from kubeling.proxy.servicemodel import LABEL_SELECTOR

log = logging.getLogger(__name__)

SERVICES = StaticResource("", "v1", "services")
ENDPOINT_SLICES = StaticResource("discovery.k8s.io", "v1", "endpointslices")
NODES = StaticResource("", "v1", "nodes", namespaced=False)
ROUTE_LOCALNET = Path("/proc/sys/net/ipv4/conf/all/route_localnet")


def proxier_options(config: ProxyConfig) -> ProxierOptions:
    return ProxierOptions(
        node_name=config.node_name,
        cluster_cidr=config.ipv4_cluster_cidr,
        masquerade_all=config.masquerade_all,
        masquerade_mark=config.masquerade_mark,
        nodeport_addresses=list(config.nodeport_addresses),
        localhost_nodeports=config.localhost_nodeports,
        min_sync_period=config.iptables_min_sync_period,
        sync_period=config.iptables_sync_period,
    )


def _allow_localhost_nodeports() -> None:
    # NodePorts on 127.0.0.1 are DNATed off the loopback: the kernel drops that unless route_localnet is on.
    try:
        if ROUTE_LOCALNET.read_text().strip() != "1":
            ROUTE_LOCALNET.write_text("1")
    except OSError as exc:
        log.warning("cannot set %s (localhost NodePorts will not work): %s", ROUTE_LOCALNET, exc.strerror)


def wire(proxier: Proxier, client: RESTClient, node_name: str) -> list[Informer]:
    """The informers, with the proxier's handlers attached."""
    services = Informer(client, SERVICES, label_selector=LABEL_SELECTOR)
    services.add_event_handler(
        on_add=proxier.on_service,
        on_update=lambda old, new: proxier.on_service(new),
        on_delete=proxier.on_service_delete,
    )
    slices = Informer(client, ENDPOINT_SLICES, label_selector=LABEL_SELECTOR)
    slices.add_event_handler(
        on_add=proxier.on_slice,
        on_update=lambda old, new: proxier.on_slice(new),
        on_delete=proxier.on_slice_delete,
    )
    nodes = Informer(client, NODES, field_selector=f"metadata.name={node_name}")
    nodes.add_event_handler(
        on_add=proxier.on_node,
        on_update=lambda old, new: proxier.on_node(new),
        on_delete=lambda node: proxier.on_node(None),
    )
    return [services, slices, nodes]


async def run(config: ProxyConfig) -> None:
    try:
        client = RESTClient(load_config(config.kubeconfig), component="kube-proxy")
    except ConfigError as exc:
        raise SystemExit(f"kubeling proxy: {exc}") from None
    proxier = Proxier(proxier_options(config))
    if config.localhost_nodeports and not config.nodeport_addresses:
        _allow_localhost_nodeports()
    servers = HTTPServers(
        health=proxier.health,
        metrics_text=proxier.metrics.text,
        healthz_bind_address=config.healthz_bind_address,
        metrics_bind_address=config.metrics_bind_address,
        proxy_mode=config.proxy_mode,
    )
    informers = wire(proxier, client, config.node_name)
    tasks = [asyncio.create_task(informer.run()) for informer in informers]
    try:
        try:
            await servers.start()
        except HTTPServerError as exc:
            raise SystemExit(f"kubeling proxy: {exc}") from None
        log.info(
            "kube-proxy (iptables) for node %s: waiting for services and endpoint slices", config.node_name
        )
        await _until_synced(informers[:2], tasks)
        tasks.append(asyncio.create_task(proxier.run()))
        # A crashed informer or runner stops the process instead of leaving stale rules unnoticed.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await servers.stop()
        await client.close()


async def _until_synced(informers: list[Informer], tasks: list[asyncio.Task[None]]) -> None:
    waits = [asyncio.create_task(informer.wait_synced()) for informer in informers]
    try:
        while not all(w.done() for w in waits):
            await asyncio.wait([*waits, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done():
                    task.result()  # an informer died before syncing: surface why
    finally:
        for wait in waits:
            wait.cancel()
