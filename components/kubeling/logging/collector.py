"""``kubeling log-collector``: tail every container log on this node and ship it to the log store.

One task, one batch in flight, in this order, again and again:

1. every ``--scan-interval``: list ``--container-log-dir``; new links start a
   :class:`~kubeling.logging.files.ContainerLog` (at the offset the positions
   file has for the file's identity, else at 0; a partly read rotated
   ``<target>.1`` is finished first), known ones follow their link
   (rotation, truncation), vanished ones are finished and dropped;
2. read up to ``--batch-lines``/``--batch-bytes`` of complete lines, taking
   from every container in turn;
3. ship them (retried until acknowledged, :mod:`~kubeling.logging.shipper`);
4. only then move the offsets and write the positions file.

Cancelled anywhere (a crash, SIGTERM), the positions file still names what
the store has for certain; the lines of a batch in flight are sent again on
restart, and the store drops the ids it already has.

Containers of other nodes (a lab whose nodes share one host and one Docker
Engine, telling their containers apart by the ``io.kubeling.node`` label)
are skipped: that label is read from the container's ``config.v2.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeling.client.informer import Informer
from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.health import HealthServer
from kubeling.logging.config import CollectorConfig
from kubeling.logging.files import ContainerLog, Line, TailedFile
from kubeling.logging.metadata import PodMetadata
from kubeling.logging.positions import Positions
from kubeling.logging.records import ContainerRef, format_time, parse_line, parse_link_name
from kubeling.logging.shipper import Shipper

log = logging.getLogger(__name__)

PODS = StaticResource("", "v1", "pods")
NODE_LABEL = "io.kubeling.node"  # kubelet.NODE_LABEL; read from Docker's files, not imported


@dataclass
class Batch:
    items: list[dict[str, Any]] = field(default_factory=list)
    ends: dict[str, tuple[TailedFile, int]] = field(default_factory=dict)  # identity -> (file, new offset)


class Collector:
    def __init__(
        self, config: CollectorConfig, client: RESTClient, *, shipper: Shipper | None = None
    ) -> None:
        self.config = config
        self.client = client
        self.shipper = shipper or Shipper(client)
        self.positions = Positions(config.positions_file)
        self.metadata = PodMetadata(retention=config.metadata_retention)
        self.informer = Informer(client, PODS, field_selector=f"spec.nodeName={config.node_name}")
        self.informer.add_event_handler(
            on_add=self.metadata.upsert, on_update=self.metadata.on_update, on_delete=self.metadata.delete
        )
        self.containers: dict[str, ContainerLog] = {}  # link name -> its chain
        self._owners: dict[str, str | None] = {}
        self._last_scan = 0.0
        self._cursor = 0
        self.shipped_lines = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        informer = asyncio.create_task(self.informer.run(), name="log-collector-pods")
        try:
            while not self.informer.has_synced():
                if informer.done():
                    informer.result()
                await asyncio.sleep(0.1)
            self.positions.load()
            await self.loop()
        finally:
            self.informer.stop()
            informer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await informer
            self.close()

    async def loop(self) -> None:
        while True:
            await self.step()

    async def step(self) -> int:
        """One round: scan when due, read, ship, commit; sleeps when there was nothing; lines shipped."""
        now = time.monotonic()
        if now - self._last_scan >= self.config.scan_interval:
            self.scan(now)
            self._last_scan = now
        batch = self.gather(now)
        if not batch.items:
            await asyncio.sleep(self.config.poll_interval)
            return 0
        await self.shipper.ship(batch.items)
        self.commit(batch)
        self.shipped_lines += len(batch.items)
        return len(batch.items)

    def close(self) -> None:
        for container in self.containers.values():
            container.close()
        self.containers.clear()

    # -- discovery ---------------------------------------------------------------------------

    def _committed(self) -> dict[str, int]:
        return {identity: entry.offset for identity, entry in self.positions.entries.items()}

    def owner(self, container_id: str) -> str | None:
        """The node a container's labels name (None when unknown), cached per container."""
        if container_id not in self._owners:
            path = os.path.join(self.config.docker_containers_dir, container_id, "config.v2.json")
            try:
                with open(path, "rb") as config:
                    labels = (orjson.loads(config.read()).get("Config") or {}).get("Labels") or {}
                self._owners[container_id] = labels.get(NODE_LABEL)
            except (OSError, ValueError, AttributeError):
                return None  # not cached: the file may not be readable yet
        return self._owners[container_id]

    def scan(self, now: float) -> None:
        committed = self._committed()
        try:
            entries = {e.name: e.path for e in os.scandir(self.config.container_log_dir)}
        except OSError as exc:
            log.warning("cannot list %s: %s", self.config.container_log_dir, exc)
            entries = {}
        for name, link in entries.items():
            ref = parse_link_name(name)
            if ref is None:
                continue
            container = self.containers.get(name)
            try:
                target = os.path.realpath(link)
            except OSError:
                continue
            if container is None:
                owner = self.owner(ref.container_id)
                if owner is not None and owner != self.config.node_name:
                    continue
                container = self._start(name, ref, link, target, committed, now)
                if container is None:
                    continue
            container.follow(target, committed)
        for name, container in self.containers.items():
            if name not in entries:
                container.gone = True
        self._retire()
        self.metadata.prune()

    def _start(
        self, name: str, ref: ContainerRef, link: str, target: str, committed: dict[str, int], now: float
    ) -> ContainerLog | None:
        if not os.path.exists(target):
            return None
        container = ContainerLog(ref, link, first_seen=now)
        rotated = TailedFile.open(target + ".1", ref.container_id, committed)
        if rotated is not None and rotated.identity in committed and not rotated.at_end():
            container.files.append(rotated)  # rotated while we were away: finish it first
        elif rotated is not None:
            rotated.close()
        self.containers[name] = container
        return container

    def _retire(self) -> None:
        for name, container in list(self.containers.items()):
            for finished in container.retire_finished():
                self.positions.forget(finished.identity)
            if container.gone and not container.files:
                del self.containers[name]
        open_identities = {f.identity for c in self.containers.values() for f in c.files}
        for identity in list(self.positions.entries):
            if identity not in open_identities:
                self.positions.forget(identity)

    # -- reading -----------------------------------------------------------------------------

    def gather(self, now: float) -> Batch:
        batch = Batch()
        budget_lines, budget_bytes = self.config.batch_lines, self.config.batch_bytes
        names = list(self.containers)
        if not names:
            return batch
        self._cursor %= len(names)
        order = names[self._cursor :] + names[: self._cursor]
        self._cursor += 1
        share = max(budget_bytes // len(order), 4096)
        for name in order:
            if budget_lines <= 0 or budget_bytes <= 0:
                break
            container = self.containers[name]
            head = container.head
            if head is None or head.at_end():
                continue
            ref = container.ref
            pod = self.metadata.lookup(ref.namespace, ref.pod)
            if pod is None and now - container.first_seen < self.config.unknown_pod_wait:
                continue  # the informer may not have seen the pod yet: wait for its labels
            try:
                lines = head.read(min(share, budget_bytes))[:budget_lines]
            except OSError as exc:
                log.warning("reading %s: %s", head.path, exc)
                continue
            if not lines:
                continue
            wall = time.time_ns()
            for line in lines:
                batch.items.append(self._item(line, ref, pod, wall))
            batch.ends[head.identity] = (head, lines[-1].end)
            budget_lines -= len(lines)
            budget_bytes -= lines[-1].end - lines[0].offset
        return batch

    def _item(self, line: Line, ref: ContainerRef, pod: Any, wall_ns: int) -> dict[str, Any]:
        record = parse_line(line.raw, wall_ns)
        return {
            "id": line.id,
            "time": format_time(record.time_ns),
            "stream": record.stream,
            "log": record.text,
            "namespace": ref.namespace,
            "pod": ref.pod,
            "container": ref.container,
            "containerID": f"docker://{ref.container_id}",
            "node": self.config.node_name,
            "podUID": pod.uid if pod is not None else "",
            "labels": dict(pod.labels) if pod is not None else {},
        }

    def commit(self, batch: Batch) -> None:
        """The store has the batch: move offsets, then persist them."""
        for identity, (tailed, end) in batch.ends.items():
            tailed.offset = end
            self.positions.set(identity, tailed.path, end)
        self.positions.save()


async def run(config: CollectorConfig) -> None:
    """``kubeling log-collector``: ship until cancelled."""
    try:
        client_config = load_config(config.kubeconfig or None)
    except ConfigError as exc:
        raise SystemExit(f"kubeling log-collector: {exc}") from None
    client = RESTClient(client_config, component="log-collector")
    collector = Collector(config, client)
    health = HealthServer(bind_address=config.bind_address, port=config.health_port)
    try:
        try:
            await health.start()
        except OSError as exc:
            raise SystemExit(f"kubeling log-collector: cannot serve health checks: {exc}") from None
        await collector.run()
    finally:
        await health.stop()
        with contextlib.suppress(Exception):
            await client.close()
