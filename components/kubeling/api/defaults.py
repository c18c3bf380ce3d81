"""Per-kind defaulting, after upstream's ``pkg/apis/<group>/v1/defaults.go``.

:func:`apply_defaults` fills, in place, the fields upstream fills when it
decodes an object, so what is stored (and read back by kubectl and the
controllers) looks the same as on a real cluster.  Every function only sets
fields that are absent, so defaulting an already-defaulted object is a
no-op; the apiserver runs it on every create and update.

Pod specs are defaulted the same way wherever they appear: in Pods and in
the templates of every workload.  A few pod fields are only defaulted on
Pods themselves (``enableServiceLinks``, requests copied from limits), as
upstream does.  Fields that upstream sets in admission plugins or the REST
layer (``priority``, default tolerations, clusterIP allocation, the Job
selector) are not set here.

Custom resources get the ``default`` values of their CRD's structural schema.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

from kubeling.api.resources import Resource
from kubeling.api.validation.unknown import crd_version_schema

Obj = dict[str, Any]

_VOLUME_SOURCE_MODES = ("configMap", "secret", "projected", "downwardAPI")
_RBAC_GROUP = "rbac.authorization.k8s.io"


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _child(obj: Obj, key: str) -> Obj:
    """obj[key] as a dict, created when absent (never replacing a non-dict)."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Obj]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# -- pods -------------------------------------------------------------------------


def image_pull_policy(image: Any) -> str:
    """Always for ``:latest`` or no tag (and no digest), else IfNotPresent."""
    if not isinstance(image, str):
        return "IfNotPresent"
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    _handler(probe)


def _handler(handler: Obj) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _env(env: Any) -> None:
    for var in _items(env):
        ref = _d(var.get("valueFrom")).get("fieldRef")
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def _container(container: Obj) -> None:
    container.setdefault("imagePullPolicy", image_pull_policy(container.get("image")))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in _items(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(name), dict):
            _probe(container[name])
    lifecycle = _d(container.get("lifecycle"))
    for hook in ("postStart", "preStop"):
        if isinstance(lifecycle.get(hook), dict):
            _handler(lifecycle[hook])
    _env(container.get("env"))


def _volume(volume: Obj) -> None:
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for key in _VOLUME_SOURCE_MODES:
        source = volume.get(key)
        if isinstance(source, dict):
            source.setdefault("defaultMode", 420)
    downward = volume.get("downwardAPI")
    if isinstance(downward, dict):
        for item in _items(downward.get("items")):
            if isinstance(item.get("fieldRef"), dict):
                item["fieldRef"].setdefault("apiVersion", "v1")
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")


def pod_spec(spec: Obj, *, restart_policy: bool = True) -> None:
    """Defaults of a PodSpec, in a Pod or in any pod template.

    Job templates get no restartPolicy: it must be chosen (OnFailure or Never).
    """
    if restart_policy:
        spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in _items(spec.get(field)):
            _container(container)
    for volume in _items(spec.get("volumes")):
        _volume(volume)
    for toleration in _items(spec.get("tolerations")):
        if toleration.get("operator") == "":
            toleration.pop("operator")


def pod_template(template: Any, *, restart_policy: bool = True) -> None:
    if isinstance(template, dict):
        pod_spec(_child(template, "spec"), restart_policy=restart_policy)


def _pod(pod: Obj) -> None:
    spec = _child(pod, "spec")
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    for field in ("initContainers", "containers"):
        for container in _items(spec.get(field)):
            # Limits without requests mean requests equal to the limits.
            resources = _d(container.get("resources"))
            limits = _d(resources.get("limits"))
            if limits:
                requests = _child(resources, "requests")
                for name, value in limits.items():
                    requests.setdefault(name, value)
    if spec.get("hostNetwork") is True:
        for field in ("initContainers", "containers"):
            for container in _items(spec.get(field)):
                for port in _items(container.get("ports")):
                    if not port.get("hostPort") and port.get("containerPort"):
                        port["hostPort"] = port["containerPort"]


# -- core ---------------------------------------------------------------------------


def _service(svc: Obj) -> None:
    spec = _child(svc, "spec")
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("sessionAffinity") == "ClientIP":
        config = _child(_child(spec, "sessionAffinityConfig"), "clientIP")
        config.setdefault("timeoutSeconds", 10800)
    for port in _items(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and "port" in port:
            port["targetPort"] = port["port"]
    if kind == "ExternalName":
        return
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("ipFamilies", ["IPv4"])
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]


