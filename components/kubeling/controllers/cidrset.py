"""A bitmap over a cluster CIDR, handing out equal node-sized subnets.

The cluster range (say 10.244.0.0/16) is cut into ``2**(mask - prefix)``
subnets of ``/mask`` (say /24); bit *i* of an int says whether subnet *i* is
taken.  :meth:`CIDRSet.allocate_next` scans round-robin from just after the
last subnet it handed out, as upstream's cidrset does, so a released subnet
is not reused at once (a node that is re-created then gets a fresh range
while stale routes to the old one fade).  :meth:`CIDRSet.occupy` and
:meth:`CIDRSet.release` accept any CIDR overlapping the range and mark every
subnet it covers.  Pure: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Upstream refuses more than 2**16 subnets per range (clusterSubnetMaxDiff).
MAX_MASK_DIFF = 16


class CIDRSetError(ValueError):
    """The range cannot be cut as asked, or a CIDR does not belong to it."""


class CIDRRangeFull(CIDRSetError):
    """Every subnet of the range is taken."""


class CIDRSet:
    def __init__(self, cluster_cidr: str, mask_size: int) -> None:
        self.cluster: IPNetwork = ipaddress.ip_network(cluster_cidr, strict=False)
        prefix = self.cluster.prefixlen
        if mask_size < prefix:
            raise CIDRSetError(f"node mask /{mask_size} is larger than the cluster CIDR {self.cluster}")
        if mask_size > self.cluster.max_prefixlen:
            raise CIDRSetError(f"node mask /{mask_size} is too long for {self.cluster}")
        if mask_size - prefix > MAX_MASK_DIFF:
            raise CIDRSetError(
                f"subnet mask /{mask_size} cuts {self.cluster} into more than 2^{MAX_MASK_DIFF} subnets"
            )
        self.mask_size = mask_size
        self.max_cidrs = 1 << (mask_size - prefix)
        self._shift = self.cluster.max_prefixlen - mask_size
        self._used = 0  # bitmap
        self._count = 0
        self._next = 0

    @property
    def family(self) -> int:
        return self.cluster.version

    @property
    def allocated(self) -> int:
        return self._count

    def _subnet(self, index: int) -> str:
        base = int(self.cluster.network_address) + (index << self._shift)
        address = ipaddress.IPv4Address(base) if self.family == 4 else ipaddress.IPv6Address(base)
        return f"{address}/{self.mask_size}"

    def allocate_next(self) -> str:
        for step in range(self.max_cidrs):
            index = (self._next + step) % self.max_cidrs
            if not self._used >> index & 1:
                self._used |= 1 << index
                self._count += 1
                self._next = (index + 1) % self.max_cidrs
                return self._subnet(index)
        raise CIDRRangeFull(
            "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"
        )

    def _indices(self, cidr: str) -> range:
        """Subnet indices covered by ``cidr`` (clipped to the cluster range)."""
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise CIDRSetError(f"{cidr!r} is not a CIDR") from exc
        if network.version != self.family or not network.overlaps(self.cluster):
            raise CIDRSetError(f"{cidr} is outside the cluster CIDR {self.cluster}")
        base = int(self.cluster.network_address)
        first = max(int(network.network_address), base)
        last = min(int(network.broadcast_address), int(self.cluster.broadcast_address))
        return range((first - base) >> self._shift, ((last - base) >> self._shift) + 1)

    def occupy(self, cidr: str) -> None:
        for index in self._indices(cidr):
            if not self._used >> index & 1:
                self._used |= 1 << index
                self._count += 1

    def release(self, cidr: str) -> None:
        for index in self._indices(cidr):
            if self._used >> index & 1:
                self._used &= ~(1 << index)
                self._count -= 1

    def is_used(self, cidr: str) -> bool:
        return all(self._used >> index & 1 for index in self._indices(cidr))
