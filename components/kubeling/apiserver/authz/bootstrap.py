"""The bootstrap RBAC policy, and how it is reconciled into a running cluster.

At start the apiserver makes sure the default roles and bindings exist:
user-facing ClusterRoles (``cluster-admin``, and ``admin``/``edit``/``view``
aggregated from the ``system:aggregate-to-*`` roles), the system components'
roles (scheduler, controller-manager, kubelet, kube-proxy, DNS...), one
``system:controller:<name>`` ClusterRole per controller bound to the
ServiceAccount ``kube-system/<name>`` it runs as, and a few namespaced Roles in
``kube-system``/``kube-public``.  The verbs and resources are upstream's
(``bootstrappolicy`` and its testdata); they are written here in a compact
notation: ``_r("get list watch", "core apps", "pods deployments")`` where
``core`` stands for the legacy group ``""``.

Every object carries the label ``kubernetes.io/bootstrapping: rbac-defaults``
and the annotation ``rbac.authorization.kubernetes.io/autoupdate: "true"``.

:func:`reconcile` is upstream's reconciliation, run for each wanted object
against what is stored: an object that is missing is created; an existing one
gets the wanted labels and annotations it lacks, the wanted rules it does not
already cover (as broken-down single-verb rules, appended), the aggregation
selectors and binding subjects it lacks — never removing anything the
cluster's admins added.  Objects annotated ``autoupdate: "false"`` are left
alone.  A binding whose ``roleRef`` differs is replaced wholesale (``roleRef``
is immutable, so :func:`needs_recreate` tells the caller to delete and create).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kubeling.apiserver.authz.rules import make_rule, uncovered

API_VERSION = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"

READ = "get list watch"
WRITE = "create delete deletecollection patch update"
ALL_VERBS = f"{READ} {WRITE}"


def _r(verbs: str, groups: str, resources: str, names: str = "") -> dict[str, list[str]]:
    return make_rule(
        verbs.split(),
        ["" if g == "core" else g for g in groups.split()],
        resources.split(),
        names.split(),
    )


def _url(verbs: str, urls: str) -> dict[str, list[str]]:
    return make_rule(verbs.split(), non_resource_urls=urls.split())


EVENTS = _r("create patch update", "core events.k8s.io", "events")

# -- user-facing roles -------------------------------------------------------------

_VIEW = [
    _r(
        READ,
        "core",
        "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
        "replicationcontrollers replicationcontrollers/scale serviceaccounts services services/status",
    ),
    _r(
        READ,
        "core",
        "bindings events limitranges namespaces/status pods/log pods/status "
        "replicationcontrollers/status resourcequotas resourcequotas/status",
    ),
    _r(READ, "core", "namespaces"),
    _r(READ, "discovery.k8s.io", "endpointslices"),
    _r(
        READ,
        "apps",
        "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
        "deployments/status replicasets replicasets/scale replicasets/status statefulsets statefulsets/scale "
        "statefulsets/status",
    ),
    _r(READ, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
    _r(READ, "batch", "cronjobs cronjobs/status jobs jobs/status"),
    _r(
        READ,
        "extensions",
        "daemonsets daemonsets/status deployments deployments/scale deployments/status "
        "ingresses ingresses/status networkpolicies replicasets replicasets/scale replicasets/status "
        "replicationcontrollers/scale",
    ),
    _r(READ, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
    _r(READ, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
]

_EDIT = [
    _r(READ, "core", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
    _r("impersonate", "core", "serviceaccounts"),
    _r(WRITE, "core", "pods pods/attach pods/exec pods/portforward pods/proxy"),
    _r("create", "core", "pods/eviction"),
    _r(
        WRITE,
        "core",
        "configmaps events persistentvolumeclaims replicationcontrollers "
        "replicationcontrollers/scale secrets serviceaccounts services services/proxy",
    ),
    _r("create", "core", "serviceaccounts/token"),
    _r(
        WRITE,
        "apps",
        "daemonsets deployments deployments/rollback deployments/scale replicasets "
        "replicasets/scale statefulsets statefulsets/scale",
    ),
    _r(WRITE, "autoscaling", "horizontalpodautoscalers"),
    _r(WRITE, "batch", "cronjobs jobs"),
    _r(
        WRITE,
        "extensions",
        "daemonsets deployments deployments/rollback deployments/scale ingresses "
        "networkpolicies replicasets replicasets/scale replicationcontrollers/scale",
    ),
    _r(WRITE, "policy", "poddisruptionbudgets"),
    _r(WRITE, "networking.k8s.io", "ingresses networkpolicies"),
    _r(ALL_VERBS, "coordination.k8s.io", "leases"),
]

_ADMIN = [
    _r("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    _r(ALL_VERBS, "rbac.authorization.k8s.io", "rolebindings roles"),
]

# -- system components -------------------------------------------------------------

_SCHEDULER = [
    EVENTS,
    _r("create", "coordination.k8s.io", "leases"),
    _r("get update", "coordination.k8s.io", "leases", "kube-scheduler"),
    _r(READ, "core", "nodes"),
    _r("delete get list watch", "core", "pods"),
    _r("create", "core", "bindings pods/binding"),
    _r("patch update", "core", "pods/status"),
    _r(READ, "core", "replicationcontrollers services"),
    _r(READ, "apps extensions", "replicasets"),
    _r(READ, "apps", "statefulsets"),
    _r(READ, "policy", "poddisruptionbudgets"),
    _r(READ, "core", "persistentvolumeclaims persistentvolumes"),
    _r("create", "authentication.k8s.io", "tokenreviews"),
    _r("create", "authorization.k8s.io", "subjectaccessreviews"),
    _r(READ, "storage.k8s.io", "csinodes"),
    _r(READ, "core", "namespaces"),
    _r(READ, "storage.k8s.io", "csidrivers"),
    _r(READ, "storage.k8s.io", "csistoragecapacities"),
]

_CONTROLLER_MANAGER = [
    EVENTS,
    _r("create", "coordination.k8s.io", "leases"),
    _r("get update", "coordination.k8s.io", "leases", "kube-controller-manager"),
    _r("create", "core", "secrets serviceaccounts"),
    _r("delete", "core", "secrets"),
    _r("get", "core", "configmaps namespaces secrets serviceaccounts"),
    _r("update", "core", "secrets serviceaccounts"),
    _r("create", "authentication.k8s.io", "tokenreviews"),
    _r("create", "authorization.k8s.io", "subjectaccessreviews"),
    _r("list watch", "*", "*"),
    _r("create", "core", "serviceaccounts/token"),
]

_NODE = [
    _r("create", "authentication.k8s.io", "tokenreviews"),
    _r("create", "authorization.k8s.io", "localsubjectaccessreviews subjectaccessreviews"),
    _r(READ, "core", "services"),
    _r("create get list watch", "core", "nodes"),
    _r("patch update", "core", "nodes/status"),
    _r("patch update", "core", "nodes"),
    _r("create patch update", "core", "events"),
    _r(READ, "core", "pods"),
    _r("create delete", "core", "pods"),
    _r("patch update", "core", "pods/status"),
    _r("create", "core", "pods/eviction"),
    _r(READ, "core", "configmaps secrets"),
    _r("get", "core", "persistentvolumeclaims persistentvolumes"),
    _r("get", "core", "endpoints"),
    _r("create get list watch", "certificates.k8s.io", "certificatesigningrequests"),
    _r("create delete get patch update", "coordination.k8s.io", "leases"),
    _r("get", "storage.k8s.io", "volumeattachments"),
    _r("create", "core", "serviceaccounts/token"),
    _r("get patch update", "core", "persistentvolumeclaims/status"),
    _r(READ, "storage.k8s.io", "csidrivers"),
    _r("create delete get patch update", "storage.k8s.io", "csinodes"),
    _r(READ, "node.k8s.io", "runtimeclasses"),
]


def _approver(signer: str) -> list[dict[str, list[str]]]:
    return [_r("approve", "certificates.k8s.io", "signers", signer)]


_CLUSTER_ROLES: dict[str, list[dict[str, list[str]]]] = {
    "cluster-admin": [_r("*", "*", "*"), _url("*", "*")],
    "system:aggregate-to-admin": _ADMIN,
    "system:aggregate-to-edit": _EDIT,
    "system:aggregate-to-view": _VIEW,
    "system:auth-delegator": [
        _r("create", "authentication.k8s.io", "tokenreviews"),
        _r("create", "authorization.k8s.io", "subjectaccessreviews"),
    ],
    "system:basic-user": [
        _r("create", "authorization.k8s.io", "selfsubjectaccessreviews selfsubjectrulesreviews"),
        _r("create", "authentication.k8s.io", "selfsubjectreviews"),
    ],
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": [
        _r("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient")
    ],
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": [
        _r("create", "certificates.k8s.io", "certificatesigningrequests/selfnodeclient")
    ],
    "system:certificates.k8s.io:kube-apiserver-client-approver": _approver(
        "kubernetes.io/kube-apiserver-client"
    ),
    "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver": _approver(
        "kubernetes.io/kube-apiserver-client-kubelet"
    ),
    "system:certificates.k8s.io:kubelet-serving-approver": _approver("kubernetes.io/kubelet-serving"),
    "system:certificates.k8s.io:legacy-unknown-approver": _approver("kubernetes.io/legacy-unknown"),
    "system:discovery": [
        _url(
            "get", "/api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* /readyz /version /version/"
        )
    ],
    "system:heapster": [
        _r(READ, "core", "events namespaces nodes pods"),
        _r(READ, "extensions", "deployments"),
    ],
    "system:kube-aggregator": [_r(READ, "core", "endpoints services")],
    "system:kube-controller-manager": _CONTROLLER_MANAGER,
    "system:kube-dns": [_r("list watch", "core", "endpoints services")],
    "system:kube-scheduler": _SCHEDULER,
    "system:kubelet-api-admin": [
        _r(READ, "core", "nodes"),
        _r("proxy", "core", "nodes"),
        _r("*", "core", "nodes/log nodes/metrics nodes/proxy nodes/stats"),
    ],
    "system:monitoring": [
        _url("get", "/healthz /healthz/* /livez /livez/* /metrics /metrics/slis /readyz /readyz/*")
    ],
    "system:node": _NODE,
    "system:node-bootstrapper": [
        _r("create get list watch", "certificates.k8s.io", "certificatesigningrequests")
    ],
    "system:node-problem-detector": [
        _r("get", "core", "nodes"),
        _r("patch", "core", "nodes/status"),
        EVENTS,
    ],
    "system:node-proxier": [
        _r("list watch", "core", "endpoints services"),
        _r(READ, "core", "nodes"),
        EVENTS,
        _r("list watch", "discovery.k8s.io", "endpointslices"),
    ],
    "system:persistent-volume-provisioner": [
        _r("create delete get list watch", "core", "persistentvolumes"),
        _r("get list update watch", "core", "persistentvolumeclaims"),
        _r(READ, "storage.k8s.io", "storageclasses"),
        _r("watch", "core", "events"),
        EVENTS,
    ],
    "system:public-info-viewer": [_url("get", "/healthz /livez /readyz /version /version/")],
    "system:service-account-issuer-discovery": [
        _url("get", "/.well-known/openid-configuration /openid/v1/jwks")
    ],
    "system:volume-scheduler": [
        _r("get list patch update watch", "core", "persistentvolumes"),
        _r(READ, "storage.k8s.io", "storageclasses"),
        _r("get list patch update watch", "core", "persistentvolumeclaims"),
    ],
}

# name → (selector label suffix, label suffix it carries itself or "")
_AGGREGATED = {"admin": ("admin", ""), "edit": ("edit", "admin"), "view": ("view", "edit")}

# -- controllers (system:controller:<name>, bound to ServiceAccount kube-system/<name>) --------

_CONTROLLERS: dict[str, list[dict[str, list[str]]]] = {
    "attachdetach-controller": [
        _r("list watch", "core", "persistentvolumeclaims persistentvolumes"),
        _r(READ, "core", "nodes"),
        _r("patch update", "core", "nodes/status"),
        _r("list watch", "core", "pods"),
        EVENTS,
        _r("create delete get list watch", "storage.k8s.io", "volumeattachments"),
        _r(READ, "storage.k8s.io", "csidrivers"),
        _r(READ, "storage.k8s.io", "csinodes"),
    ],
    "certificate-controller": [
        _r("delete get list watch", "certificates.k8s.io", "certificatesigningrequests"),
        _r(
            "update",
            "certificates.k8s.io",
            "certificatesigningrequests/approval certificatesigningrequests/status",
        ),
        _r("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client-kubelet"),
        _r(
            "sign",
            "certificates.k8s.io",
            "signers",
            "kubernetes.io/kube-apiserver-client kubernetes.io/kube-apiserver-client-kubelet "
            "kubernetes.io/kubelet-serving kubernetes.io/legacy-unknown",
        ),
        _r("create", "authorization.k8s.io", "subjectaccessreviews"),
        EVENTS,
    ],
    "clusterrole-aggregation-controller": [
        _r("escalate get list patch update watch", "rbac.authorization.k8s.io", "clusterroles")
    ],
    "cronjob-controller": [
        _r("get list update watch", "batch", "cronjobs"),
        _r("create delete get list patch update watch", "batch", "jobs"),
        _r("update", "batch", "cronjobs/status"),
        _r("update", "batch", "cronjobs/finalizers"),
        _r("delete list watch", "core", "pods"),
        EVENTS,
    ],
    "daemon-set-controller": [
        _r(READ, "apps extensions", "daemonsets"),
        _r("update", "apps extensions", "daemonsets/status"),
        _r("update", "apps extensions", "daemonsets/finalizers"),
        _r("list watch", "core", "nodes"),
        _r("create delete list patch watch", "core", "pods"),
        _r("create", "core", "pods/binding"),
        _r("create delete get list patch update watch", "apps", "controllerrevisions"),
        EVENTS,
    ],
    "deployment-controller": [
        _r("get list update watch", "apps extensions", "deployments"),
        _r("update", "apps extensions", "deployments/status"),
        _r("update", "apps extensions", "deployments/finalizers"),
        _r("create delete get list patch update watch", "apps extensions", "replicasets"),
        _r("get list update watch", "core", "pods"),
        EVENTS,
    ],
    "disruption-controller": [
        _r(READ, "apps extensions", "deployments"),
        _r(READ, "apps extensions", "replicasets"),
        _r(READ, "core", "replicationcontrollers"),
        _r(READ, "policy", "poddisruptionbudgets"),
        _r(READ, "apps", "statefulsets"),
        _r("update", "policy", "poddisruptionbudgets/status"),
        _r("patch update", "core", "pods/status"),
        _r("get", "*", "*/scale"),
        EVENTS,
    ],
    "endpoint-controller": [
        _r(READ, "core", "pods services"),
        _r("create delete get list update watch", "core", "endpoints"),
        _r("create", "core", "endpoints/restricted"),
        EVENTS,
    ],
    "endpointslice-controller": [
        _r(READ, "core", "nodes pods services"),
        _r("update", "core", "services/finalizers"),
        _r("create delete get list update watch", "discovery.k8s.io", "endpointslices"),
        EVENTS,
    ],
    "endpointslicemirroring-controller": [
        _r(READ, "core", "endpoints services"),
        _r("update", "core", "services/finalizers"),
        _r("update", "core", "endpoints/finalizers"),
        _r("create delete get list update watch", "discovery.k8s.io", "endpointslices"),
        EVENTS,
    ],
    "ephemeral-volume-controller": [
        _r(READ, "core", "pods"),
        _r("update", "core", "pods/finalizers"),
        _r("create get list watch", "core", "persistentvolumeclaims"),
        EVENTS,
    ],
    "expand-controller": [
        _r("get list patch update watch", "core", "persistentvolumes"),
        _r("patch update", "core", "persistentvolumeclaims/status"),
        _r(READ, "core", "persistentvolumeclaims"),
        EVENTS,
    ],
    "generic-garbage-collector": [
        _r("delete get list patch update watch", "*", "*"),
        EVENTS,
    ],
    "horizontal-pod-autoscaler": [
        _r(READ, "autoscaling", "horizontalpodautoscalers"),
        _r("update", "autoscaling", "horizontalpodautoscalers/status"),
        _r("get update", "*", "*/scale"),
        _r("list watch", "core", "pods"),
        _r("list watch", "metrics.k8s.io", "pods"),
        _r(READ, "custom.metrics.k8s.io", "*"),
        _r(READ, "external.metrics.k8s.io", "*"),
        EVENTS,
    ],
    "job-controller": [
        _r("get list patch update watch", "batch", "jobs"),
        _r("update", "batch", "jobs/status"),
        _r("update", "batch", "jobs/finalizers"),
        _r("create delete list patch watch", "core", "pods"),
        EVENTS,
    ],
    "legacy-service-account-token-cleaner": [
        _r("get", "core", "configmaps", "kube-apiserver-legacy-service-account-token-tracking"),
        _r("delete patch", "core", "secrets"),
    ],
    "namespace-controller": [
        _r("delete get list watch", "core", "namespaces"),
        _r("update", "core", "namespaces/finalize namespaces/status"),
        _r("delete deletecollection get list watch", "*", "*"),
    ],
    "node-controller": [
        _r("delete get list patch update watch", "core", "nodes"),
        _r("patch update", "core", "nodes/status"),
        _r("patch update", "core", "pods/status"),
        _r("delete get list watch", "core", "pods"),
        EVENTS,
    ],
    "persistent-volume-binder": [
        _r("create delete get list update watch", "core", "persistentvolumes"),
        _r("update", "core", "persistentvolumes/status"),
        _r("get list update watch", "core", "persistentvolumeclaims"),
        _r("update", "core", "persistentvolumeclaims/status"),
        _r("create delete get list watch", "core", "pods"),
        _r(READ, "storage.k8s.io", "storageclasses"),
        _r("list watch", "core", "nodes"),
        EVENTS,
        _r("watch", "core", "events"),
    ],
    "pod-garbage-collector": [
        _r("delete list watch", "core", "pods"),
        _r(READ, "core", "nodes"),
        _r("patch", "core", "pods/status"),
    ],
    "pv-protection-controller": [
        _r("get list update watch", "core", "persistentvolumes"),
        EVENTS,
    ],
    "pvc-protection-controller": [
        _r("get list update watch", "core", "persistentvolumeclaims"),
        _r("update", "core", "persistentvolumeclaims/status"),
        _r(READ, "core", "pods"),
        EVENTS,
    ],
    "replicaset-controller": [
        _r("get list update watch", "apps extensions", "replicasets"),
        _r("update", "apps extensions", "replicasets/status"),
        _r("update", "apps extensions", "replicasets/finalizers"),
        _r("create delete list patch watch", "core", "pods"),
        EVENTS,
    ],
    "replication-controller": [
        _r("get list update watch", "core", "replicationcontrollers"),
        _r("update", "core", "replicationcontrollers/status"),
        _r("update", "core", "replicationcontrollers/finalizers"),
        _r("create delete list patch watch", "core", "pods"),
        EVENTS,
    ],
    "resourcequota-controller": [
        _r("list watch", "*", "*"),
        _r("update", "core", "resourcequotas/status"),
        EVENTS,
    ],
    "root-ca-cert-publisher": [
        _r("create update", "core", "configmaps"),
        EVENTS,
    ],
    "route-controller": [
        _r("list watch", "core", "nodes"),
        _r("patch", "core", "nodes/status"),
        EVENTS,
    ],
    "service-account-controller": [
        _r("create", "core", "serviceaccounts"),
        EVENTS,
    ],
    # Not upstream's (its tokens controller uses controller-manager's own credentials).
    "tokens-controller": [
        _r("get list watch", "core", "serviceaccounts"),
        _r("create delete get list update watch", "core", "secrets"),
        EVENTS,
    ],
    "service-controller": [
        _r(READ, "core", "services"),
        _r("patch update", "core", "services/status"),
        _r("list watch", "core", "nodes"),
        EVENTS,
    ],
    "statefulset-controller": [
        _r("list watch", "core", "pods"),
        _r(READ, "apps", "statefulsets"),
        _r("update", "apps", "statefulsets/status"),
        _r("update", "apps", "statefulsets/finalizers"),
        _r("create delete get patch update", "core", "pods"),
        _r("create delete get list patch update watch", "apps", "controllerrevisions"),
        _r("create get list watch", "core", "persistentvolumeclaims"),
        _r("delete update", "core", "persistentvolumeclaims"),
        _r("update", "core", "pods/finalizers"),
        EVENTS,
    ],
    "ttl-after-finished-controller": [
        _r("delete get list watch", "batch", "jobs"),
        EVENTS,
    ],
    "ttl-controller": [
        _r("list patch update watch", "core", "nodes"),
        EVENTS,
    ],
}

CONTROLLER_PREFIX = "system:controller:"

# ClusterRoleBinding name (= ClusterRole name) → subjects as "Kind:name" or "ServiceAccount:ns/name".
_CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, ...]] = {
    "cluster-admin": ("Group:system:masters",),
    "system:monitoring": ("Group:system:monitoring",),
    "system:discovery": ("Group:system:authenticated",),
    "system:basic-user": ("Group:system:authenticated",),
    "system:public-info-viewer": ("Group:system:authenticated", "Group:system:unauthenticated"),
    "system:node-proxier": ("User:system:kube-proxy",),
    "system:kube-controller-manager": ("User:system:kube-controller-manager",),
    "system:kube-dns": ("ServiceAccount:kube-system/kube-dns",),
    "system:kube-scheduler": ("User:system:kube-scheduler",),
    "system:volume-scheduler": ("User:system:kube-scheduler",),
    # Nodes are authorized by the Node authorizer; upstream keeps this binding with no subjects.
    "system:node": (),
    "system:service-account-issuer-discovery": ("Group:system:serviceaccounts",),
}

# Namespaced roles: (namespace, name) → rules.
_ROLES: dict[tuple[str, str], list[dict[str, list[str]]]] = {
    ("kube-public", "system:controller:bootstrap-signer"): [
        _r(READ, "core", "configmaps"),
        _r("update", "core", "configmaps", "cluster-info"),
        EVENTS,
    ],
    ("kube-system", "extension-apiserver-authentication-reader"): [
        _r(READ, "core", "configmaps", "extension-apiserver-authentication")
    ],
    ("kube-system", "system::leader-locking-kube-controller-manager"): [
        _r("create get list update watch", "coordination.k8s.io", "leases"),
        _r("create get list update watch", "coordination.k8s.io", "leasecandidates"),
    ],
    ("kube-system", "system::leader-locking-kube-scheduler"): [
        _r("create get list update watch", "coordination.k8s.io", "leases"),
        _r("create get list update watch", "coordination.k8s.io", "leasecandidates"),
    ],
    ("kube-system", "system:controller:bootstrap-signer"): [_r(READ, "core", "secrets")],
    ("kube-system", "system:controller:cloud-provider"): [_r("create get list watch", "core", "configmaps")],
    ("kube-system", "system:controller:token-cleaner"): [
        _r("delete get list watch", "core", "secrets"),
        EVENTS,
    ],
}

# Namespaced bindings: (namespace, binding name) → (role name, subjects).
_ROLE_BINDINGS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("kube-public", "system:controller:bootstrap-signer"): (
        "system:controller:bootstrap-signer",
        ("ServiceAccount:kube-system/bootstrap-signer",),
    ),
    ("kube-system", "system::extension-apiserver-authentication-reader"): (
        "extension-apiserver-authentication-reader",
        ("User:system:kube-controller-manager", "User:system:kube-scheduler"),
    ),
    ("kube-system", "system::leader-locking-kube-controller-manager"): (
        "system::leader-locking-kube-controller-manager",
        (
            "User:system:kube-controller-manager",
            "ServiceAccount:kube-system/kube-controller-manager",
            "ServiceAccount:kube-system/leader-election-controller",
        ),
    ),
    ("kube-system", "system::leader-locking-kube-scheduler"): (
        "system::leader-locking-kube-scheduler",
        ("User:system:kube-scheduler", "ServiceAccount:kube-system/kube-scheduler"),
    ),
    ("kube-system", "system:controller:bootstrap-signer"): (
        "system:controller:bootstrap-signer",
        ("ServiceAccount:kube-system/bootstrap-signer",),
    ),
    ("kube-system", "system:controller:cloud-provider"): (
        "system:controller:cloud-provider",
        ("ServiceAccount:kube-system/cloud-provider",),
    ),
    ("kube-system", "system:controller:token-cleaner"): (
        "system:controller:token-cleaner",
        ("ServiceAccount:kube-system/token-cleaner",),
    ),
}

# -- building the objects ----------------------------------------------------------------


def _metadata(name: str, namespace: str = "", labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {BOOTSTRAP_LABEL: "rbac-defaults", **(labels or {})}
    meta["annotations"] = {AUTOUPDATE: "true"}
    return meta


def _subject(spec: str) -> dict[str, str]:
    kind, _, rest = spec.partition(":")
    if kind == "ServiceAccount":
        namespace, _, name = rest.partition("/")
        return {"kind": kind, "name": name, "namespace": namespace}
    return {"kind": kind, "apiGroup": RBAC_GROUP, "name": rest}


def _cluster_role(name: str, rules: list[dict[str, list[str]]], **extra: Any) -> dict[str, Any]:
    labels = extra.pop("labels", None)
    obj = {"apiVersion": API_VERSION, "kind": "ClusterRole", "metadata": _metadata(name, labels=labels)}
    obj.update(extra)
    obj["rules"] = copy.deepcopy(rules)
    return obj


def _binding(
    kind: str, name: str, role_kind: str, role: str, subjects: tuple[str, ...], namespace: str = ""
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": _metadata(name, namespace),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
        "subjects": [_subject(s) for s in subjects],
    }


def cluster_roles() -> list[dict[str, Any]]:
    out = []
    for name, (selects, joins) in _AGGREGATED.items():
        rule = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + selects: "true"}}]}
        labels = {AGGREGATE_TO + joins: "true"} if joins else None
        out.append(_cluster_role(name, [], aggregationRule=rule, labels=labels))
    for name, rules in _CLUSTER_ROLES.items():
        # system:aggregate-to-X feeds X.
        labels = (
            {AGGREGATE_TO + name.rsplit("-", 1)[1]: "true"}
            if name.startswith("system:aggregate-to-")
            else None
        )
        out.append(_cluster_role(name, rules, labels=labels))
    out.extend(_cluster_role(CONTROLLER_PREFIX + name, rules) for name, rules in _CONTROLLERS.items())
    return out


def cluster_role_bindings() -> list[dict[str, Any]]:
    out = [_binding("ClusterRoleBinding", n, "ClusterRole", n, s) for n, s in _CLUSTER_ROLE_BINDINGS.items()]
    # kubeadm's: members of kubeadm:cluster-admins (admin.conf) are cluster admins.
    out.append(
        _binding(
            "ClusterRoleBinding",
            "kubeadm:cluster-admins",
            "ClusterRole",
            "cluster-admin",
            ("Group:kubeadm:cluster-admins",),
        )
    )
    for name in _CONTROLLERS:
        full = CONTROLLER_PREFIX + name
        out.append(
            _binding("ClusterRoleBinding", full, "ClusterRole", full, (f"ServiceAccount:kube-system/{name}",))
        )
    return out


def roles() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "Role",
            "metadata": _metadata(name, ns),
            "rules": copy.deepcopy(rules),
        }
        for (ns, name), rules in _ROLES.items()
    ]


def role_bindings() -> list[dict[str, Any]]:
    return [
        _binding("RoleBinding", name, "Role", role, subjects, ns)
        for (ns, name), (role, subjects) in _ROLE_BINDINGS.items()
    ]


def bootstrap_objects() -> list[dict[str, Any]]:
    """Every bootstrap object, roles before the bindings that refer to them (fresh copies)."""
    return [*cluster_roles(), *cluster_role_bindings(), *roles(), *role_bindings()]


# -- reconciliation ----------------------------------------------------------------------


def _protected(existing: Mapping[str, Any]) -> bool:
    return ((existing.get("metadata") or {}).get("annotations") or {}).get(AUTOUPDATE) == "false"


def needs_recreate(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """A binding whose roleRef changed must be deleted and created again (roleRef is immutable)."""
    return "roleRef" in wanted and existing.get("roleRef") != wanted.get("roleRef")


def reconcile(existing: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object to write so ``existing`` grants at least ``wanted``; None when nothing changes.

    ``existing`` None → ``wanted`` (create).  Otherwise a copy of ``existing``
    (metadata kept, so an update keeps its resourceVersion) with what it lacks
    added; for a binding whose roleRef differs, ``wanted`` itself (see
    :func:`needs_recreate`).  Never touches an object annotated
    ``rbac.authorization.kubernetes.io/autoupdate: "false"``.
    """
    if existing is None:
        return copy.deepcopy(dict(wanted))
    if _protected(existing):
        return None
    if needs_recreate(existing, wanted):
        return copy.deepcopy(dict(wanted))
    result = copy.deepcopy(dict(existing))
    changed = False
    meta = result.setdefault("metadata", {})
    wanted_meta = wanted.get("metadata") or {}
    for key in ("labels", "annotations"):
        # Wanted keys are added; values already set on the cluster win.
        merged = {**(wanted_meta.get(key) or {}), **(meta.get(key) or {})}
        if merged != (meta.get(key) or {}):
            meta[key] = merged
            changed = True
    if "roleRef" in wanted:
        have = list(result.get("subjects") or [])
        missing = [s for s in wanted.get("subjects") or [] if s not in have]
        if missing:
            result["subjects"] = have + copy.deepcopy(missing)
            changed = True
        return result if changed else None
    missing_rules = uncovered(list(existing.get("rules") or []), wanted.get("rules") or [])
    if missing_rules:
        result["rules"] = list(result.get("rules") or []) + missing_rules
        changed = True
    wanted_selectors = (wanted.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    have_selectors = (result.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    missing_selectors = [s for s in wanted_selectors if s not in have_selectors]
    if missing_selectors:
        result["aggregationRule"] = {
            "clusterRoleSelectors": [*have_selectors, *copy.deepcopy(missing_selectors)]
        }
        changed = True
    return result if changed else None
