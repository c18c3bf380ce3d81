"""The registry of served resources.

One :class:`Resource` per (group, version, plural).  Discovery, routing,
storage keys, Table printers, OpenAPI and validation all look resources up
here, so adding a built-in kind is one line in ``_BUILTINS``.  Custom
resources from CRDs are registered at run time by the apiserver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_NO_COLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    categories: tuple[str, ...] = ()
    # Subresources served under .../<name>/<sub>; "status" and "scale" are the
    # generic ones, the rest have their own handlers.
    subresources: tuple[str, ...] = ()
    # Where objects of this resource live in storage.  Several versions of one
    # resource (autoscaling/v1 and v2) share one storage location.
    storage_group: str | None = None
    storage_version: str | None = None
    # OpenAPI/JSON-schema definition name (io.k8s.api.core.v1.Pod); None for
    # custom resources, whose schema comes from their CRD.
    schema_name: str | None = None
    # Custom resources carry their CRD's structural schema and printer columns.
    crd: dict | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """``deployments.apps`` style name used in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_prefix(self) -> str:
        """Key prefix of every object of this resource (ends with "/")."""
        group = self.storage_group if self.storage_group is not None else self.group
        return f"/registry/{group or 'core'}/{self.plural}/"

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def namespace_prefix(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix

    @property
    def is_custom(self) -> bool:
        return self.crd is not None


def _r(
    gv: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    verbs: tuple[str, ...] = STANDARD_VERBS,
    cats: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    schema_package: str,
    storage_group: str | None = None,
    storage_version: str | None = None,
) -> Resource:
    group, _, version = gv.rpartition("/")
    return Resource(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        verbs=verbs,
        categories=cats,
        subresources=sub,
        storage_group=storage_group,
        storage_version=storage_version,
        schema_name=f"{schema_package}.{version}.{kind}",
    )


_CORE = "io.k8s.api.core"
_POD_SUBRESOURCES = ("attach", "binding", "eviction", "exec", "log", "portforward", "proxy", "status")

_BUILTINS: tuple[Resource, ...] = (
    # core/v1
    _r("v1", "Binding", "bindings", verbs=("create",), schema_package=_CORE),
    _r("v1", "ConfigMap", "configmaps", short=("cm",), schema_package=_CORE),
    _r("v1", "Endpoints", "endpoints", short=("ep",), schema_package=_CORE),
    _r("v1", "Event", "events", short=("ev",), schema_package=_CORE),
    _r("v1", "LimitRange", "limitranges", short=("limits",), schema_package=_CORE),
    _r(
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        short=("ns",),
        verbs=_NO_COLLECTION,
        sub=("finalize", "status"),
        schema_package=_CORE,
    ),
    _r("v1", "Node", "nodes", namespaced=False, short=("no",), sub=("proxy", "status"), schema_package=_CORE),
    _r(
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short=("pvc",),
        sub=("status",),
        schema_package=_CORE,
    ),
    _r(
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        namespaced=False,
        short=("pv",),
        sub=("status",),
        schema_package=_CORE,
    ),
    _r("v1", "Pod", "pods", short=("po",), cats=("all",), sub=_POD_SUBRESOURCES, schema_package=_CORE),
    _r("v1", "PodTemplate", "podtemplates", schema_package=_CORE),
    _r(
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        short=("rc",),
        cats=("all",),
        sub=("scale", "status"),
        schema_package=_CORE,
    ),
    _r("v1", "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",), schema_package=_CORE),
    _r("v1", "Secret", "secrets", schema_package=_CORE),
    _r("v1", "ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",), schema_package=_CORE),
    _r(
        "v1",
        "Service",
        "services",
        short=("svc",),
        cats=("all",),
        sub=("proxy", "status"),
        schema_package=_CORE,
    ),
    # apps/v1
    _r("apps/v1", "ControllerRevision", "controllerrevisions", schema_package="io.k8s.api.apps"),
    _r(
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        short=("ds",),
        cats=("all",),
        sub=("status",),
        schema_package="io.k8s.api.apps",
    ),
    _r(
        "apps/v1",
        "Deployment",
        "deployments",
        short=("deploy",),
        cats=("all",),
        sub=("scale", "status"),
        schema_package="io.k8s.api.apps",
    ),
    _r(
        "apps/v1",
        "ReplicaSet",
        "replicasets",
        short=("rs",),
        cats=("all",),
        sub=("scale", "status"),
        schema_package="io.k8s.api.apps",
    ),
    _r(
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        short=("sts",),
        cats=("all",),
        sub=("scale", "status"),
        schema_package="io.k8s.api.apps",
    ),
    # batch/v1
    _r(
        "batch/v1",
        "CronJob",
        "cronjobs",
        short=("cj",),
        cats=("all",),
        sub=("status",),
        schema_package="io.k8s.api.batch",
    ),
    _r("batch/v1", "Job", "jobs", cats=("all",), sub=("status",), schema_package="io.k8s.api.batch"),
    # autoscaling: v2 is the storage version, v1 a view of the same objects
    _r(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        cats=("all",),
        sub=("status",),
        schema_package="io.k8s.api.autoscaling",
    ),
    _r(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        cats=("all",),
        sub=("status",),
        schema_package="io.k8s.api.autoscaling",
        storage_version="v2",
    ),
    # certificates
    _r(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        namespaced=False,
        short=("csr",),
        sub=("approval", "status"),
        schema_package="io.k8s.api.certificates",
    ),
    # coordination, discovery, events
    _r("coordination.k8s.io/v1", "Lease", "leases", schema_package="io.k8s.api.coordination"),
    _r("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", schema_package="io.k8s.api.discovery"),
    _r(
        "events.k8s.io/v1",
        "Event",
        "events",
        short=("ev",),
        schema_package="io.k8s.api.events",
        storage_group="",  # shared with core/v1 Events
        storage_version="v1",
    ),
    # networking
    _r(
        "networking.k8s.io/v1",
        "IngressClass",
        "ingressclasses",
        namespaced=False,
        schema_package="io.k8s.api.networking",
    ),
    _r(
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        short=("ing",),
        sub=("status",),
        schema_package="io.k8s.api.networking",
    ),
    _r(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        short=("netpol",),
        schema_package="io.k8s.api.networking",
    ),
    # policy
    _r(
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short=("pdb",),
        sub=("status",),
        schema_package="io.k8s.api.policy",
    ),
    # rbac
    _r(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        namespaced=False,
        schema_package="io.k8s.api.rbac",
    ),
    _r(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        namespaced=False,
        schema_package="io.k8s.api.rbac",
    ),
    _r("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", schema_package="io.k8s.api.rbac"),
    _r("rbac.authorization.k8s.io/v1", "Role", "roles", schema_package="io.k8s.api.rbac"),
    # scheduling, storage
    _r(
        "scheduling.k8s.io/v1",
        "PriorityClass",
        "priorityclasses",
        namespaced=False,
        short=("pc",),
        schema_package="io.k8s.api.scheduling",
    ),
    _r(
        "storage.k8s.io/v1",
        "StorageClass",
        "storageclasses",
        namespaced=False,
        short=("sc",),
        schema_package="io.k8s.api.storage",
    ),
    # Reviews: create-only questions answered on the spot, never stored.
    _r(
        "authentication.k8s.io/v1",
        "TokenReview",
        "tokenreviews",
        namespaced=False,
        verbs=("create",),
        schema_package="io.k8s.api.authentication",
    ),
    _r(
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        namespaced=False,
        verbs=("create",),
        schema_package="io.k8s.api.authentication",
    ),
    _r(
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        verbs=("create",),
        schema_package="io.k8s.api.authorization",
    ),
    _r(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        namespaced=False,
        verbs=("create",),
        schema_package="io.k8s.api.authorization",
    ),
    _r(
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        namespaced=False,
        verbs=("create",),
        schema_package="io.k8s.api.authorization",
    ),
    _r(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        namespaced=False,
        verbs=("create",),
        schema_package="io.k8s.api.authorization",
    ),
    # apiregistration: the aggregation layer's APIServices
    _r(
        "apiregistration.k8s.io/v1",
        "APIService",
        "apiservices",
        namespaced=False,
        cats=("api-extensions",),
        sub=("status",),
        schema_package="io.k8s.kube-aggregator.pkg.apis.apiregistration",
    ),
    # apiextensions
    _r(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short=("crd", "crds"),
        cats=("api-extensions",),
        sub=("status",),
        schema_package="io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    ),
)

