"""The resources controllers read and write, resolved once from the API registry."""

from __future__ import annotations

from kubeling.api.resources import Registry, Resource

_REGISTRY = Registry()


def resource(group: str, version: str, plural: str) -> Resource:
    return _REGISTRY.get(group, version, plural)


PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
NAMESPACES = resource("", "v1", "namespaces")
SERVICES = resource("", "v1", "services")
ENDPOINTS = resource("", "v1", "endpoints")
CONFIGMAPS = resource("", "v1", "configmaps")
SECRETS = resource("", "v1", "secrets")
SERVICEACCOUNTS = resource("", "v1", "serviceaccounts")
PERSISTENTVOLUMES = resource("", "v1", "persistentvolumes")
PERSISTENTVOLUMECLAIMS = resource("", "v1", "persistentvolumeclaims")
REPLICATIONCONTROLLERS = resource("", "v1", "replicationcontrollers")
RESOURCEQUOTAS = resource("", "v1", "resourcequotas")
LIMITRANGES = resource("", "v1", "limitranges")
EVENTS = resource("", "v1", "events")
DEPLOYMENTS = resource("apps", "v1", "deployments")
REPLICASETS = resource("apps", "v1", "replicasets")
DAEMONSETS = resource("apps", "v1", "daemonsets")
STATEFULSETS = resource("apps", "v1", "statefulsets")
CONTROLLERREVISIONS = resource("apps", "v1", "controllerrevisions")
JOBS = resource("batch", "v1", "jobs")
CRONJOBS = resource("batch", "v1", "cronjobs")
LEASES = resource("coordination.k8s.io", "v1", "leases")
ENDPOINTSLICES = resource("discovery.k8s.io", "v1", "endpointslices")
PODDISRUPTIONBUDGETS = resource("policy", "v1", "poddisruptionbudgets")
HORIZONTALPODAUTOSCALERS = resource("autoscaling", "v2", "horizontalpodautoscalers")
STORAGECLASSES = resource("storage.k8s.io", "v1", "storageclasses")
PRIORITYCLASSES = resource("scheduling.k8s.io", "v1", "priorityclasses")
