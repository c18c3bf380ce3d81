"""Pick and open a storage backend from the apiserver's flags.

``etcd3`` (as upstream's ``--storage-backend``) talks to ``--etcd-servers``
with the optional client TLS files; ``sqlite`` keeps everything in
``<data_dir>/state.db``.  The backend is opened inside the running loop and
its reachability checked, so a misconfiguration fails at start-up.
"""

from __future__ import annotations

from pathlib import Path

from kubeling.storage.interface import Storage

BACKENDS = ("etcd3", "sqlite")
SQLITE_FILE = "state.db"


async def open_storage(
    *,
    backend: str,
    etcd_servers: list[str] | None = None,
    etcd_cafile: str | None = None,
    etcd_certfile: str | None = None,
    etcd_keyfile: str | None = None,
    data_dir: str | None = None,
) -> Storage:
    if backend == "etcd3":
        if not etcd_servers:
            raise ValueError("the etcd3 storage backend needs at least one etcd server")
        from kubeling.storage.etcd import EtcdStorage  # grpc is only loaded when etcd is used

        return await EtcdStorage.connect(
            etcd_servers, ca_file=etcd_cafile, cert_file=etcd_certfile, key_file=etcd_keyfile
        )
    if backend == "sqlite":
        if not data_dir:
            raise ValueError("the sqlite storage backend needs a data dir")
        from kubeling.storage.sqlite import SqliteStorage

        return await SqliteStorage.connect(Path(data_dir) / SQLITE_FILE)
    raise ValueError(f"unknown storage backend {backend!r} (expected one of {', '.join(BACKENDS)})")
