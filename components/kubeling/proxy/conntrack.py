"""Flushing conntrack entries that would keep UDP traffic on a path that no longer exists.

UDP has no connection to close, so a client that keeps sending (DNS, say)
stays glued by conntrack to an endpoint that is gone, or to the REJECT of a
service that had no endpoints when it first sent.  After each successful
sync, as upstream, we delete:

- for a removed UDP endpoint: the flows NATed to it through the service's
  cluster IP, external and load-balancer IPs, and node port;
- for a UDP service port that just got its first endpoint: the flows to its
  IPs and node port that were never NATed (their reply comes from the
  address they were sent to: rejected, and cached as such).  Flows already
  NATed to an endpoint are kept: after a kube-proxy restart every service
  looks new, and flushing those would drop the answers of in-flight queries
  (a DNS lookup failed during a kube-proxy rollout).

:func:`stale_udp_deletions` computes the ``conntrack -D`` argument lists
(pure); :func:`delete` runs them, treating "0 flow entries" as success.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubeling.proxy.servicemodel import ServicePort, ServicePortName

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Programmed:
    """A service port as the last successful sync left it: its settings and endpoint IPs."""

    service: ServicePort
    endpoint_ips: frozenset[str]


def _service_filters(service: ServicePort) -> list[list[str]]:
    filters = [
        ["--orig-dst", ip] for ip in (service.cluster_ip, *service.external_ips, *service.load_balancer_ips)
    ]
    if service.node_port:
        filters.append(["--orig-port-dst", str(service.node_port)])
    return filters


def _unnatted_filters(service: ServicePort) -> list[list[str]]:
    """Flows to the service that no DNAT rewrote: the reply's source is the original destination."""
    filters = [
        ["--orig-dst", ip, "--reply-src", ip]
        for ip in (service.cluster_ip, *service.external_ips, *service.load_balancer_ips)
    ]
    if service.node_port:
        port = str(service.node_port)
        filters.append(["--orig-port-dst", port, "--reply-port-src", port])
    return filters


def stale_udp_deletions(
    previous: Mapping[ServicePortName, Programmed], current: Mapping[ServicePortName, Programmed]
) -> list[list[str]]:
    deletions: list[list[str]] = []
    for key in sorted(set(previous) | set(current)):
        if key.protocol != "UDP":
            continue
        before, after = previous.get(key), current.get(key)
        if before is not None:
            gone = before.endpoint_ips - (after.endpoint_ips if after else frozenset())
            for ip in sorted(gone):
                for match in _service_filters(before.service):
                    deletions.append(["-D", "-p", "udp", *match, "--dst-nat", ip])
        if after is not None and after.endpoint_ips and (before is None or not before.endpoint_ips):
            for match in _unnatted_filters(after.service):
                deletions.append(["-D", "-p", "udp", *match])
    return deletions


async def delete(deletions: Sequence[list[str]], *, prefix: Sequence[str] = ()) -> int:
    """Run the deletions; returns how many failed (logged, never raised: the next sync retries nothing)."""
    failures = 0
    for args in deletions:
        try:
            process = await asyncio.create_subprocess_exec(
                *prefix, "conntrack", *args,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            log.warning("cannot run conntrack: %s", exc.strerror)
            return len(deletions)
        _, err = await process.communicate()
        # Exit 1 with "0 flow entries" only means nothing matched.
        if process.returncode != 0 and b"0 flow entries" not in err:
            failures += 1
            log.warning("conntrack %s failed: %s", " ".join(args), err.decode().strip())
    return failures
