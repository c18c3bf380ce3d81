"""``kubeling controller-manager``: every controller in one process, led by one replica.

:data:`CONTROLLERS` maps upstream's controller names (``--controllers``) to
the class implementing each; old names are accepted as aliases.  Only the
leader (Lease ``kube-system/kube-controller-manager``) runs controllers; a
standby takes over within the lease duration.  The leader builds every
enabled controller against one :class:`InformerFactory` (one watch per
resource for all of them), starts the informers, and runs the controllers
until it loses the lease or is stopped.  A controller crashing stops the
process with an error rather than leaving the cluster half-managed.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import uuid
from dataclasses import dataclass, field

from kubeling.client.kubeconfig import load_config
from kubeling.client.leaderelection import LeaderElector, RESTLeaseClient
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ClientSource, Controller, ControllerContext, ControllerOptions
from kubeling.controllers.credentials import ServiceAccountClients
from kubeling.controllers.informers import InformerFactory
from kubeling.health import HealthServer

log = logging.getLogger(__name__)

# name → ("module:Class", aliases, on by default)
CONTROLLERS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "replicaset-controller": ("replicaset:ReplicaSetController", ("replicaset",), True),
    "replicationcontroller-controller": (
        "replicaset:ReplicationControllerController",
        ("replicationcontroller",),
        True,
    ),
    "deployment-controller": ("deployment:DeploymentController", ("deployment",), True),
    "daemonset-controller": ("daemonset:DaemonSetController", ("daemonset",), True),
    "statefulset-controller": ("statefulset:StatefulSetController", ("statefulset",), True),
    "job-controller": ("job:JobController", ("job",), True),
    "cronjob-controller": ("cronjob:CronJobController", ("cronjob",), True),
    "endpoints-controller": ("endpoints:EndpointsController", ("endpoint",), True),
    "endpointslice-controller": ("endpointslice:EndpointSliceController", ("endpointslice",), True),
    "garbage-collector-controller": ("garbagecollector:GarbageCollector", ("garbagecollector",), True),
    "namespace-controller": ("namespace:NamespaceController", ("namespace",), True),
    "node-lifecycle-controller": ("nodelifecycle:NodeLifecycleController", ("nodelifecycle",), True),
    "taint-eviction-controller": ("tainteviction:TaintEvictionController", (), True),
    "node-ipam-controller": ("nodeipam:NodeIpamController", ("nodeipam",), True),
    "serviceaccount-controller": ("serviceaccount:ServiceAccountController", ("serviceaccount",), True),
    "serviceaccount-token-controller": (
        "serviceaccount:TokensController",
        ("serviceaccount-token",),
        True,
    ),
    "root-ca-certificate-publisher-controller": (
        "rootcacert:RootCACertPublisher",
        ("root-ca-cert-publisher",),
        True,
    ),
    "persistentvolume-binder-controller": (
        "volume:PersistentVolumeBinder",
        ("persistentvolume-binder",),
        True,
    ),
    "pod-garbage-collector-controller": ("podgc:PodGCController", ("podgc",), True),
    "ttl-after-finished-controller": (
        "ttlafterfinished:TTLAfterFinishedController",
        ("ttl-after-finished",),
        True,
    ),
    "resourcequota-controller": ("resourcequota:ResourceQuotaController", ("resourcequota",), True),
    "horizontal-pod-autoscaler-controller": (
        "podautoscaler:HorizontalPodAutoscalerController",
        ("horizontalpodautoscaling",),
        True,
    ),
    "disruption-controller": ("disruption:DisruptionController", ("disruption",), True),
    "certificatesigningrequest-signing-controller": (
        "certificates:CSRSigningController",
        ("csrsigning",),
        True,
    ),
    "certificatesigningrequest-approving-controller": (
        "certificates:CSRApprovingController",
        ("csrapproving",),
        True,
    ),
}


def _canonical(name: str) -> str | None:
    if name in CONTROLLERS:
        return name
    for canonical, (_, aliases, _) in CONTROLLERS.items():
        if name in aliases:
            return canonical
    return None


def enabled_controllers(spec: list[str]) -> list[str]:
    """Upstream's ``--controllers`` grammar: ``*`` = defaults, ``foo`` enables, ``-foo`` disables."""
    chosen: set[str] = set()
    disabled: set[str] = set()
    for item in spec or ["*"]:
        if item == "*":
            chosen |= {name for name, (_, _, default) in CONTROLLERS.items() if default}
            continue
        negative = item.startswith("-")
        canonical = _canonical(item.removeprefix("-"))
        if canonical is None:
            raise ValueError(f"{item.removeprefix('-')!r} is not in the list of known controllers")
        (disabled if negative else chosen).add(canonical)
    return [name for name in CONTROLLERS if name in chosen and name not in disabled]


