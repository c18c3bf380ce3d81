"""The proxier's bookkeeping: which syncs are partial, what a failure does, health and metrics.

The iptables side is a recording fake here (the real one runs in the
integration tests, inside private network namespaces).
"""

from __future__ import annotations

import asyncio

from kubeling.proxy import chains
from kubeling.proxy.healthz import ProxierHealth
from kubeling.proxy.iptables import IPTablesError, SavedTable
from kubeling.proxy.proxier import Proxier, ProxierOptions
from tests.unit.proxy.builders import NODE, make_endpoint, make_service, make_slice, parse_restore


class RecordingIPTables:
    prefix: list[str] = []

    def __init__(self) -> None:
        self.restored: list[str] = []
        self.fail = False

    async def save(self) -> dict[str, SavedTable]:
        return {"nat": SavedTable(chains={"KUBE-SVC-STALESTALESTALE": "-"}), "filter": SavedTable()}

    async def restore(self, text: str) -> None:
        if self.fail:
            raise IPTablesError("iptables-restore failed (1): boom")
        self.restored.append(text)


def make_proxier() -> tuple[Proxier, RecordingIPTables]:
    fake = RecordingIPTables()
    return Proxier(ProxierOptions(node_name=NODE), iptables=fake), fake  # type: ignore[arg-type]


def service_chains(text: str) -> set[str]:
    return {c for c in parse_restore(text)["nat"] if c.startswith(("KUBE-SVC-", "KUBE-SEP-"))}


async def test_first_sync_is_full_then_only_changed_services_are_written():
    proxier, fake = make_proxier()
    for name, ip in (("a", "172.30.0.1"), ("b", "172.30.0.2")):
        proxier.on_service(make_service(name, cluster_ip=ip))
        proxier.on_slice(make_slice(name, [make_endpoint("10.180.0.1" if name == "a" else "10.180.0.2")]))
    first = await proxier.sync()
    assert first.ok and first.full
    assert len(service_chains(fake.restored[-1]) - {"KUBE-SVC-STALESTALESTALE"}) == 4
    assert "-X KUBE-SVC-STALESTALESTALE" in fake.restored[-1]

    proxier.on_slice(make_slice("b", [make_endpoint("10.180.0.3")]))
    second = await proxier.sync()
    assert second.ok and not second.full
    assert service_chains(fake.restored[-1]) == {  # b's chains only; a's stay as they are in the kernel
        chains.cluster_policy_chain("ns1/b:p80", "tcp"),
        chains.endpoint_chain("ns1/b:p80", "tcp", "10.180.0.3:80"),
        "KUBE-SVC-STALESTALESTALE",
    }
    assert sum(1 for r in parse_restore(fake.restored[-1])["nat"]["KUBE-SERVICES"] if "cluster IP" in r) == 2


async def test_unchanged_objects_do_not_ask_for_a_sync():
    proxier, _ = make_proxier()
    proxier.on_service(make_service())
    proxier.changed.clear()
    proxier.on_service(make_service())  # a resync or a status-only update
    assert proxier.changed == set()


async def test_a_failed_restore_keeps_the_changes_and_forces_a_full_sync():
    proxier, fake = make_proxier()
    await proxier.sync()
    proxier.on_service(make_service())
    fake.fail = True
    failed = await proxier.sync()
    assert not failed.ok and proxier.changed == {"ns1/svc1"} and proxier.need_full_sync
    assert proxier.metrics.restore_failures.values == {"": 1.0}
    fake.fail = False
    retried = await proxier.sync()
    assert retried.ok and retried.full and proxier.changed == set()


async def test_metrics_after_a_sync():
    proxier, _ = make_proxier()
    proxier.on_service(make_service())
    proxier.on_slice(make_slice(endpoints=[make_endpoint("10.180.0.1")]))
    await proxier.sync()
    text = proxier.metrics.text()
    assert "kubeproxy_sync_proxy_rules_duration_seconds_count 1" in text
    assert 'kubeproxy_sync_proxy_rules_iptables_total{table="nat"} 9' in text
    assert 'kubeproxy_sync_proxy_rules_iptables_total{table="filter"} 3' in text
    assert "kubeproxy_sync_proxy_rules_last_timestamp_seconds " in text


def test_health_fails_only_when_a_queued_change_waits_too_long():
    now = [1000.0]
    health = ProxierHealth(60.0, clock=lambda: now[0])
    assert health.healthy()
    health.queued_update()
    now[0] += 59
    assert health.healthy()
    now[0] += 2
    assert not health.healthy()
    health.updated()
    assert health.healthy()
    health.set_node({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})
    assert not health.node_eligible
    assert '"nodeEligible": false' in health.body()


async def test_runner_batches_changes_and_resyncs_partially_every_sync_period():
    fake = RecordingIPTables()
    options = ProxierOptions(node_name=NODE, min_sync_period=0.2, sync_period=1.0)
    proxier = Proxier(options, iptables=fake)  # type: ignore[arg-type]
    task = asyncio.create_task(proxier.run())
    try:
        await asyncio.sleep(0.05)
        assert proxier.syncs == 1  # the first sync runs at once
        for i in range(5):  # a burst of changes within min_sync_period: one more sync
            proxier.on_service(make_service(f"s{i}", cluster_ip=f"172.30.0.{i + 1}"))
        await asyncio.sleep(0.3)
        assert proxier.syncs == 2 and not proxier.changed
        await asyncio.sleep(1.1)  # nothing changes: the sync period still brings a (partial) sync
        assert proxier.syncs == 3
        assert (proxier.metrics.full_sync_duration.count, proxier.metrics.partial_sync_duration.count) == (
            1,
            2,
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
