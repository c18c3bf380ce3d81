"""``kubeling server``: an all-in-one single-node control plane.

Runs the apiserver in the foreground on the embedded SQLite datastore (or
etcd with ``--etcd-servers``) and writes ``DATA_DIR/admin.kubeconfig`` with an
admin token and the serving CA, so ``kubectl --kubeconfig`` works at once.

The controller-manager and the scheduler run in the same process and event
loop, as clients of the apiserver over its HTTPS port with their own
identities (``system:kube-controller-manager``, ``system:kube-scheduler``:
static tokens in ``DATA_DIR/tokens.csv``), so RBAC treats them exactly as
it treats the separate daemons of a multi-node cluster.  Either can be
turned off (``--disable-controller-manager``, ``--disable-scheduler``).

For the aggregation layer it makes kubeadm's front-proxy CA and
``front-proxy-client`` certificate in ``DATA_DIR/pki`` and passes the
request-header and proxy-client flags; aggregated APIs are reached at their
endpoints (``--enable-aggregator-routing``), since this process may run where
no kube-proxy programs cluster IPs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeling.apiserver.app import APIServer
from kubeling.apiserver.config import APIServerConfig
from kubeling.client.kubeconfig import ClientConfig
from kubeling.client.rest import RESTClient
from kubeling.pki.certs import write_atomic
from kubeling.pki.selfsigned import ensure_front_proxy

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    data_dir: Path = Path("./data")
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    etcd_servers: list[str] = field(default_factory=list)
    service_cluster_ip_range: str = "10.96.0.0/12"
    advertise_address: str = ""
    cluster_cidr: str = "10.244.0.0/16"
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    controllers: list[str] = field(default_factory=lambda: ["*"])
    node_monitor_grace_period: float = 40.0
    disable_controller_manager: bool = False
    disable_scheduler: bool = False
    with_kubelet: bool = False
    addons: list[str] = field(default_factory=list)
    addons_image: str = ""
    apiserver_workers: int = 1


ADMIN = "admin"
CONTROLLER_MANAGER = "system:kube-controller-manager"
SCHEDULER = "system:kube-scheduler"
# user → groups of the static tokens the server makes for itself.
_TOKEN_USERS = {ADMIN: "system:masters", CONTROLLER_MANAGER: "", SCHEDULER: ""}


def _tokens(data_dir: Path) -> dict[str, str]:
    """user → token, kept in DATA_DIR/tokens.csv (0600); missing users get a new token."""
    path = data_dir / "tokens.csv"
    tokens: dict[str, str] = {}
    lines: list[str] = []
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        for line in lines:
            token, user = line.split(",")[:2]
            tokens[user] = token
    missing = [user for user in _TOKEN_USERS if user not in tokens]
    if missing:
        for user in missing:
            tokens[user] = secrets.token_urlsafe(32)
            groups = _TOKEN_USERS[user]
            lines.append(f"{tokens[user]},{user},{user}" + (f',"{groups}"' if groups else ""))
        write_atomic(path, ("\n".join(lines) + "\n").encode(), 0o600)
    return tokens


def _admin_token(data_dir: Path) -> str:
    return _tokens(data_dir)[ADMIN]


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_file: Path,
    token: str = "",
    client_cert: Path | None = None,
    client_key: Path | None = None,
    user: str = "admin",
) -> None:
    """A kubeconfig for ``user``: a bearer token, or a client certificate and key (by path)."""
    import base64

    credentials: dict[str, str] = {"token": token} if token else {}
    if client_cert is not None and client_key is not None:
        credentials = {"client-certificate": str(client_cert), "client-key": str(client_key)}
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
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": f"{user}@kubeling", "context": {"cluster": "kubeling", "user": user}}],
        "current-context": f"{user}@kubeling",
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
    front_proxy_ca, front_proxy_cert, front_proxy_key = ensure_front_proxy(data_dir / "pki")
    return APIServerConfig(
        bind_address=config.bind_address,
        secure_port=config.secure_port,
        advertise_address=config.advertise_address,
        cert_dir=data_dir / "pki",
        storage_backend="etcd3" if config.etcd_servers else "sqlite",
        etcd_servers=config.etcd_servers,
        data_dir=data_dir,
        token_auth_file=str(data_dir / "tokens.csv"),
        # Identities that log in by certificate (a kubelet) are signed by the serving CA.
        client_ca_file=str(data_dir / "pki" / "ca.crt"),
        authorization_mode="Node,RBAC",
        service_account_signing_key_file=str(sa_key),
        service_account_key_files=[str(sa_key)],
        service_cluster_ip_range=config.service_cluster_ip_range,
        # The aggregation layer as kubeadm configures it: the front-proxy pair and its headers.
        requestheader_client_ca_file=str(front_proxy_ca),
        requestheader_allowed_names=["front-proxy-client"],
        requestheader_username_headers=["X-Remote-User"],
        requestheader_group_headers=["X-Remote-Group"],
        requestheader_extra_headers_prefix=["X-Remote-Extra-"],
        proxy_client_cert_file=str(front_proxy_cert),
        proxy_client_key_file=str(front_proxy_key),
        # This process may run where no kube-proxy programs cluster IPs: go to endpoints directly.
        enable_aggregator_routing=True,
        workers=config.apiserver_workers,
    )


def _client_host(config: ServerConfig) -> str:
    """Where this machine's own clients reach the server."""
    return config.bind_address if config.bind_address not in ("0.0.0.0", "::") else "127.0.0.1"


