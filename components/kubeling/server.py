"""``kubeling server``: an all-in-one single-node control plane.

Runs the apiserver in the foreground on the embedded SQLite datastore (or
etcd with ``--etcd-servers``) and writes ``DATA_DIR/admin.kubeconfig`` with an
admin token and the serving CA, so ``kubectl --kubeconfig`` works at once.
Later components (controllers, scheduler, kubelet) join this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubeling.apiserver.app import APIServer
from kubeling.apiserver.config import APIServerConfig
from kubeling.pki.certs import write_atomic

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    data_dir: Path = Path("./data")
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    etcd_servers: list[str] = field(default_factory=list)
    service_cluster_ip_range: str = "10.96.0.0/12"
    advertise_address: str = ""


def _admin_token(data_dir: Path) -> str:
    """The admin token, made once and kept in DATA_DIR/tokens.csv (0600)."""
    tokens = data_dir / "tokens.csv"
    if tokens.exists():
        first = tokens.read_text().splitlines()[0]
        return first.split(",")[0]
    token = secrets.token_urlsafe(32)
    fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f'{token},admin,admin,"system:masters"\n')
    return token


def write_kubeconfig(path: Path, *, server: str, ca_file: Path, token: str) -> None:
    import base64

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubeling",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_file.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "admin@kubeling", "context": {"cluster": "kubeling", "user": "admin"}}],
        "current-context": "admin@kubeling",
        "preferences": {},
    }
    # Atomic: whoever waits for this file never reads half of it.
    write_atomic(path, yaml.safe_dump(config, sort_keys=False).encode(), 0o600)


def _service_account_key(data_dir: Path) -> Path:
    """The ServiceAccount signing key (RSA 2048, as kubeadm's sa.key), made once."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = data_dir / "pki" / "sa.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    return path


def apiserver_config(config: ServerConfig) -> APIServerConfig:
    data_dir = config.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _admin_token(data_dir)
    sa_key = _service_account_key(data_dir)
    return APIServerConfig(
        bind_address=config.bind_address,
        secure_port=config.secure_port,
        advertise_address=config.advertise_address,
        cert_dir=data_dir / "pki",
        storage_backend="etcd3" if config.etcd_servers else "sqlite",
        etcd_servers=config.etcd_servers,
        data_dir=data_dir,
        token_auth_file=str(data_dir / "tokens.csv"),
        authorization_mode="Node,RBAC",
        service_account_signing_key_file=str(sa_key),
        service_account_key_files=[str(sa_key)],
        service_cluster_ip_range=config.service_cluster_ip_range,
    )


async def start(config: ServerConfig) -> APIServer:
    data_dir = config.data_dir.resolve()
    server = APIServer(apiserver_config(config))
    await server.start()
    host = config.bind_address if config.bind_address not in ("0.0.0.0", "::") else "127.0.0.1"
    kubeconfig = data_dir / "admin.kubeconfig"
    write_kubeconfig(
        kubeconfig,
        server=f"https://{host}:{server.port}",
        ca_file=data_dir / "pki" / "ca.crt",
        token=_admin_token(data_dir),
    )
    log.info("admin kubeconfig: %s", kubeconfig)
    return server


async def run(config: ServerConfig) -> None:
    server = await start(config)
    print(
        f"kubeling server is up: export KUBECONFIG={config.data_dir.resolve() / 'admin.kubeconfig'}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
