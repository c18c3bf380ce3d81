"""Sending a batch to the log store until it is acknowledged.

The store is the aggregated API ``logging.kubeling.io/v1alpha1`` behind the
API server, so the collector needs only its in-cluster client: the API
server authenticates it, checks RBAC (create ``logs``) and proxies.  Every
failure (the store down, 503 while the APIService is unavailable, a timeout
after the store may have written) is retried with capped exponential back-off
and the same line ids: the store ignores ids it has, so a batch that did
land before its answer was lost is not stored twice.  Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from kubeling.api import errors
from kubeling.client.flowcontrol import backoff_delay
from kubeling.client.rest import RESTClient

log = logging.getLogger(__name__)

GROUP, VERSION = "logging.kubeling.io", "v1alpha1"
LOGS_PATH = f"/apis/{GROUP}/{VERSION}/logs"
BATCH_KIND = "LogBatch"


def batch_body(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": BATCH_KIND, "items": items}


class Shipper:
    def __init__(self, client: RESTClient, *, backoff_cap: float = 10.0, timeout: float = 30.0) -> None:
        self.client = client
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.batches = 0
        self.lines = 0
        self.failures = 0

    async def ship(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """POST the batch; returns the store's answer once it acknowledged (retries forever)."""
        attempt = 0
        while True:
            try:
                answer = await self.client.request(
                    "POST", LOGS_PATH, body=batch_body(items), timeout=self.timeout
                )
            except (errors.StatusError, OSError, TimeoutError, aiohttp.ClientError) as exc:
                self.failures += 1
                delay = backoff_delay(attempt, base=0.5, cap=self.backoff_cap)
                log.warning("shipping %d lines failed (%s); retry in %.1fs", len(items), exc, delay)
                await asyncio.sleep(delay)
                attempt += 1
                continue
            self.batches += 1
            self.lines += len(items)
            return answer
