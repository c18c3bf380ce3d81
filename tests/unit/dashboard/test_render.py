"""Pure helpers of the dashboard's pages."""

from __future__ import annotations

import base64
import datetime

import pytest

from kubeling.dashboard import render
from kubeling.dashboard.kinds import KINDS
from kubeling.dashboard.pages import manifest, table_rows
from kubeling.dashboard.server import relative_root

NOW = datetime.datetime(2026, 1, 2, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("stamp", "wanted"),
    [
        ("2026-01-02T11:59:55Z", "5s"),
        ("2026-01-02T11:57:00Z", "3m"),
        ("2026-01-02T09:00:00Z", "3h"),
        ("2025-12-28T12:00:00Z", "5d"),
        (None, "<unknown>"),
        ("yesterday", "<unknown>"),
    ],
    ids=["seconds", "minutes", "hours", "days", "missing", "garbage"],
)
def test_age(stamp, wanted) -> None:
    assert render.age(stamp, NOW) == wanted


@pytest.mark.parametrize(
    ("status", "wanted"),
    [
        ({"state": {"running": {"startedAt": "T"}}}, ("Running", "since T")),
        ({"state": {"waiting": {"reason": "CrashLoopBackOff"}}}, ("Waiting", "CrashLoopBackOff")),
        (
            {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            ("Terminated", "Completed (exit code 0)"),
        ),
        ({}, ("Unknown", "")),
    ],
    ids=["running", "waiting", "terminated", "none"],
)
def test_container_state(status, wanted) -> None:
    assert render.container_state(status) == wanted


def pod(phase: str, ready: str = "False", waiting: str = "") -> dict:
    statuses = [
        {"name": "c", "restartCount": 2, "state": {"waiting": {"reason": waiting}} if waiting else {}}
    ]
    return {
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": statuses,
        }
    }


@pytest.mark.parametrize(
    ("kind", "obj", "wanted"),
    [
        ("pods", pod("Running", "True"), "ok"),
        ("pods", pod("Pending"), "pending"),
        ("pods", pod("Running", waiting="CrashLoopBackOff"), "failed"),
        ("pods", pod("Succeeded"), "ok"),
        ("deployments", {"spec": {"replicas": 3}, "status": {"readyReplicas": 3}}, "ok"),
        ("deployments", {"spec": {"replicas": 3}, "status": {"readyReplicas": 1}}, "pending"),
        ("daemonsets", {"status": {"desiredNumberScheduled": 2, "numberReady": 2}}, "ok"),
        ("jobs", {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}, "failed"),
        ("jobs", {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}, "ok"),
    ],
    ids=["pod-ready", "pod-pending", "pod-crashing", "pod-done", "deploy-ready", "deploy-short", "ds",
         "job-failed", "job-complete"],
)  # fmt: skip
def test_workload_health(kind, obj, wanted) -> None:
    assert render.workload_health(kind, obj) == wanted


def test_health_counts_and_restarts() -> None:
    pods = [pod("Running", "True"), pod("Pending"), pod("Failed")]
    assert render.health_counts("pods", pods) == {"ok": 1, "pending": 1, "failed": 1}
    assert render.pod_restarts(pods[0]) == 2


def test_node_summary() -> None:
    node = {
        "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": True},
        "status": {
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0"},
        },
    }
    assert render.node_summary(node) == {
        "name": "n1", "ready": "True", "roles": "control-plane", "cpu": "2", "memory": "4Gi", "pods": "110",
        "version": "v1.37.0", "unschedulable": "yes",
    }  # fmt: skip


def test_label_selector() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "team", "operator": "Exists"},
        ],
    }
    assert render.label_selector(selector) == "a=1,b=2,tier in (web,api),!canary,team"
    assert render.label_selector(None) == ""


@pytest.mark.parametrize(
    ("raw", "wanted"),
    [
        (base64.b64encode(b"s3cret").decode(), "s3cret"),
        (base64.b64encode(b"\xff\xfe\x00").decode(), "<3 bytes of binary data>"),
        ("not base64!", "<not base64>"),
    ],
    ids=["text", "binary", "invalid"],
)
def test_decode_secret_value(raw, wanted) -> None:
    assert render.decode_secret_value(raw) == wanted


def test_restart_patch_is_kubectls_annotation() -> None:
    patch = render.restart_patch(NOW)
    assert patch == {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-02T12:00:00Z"}}
            }
        }
    }


@pytest.mark.parametrize(
    ("path", "root"),
    [("/", "./"), ("/login", "./"), ("/r/pods", "../"), ("/r/pods/ns/web", "../../../"),
     ("/r/pods/ns/web/scale", "../../../../")],
)  # fmt: skip
def test_relative_root(path, root) -> None:
    assert relative_root(path) == root


def test_table_rows_keep_priority_zero_columns_and_add_the_namespace() -> None:
    table = {
        "columnDefinitions": [{"name": "Name"}, {"name": "Ready"}, {"name": "IP", "priority": 1}],
        "rows": [
            {
                "cells": ["web-1", "1/1", "10.0.0.1"],
                "object": {"metadata": {"name": "web-1", "namespace": "a"}},
            }
        ],
    }
    assert table_rows(table, all_namespaces=False) == (
        ["Name", "Ready"],
        [{"namespace": "a", "name": "web-1", "cells": ["web-1", "1/1"]}],
    )
    columns, rows = table_rows(table, all_namespaces=True)
    assert columns == ["Namespace", "Name", "Ready"] and rows[0]["cells"] == ["a", "web-1", "1/1"]


def test_manifest_hides_secret_values_and_managed_fields() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s", "managedFields": [{"manager": "kubectl"}]},
        "data": {"password": base64.b64encode(b"s3cret").decode()},
    }
    text = manifest(KINDS["secrets"], secret)
    assert "czNjcmV0" not in text and "password: (hidden)" in text and "managedFields" not in text


def test_kind_paths() -> None:
    assert (
        KINDS["deployments"].path("ns", "web", "scale") == "/apis/apps/v1/namespaces/ns/deployments/web/scale"
    )
    assert KINDS["pods"].path() == "/api/v1/pods"
    assert KINDS["nodes"].path("ignored", "n1") == "/api/v1/nodes/n1"