async def start(config: ServerConfig) -> APIServer:
    data_dir = config.data_dir.resolve()
    server = APIServer(apiserver_config(config))
    await server.start(on_serving=lambda s: _kubelet_client_identity(data_dir, s))
    host = _client_host(config)
    kubeconfig = data_dir / "admin.kubeconfig"
    write_kubeconfig(
        kubeconfig,
        server=f"https://{host}:{server.port}",
        ca_file=data_dir / "pki" / "ca.crt",
        token=_admin_token(data_dir),
    )
    log.info("admin kubeconfig: %s", kubeconfig)
    _write_node_kubeconfig(data_dir, f"https://{host}:{server.port}", config.node_name)
    return server


def _kubelet_client_identity(data_dir: Path, server: APIServer) -> None:
    """The apiserver's certificate for kubelets (as kubeadm's apiserver-kubelet-client), made once."""
    from kubeling.pki.selfsigned import ensure_client_cert

    if server.config.kubelet_client_certificate:
        return
    crt, key = ensure_client_cert(
        data_dir / "pki",
        "apiserver-kubelet-client",
        common_name="kube-apiserver-kubelet-client",
        organizations=("system:masters",),
    )
    server.kubelet_proxy.set_client_certificate(str(crt), str(key))
    # Through the config, the apiserver's worker processes get the same identity.
    server.config.kubelet_client_certificate, server.config.kubelet_client_key = str(crt), str(key)


def _write_node_kubeconfig(data_dir: Path, url: str, node_name: str) -> Path:
    """DATA_DIR/kubelet.kubeconfig: the node's own identity (system:node:<name> in system:nodes).

    The Node authorizer and NodeRestriction admission limit it to its own Node
    and the pods bound to it, as in a kubeadm cluster.
    """
    from kubeling.pki.selfsigned import ensure_client_cert

    pki = data_dir / "pki"
    crt, key = ensure_client_cert(
        pki, f"kubelet-{node_name}", common_name=f"system:node:{node_name}", organizations=("system:nodes",)
    )
    path = data_dir / "kubelet.kubeconfig"
    write_kubeconfig(
        path,
        server=url,
        ca_file=pki / "ca.crt",
        client_cert=crt,
        client_key=key,
        user=f"system:node:{node_name}",
    )
    return path


def _component_client(config: ServerConfig, server: APIServer, user: str, component: str) -> RESTClient:
    data_dir = config.data_dir.resolve()
    host = _client_host(config)
    client_config = ClientConfig(
        server=f"https://{host}:{server.port}",
        ca_file=str(data_dir / "pki" / "ca.crt"),
        token=_tokens(data_dir)[user],
    )
    return RESTClient(client_config, component=component, qps=50.0, burst=100)


