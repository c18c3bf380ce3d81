"""``kubeling controller-manager`` flags: upstream's names bound into typed ControllerOptions."""

from __future__ import annotations

from kubeling.cli import build_parser
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.cli import options_from_args


def test_flags_bind_into_options() -> None:
    args = build_parser().parse_args(
        [
            "controller-manager",
            "--node-eviction-rate=0.5",
            "--secondary-node-eviction-rate=0.05",
            "--large-cluster-size-threshold=10",
            "--unhealthy-zone-threshold=0.7",
            "--cluster-cidr=10.244.0.0/16,fd00:10::/48",
            "--node-cidr-mask-size-ipv6=80",
            "--max-endpoints-per-slice=20",
            "--resource-quota-sync-period=1m",
            "--terminated-pod-gc-threshold=100",
            "--concurrent-deployment-syncs=3",
        ]
    )
    options = options_from_args(args)
    assert (options.node_eviction_rate, options.secondary_node_eviction_rate) == (0.5, 0.05)
    assert (options.large_cluster_size_threshold, options.unhealthy_zone_threshold) == (10, 0.7)
    assert (options.cluster_cidr, options.node_cidr_mask_size_ipv6) == ("10.244.0.0/16,fd00:10::/48", 80)
    assert options.max_endpoints_per_slice == 20
    assert options.resource_quota_sync_period == 60.0
    assert options.terminated_pod_gc_threshold == 100
    assert options.concurrent_syncs == {"deployment": 3}
    assert options.extra == {}


def test_defaults_match_the_options_defaults() -> None:
    assert options_from_args(build_parser().parse_args(["controller-manager"])) == ControllerOptions()
