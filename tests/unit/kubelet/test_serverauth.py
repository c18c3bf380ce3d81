"""The kubelet server's request → SubjectAccessReview attributes, as upstream maps them."""

from __future__ import annotations

import pytest

from kubeling.kubelet.serverauth import subresource_for, verb_for


@pytest.mark.parametrize(
    ("path", "subresource"),
    [
        ("/stats/summary", "stats"),
        ("/stats", "stats"),
        ("/metrics", "metrics"),
        ("/metrics/cadvisor", "metrics"),
        ("/logs/syslog", "log"),
        ("/containerLogs/ns/pod/c", "proxy"),
        ("/exec/ns/pod/c", "proxy"),
        ("/portForward/ns/pod", "proxy"),
        ("/pods", "proxy"),
        ("/statsfoo", "proxy"),
    ],
)
def test_subresource(path: str, subresource: str) -> None:
    assert subresource_for(path) == subresource


@pytest.mark.parametrize(
    ("method", "verb"),
    [
        ("GET", "get"),
        ("HEAD", "get"),
        ("POST", "create"),
        ("PUT", "update"),
        ("PATCH", "patch"),
        ("DELETE", "delete"),
    ],
)
def test_verb(method: str, verb: str) -> None:
    assert verb_for(method) == verb