def load_controller_class(name: str) -> type[Controller] | None:
    target = CONTROLLERS[name][0]
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(f"kubeling.controllers.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"kubeling.controllers.{module_name}":
            raise
        return None
    return getattr(module, class_name, None)


@dataclass
class ControllerManagerConfig:
    kubeconfig: str | None = None
    controllers: list[str] = field(default_factory=lambda: ["*"])
    leader_elect: bool = True
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    use_service_account_credentials: bool = True
    kube_api_qps: float = 20.0
    kube_api_burst: int = 30
    bind_address: str = "0.0.0.0"
    # /healthz, /livez, /readyz over HTTPS; 0 (the default when embedded) serves none.
    # The command line's default is upstream's port, 10257.
    secure_port: int = 0
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    cert_dir: str = ""
    options: ControllerOptions = field(default_factory=ControllerOptions)


class ControllerManager:
    def __init__(self, config: ControllerManagerConfig, client: RESTClient | None = None) -> None:
        self.config = config
        self._own_client = client is None
        self.client = client or RESTClient(
            load_config(config.kubeconfig),
            component="kube-controller-manager",
            qps=config.kube_api_qps,
            burst=config.kube_api_burst,
        )
        self.identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        self.controllers: dict[str, Controller] = {}
        self.running = asyncio.Event()  # set once the leader's controllers are built and started

    async def run(self) -> None:
        names = enabled_controllers(self.config.controllers)  # bad --controllers fails before anything starts
        elector: LeaderElector | None = None
        if self.config.leader_elect:
            elector = LeaderElector(
                RESTLeaseClient(self.client),
                "kube-system",
                "kube-controller-manager",
                self.identity,
                lease_duration=self.config.leader_elect_lease_duration,
                renew_deadline=self.config.leader_elect_renew_deadline,
                retry_period=self.config.leader_elect_retry_period,
                on_started_leading=lambda: self._lead(names),
                on_new_leader=lambda who: log.info("the controller-manager leader is now %s", who),
            )
        health = HealthServer(
            bind_address=self.config.bind_address,
            port=self.config.secure_port,
            checks={"leaderElection": elector.check} if elector else {},
            tls_cert_file=self.config.tls_cert_file,
            tls_private_key_file=self.config.tls_private_key_file,
            cert_dir=self.config.cert_dir,
        )
        try:
            await health.start()
            if elector is None:
                await self._lead(names)
                return
            await elector.run()
            log.error("controller-manager lost its lease; stopping")
        finally:
            await health.stop()
            if self._own_client:
                await self.client.close()

    async def _lead(self, names: list[str]) -> None:
        log.info("controller-manager %s is leading", self.identity)
        clients: ClientSource
        classes = {name: load_controller_class(name) for name in names}
        missing = [name for name, cls in classes.items() if cls is None]
        if missing:
            log.warning("not built yet, skipped: %s", ", ".join(missing))
        available = {name: cls for name, cls in classes.items() if cls is not None}
        if self.config.use_service_account_credentials:
            sa_clients = ServiceAccountClients(self.client, qps=self.config.kube_api_qps)
            await sa_clients.prepare(sorted({cls.service_account for cls in available.values()}))
            clients = sa_clients
        else:
            clients = _SharedClient(self.client)
        ctx = ControllerContext(InformerFactory(self.client), clients, options=self.config.options)
        try:
            self.controllers = {name: cls(ctx) for name, cls in available.items()}
            ctx.informers.start()
            self.running.set()
            tasks = [asyncio.create_task(ctx.informers.run(), name="informers")]
            tasks += [asyncio.create_task(c.run(), name=name) for name, c in self.controllers.items()]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.running.clear()
            await ctx.informers.stop()
            await ctx.close()
            await clients.close()


class _SharedClient(ClientSource):
    """Every controller uses the manager's own client (``--use-service-account-credentials=false``)."""

    async def close(self) -> None:
        pass  # the manager owns and closes the root client


async def run(config: ControllerManagerConfig, client: RESTClient | None = None) -> None:
    await ControllerManager(config, client).run()
