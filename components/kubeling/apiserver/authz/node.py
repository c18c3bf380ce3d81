"""The Node authorizer and the NodeRestriction admission check.

A kubelet authenticates as ``system:node:<node>`` in group ``system:nodes``.
Upstream gives it just what its own pods need by walking a graph of
node → pods → secrets/configmaps/PVCs/service accounts; here the graph is
walked on demand from ``pods_on_node(node)`` (the pods whose
``spec.nodeName`` is that node, from the apiserver's watch cache):

* secrets, configmaps: get/list/watch of one named object a pod on the node
  references (volumes, projected sources, env, envFrom, imagePullSecrets);
* persistentvolumeclaims: get, and update/patch of ``status``, when a pod on
  the node mounts the claim (ephemeral volumes included);
* persistentvolumes: get of the volume such a claim is bound to;
* serviceaccounts/token: create for the service account of a pod on the node;
* pods: get of a pod bound to the node, update/patch of its ``status``;
  list/watch (the kubelet filters by ``spec.nodeName``, which the attributes
  do not carry); create/delete and eviction, left to NodeRestriction;
* nodes: get/list/watch, create (registration), update/patch of its own Node
  and its status;
* leases in ``kube-node-lease``: its own (any name on create — NodeRestriction
  checks the name then);
* csinodes: its own;
* a fixed list: services/endpoints read, events write, token and access
  reviews, certificate signing requests, runtime classes, CSI drivers.

Anything else gets no opinion (RBAC may still allow it), with upstream's
reason where upstream gives one.

:func:`node_restriction` is the NodeRestriction admission plugin: a node may
only change its own Node (and not the restricted labels), create only mirror
pods bound to itself that reference no other objects, delete or update the
status of pods bound to itself, and create only its own Lease.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from kubeling.api.validation.common import go_repr
from kubeling.apiserver.authz.attributes import ALLOW, NO_OPINION, Attributes, Decision
from kubeling.apiserver.authz.rules import make_rule, rules_allow

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class PodsLister(Protocol):
    def pods_on_node(self, node: str) -> list[dict[str, Any]]: ...

    def claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A PersistentVolumeClaim (to follow a pod's claim to its volume)."""
        ...


def node_identity(user: str, groups: Sequence[str]) -> str | None:
    """The node a user speaks for ("" when the name is missing), or None for a non-node."""
    if not user.startswith(NODE_USER_PREFIX) or NODES_GROUP not in groups:
        return None
    return user[len(NODE_USER_PREFIX) :]


# -- what a pod references -----------------------------------------------------------------

_SECRET_REF_VOLUMES = ("azureFile", "cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos")


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def pod_references(pod: Mapping[str, Any]) -> dict[str, set[str]]:
    """Names of the secrets, configmaps, persistentvolumeclaims and serviceaccounts a pod uses."""
    spec = pod.get("spec") or {}
    refs: dict[str, set[str]] = {
        k: set() for k in ("secrets", "configmaps", "persistentvolumeclaims", "serviceaccounts")
    }
    secrets, configmaps = refs["secrets"], refs["configmaps"]
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        refs["serviceaccounts"].add(account)
    secrets.update(s.get("name", "") for s in spec.get("imagePullSecrets") or [])
    for container in _containers(spec):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            secrets.add((source.get("secretKeyRef") or {}).get("name", ""))
            configmaps.add((source.get("configMapKeyRef") or {}).get("name", ""))
        for env_from in container.get("envFrom") or []:
            secrets.add((env_from.get("secretRef") or {}).get("name", ""))
            configmaps.add((env_from.get("configMapRef") or {}).get("name", ""))
    pod_name = (pod.get("metadata") or {}).get("name", "")
    for volume in spec.get("volumes") or []:
        secrets.add((volume.get("secret") or {}).get("secretName", ""))
        configmaps.add((volume.get("configMap") or {}).get("name", ""))
        for source in (volume.get("projected") or {}).get("sources") or []:
            secrets.add((source.get("secret") or {}).get("name", ""))
            configmaps.add((source.get("configMap") or {}).get("name", ""))
        refs["persistentvolumeclaims"].add((volume.get("persistentVolumeClaim") or {}).get("claimName", ""))
        if "ephemeral" in volume:
            # The ephemeral-volume controller names the claim <pod>-<volume>.
            refs["persistentvolumeclaims"].add(f"{pod_name}-{volume.get('name', '')}")
        secrets.add(((volume.get("csi") or {}).get("nodePublishSecretRef") or {}).get("name", ""))
        for kind in _SECRET_REF_VOLUMES:
            source = volume.get(kind) or {}
            secrets.add(source.get("secretName") or (source.get("secretRef") or {}).get("name", ""))
    for names in refs.values():
        names.discard("")
    return refs


