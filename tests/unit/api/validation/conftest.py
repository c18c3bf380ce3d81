"""Builders of valid objects; each test breaks one thing and checks the cause."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeling.api import defaults
from kubeling.api.errors import Cause
from kubeling.api.resources import Registry, Resource
from kubeling.api.validation import validate

Obj = dict[str, Any]
REGISTRY = Registry()


def resource(group: str, version: str, kind: str) -> Resource:
    found = REGISTRY.by_kind(group, version, kind)
    assert found is not None, kind
    return found


def container(name: str = "c", image: str = "busybox:1.36", **extra: Any) -> Obj:
    return {"name": name, "image": image, **extra}


def pod_spec(**extra: Any) -> Obj:
    return {"containers": [container()], **extra}


def make_pod(name: str = "p", **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "u1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": pod_spec(**spec),
    }


def template(labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {"labels": labels if labels is not None else {"app": "web"}},
        "spec": pod_spec(**spec),
    }


def make_workload(kind: str, name: str = "web", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "u1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(), **spec},
    }


def make_job(name: str = "job", **spec: Any) -> Obj:
    tmpl = template(labels={"job-name": name}, restartPolicy="Never")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "u1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"selector": {"matchLabels": {"job-name": name}}, "template": tmpl, **spec},
    }


def make_cron_job(name: str = "cron", **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": template(restartPolicy="OnFailure")}},
            **spec,
        },
    }


def make_service(name: str = "svc", **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "u1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec},
    }


def defaulted(res: Resource, obj: Obj) -> Obj:
    obj = copy.deepcopy(obj)
    defaults.apply_defaults(res, obj)
    return obj


def check(res: Resource, obj: Obj, old: Obj | None = None) -> list[Cause]:
    """Validate after defaulting, as the apiserver does."""
    obj = defaulted(res, obj)
    if old is not None:
        old = defaulted(res, old)
    return validate(res, obj, old)


def fields(causes: list[Cause]) -> list[tuple[str, str]]:
    return [(c.field, c.type) for c in causes]


@pytest.fixture
def pods() -> Resource:
    return resource("", "v1", "Pod")
