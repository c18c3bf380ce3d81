"""The node agent: keeps this node's pod routes and FORWARD rules in step with the Nodes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kubeling.client.informer import Informer
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.hostgw.routes import ROUTE_PROTOCOL, desired_routes, parse_routes, plan
from kubeling.proxy.iptables import IPTables, IPTablesError

log = logging.getLogger(__name__)

NODES = StaticResource("", "v1", "nodes", namespaced=False)
FORWARD_CHAIN = "KUBELING-HOSTGW"
RESYNC_SECONDS = 30.0


class CommandError(RuntimeError):
    pass


async def run_command(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode:
        raise CommandError(f"{' '.join(argv)}: {err.decode().strip() or out.decode().strip()}")
    return out.decode()


def forward_rules(cluster_cidr: str) -> list[list[str]]:
    """Pod traffic in and out of the cluster's pod network is forwarded (Docker's policy is DROP)."""
    comment = ["-m", "comment", "--comment", "kubeling hostgw: pod network"]
    return [
        [FORWARD_CHAIN, "-s", cluster_cidr, *comment, "-j", "ACCEPT"],
        [FORWARD_CHAIN, "-d", cluster_cidr, *comment, "-j", "ACCEPT"],
    ]


def forward_restore_text(cluster_cidr: str) -> str:
    """The chain declared and filled in one ``iptables-restore --noflush`` transaction.

    Declaring an existing chain flushes it inside the same commit, so a restarted
    agent never leaves pod traffic without its ACCEPT, not even for a moment.
    """
    lines = ["*filter", f":{FORWARD_CHAIN} - [0:0]"]
    for rule in forward_rules(cluster_cidr):
        words = [f'"{word}"' if " " in word else word for word in rule]
        lines.append("-A " + " ".join(words))
    return "\n".join([*lines, "COMMIT", ""])


@dataclass
class HostGW:
    node_name: str
    cluster_cidr: str = ""

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self.nodes: Informer | None = None

    def wake(self, *_: object) -> None:
        self._wake.set()

    async def ensure_forwarding(self) -> None:
        if not self.cluster_cidr:
            return
        try:
            await IPTables().restore(forward_restore_text(self.cluster_cidr))
        except IPTablesError as exc:
            raise CommandError(str(exc)) from None
        try:
            await run_command("iptables", "-w", "5", "-C", "FORWARD", "-j", FORWARD_CHAIN)
        except CommandError:
            await run_command("iptables", "-w", "5", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)

    async def sync(self) -> None:
        assert self.nodes is not None
        desired = desired_routes(self.nodes.store.list(), self.node_name)
        current = parse_routes(await run_command("ip", "-4", "route", "show", "proto", ROUTE_PROTOCOL))
        changes = plan(current, desired)
        for cidr, gateway in changes.replace.items():
            log.info("route %s via %s", cidr, gateway)
            await run_command("ip", "route", "replace", cidr, "via", gateway, "proto", ROUTE_PROTOCOL)
        for cidr in changes.delete:
            log.info("route %s removed (its node is gone)", cidr)
            await run_command("ip", "route", "del", cidr, "proto", ROUTE_PROTOCOL)

    async def run(self, client: RESTClient) -> None:
        self.nodes = Informer(client, NODES)
        self.nodes.add_event_handler(on_add=self.wake, on_update=self.wake, on_delete=self.wake)
        informer = asyncio.create_task(self.nodes.run())
        try:
            await self.ensure_forwarding()
            await self.nodes.wait_synced()
            while True:
                self._wake.clear()
                try:
                    await self.sync()
                except CommandError as exc:
                    log.warning("route sync failed, retrying: %s", exc)
                if informer.done():
                    informer.result()  # surface why the informer stopped
                try:
                    await asyncio.wait_for(self._wake.wait(), RESYNC_SECONDS)
                except TimeoutError:
                    pass
        finally:
            informer.cancel()
            await asyncio.gather(informer, return_exceptions=True)


async def cleanup() -> None:
    """Remove every route and rule hostgw made on this node."""
    for cidr in parse_routes(await run_command("ip", "-4", "route", "show", "proto", ROUTE_PROTOCOL)):
        await run_command("ip", "route", "del", cidr, "proto", ROUTE_PROTOCOL)
    for argv in (
        ["-D", "FORWARD", "-j", FORWARD_CHAIN],
        ["-F", FORWARD_CHAIN],
        ["-X", FORWARD_CHAIN],
    ):
        try:
            await run_command("iptables", "-w", "5", *argv)
        except CommandError:
            pass