def _secret(secret: Obj) -> None:
    secret.setdefault("type", "Opaque")
    # stringData is write-only: it is merged into data (base64) and dropped.
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _child(secret, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _namespace(ns: Obj) -> None:
    name = _d(ns.get("metadata")).get("name")
    if isinstance(name, str) and name and isinstance(ns.get("metadata"), dict):
        _child(ns["metadata"], "labels")["kubernetes.io/metadata.name"] = name
    spec = _child(ns, "spec")
    spec.setdefault("finalizers", ["kubernetes"])
    _child(ns, "status").setdefault("phase", "Active")


def _node(node: Obj) -> None:
    spec = node.get("spec")
    if isinstance(spec, dict):
        _pod_cidrs(spec)
    status = node.get("status")
    if isinstance(status, dict) and isinstance(status.get("capacity"), dict) and "allocatable" not in status:
        status["allocatable"] = copy.deepcopy(status["capacity"])


def _pod_cidrs(spec: Obj) -> None:
    """Keep ``podCIDR == podCIDRs[0]``, as upstream's v1 conversion does.

    The single field wins when the two disagree (older clients only know it),
    so changing ``podCIDR`` alone reads as a change of ``podCIDRs`` that the
    update validation then refuses.
    """
    single = spec.get("podCIDR")
    cidrs = spec.get("podCIDRs")
    if (
        isinstance(single, str)
        and single
        and (not isinstance(cidrs, list) or not cidrs or cidrs[0] != single)
    ):
        spec["podCIDRs"] = [single]
    elif isinstance(cidrs, list) and cidrs and isinstance(cidrs[0], str):
        spec["podCIDR"] = cidrs[0]


def _pvc_spec(pvc: Obj) -> None:
    _child(pvc, "spec").setdefault("volumeMode", "Filesystem")


def _pvc(pvc: Obj) -> None:
    _pvc_spec(pvc)
    _child(pvc, "status").setdefault("phase", "Pending")


def _pv(pv: Obj) -> None:
    spec = _child(pv, "spec")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    _child(pv, "status").setdefault("phase", "Pending")


def _replication_controller(rc: Obj) -> None:
    spec = _child(rc, "spec")
    template = spec.get("template")
    if isinstance(template, dict):
        labels = _d(_d(template.get("metadata")).get("labels"))
        if labels:
            if not spec.get("selector"):
                spec["selector"] = dict(labels)
            meta = _child(rc, "metadata")
            if not meta.get("labels"):
                meta["labels"] = dict(labels)
        pod_template(template)
    spec.setdefault("replicas", 1)


def _endpoints(ep: Obj) -> None:
    for subset in _items(ep.get("subsets")):
        for port in _items(subset.get("ports")):
            port.setdefault("protocol", "TCP")


def _limit_range(lr: Obj) -> None:
    for item in _items(_d(lr.get("spec")).get("limits")):
        if item.get("type") != "Container":
            continue
        # A max is also the default limit; a default limit is also the default request.
        maximum = _d(item.get("max"))
        if maximum:
            default = _child(item, "default")
            for name, value in maximum.items():
                default.setdefault(name, value)
        default = _d(item.get("default"))
        if default:
            request = _child(item, "defaultRequest")
            for name, value in default.items():
                request.setdefault(name, value)


# -- apps -------------------------------------------------------------------------------


def _deployment(deploy: Obj) -> None:
    spec = _child(deploy, "spec")
    spec.setdefault("replicas", 1)
    strategy = _child(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    pod_template(spec.get("template"))


def _replica_set(rs: Obj) -> None:
    spec = _child(rs, "spec")
    spec.setdefault("replicas", 1)
    pod_template(spec.get("template"))


def _stateful_set(sts: Obj) -> None:
    spec = _child(sts, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        _child(strategy, "rollingUpdate").setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in _items(spec.get("volumeClaimTemplates")):
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        _pvc(claim)
    pod_template(spec.get("template"))


def _daemon_set(ds: Obj) -> None:
    spec = _child(ds, "spec")
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    pod_template(spec.get("template"))


# -- batch -------------------------------------------------------------------------------


def _job(job: Obj) -> None:
    spec = _child(job, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault(
        "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    )
    pod_template(spec.get("template"), restart_policy=False)


def _cron_job(cj: Obj) -> None:
    spec = _child(cj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = _d(_d(spec.get("jobTemplate")).get("spec"))
    pod_template(job_spec.get("template"), restart_policy=False)


# -- other groups -----------------------------------------------------------------------


def _hpa_v2(hpa: Obj) -> None:
    spec = _child(hpa, "spec")
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        up = _child(behavior, "scaleUp")
        up.setdefault("stabilizationWindowSeconds", 0)
        up.setdefault("selectPolicy", "Max")
        up.setdefault(
            "policies",
            [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        )
        down = _child(behavior, "scaleDown")
        down.setdefault("selectPolicy", "Max")
        down.setdefault("policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}])


def _hpa_v1(hpa: Obj) -> None:
    _child(hpa, "spec").setdefault("minReplicas", 1)


def _api_service(apiservice: Obj) -> None:
    service = _d(_d(apiservice.get("spec")).get("service"))
    if service:
        service.setdefault("port", 443)


def _endpoint_slice(eps: Obj) -> None:
    for port in _items(eps.get("ports")):
        port.setdefault("name", "")
        port.setdefault("protocol", "TCP")


def _network_policy(np: Obj) -> None:
    spec = _child(np, "spec")
    for direction in ("ingress", "egress"):
        for rule in _items(spec.get(direction)):
            for port in _items(rule.get("ports")):
                port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def _ingress_class(ic: Obj) -> None:
    params = _d(ic.get("spec")).get("parameters")
    if isinstance(params, dict) and params.get("namespace"):
        params.setdefault("scope", "Namespace")
    elif isinstance(params, dict):
        params.setdefault("scope", "Cluster")


def _binding(binding: Obj) -> None:
    ref = binding.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = _RBAC_GROUP
    for subject in _items(binding.get("subjects")):
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = _RBAC_GROUP


def _priority_class(pc: Obj) -> None:
    pc.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _storage_class(sc: Obj) -> None:
    sc.setdefault("reclaimPolicy", "Delete")
    sc.setdefault("volumeBindingMode", "Immediate")


def _crd(crd: Obj) -> None:
    spec = _child(crd, "spec")
    names = _child(spec, "names")
    kind = names.get("kind")
    if isinstance(kind, str) and kind:
        names.setdefault("singular", kind.lower())
        names.setdefault("listKind", kind + "List")
    conversion = _child(spec, "conversion")
    conversion.setdefault("strategy", "None")
    service = _d(_d(_d(conversion.get("webhook")).get("clientConfig")).get("service"))
    if service:
        service.setdefault("port", 443)


def _pod_template_object(obj: Obj) -> None:
    pod_template(obj.get("template"))


_DEFAULTERS: dict[tuple[str, str, str], Callable[[Obj], None]] = {
    ("", "v1", "ConfigMap"): lambda _: None,
    ("", "v1", "Endpoints"): _endpoints,
    ("", "v1", "LimitRange"): _limit_range,
    ("", "v1", "Namespace"): _namespace,
    ("", "v1", "Node"): _node,
    ("", "v1", "PersistentVolume"): _pv,
    ("", "v1", "PersistentVolumeClaim"): _pvc,
    ("", "v1", "Pod"): _pod,
    ("", "v1", "PodTemplate"): _pod_template_object,
    ("", "v1", "ReplicationController"): _replication_controller,
    ("", "v1", "Secret"): _secret,
    ("", "v1", "Service"): _service,
    ("apps", "v1", "DaemonSet"): _daemon_set,
    ("apps", "v1", "Deployment"): _deployment,
    ("apps", "v1", "ReplicaSet"): _replica_set,
    ("apps", "v1", "StatefulSet"): _stateful_set,
    ("batch", "v1", "CronJob"): _cron_job,
    ("batch", "v1", "Job"): _job,
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): _hpa_v2,
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): _hpa_v1,
    ("apiregistration.k8s.io", "v1", "APIService"): _api_service,
    ("discovery.k8s.io", "v1", "EndpointSlice"): _endpoint_slice,
    ("networking.k8s.io", "v1", "IngressClass"): _ingress_class,
    ("networking.k8s.io", "v1", "NetworkPolicy"): _network_policy,
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): _binding,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): _binding,
    ("scheduling.k8s.io", "v1", "PriorityClass"): _priority_class,
    ("storage.k8s.io", "v1", "StorageClass"): _storage_class,
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): _crd,
}


def apply_defaults(resource: Resource, obj: Obj) -> None:
    """Fill upstream's defaults into ``obj`` in place."""
    if not isinstance(obj, dict):
        return
    if resource.crd is not None:
        schema = crd_version_schema(resource.crd, resource.version)
        if schema is not None:
            schema_defaults(obj, schema)
        return
    defaulter = _DEFAULTERS.get((resource.group, resource.version, resource.kind))
    if defaulter is not None:
        defaulter(obj)


# -- custom resources ---------------------------------------------------------------------


def schema_defaults(value: Any, schema: Any) -> None:
    """Fill the ``default`` of every absent property whose parent object is present."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for key, child in props.items():
                if not isinstance(child, dict):
                    continue
                if key not in value and "default" in child:
                    value[key] = copy.deepcopy(child["default"])
                if key in value:
                    schema_defaults(value[key], child)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key, item in value.items():
                if not isinstance(props, dict) or key not in props:
                    schema_defaults(item, additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            schema_defaults(item, schema["items"])