# -- the authorizer --------------------------------------------------------------------

_READ = ("get", "list", "watch")

# Requests not subdivided by object: allowed to every node, as upstream's static node rules.
_STATIC_RULES = [
    make_rule(_READ, [""], ["services", "endpoints"]),
    make_rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
    make_rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
    make_rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews", "localsubjectaccessreviews"]),
    make_rule(["create", *_READ], ["certificates.k8s.io"], ["certificatesigningrequests"]),
    make_rule(_READ, ["node.k8s.io"], ["runtimeclasses"]),
    make_rule(_READ, ["storage.k8s.io"], ["csidrivers"]),
]


class NodeAuthorizer:
    def __init__(self, pods: PodsLister) -> None:
        self._pods = pods

    def authorize(self, attrs: Attributes) -> Decision:
        node = node_identity(attrs.user, attrs.groups)
        if node is None:
            return NO_OPINION
        if not node:
            return Decision(False, f"unknown node for user {go_repr(attrs.user)}")
        if attrs.is_resource_request:
            handler = self._handlers.get((attrs.api_group, attrs.resource))
            if handler is not None:
                return handler(self, node, attrs)
        return ALLOW if rules_allow(attrs, _STATIC_RULES) else NO_OPINION

    # -- relationships

    def _bound(self, node: str, namespace: str, name: str) -> bool:
        return any(_ns_name(pod) == (namespace, name) for pod in self._pods.pods_on_node(node))

    def _referenced(self, node: str, resource: str, namespace: str, name: str) -> bool:
        return any(
            (pod.get("metadata") or {}).get("namespace", "") == namespace
            and name in pod_references(pod)[resource]
            for pod in self._pods.pods_on_node(node)
        )

    def _related(self, node: str, attrs: Attributes) -> Decision:
        if not attrs.name:
            return Decision(False, "No Object name found")
        if self._referenced(node, attrs.resource, attrs.namespace, attrs.name):
            return ALLOW
        return Decision(False, f"no relationship found between node '{node}' and this object")

    # -- per resource

    def _read_namespaced(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb not in _READ:
            return Decision(False, "can only read resources of this type")
        if attrs.subresource:
            return Decision(False, "cannot read subresource")
        if not attrs.namespace:
            return Decision(False, "can only read namespaced object of this type")
        return self._related(node, attrs)

    def _claims(self, node: str, attrs: Attributes) -> Decision:
        if attrs.subresource == "status" or attrs.verb in ("update", "patch"):
            if attrs.verb not in ("update", "patch"):
                return Decision(False, "can only get/update/patch this type")
            if attrs.subresource != "status":
                return Decision(False, "can only update status subresource")
            return self._related(node, attrs)
        if attrs.verb != "get":
            return Decision(False, "can only get individual resources of this type")
        return self._related(node, attrs)

    def _volume(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb != "get" or not attrs.name:
            return Decision(False, "can only get individual resources of this type")
        if attrs.subresource:
            return Decision(False, "cannot get subresource")
        for pod in self._pods.pods_on_node(node):
            namespace = (pod.get("metadata") or {}).get("namespace", "")
            for claim_name in pod_references(pod)["persistentvolumeclaims"]:
                claim = self._pods.claim(namespace, claim_name)
                if claim is not None and (claim.get("spec") or {}).get("volumeName") == attrs.name:
                    return ALLOW
        return Decision(False, f"no relationship found between node '{node}' and this object")

    def _token(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb != "create" or not attrs.name:
            return Decision(False, "can only create tokens for individual service accounts")
        if attrs.subresource != "token":
            return Decision(False, "can only create token subresource of serviceaccount")
        return self._related(node, attrs)

    def _lease(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision(False, "can only get, create, update, patch, or delete a node lease")
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return Decision(
                False, f"can only access leases in the {go_repr(NODE_LEASE_NAMESPACE)} system namespace"
            )
        # The name is unknown at create time; NodeRestriction checks it then.
        if attrs.verb != "create" and attrs.name != node:
            return Decision(False, "can only access node lease with the same name as the requesting node")
        return ALLOW

    def _pod(self, node: str, attrs: Attributes) -> Decision:
        sub, verb = attrs.subresource, attrs.verb
        if not sub and verb in ("list", "watch", "create", "delete"):
            return ALLOW  # create/delete are mirror pods, checked by NodeRestriction
        if sub == "eviction" and verb == "create":
            return ALLOW
        if (not sub and verb == "get") or (sub == "status" and verb in ("update", "patch")):
            if self._bound(node, attrs.namespace, attrs.name):
                return ALLOW
            return Decision(False, f"no relationship found between node '{node}' and this object")
        return NO_OPINION

    def _node(self, node: str, attrs: Attributes) -> Decision:
        sub, verb = attrs.subresource, attrs.verb
        if not sub and verb in (*_READ, "create"):
            return ALLOW
        if sub in ("", "status") and verb in ("update", "patch") and attrs.name == node:
            return ALLOW
        return NO_OPINION

    def _csinode(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb == "create" or (
            attrs.verb in ("get", "update", "patch", "delete") and attrs.name == node
        ):
            return ALLOW
        return NO_OPINION

    _handlers = {
        ("", "secrets"): _read_namespaced,
        ("", "configmaps"): _read_namespaced,
        ("", "persistentvolumeclaims"): _claims,
        ("", "persistentvolumes"): _volume,
        ("", "serviceaccounts"): _token,
        ("", "pods"): _pod,
        ("", "nodes"): _node,
        ("coordination.k8s.io", "leases"): _lease,
        ("storage.k8s.io", "csinodes"): _csinode,
    }


def _ns_name(obj: Mapping[str, Any] | None) -> tuple[str, str]:
    meta = (obj or {}).get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


# -- NodeRestriction admission --------------------------------------------------------------

# Labels a kubelet may set on its Node although they live under kubernetes.io / k8s.io.
_KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
    }
)
_KUBELET_LABEL_DOMAINS = ("kubelet.kubernetes.io", "node.kubernetes.io")


def _in_domain(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def _restricted_label(key: str) -> bool:
    """Labels a node may not set on itself: ``node-restriction.kubernetes.io/``, unlisted kubernetes ones."""
    if "/" not in key or key in _KUBELET_LABELS:
        return False
    domain = key.split("/", 1)[0]
    if _in_domain(domain, "node-restriction.kubernetes.io"):
        return True
    if any(_in_domain(domain, allowed) for allowed in _KUBELET_LABEL_DOMAINS):
        return False
    return _in_domain(domain, "kubernetes.io") or _in_domain(domain, "k8s.io")


def _modified_labels(new: Mapping[str, str], old: Mapping[str, str]) -> list[str]:
    keys = set(new) | set(old)
    return sorted(k for k in keys if new.get(k) != old.get(k) and _restricted_label(k))


_OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}


def _node_name_of(pod: Mapping[str, Any] | None) -> str:
    return ((pod or {}).get("spec") or {}).get("nodeName", "")


def _mirror_pod_create(node: str, pod: Mapping[str, Any]) -> str | None:
    quoted = go_repr(node)
    meta = pod.get("metadata") or {}
    if MIRROR_ANNOTATION not in (meta.get("annotations") or {}):
        annotation = go_repr(MIRROR_ANNOTATION)
        return f"pod does not have {annotation} annotation, node {quoted} can only create mirror pods"
    if _node_name_of(pod) != node:
        return f"node {quoted} can only create pods with spec.nodeName set to itself"
    owners = meta.get("ownerReferences") or []
    if len(owners) > 1:
        return f"node {quoted} can only create pods with a single owner reference set to itself"
    if not owners:
        return f"node {quoted} can only create pods with an owner reference set to itself"
    owner = owners[0]
    if (owner.get("apiVersion"), owner.get("kind"), owner.get("name")) != ("v1", "Node", node):
        return f"node {quoted} can only create pods with an owner reference set to itself"
    if not owner.get("controller"):
        return f"node {quoted} can only create pods with a controller owner reference set to itself"
    if owner.get("blockOwnerDeletion"):
        return f"node {quoted} must not set blockOwnerDeletion on an owner reference"
    refs = pod_references(pod)
    if (pod.get("spec") or {}).get("serviceAccountName"):
        return f"node {quoted} can not create pods that reference a service account"
    for resource in ("secrets", "configmaps", "persistentvolumeclaims"):
        if refs[resource]:
            return f"node {quoted} can not create pods that reference {resource}"
    return None


def node_restriction(
    user: str,
    groups: Sequence[str],
    verb: str,
    resource: str,
    obj: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
) -> str | None:
    """NodeRestriction: why a node may not make this write, or None (also for non-node users).

    ``resource`` is ``pods``, ``pods/status``, ``pods/eviction``, ``nodes``,
    ``nodes/status`` or ``leases`` (others pass); ``obj`` is the new object
    (None on delete), ``old`` the stored one (for an eviction, the pod being
    evicted).  The answer is upstream's sentence; the apiserver wraps it with
    :func:`~kubeling.apiserver.authz.attributes.new_forbidden`.
    """
    node = node_identity(user, groups)
    if node is None:
        return None
    if not node:
        return f"could not determine node from user {go_repr(user)}"
    quoted = go_repr(node)
    operation = _OPERATIONS.get(verb, verb.upper())
    if resource == "pods":
        if operation == "CREATE":
            return _mirror_pod_create(node, obj or {})
        if operation == "DELETE":
            if _node_name_of(old) != node:
                return f"node {quoted} can only delete pods with spec.nodeName set to itself"
            return None
        return (
            f"unexpected operation {go_repr(operation)}, node {quoted} can only create and delete mirror pods"
        )
    if resource == "pods/status":
        if operation != "UPDATE":
            return f"unexpected operation {go_repr(operation)}"
        if _node_name_of(old or obj) != node:
            return f"node {quoted} can only update pod status for pods with spec.nodeName set to itself"
        return None
    if resource == "pods/eviction":
        if _node_name_of(old) != node:
            return f"node {quoted} can only evict pods with spec.nodeName set to itself"
        return None
    if resource in ("nodes", "nodes/status"):
        name = _ns_name(obj or old)[1]
        if name != node:
            return f"node {quoted} is not allowed to modify node {go_repr(name)}"
        new_labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
        if operation == "CREATE":
            bad = _modified_labels(new_labels, {})
            if bad:
                return f"node {quoted} is not allowed to set the following labels: {', '.join(bad)}"
        elif operation == "UPDATE":
            bad = _modified_labels(new_labels, ((old or {}).get("metadata") or {}).get("labels") or {})
            if bad:
                return f"is not allowed to modify labels: {', '.join(bad)}"
        return None
    if resource == "leases":
        namespace, name = _ns_name(obj or old)
        if namespace != NODE_LEASE_NAMESPACE:
            return f"can only access leases in the {go_repr(NODE_LEASE_NAMESPACE)} system namespace"
        if name != node:
            return "can only access node lease with the same name as the requesting node"
        return None
    return None