# Preferred version first within each group, groups in upstream's discovery order.
GROUP_ORDER = (
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
)


class Registry:
    """Lookup of resources by group/version/plural and by kind.

    Built-ins are fixed; custom resources are added and removed as CRDs become
    established or go away.
    """

    def __init__(self, resources: tuple[Resource, ...] = _BUILTINS) -> None:
        self._by_gvr: dict[tuple[str, str, str], Resource] = {}
        self._by_gvk: dict[tuple[str, str, str], Resource] = {}
        # group_versions() is asked on every request: computed once per change of the registry.
        self._group_versions: dict[str, list[str]] | None = None
        for resource in resources:
            self.add(resource)

    def add(self, resource: Resource) -> None:
        self._by_gvr[(resource.group, resource.version, resource.plural)] = resource
        self._by_gvk[(resource.group, resource.version, resource.kind)] = resource
        self._group_versions = None

    def remove(self, resource: Resource) -> None:
        self._by_gvr.pop((resource.group, resource.version, resource.plural), None)
        self._by_gvk.pop((resource.group, resource.version, resource.kind), None)
        self._group_versions = None

    def get(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> Resource | None:
        return self._by_gvk.get((group, version, kind))

    def all(self) -> list[Resource]:
        return list(self._by_gvr.values())

    def group_versions(self) -> dict[str, list[str]]:
        """group -> versions, preferred version first (a shared value: do not change it)."""
        if self._group_versions is None:
            self._group_versions = self._compute_group_versions()
        return self._group_versions

    def preferred(self, group: str, plural: str) -> Resource | None:
        """The resource ``plural`` in the preferred version of ``group``."""
        versions = self.group_versions().get(group)
        return self._by_gvr.get((group, versions[0], plural)) if versions else None

    def _compute_group_versions(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for resource in self._by_gvr.values():
            versions = found.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        ordered: dict[str, list[str]] = {}
        known = [g for g in GROUP_ORDER if g in found]
        extra = sorted(g for g in found if g not in GROUP_ORDER)
        for group in known + extra:
            ordered[group] = sorted(found[group], key=version_priority, reverse=True)
        return ordered

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return sorted(
            (r for r in self._by_gvr.values() if r.group == group and r.version == version),
            key=lambda r: r.plural,
        )


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA > beta > alpha, then by numbers."""
    import re

    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (-1, 0, 0)
    major = int(match.group(1))
    stage = {"alpha": 0, "beta": 1, None: 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, major, minor)