def _controller_manager(config: ServerConfig, server: APIServer) -> Coroutine[Any, Any, None]:
    from kubeling.controllers.base import ControllerOptions
    from kubeling.controllers.manager import ControllerManagerConfig
    from kubeling.controllers.manager import run as run_controller_manager

    data_dir = config.data_dir.resolve()
    options = ControllerOptions(
        cluster_cidr=config.cluster_cidr,
        service_cluster_ip_range=config.service_cluster_ip_range,
        node_monitor_grace_period=config.node_monitor_grace_period,
        root_ca_file=str(data_dir / "pki" / "ca.crt"),
        service_account_private_key_file=str(data_dir / "pki" / "sa.key"),
        cluster_signing_cert_file=str(data_dir / "pki" / "ca.crt"),
        cluster_signing_key_file=str(data_dir / "pki" / "ca.key"),
    )
    client = _component_client(config, server, CONTROLLER_MANAGER, "kube-controller-manager")
    # Health is the server's own /healthz in all-in-one mode: no second port to collide on.
    manager_config = ControllerManagerConfig(controllers=config.controllers, secure_port=0, options=options)
    return _closing(run_controller_manager(manager_config, client), client)


def _kubelet(config: ServerConfig, server: APIServer) -> Coroutine[Any, Any, None]:
    """This machine as the node: a kubelet on Docker, with its own identity and its state in DATA_DIR."""
    import ipaddress

    from kubeling.kubelet.config import KubeletConfig
    from kubeling.kubelet.kubelet import run as run_kubelet

    data_dir = config.data_dir.resolve()
    # The cluster DNS Service gets the 10th address of the service range, as upstream places it.
    dns_ip = str(ipaddress.ip_network(config.service_cluster_ip_range, strict=False).network_address + 10)
    kubelet_config = KubeletConfig(
        kubeconfig=str(data_dir / "kubelet.kubeconfig"),
        hostname_override=config.node_name,
        root_dir=str(data_dir / "kubelet"),
        pod_manifest_path=str(data_dir / "manifests"),
        cni_conf_dir=str(data_dir / "cni" / "net.d"),
        cluster_dns=[dns_ip],
        client_ca_file=str(data_dir / "pki" / "ca.crt"),
    )
    (data_dir / "manifests").mkdir(parents=True, exist_ok=True)
    return run_kubelet(kubelet_config)


def _scheduler(config: ServerConfig, server: APIServer) -> Coroutine[Any, Any, None] | None:
    try:
        from kubeling.scheduler.app import SchedulerConfig
        from kubeling.scheduler.app import run as run_scheduler
    except ImportError:
        log.warning("this kubeling has no scheduler yet")
        return None
    client = _component_client(config, server, SCHEDULER, "kube-scheduler")
    return _closing(run_scheduler(SchedulerConfig(secure_port=0), client), client)


async def _addons(config: ServerConfig, server: APIServer) -> None:
    """Apply the addons once, then stay (a finished component would read as a failure)."""
    from kubeling.addons import AddonValues, apply_addons
    from kubeling.image.recipes import kubeling_ref, resolve_version

    client = _component_client(config, server, ADMIN, "kubeling-addons")
    host = config.advertise_address or _client_host(config)
    values = AddonValues(
        image=config.addons_image or kubeling_ref(resolve_version()),
        apiserver_url=f"https://{host}:{server.port}",
        service_cidr=config.service_cluster_ip_range,
        cluster_cidr=config.cluster_cidr,
    )
    try:
        applied = await apply_addons(client, config.addons, values)
        log.info("addons applied: %s", ", ".join(applied))
    finally:
        await client.close()
    await asyncio.Event().wait()


async def _closing(work: Coroutine[Any, Any, None], client: RESTClient) -> None:
    try:
        await work
    finally:
        await client.close()


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
    components: dict[str, Coroutine[Any, Any, None] | None] = {}
    if not config.disable_controller_manager:
        components["controller-manager"] = _controller_manager(config, server)
    if not config.disable_scheduler:
        components["scheduler"] = _scheduler(config, server)
    if config.with_kubelet:
        components["kubelet"] = _kubelet(config, server)
    if config.addons:
        components["addons"] = _addons(config, server)
    tasks = [asyncio.create_task(work, name=name) for name, work in components.items() if work is not None]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper:
                # A control-plane component ending on its own is a failure: say so and stop.
                error = None if task.cancelled() else task.exception()
                log.error("%s stopped: %s", task.get_name(), error or "it returned")
                raise SystemExit(1)
    finally:
        stopper.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
        await server.stop()
