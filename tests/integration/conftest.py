"""Fixtures for every integration suite: a kubeling server on the embedded datastore and one on real etcd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.server import KubelingServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubelingServer]:
    """The all-in-one server on its embedded SQLite datastore."""
    instance = KubelingServer(tmp_path_factory.mktemp("kubeling-sqlite")).start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubelingServer]:
    """A server with no controllers and no scheduler: tests run the loops they exercise themselves."""
    instance = KubelingServer(
        tmp_path_factory.mktemp("kubeling-bare"),
        extra_args=["--disable-controller-manager", "--disable-scheduler"],
    ).start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def etcd_backed_server(tmp_path_factory: pytest.TempPathFactory, etcd_server) -> Iterator[KubelingServer]:
    """The server on a real etcd (started by the session's etcd fixture)."""
    instance = KubelingServer(
        tmp_path_factory.mktemp("kubeling-etcd"), etcd_servers=etcd_server.endpoints
    ).start()
    yield instance
    instance.stop()


@pytest.fixture(params=["sqlite", "etcd"])
def any_server(request: pytest.FixtureRequest) -> KubelingServer:
    """Run a test against both datastores."""
    return request.getfixturevalue("server" if request.param == "sqlite" else "etcd_backed_server")
