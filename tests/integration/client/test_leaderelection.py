"""Leader election against a real kubeling server: one leader, takeover, transitions, release."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from kubeling.client.kubeconfig import load_config
from kubeling.client.leaderelection import LeaderElector, RESTLeaseClient
from kubeling.client.rest import RESTClient
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

LEASE, RENEW, RETRY = 2.0, 1.5, 0.3
_names = itertools.count()


@dataclass
class Candidate:
    elector: LeaderElector
    task: asyncio.Task[None] | None = None
    started: int = 0
    stopped: int = 0
    leaders_seen: list[str] = field(default_factory=list)

    async def work(self) -> None:
        self.started += 1
        await asyncio.Event().wait()  # lead until cancelled

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run())

    async def kill(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def lease_client(server: KubelingServer) -> AsyncIterator[RESTLeaseClient]:
    client = RESTClient(load_config(server.kubeconfig))
    yield RESTLeaseClient(client)
    await client.close()


@pytest.fixture
async def make_candidate(lease_client: RESTLeaseClient) -> AsyncIterator[Callable[..., Candidate]]:
    lease_name = f"election-{next(_names)}-{int(time.time())}"
    made: list[Candidate] = []

    def make(identity: str, *, release_on_cancel: bool = True) -> Candidate:
        candidate: Candidate

        def stopped() -> None:
            candidate.stopped += 1

        elector = LeaderElector(
            lease_client,
            "default",
            lease_name,
            identity,
            lease_duration=LEASE,
            renew_deadline=RENEW,
            retry_period=RETRY,
            on_started_leading=lambda: candidate.work(),
            on_stopped_leading=stopped,
            on_new_leader=lambda who: candidate.leaders_seen.append(who),
            release_on_cancel=release_on_cancel,
        )
        candidate = Candidate(elector)
        made.append(candidate)
        return candidate

    yield make
    for candidate in made:
        if candidate.task is not None:
            await candidate.kill()


async def wait_for(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until predicate() held; fails the test after timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def leader_of(pair: list[Candidate], timeout: float = 5.0) -> tuple[Candidate, Candidate]:
    await wait_for(lambda: any(c.started for c in pair), timeout)
    leader = next(c for c in pair if c.started)
    return leader, next(c for c in pair if c is not leader)


async def test_exactly_one_of_two_leads(
    make_candidate: Callable[..., Candidate], lease_client: RESTLeaseClient
) -> None:
    pair = [make_candidate("a"), make_candidate("b")]
    for candidate in pair:
        candidate.start()
    leader, standby = await leader_of(pair)
    await asyncio.sleep(LEASE + 1.0)  # several renewals: the standby must never take over a live lease
    assert (leader.elector.is_leader(), standby.elector.is_leader()) == (True, False)
    assert (leader.started, standby.started) == (1, 0)
    assert standby.elector.get_leader() == leader.elector.identity
    lease = await lease_client.get_lease("default", leader.elector.name)
    assert lease is not None
    spec = lease["spec"]
    assert spec["holderIdentity"] == leader.elector.identity
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert spec["renewTime"] > spec["acquireTime"]  # renewed since acquired, acquireTime kept


@pytest.mark.parametrize(
    ("release_on_cancel", "min_wait", "max_wait"),
    [
        # A crashed leader leaves the lease held: the standby waits it out (~LEASE after the last renewal).
        pytest.param(False, LEASE - RETRY * 2.2 - 0.3, LEASE + RETRY * 2.2 + 0.5, id="killed-lease-expires"),
        # A leader shutting down cleanly clears the holder: the standby takes it at its next retry.
        pytest.param(True, 0.0, RETRY * 2.2 + 0.5, id="released-on-shutdown"),
    ],
)
async def test_standby_takes_over_when_leader_stops(
    make_candidate: Callable[..., Candidate],
    lease_client: RESTLeaseClient,
    release_on_cancel: bool,
    min_wait: float,
    max_wait: float,
) -> None:
    pair = [make_candidate(name, release_on_cancel=release_on_cancel) for name in ("a", "b")]
    for candidate in pair:
        candidate.start()
    leader, standby = await leader_of(pair)
    await wait_for(lambda: standby.elector.get_leader() == leader.elector.identity, 3.0)

    await leader.kill()
    assert leader.stopped == 1
    waited = await wait_for(lambda: standby.started == 1, LEASE + 3.0)
    assert min_wait <= waited <= max_wait

    lease = await lease_client.get_lease("default", leader.elector.name)
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == standby.elector.identity
    assert lease["spec"]["leaseTransitions"] == 1
    assert standby.leaders_seen == [leader.elector.identity, standby.elector.identity]
    assert standby.stopped == 0
