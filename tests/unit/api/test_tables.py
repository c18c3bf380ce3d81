"""Server-side Table printing (kubeling.api.tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeling.api import errors
from kubeling.api.resources import Registry, Resource
from kubeling.api.tables import human_duration, jsonpath_find, to_table

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
REGISTRY = Registry()


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource(group: str, plural: str, version: str | None = None) -> Resource:
    return next(
        r
        for r in REGISTRY.all()
        if r.group == group and r.plural == plural and (version is None or r.version == version)
    )


def cells(group: str, plural: str, obj: dict[str, Any]) -> list[Any]:
    table = to_table(resource(group, plural), [obj], now=NOW)
    return table["rows"][0]["cells"]


def headers(group: str, plural: str) -> list[tuple[str, int]]:
    table = to_table(resource(group, plural), [], now=NOW)
    return [(c["name"], c["priority"]) for c in table["columnDefinitions"]]


def meta(name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5), **extra}


# -- builders ------------------------------------------------------------------------


def running(
    ready: bool = True, restarts: int = 0, last_finished: str | None = None, name: str = "c"
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {}},
    }
    if last_finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last_finished}}
    return status


def waiting(
    reason: str, restarts: int = 0, last_finished: str | None = None, name: str = "c"
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
    }
    if last_finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last_finished}}
    return status


def terminated(exit_code: int = 0, reason: str = "", signal: int = 0, name: str = "c") -> dict[str, Any]:
    state: dict[str, Any] = {"exitCode": exit_code}
    if reason:
        state["reason"] = reason
    if signal:
        state["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": state}}


def make_pod(
    *,
    containers: int = 1,
    statuses: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    reason: str | None = None,
    conditions: dict[str, str] | None = None,
    condition_reasons: dict[str, str] | None = None,
    deleting: bool = False,
    node: str | None = None,
    ip: str | None = None,
    readiness_gates: list[str] | None = None,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": meta("web"),
        "spec": {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)]},
        "status": {"phase": phase},
    }
    if init is not None:
        pod["spec"]["initContainers"] = init
    if statuses is not None:
        pod["status"]["containerStatuses"] = statuses
    if init_statuses is not None:
        pod["status"]["initContainerStatuses"] = init_statuses
    if reason is not None:
        pod["status"]["reason"] = reason
    conds = [{"type": t, "status": s} for t, s in (conditions or {}).items()]
    for t, r in (condition_reasons or {}).items():
        conds.append({"type": t, "status": "False", "reason": r})
    if conds:
        pod["status"]["conditions"] = conds
    if deleting:
        pod["metadata"]["deletionTimestamp"] = ago(seconds=10)
    if node is not None:
        pod["spec"]["nodeName"] = node
    if ip is not None:
        pod["status"]["podIPs"] = [{"ip": ip}]
    if readiness_gates is not None:
        pod["spec"]["readinessGates"] = [{"conditionType": g} for g in readiness_gates]
    return pod


# -- human_duration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (-0.5, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119.9, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 25 * 60, "3h25m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 59 * 60, "47h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (8 * 86400, "8d"),
        (45 * 86400, "45d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400 + 5 * 86400, "20y"),
    ],
    ids=lambda v: str(v),
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


# -- pods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod", "ready", "status", "restarts"),
    [
        (make_pod(statuses=[running()]), "1/1", "Running", "0"),
        (make_pod(containers=2, statuses=[running(), running(ready=False)]), "1/2", "Running", "0"),
        (make_pod(phase="Pending", statuses=[waiting("ContainerCreating")]), "0/1", "ContainerCreating", "0"),
        (
            make_pod(statuses=[waiting("CrashLoopBackOff", restarts=3, last_finished=ago(minutes=2))]),
            "0/1",
            "CrashLoopBackOff",
            "3 (2m ago)",
        ),
        (make_pod(statuses=[running(restarts=4)]), "1/1", "Running", "4"),
        (make_pod(phase="Succeeded", statuses=[terminated(0, "Completed")]), "0/1", "Completed", "0"),
        (make_pod(phase="Failed", statuses=[terminated(2)]), "0/1", "ExitCode:2", "0"),
        (make_pod(phase="Failed", statuses=[terminated(137, signal=9)]), "0/1", "Signal:9", "0"),
        (make_pod(phase="Failed", statuses=[terminated(137, "OOMKilled")]), "0/1", "OOMKilled", "0"),
        (
            make_pod(
                containers=2, statuses=[terminated(0, "Completed"), running()], conditions={"Ready": "True"}
            ),
            "1/2",
            "Running",
            "0",
        ),
        (
            make_pod(
                containers=2, statuses=[terminated(0, "Completed"), running()], conditions={"Ready": "False"}
            ),
            "1/2",
            "NotReady",
            "0",
        ),
        (
            make_pod(phase="Pending", condition_reasons={"PodScheduled": "SchedulingGated"}),
            "0/1",
            "SchedulingGated",
            "0",
        ),
        (make_pod(phase="Failed", reason="Evicted"), "0/1", "Evicted", "0"),
        (make_pod(statuses=[running()], deleting=True), "1/1", "Terminating", "0"),
        (
            make_pod(phase="Succeeded", statuses=[terminated(0, "Completed")], deleting=True),
            "0/1",
            "Completed",
            "0",
        ),
        (make_pod(statuses=[running()], reason="NodeLost", deleting=True), "1/1", "Unknown", "0"),
    ],
    ids=[
        "running",
        "one-of-two-ready",
        "container-creating",
        "crash-loop-with-last-restart",
        "restarts-without-time",
        "completed",
        "exit-code",
        "signal",
        "oom-killed",
        "completed-but-one-running-ready",
        "completed-but-one-running-not-ready",
        "scheduling-gated",
        "evicted",
        "terminating",
        "terminal-pod-never-terminating",
        "node-lost",
    ],
)
def test_pod_status_columns(pod: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    assert cells("", "pods", pod)[1:4] == [ready, status, restarts]


INIT = [{"name": "i0", "image": "busybox"}, {"name": "i1", "image": "busybox"}]


@pytest.mark.parametrize(
    ("pod", "ready", "status", "restarts"),
    [
        (
            make_pod(phase="Pending", init=INIT, init_statuses=[waiting("PodInitializing", name="i0")]),
            "0/1",
            "Init:0/2",
            "0",
        ),
        (
            make_pod(
                phase="Pending",
                init=INIT,
                init_statuses=[terminated(0, "Completed", name="i0"), running(name="i1")],
            ),
            "0/1",
            "Init:1/2",
            "0",
        ),
        (
            make_pod(
                phase="Pending",
                init=INIT,
                init_statuses=[
                    waiting("CrashLoopBackOff", restarts=2, last_finished=ago(seconds=30), name="i0")
                ],
            ),
            "0/1",
            "Init:CrashLoopBackOff",
            "2 (30s ago)",
        ),
        (
            make_pod(phase="Pending", init=INIT, init_statuses=[terminated(3, name="i0")]),
            "0/1",
            "Init:ExitCode:3",
            "0",
        ),
        (
            make_pod(phase="Pending", init=INIT, init_statuses=[terminated(1, signal=15, name="i0")]),
            "0/1",
            "Init:Signal:15",
            "0",
        ),
        (
            make_pod(phase="Failed", init=INIT, init_statuses=[terminated(1, "Error", name="i0")]),
            "0/1",
            "Init:Error",
            "0",
        ),
        (
            make_pod(
                init=INIT,
                init_statuses=[terminated(0, "Completed", name="i0"), terminated(0, "Completed", name="i1")],
                statuses=[running()],
            ),
            "1/1",
            "Running",
            "0",
        ),
    ],
    ids=[
        "first-init",
        "second-init",
        "init-crash-loop",
        "init-exit-code",
        "init-signal",
        "init-error",
        "init-done",
    ],
)
def test_pod_init_status(pod: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    assert cells("", "pods", pod)[1:4] == [ready, status, restarts]


def test_sidecar_counts_as_a_container_and_its_restarts_survive_initialization() -> None:
    sidecar = {"name": "side", "image": "envoy", "restartPolicy": "Always"}
    side_status = running(restarts=1, last_finished=ago(minutes=4), name="side")
    side_status["started"] = True
    pod = make_pod(
        init=[sidecar],
        init_statuses=[side_status],
        statuses=[running(restarts=2, last_finished=ago(minutes=1))],
        conditions={"Initialized": "True"},
    )
    assert cells("", "pods", pod)[1:4] == ["2/2", "Running", "3 (60s ago)"]


def test_pod_wide_columns() -> None:
    pod = make_pod(
        statuses=[running()], node="n1", ip="10.1.0.7", readiness_gates=["a", "b"], conditions={"a": "True"}
    )
    assert cells("", "pods", pod) == ["web", "1/1", "Running", "0", "5m", "10.1.0.7", "n1", "<none>", "1/2"]
    assert cells("", "pods", make_pod())[5:] == ["<none>", "<none>", "<none>", "<none>"]
    legacy = make_pod()
    legacy["status"]["podIP"] = "10.1.0.8"
    assert cells("", "pods", legacy)[5] == "10.1.0.8"


def test_pod_rows_of_finished_pods_carry_completed_condition() -> None:
    table = to_table(
        resource("", "pods"), [make_pod(phase="Succeeded"), make_pod(phase="Failed"), make_pod()], now=NOW
    )
    assert [row.get("conditions", [{}])[0].get("reason") for row in table["rows"]] == [
        "Succeeded",
        "Failed",
        None,
    ]
    assert table["rows"][0]["conditions"][0]["type"] == "Completed"


# -- column definitions ---------------------------------------------------------------------


COLUMN_CASES = [
    ("", "pods", "Name Ready Status Restarts Age IP* Node* Nominated-Node* Readiness-Gates*"),
    ("apps", "deployments", "Name Ready Up-to-date Available Age Containers* Images* Selector*"),
    ("apps", "replicasets", "Name Desired Current Ready Age Containers* Images* Selector*"),
    ("apps", "statefulsets", "Name Ready Age Containers* Images*"),
    (
        "apps",
        "daemonsets",
        "Name Desired Current Ready Up-to-date Available Node-Selector Age Containers* Images* Selector*",
    ),
    ("", "replicationcontrollers", "Name Desired Current Ready Age Containers* Images* Selector*"),
    ("batch", "jobs", "Name Status Completions Duration Age Containers* Images* Selector*"),
    (
        "batch",
        "cronjobs",
        "Name Schedule Timezone Suspend Active Last-Schedule Age Containers* Images* Selector*",
    ),
    ("", "services", "Name Type Cluster-IP External-IP Port(s) Age Selector*"),
    (
        "",
        "nodes",
        "Name Status Roles Age Version "
        "Internal-IP* External-IP* OS-Image* Kernel-Version* Container-Runtime*",
    ),
    ("", "namespaces", "Name Status Age"),
    ("", "configmaps", "Name Data Age"),
    ("", "secrets", "Name Type Data Age"),
    ("", "serviceaccounts", "Name Secrets Age"),
    ("", "events", "Last-Seen Type Reason Object Subobject* Source* Message First-Seen* Count* Name*"),
    (
        "events.k8s.io",
        "events",
        "Last-Seen Type Reason Object Subobject* Source* Message First-Seen* Count* Name*",
    ),
    ("", "endpoints", "Name Endpoints Age"),
    ("discovery.k8s.io", "endpointslices", "Name AddressType Ports Endpoints Age"),
    ("coordination.k8s.io", "leases", "Name Holder Age"),
    (
        "",
        "persistentvolumeclaims",
        "Name Status Volume Capacity Access-Modes StorageClass VolumeAttributesClass Age VolumeMode*",
    ),
    (
        "",
        "persistentvolumes",
        "Name Capacity Access-Modes Reclaim-Policy Status Claim StorageClass VolumeAttributesClass "
        "Reason Age VolumeMode*",
    ),
    ("autoscaling", "horizontalpodautoscalers", "Name Reference Targets MinPods MaxPods Replicas Age"),
    ("policy", "poddisruptionbudgets", "Name Min-Available Max-Unavailable Allowed-Disruptions Age"),
    ("rbac.authorization.k8s.io", "rolebindings", "Name Role Age Users* Groups* ServiceAccounts*"),
    ("rbac.authorization.k8s.io", "clusterrolebindings", "Name Role Age Users* Groups* ServiceAccounts*"),
    ("rbac.authorization.k8s.io", "roles", "Name Created-At"),
    ("rbac.authorization.k8s.io", "clusterroles", "Name Created-At"),
    ("scheduling.k8s.io", "priorityclasses", "Name Value Global-Default Age PreemptionPolicy"),
    (
        "storage.k8s.io",
        "storageclasses",
        "Name Provisioner ReclaimPolicy VolumeBindingMode AllowVolumeExpansion Age",
    ),
    ("networking.k8s.io", "ingresses", "Name Class Hosts Address Ports Age"),
    ("networking.k8s.io", "ingressclasses", "Name Controller Parameters Age"),
    ("networking.k8s.io", "networkpolicies", "Name Pod-Selector Age"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "Name Created-At"),
    ("", "limitranges", "Name Created-At"),
    ("", "resourcequotas", "Name Request Limit Age"),
    ("", "podtemplates", "Name Containers Images Pod-Labels"),
    ("apps", "controllerrevisions", "Name Controller Revision Age"),
]


@pytest.mark.parametrize(
    ("group", "plural", "expected"),
    COLUMN_CASES,
    ids=[".".join(filter(None, case[1::-1])) for case in COLUMN_CASES],
)
def test_columns(group: str, plural: str, expected: str) -> None:
    # "Name*" is a priority-1 column; "-" stands for a space unless upstream hyphenates.
    want = []
    for word in expected.split():
        name = word.rstrip("*")
        want.append((name if name in _HYPHENATED else name.replace("-", " "), 1 if word.endswith("*") else 0))
    assert headers(group, plural) == want


# Column names upstream spells with a hyphen (the others use a space).
_HYPHENATED = {
    "Up-to-date",
    "Cluster-IP",
    "External-IP",
    "Internal-IP",
    "OS-Image",
    "Kernel-Version",
    "Container-Runtime",
    "Global-Default",
    "Pod-Selector",
}


def test_every_builtin_row_has_one_cell_per_column() -> None:
    for res in REGISTRY.all():
        table = to_table(res, [{"metadata": {"name": "x"}}], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"]), res.qualified
        assert all(
            {"name", "type", "format", "description", "priority"} <= set(c)
            for c in table["columnDefinitions"]
        )


def test_column_descriptions_come_from_the_schemas() -> None:
    table = to_table(resource("", "pods"), [], now=NOW)
    by_name = {c["name"]: c for c in table["columnDefinitions"]}
    assert by_name["Name"]["format"] == "name"
    assert by_name["Name"]["description"].startswith("Name must be unique within a namespace.")
    assert by_name["Age"]["description"].startswith("CreationTimestamp is a timestamp")
    assert (
        by_name["Ready"]["description"] == "The aggregate readiness state of this pod for accepting traffic."
    )


# -- workloads ---------------------------------------------------------------------------------

TEMPLATE = {
    "spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}
}


def test_deployment_row() -> None:
    deployment = {
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells("apps", "deployments", deployment) == [
        "web",
        "2/3",
        3,
        2,
        "5m",
        "web,log",
        "nginx:1,busybox",
        "app=web",
    ]


def test_replica_set_and_replication_controller_rows() -> None:
    rs = {
        "metadata": meta("web-1"),
        "spec": {
            "replicas": 2,
            "selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
            "template": TEMPLATE,
        },
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert cells("apps", "replicasets", rs) == ["web-1", 2, 2, 1, "5m", "web,log", "nginx:1,busybox", "app"]
    rc = {
        "metadata": meta("rc"),
        "spec": {"replicas": 1, "selector": {"b": "2", "a": "1"}, "template": TEMPLATE},
    }
    assert cells("", "replicationcontrollers", rc) == [
        "rc",
        1,
        0,
        0,
        "5m",
        "web,log",
        "nginx:1,busybox",
        "a=1,b=2",
    ]


def test_stateful_set_and_daemon_set_rows() -> None:
    sts = {
        "metadata": meta("db"),
        "spec": {"replicas": 3, "template": TEMPLATE},
        "status": {"readyReplicas": 3},
    }
    assert cells("apps", "statefulsets", sts) == ["db", "3/3", "5m", "web,log", "nginx:1,busybox"]
    template = {"spec": {**TEMPLATE["spec"], "nodeSelector": {"kubernetes.io/os": "linux"}}}
    ds = {
        "metadata": meta("proxy"),
        "spec": {"selector": {"matchLabels": {"k": "p"}}, "template": template},
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert cells("apps", "daemonsets", ds) == [
        "proxy",
        3,
        3,
        2,
        3,
        2,
        "kubernetes.io/os=linux",
        "5m",
        "web,log",
        "nginx:1,busybox",
        "k=p",
    ]


def make_job(
    *,
    completions: int | None = 1,
    parallelism: int | None = None,
    succeeded: int = 0,
    conditions: dict[str, str] | None = None,
    started: str | None = None,
    completed: str | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": TEMPLATE, "selector": {"matchLabels": {"job": "j"}}}
    if completions is not None:
        spec["completions"] = completions
    if parallelism is not None:
        spec["parallelism"] = parallelism
    status: dict[str, Any] = {"succeeded": succeeded}
    if conditions:
        status["conditions"] = [{"type": t, "status": s} for t, s in conditions.items()]
    if started:
        status["startTime"] = started
    if completed:
        status["completionTime"] = completed
    job: dict[str, Any] = {"metadata": meta("j"), "spec": spec, "status": status}
    if deleting:
        job["metadata"]["deletionTimestamp"] = ago(seconds=1)
    return job


@pytest.mark.parametrize(
    ("job", "status", "completions", "duration"),
    [
        (make_job(started=ago(seconds=40)), "Running", "0/1", "40s"),
        (
            make_job(
                succeeded=1, conditions={"Complete": "True"}, started=ago(minutes=5), completed=ago(minutes=2)
            ),
            "Complete",
            "1/1",
            "3m",
        ),
        (make_job(conditions={"Failed": "True"}), "Failed", "0/1", ""),
        (make_job(conditions={"Complete": "False"}), "Running", "0/1", ""),
        (make_job(deleting=True), "Terminating", "0/1", ""),
        (make_job(conditions={"Suspended": "True"}), "Suspended", "0/1", ""),
        (make_job(conditions={"FailureTarget": "True"}), "FailureTarget", "0/1", ""),
        (make_job(completions=None, parallelism=3, succeeded=1), "Running", "1/1 of 3", ""),
        (make_job(completions=None), "Running", "0/1", ""),
        (make_job(completions=5, succeeded=2), "Running", "2/5", ""),
    ],
    ids=[
        "running",
        "complete",
        "failed",
        "condition-false",
        "terminating",
        "suspended",
        "failure-target",
        "work-queue",
        "no-completions",
        "five",
    ],
)
def test_job_row(job: dict[str, Any], status: str, completions: str, duration: str) -> None:
    row = cells("batch", "jobs", job)
    assert row[:4] == ["j", status, completions, duration]
    assert row[5:] == ["web,log", "nginx:1,busybox", "job=j"]


def test_cron_job_row() -> None:
    cron = {
        "metadata": meta("nightly"),
        "spec": {"schedule": "0 3 * * *", "suspend": False, "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {"active": [{"name": "a"}], "lastScheduleTime": ago(hours=9)},
    }
    assert cells("batch", "cronjobs", cron) == [
        "nightly",
        "0 3 * * *",
        "<none>",
        "False",
        1,
        "9h",
        "5m",
        "web,log",
        "nginx:1,busybox",
        "<none>",
    ]
    bare = {"metadata": meta("c"), "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC", "jobTemplate": {}}}
    assert cells("batch", "cronjobs", bare)[2:6] == ["Etc/UTC", "<unset>", 0, "<none>"]


def test_controller_revision_names_its_controller() -> None:
    rev = {
        "metadata": meta(
            "ds-1",
            ownerReferences=[
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "controller": True}
            ],
        ),
        "revision": 4,
    }
    assert cells("apps", "controllerrevisions", rev) == ["ds-1", "daemonset.apps/ds", 4, "5m"]


# -- services and networking ----------------------------------------------------------------------


def make_service(kind: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    return {
        "metadata": meta("svc"),
        "spec": {"type": kind, "clusterIPs": ["10.96.0.10"], "clusterIP": "10.96.0.10", **spec},
        "status": status,
    }


@pytest.mark.parametrize(
    ("svc", "expected"),
    [
        (
            make_service(
                ports=[{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                selector={"k8s-app": "dns"},
            ),
            ["svc", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "5m", "k8s-app=dns"],
        ),
        (
            make_service("NodePort", ports=[{"port": 80, "nodePort": 30080}], externalIPs=["1.2.3.4"]),
            ["svc", "NodePort", "10.96.0.10", "1.2.3.4", "80:30080/TCP", "5m", "<none>"],
        ),
        (
            make_service("LoadBalancer"),
            ["svc", "LoadBalancer", "10.96.0.10", "<pending>", "<none>", "5m", "<none>"],
        ),
        (
            make_service(
                "LoadBalancer",
                status={"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}},
            ),
            ["svc", "LoadBalancer", "10.96.0.10", "5.6.7.8,lb.example", "<none>", "5m", "<none>"],
        ),
        (
            make_service("ExternalName", clusterIPs=[], clusterIP="", externalName="db.example.com"),
            ["svc", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"],
        ),
        (
            make_service(clusterIPs=["None"], clusterIP="None"),
            ["svc", "ClusterIP", "None", "<none>", "<none>", "5m", "<none>"],
        ),
    ],
    ids=["cluster-ip", "node-port", "lb-pending", "lb-ingress", "external-name", "headless"],
)
def test_service_row(svc: dict[str, Any], expected: list[Any]) -> None:
    assert cells("", "services", svc) == expected


@pytest.mark.parametrize(
    ("subsets", "expected"),
    [
        ([], "<none>"),
        ([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}], "10.0.0.1:80"),
        ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
        ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}], "10.0.0.1,10.0.0.2"),
        (
            [
                {
                    "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 4)],
                    "ports": [{"port": 80}, {"port": 443}],
                }
            ],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more...",
        ),
        ([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}], ""),
    ],
    ids=["none", "one", "ipv6", "headless-no-ports", "more", "only-not-ready"],
)
def test_endpoints_row(subsets: list[Any], expected: str) -> None:
    assert cells("", "endpoints", {"metadata": meta("ep"), "subsets": subsets}) == ["ep", expected, "5m"]


def test_endpoint_slice_row() -> None:
    slice_ = {
        "metadata": meta("s"),
        "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "dns"}, {}],
        "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(5)],
    }
    assert cells("discovery.k8s.io", "endpointslices", slice_) == [
        "s",
        "IPv4",
        "80,dns,*",
        "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more...",
        "5m",
    ]
    empty = {"metadata": meta("e"), "addressType": "IPv6"}
    assert cells("discovery.k8s.io", "endpointslices", empty)[2:4] == ["<unset>", "<unset>"]


def test_ingress_rows() -> None:
    ingress = {
        "metadata": meta("ing"),
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": f"h{i}.example"} for i in range(5)],
            "tls": [{"hosts": ["h0.example"]}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]}},
    }
    assert cells("networking.k8s.io", "ingresses", ingress) == [
        "ing",
        "nginx",
        "h0.example,h1.example,h2.example + 2 more...",
        "9.9.9.9",
        "80, 443",
        "5m",
    ]
    bare = {"metadata": meta("b"), "spec": {"rules": [{"http": {}}]}}
    assert cells("networking.k8s.io", "ingresses", bare)[1:5] == ["<none>", "*", "", "80"]
    klass = {
        "metadata": meta("nginx"),
        "spec": {
            "controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "P", "name": "p"},
        },
    }
    assert cells("networking.k8s.io", "ingressclasses", klass) == [
        "nginx",
        "k8s.io/ingress-nginx",
        "P.k8s.example.com/p",
        "5m",
    ]


# -- nodes and namespaces ----------------------------------------------------------------------------


def make_node(
    ready: str | None = "True", unschedulable: bool = False, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "metadata": {"name": "n1", "creationTimestamp": ago(days=3, hours=2), "labels": labels or {}},
        "spec": {"unschedulable": unschedulable} if unschedulable else {},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}],
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "192.168.1.10"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.0",
                "osImage": "Debian GNU/Linux 12",
                "kernelVersion": "6.1.0",
            },
        },
    }
    if ready is not None:
        node["status"]["conditions"].append({"type": "Ready", "status": ready})
    return node


@pytest.mark.parametrize(
    ("node", "status", "roles"),
    [
        (make_node(), "Ready", "<none>"),
        (make_node("False"), "NotReady", "<none>"),
        (make_node("Unknown"), "NotReady", "<none>"),
        (make_node(None), "Unknown", "<none>"),
        (make_node(unschedulable=True), "Ready,SchedulingDisabled", "<none>"),
        (
            make_node(
                labels={"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}
            ),
            "Ready",
            "control-plane,worker",
        ),
        (make_node(labels={"kubernetes.io/role": "infra", "node-role.kubernetes.io/": ""}), "Ready", "infra"),
    ],
    ids=[
        "ready",
        "not-ready",
        "unknown-status",
        "no-ready-condition",
        "cordoned",
        "role-labels",
        "legacy-role-label",
    ],
)
def test_node_status_and_roles(node: dict[str, Any], status: str, roles: str) -> None:
    assert cells("", "nodes", node)[1:3] == [status, roles]


def test_node_wide_columns() -> None:
    assert cells("", "nodes", make_node()) == [
        "n1",
        "Ready",
        "<none>",
        "3d2h",
        "v1.37.0",
        "192.168.1.10",
        "<none>",
        "Debian GNU/Linux 12",
        "6.1.0",
        "<unknown>",
    ]


def test_namespace_lease_and_priority_class_rows() -> None:
    ns = {"metadata": {"name": "dev", "creationTimestamp": ago(days=45)}, "status": {"phase": "Terminating"}}
    assert cells("", "namespaces", ns) == ["dev", "Terminating", "45d"]
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp1_abc"}}
    assert cells("coordination.k8s.io", "leases", lease) == ["kube-scheduler", "cp1_abc", "5m"]
    pc = {"metadata": meta("high"), "value": 1000, "globalDefault": True, "preemptionPolicy": "Never"}
    assert cells("scheduling.k8s.io", "priorityclasses", pc) == ["high", 1000, True, "5m", "Never"]


# -- events -------------------------------------------------------------------------------------------


def test_core_event_row() -> None:
    event = {
        "metadata": meta("web.17a"),
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{web}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container\n",
        "type": "Warning",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(minutes=30),
        "lastTimestamp": ago(minutes=2),
        "count": 12,
    }
    assert cells("", "events", event) == [
        "2m",
        "Warning",
        "BackOff",
        "pod/web",
        "spec.containers{web}",
        "kubelet, n1",
        "Back-off restarting failed container",
        "30m",
        12,
        "web.17a",
    ]


def test_event_without_timestamps_uses_event_time_and_series() -> None:
    event = {
        "metadata": meta("e"),
        "involvedObject": {"kind": "Node"},
        "reason": "Starting",
        "type": "Normal",
        "eventTime": "2024-06-01T11:50:00.000000Z",
        "reportingComponent": "kube-proxy",
        "reportingInstance": "n1",
    }
    assert cells("", "events", event) == [
        "10m",
        "Normal",
        "Starting",
        "node",
        "",
        "kube-proxy, n1",
        "",
        "10m",
        1,
        "e",
    ]
    event["series"] = {"count": 4, "lastObservedTime": "2024-06-01T11:59:00.000000Z"}
    row = cells("", "events", event)
    assert (row[0], row[8]) == ("60s", 4)


def test_events_v1_event_row() -> None:
    event = {
        "metadata": meta("e"),
        "regarding": {"kind": "Deployment", "name": "web"},
        "reason": "ScalingReplicaSet",
        "note": "Scaled up replica set web-1 to 3",
        "type": "Normal",
        "eventTime": ago(minutes=3),
        "reportingController": "deployment-controller",
    }
    row = to_table(resource("events.k8s.io", "events"), [event], now=NOW)["rows"][0]["cells"]
    assert row == [
        "3m",
        "Normal",
        "ScalingReplicaSet",
        "deployment/web",
        "",
        "deployment-controller",
        "Scaled up replica set web-1 to 3",
        "3m",
        1,
        "e",
    ]


# -- config, storage, policy, rbac ----------------------------------------------------------------------


def test_config_map_secret_and_service_account_rows() -> None:
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("", "configmaps", cm) == ["cfg", 3, "5m"]
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert cells("", "secrets", secret) == ["tls", "kubernetes.io/tls", 2, "5m"]
    assert cells("", "serviceaccounts", {"metadata": meta("default")}) == ["default", 0, "5m"]


@pytest.mark.parametrize(
    ("pvc", "expected"),
    [
        (
            {
                "spec": {"storageClassName": "local", "resources": {"requests": {"storage": "1Gi"}}},
                "status": {"phase": "Pending"},
            },
            ["Pending", "", "", "", "local", "<unset>"],
        ),
        (
            {
                "spec": {"volumeName": "pv-1", "storageClassName": "local", "volumeMode": "Filesystem"},
                "status": {
                    "phase": "Bound",
                    "capacity": {"storage": "2Gi"},
                    "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                },
            },
            ["Bound", "pv-1", "2Gi", "RWO,RWX", "local", "<unset>"],
        ),
    ],
    ids=["pending", "bound"],
)
def test_pvc_row(pvc: dict[str, Any], expected: list[Any]) -> None:
    row = cells("", "persistentvolumeclaims", {"metadata": meta("data"), **pvc})
    assert row[1:7] == expected


def test_pv_row() -> None:
    pv = {
        "metadata": {**meta("pv-1"), "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOncePod", "ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "default", "name": "data"},
            "storageClassName": "ignored",
        },
        "status": {"phase": "Bound"},
    }
    assert cells("", "persistentvolumes", pv) == [
        "pv-1",
        "5Gi",
        "ROX,RWOP",
        "Retain",
        "Bound",
        "default/data",
        "legacy",
        "<unset>",
        "",
        "5m",
        "<unset>",
    ]


def test_storage_class_row_marks_the_default() -> None:
    sc = {
        "metadata": {**meta("local"), "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    assert cells("storage.k8s.io", "storageclasses", sc) == [
        "local (default)",
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        False,
        "5m",
    ]


def test_resource_quota_row_splits_requests_and_limits() -> None:
    quota = {
        "metadata": meta("q"),
        "status": {
            "hard": {"pods": "10", "requests.cpu": "2", "limits.memory": "2Gi", "limits.cpu": "4"},
            "used": {"pods": "3", "limits.cpu": "1"},
        },
    }
    assert cells("", "resourcequotas", quota) == [
        "q",
        "pods: 3/10, requests.cpu: 0/2",
        "limits.cpu: 1/4, limits.memory: 0/2Gi",
        "5m",
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"minAvailable": 2}, ["2", "N/A"]),
        ({"maxUnavailable": "25%"}, ["N/A", "25%"]),
    ],
    ids=["min-available", "max-unavailable-percent"],
)
def test_pdb_row(spec: dict[str, Any], expected: list[str]) -> None:
    pdb = {"metadata": meta("pdb"), "spec": spec, "status": {"disruptionsAllowed": 1}}
    assert cells("policy", "poddisruptionbudgets", pdb) == ["pdb", *expected, 1, "5m"]


def hpa_v2(metrics: list[Any], current: list[Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": meta("web"),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": metrics,
        },
        "status": {"currentReplicas": 2, "currentMetrics": current or []},
    }


CPU_80 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}
MEM_AVG = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}},
}
PODS = {
    "type": "Pods",
    "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}},
}
EXTERNAL = {
    "type": "External",
    "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}},
}


@pytest.mark.parametrize(
    ("hpa", "targets"),
    [
        (hpa_v2([]), "<none>"),
        (hpa_v2([CPU_80]), "cpu: <unknown>/80%"),
        (
            hpa_v2(
                [CPU_80],
                [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35}}}],
            ),
            "cpu: 35%/80%",
        ),
        (hpa_v2([MEM_AVG]), "memory: <unknown>/500Mi"),
        (hpa_v2([PODS, EXTERNAL]), "<unknown>/10, <unknown>/30"),
        (hpa_v2([CPU_80, MEM_AVG, PODS]), "cpu: <unknown>/80%, memory: <unknown>/500Mi + 1 more..."),
    ],
    ids=["no-metrics", "cpu-unknown", "cpu-current", "memory-average", "pods-and-external", "more"],
)
def test_hpa_targets(hpa: dict[str, Any], targets: str) -> None:
    assert cells("autoscaling", "horizontalpodautoscalers", hpa) == [
        "web",
        "Deployment/web",
        targets,
        "1",
        10,
        2,
        "5m",
    ]


def test_hpa_v1_object() -> None:
    hpa = {
        "metadata": meta("web"),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 50,
        },
        "status": {"currentReplicas": 1, "currentCPUUtilizationPercentage": 20},
    }
    row = to_table(resource("autoscaling", "horizontalpodautoscalers", "v1"), [hpa], now=NOW)["rows"][0][
        "cells"
    ]
    assert row == ["web", "Deployment/web", "cpu: 20%/50%", "<unset>", 4, 1, "5m"]


def test_role_binding_row_lists_subjects() -> None:
    binding = {
        "metadata": meta("rb"),
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
        ],
    }
    assert cells("rbac.authorization.k8s.io", "rolebindings", binding) == [
        "rb",
        "ClusterRole/view",
        "5m",
        "alice, bob",
        "devs",
        "tools/ci",
    ]


def test_default_printer_shows_created_at() -> None:
    role = {"metadata": {"name": "r", "creationTimestamp": "2024-05-31T10:00:00Z"}}
    table = to_table(resource("rbac.authorization.k8s.io", "roles"), [role], now=NOW)
    assert table["columnDefinitions"][1]["type"] == "date"
    assert table["rows"][0]["cells"] == ["r", "2024-05-31T10:00:00Z"]


# -- the table envelope ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (
            "Metadata",
            {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "cfg"}},
        ),
        ("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "cfg"}}),
        ("Object", {"kind": "ConfigMap", "metadata": {"name": "cfg"}}),
        ("None", None),
    ],
    ids=["metadata", "default", "object", "none"],
)
def test_include_object(include: str, expected: dict[str, Any] | None) -> None:
    cm = {"kind": "ConfigMap", "metadata": {"name": "cfg"}}
    table = to_table(resource("", "configmaps"), [cm], include_object=include, now=NOW)
    assert (table["kind"], table["apiVersion"], table["metadata"]) == ("Table", "meta.k8s.io/v1", {})
    assert table["rows"][0].get("object") == expected
    assert ("object" in table["rows"][0]) is (expected is not None)


def test_unknown_include_object_is_bad_request() -> None:
    with pytest.raises(errors.StatusError) as caught:
        to_table(resource("", "configmaps"), [], include_object="Everything", now=NOW)
    assert (caught.value.code, caught.value.message) == (
        400,
        'unrecognized includeObject value: "Everything"',
    )


# -- custom resources ------------------------------------------------------------------------------------


def widget_resource(columns: list[dict[str, Any]] | None) -> Resource:
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True}
    if columns is not None:
        version["additionalPrinterColumns"] = columns
    crd = {"spec": {"group": "example.com", "versions": [{"name": "v0"}, version]}}
    return Resource("example.com", "v1", "Widget", "widgets", "widget", True, crd=crd)


WIDGET = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w1", "creationTimestamp": ago(hours=4)},
    "spec": {"size": 3, "ratio": 0.5, "enabled": True, "tags": ["a", "b"], "labels": {"x.y": "dotted"}},
    "status": {
        "conditions": [
            {"type": "Synced", "status": "False"},
            {"type": "Ready", "status": "True", "since": ago(minutes=7)},
        ]
    },
}


def test_custom_resource_without_columns_prints_name_and_age() -> None:
    table = to_table(widget_resource(None), [WIDGET], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["rows"][0]["cells"] == ["w1", "4h"]


def test_custom_resource_printer_columns() -> None:
    columns = [
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
        {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Since", "type": "date", "jsonPath": ".status.conditions[?(@.type=='Ready')].since"},
        {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"},
        {"name": "First", "type": "string", "jsonPath": ".spec.tags[0]"},
        {
            "name": "Dotted",
            "type": "string",
            "jsonPath": ".spec.labels['x.y']",
            "description": "a dotted key",
        },
        {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
        {"name": "Mistyped", "type": "integer", "jsonPath": ".spec.tags"},
    ]
    table = to_table(widget_resource(columns), [WIDGET], now=NOW)
    definitions = table["columnDefinitions"]
    assert [c["name"] for c in definitions] == ["Name", *(c["name"] for c in columns)]
    assert (definitions[2]["priority"], definitions[2]["type"]) == (1, "number")
    assert (
        definitions[1]["description"] == "Custom resource definition column (in JSONPath format): .spec.size"
    )
    assert definitions[8]["description"] == "a dotted key"
    assert table["rows"][0]["cells"] == [
        "w1",
        3,
        0.5,
        True,
        "True",
        "7m",
        '["a","b"]',
        "a",
        "dotted",
        None,
        None,
    ]


# -- JSONPath ----------------------------------------------------------------------------------------------

DOC = {
    "metadata": {"name": "n", "labels": {"app.kubernetes.io/name": "web"}},
    "items": [
        {"name": "a", "n": 1, "tags": ["x"]},
        {"name": "b", "n": 2},
        {"name": "c", "n": 3, "tags": ["y", "z"]},
    ],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".metadata.name", ["n"]),
        ("{.metadata.name}", ["n"]),
        ("$.metadata.name", ["n"]),
        (".metadata.labels['app.kubernetes.io/name']", ["web"]),
        ('.metadata.labels["app.kubernetes.io/name"]', ["web"]),
        (".items[0].name", ["a"]),
        (".items[-1].name", ["c"]),
        (".items[5].name", []),
        (".items[*].name", ["a", "b", "c"]),
        (".items[0:2].name", ["a", "b"]),
        (".items[*].tags[*]", ["x", "y", "z"]),
        (".items[?(@.n > 1)].name", ["b", "c"]),
        (".items[?(@.name != 'b')].n", [1, 3]),
        (".items[?(@.tags)].name", ["a", "c"]),
        ("..tags", [["x"], ["y", "z"]]),
        (".metadata.missing", []),
        (".metadata.name.deeper", []),
    ],
    ids=[
        "field",
        "braces",
        "dollar",
        "quoted-key",
        "double-quoted-key",
        "index",
        "negative-index",
        "index-out-of-range",
        "wildcard",
        "slice",
        "nested-wildcards",
        "filter-compare",
        "filter-not-equal",
        "filter-exists",
        "recursive",
        "missing",
        "through-a-string",
    ],
)
def test_jsonpath_find(path: str, expected: list[Any]) -> None:
    assert jsonpath_find(DOC, path) == expected


@pytest.mark.parametrize(
    "path", [".items[", ".items[?(@.n ~ 1)]", ".items[a-b]"], ids=["unclosed", "bad-filter", "bad-subscript"]
)
def test_jsonpath_rejects_what_it_cannot_parse(path: str) -> None:
    with pytest.raises(ValueError):
        jsonpath_find(DOC, path)
