"""hostgw's FORWARD chain, written in a network namespace of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kubeling.hostgw.agent import FORWARD_CHAIN
from tests.fixtures.server import REPO

pytestmark = pytest.mark.integration

CIDR = "10.244.0.0/16"
ENSURE = (
    "import asyncio, sys\n"
    "from kubeling.hostgw.agent import HostGW\n"
    "agent = HostGW('node-a', sys.argv[1])\n"
    "for _ in range(int(sys.argv[2])):\n"
    "    asyncio.run(agent.ensure_forwarding())\n"
)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"kbhg{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def in_ns(netns: str, *argv: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def ensure(netns: str, times: int = 1) -> None:
    in_ns(netns, sys.executable, "-c", ENSURE, CIDR, str(times))


def test_chain_and_jump_made_once(netns: str) -> None:
    ensure(netns)
    ensure(netns)
    chain = in_ns(netns, "iptables", "-S", FORWARD_CHAIN).splitlines()
    assert [line for line in chain if line.startswith("-A")] == [
        f'-A {FORWARD_CHAIN} -s {CIDR} -m comment --comment "kubeling hostgw: pod network" -j ACCEPT',
        f'-A {FORWARD_CHAIN} -d {CIDR} -m comment --comment "kubeling hostgw: pod network" -j ACCEPT',
    ]
    jumps = [line for line in in_ns(netns, "iptables", "-S", "FORWARD").splitlines() if FORWARD_CHAIN in line]
    assert jumps == [f"-A FORWARD -j {FORWARD_CHAIN}"]


def test_a_restarting_agent_never_leaves_the_chain_empty(netns: str) -> None:
    """While the agent rewrites its chain again and again, a reader always sees both ACCEPTs."""
    ensure(netns)
    reader = subprocess.Popen(
        [
            "ip", "netns", "exec", netns, "sh", "-c",
            f"for i in $(seq 150); do iptables -S {FORWARD_CHAIN} | grep -c ACCEPT; done",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    ensure(netns, times=30)
    counts, _ = reader.communicate(timeout=120)
    assert counts.split() and set(counts.split()) == {"2"}, counts.split()
