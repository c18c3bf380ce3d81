"""Fixtures shared by every test suite.

etcd members are session-scoped (one start per test run, ~0.5 s each) and
started only when a test asks for them.  ``etcd_factory`` makes extra,
private members for tests that restart, kill or compact one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fixtures.etcd import EtcdServer

pytest_plugins = ["tests.fixtures.dockerpods"]


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """A plain-HTTP etcd on loopback: ``etcd_server.endpoints``."""
    server = EtcdServer(tmp_path_factory.mktemp("etcd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def etcd_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """An etcd demanding client certificates: ``.endpoints``, ``.ca_file``, ``.cert_file``, ``.key_file``."""
    server = EtcdServer(tmp_path_factory.mktemp("etcd-tls"), tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def etcd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., EtcdServer]]:
    """Start private etcd members (``etcd_factory(tls=False)``); all are stopped after the test."""
    started: list[EtcdServer] = []

    def make(*, tls: bool = False) -> EtcdServer:
        server = EtcdServer(tmp_path_factory.mktemp("etcd-private"), tls=tls)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
