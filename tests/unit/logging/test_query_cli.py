from __future__ import annotations

import argparse
from urllib.parse import parse_qs, urlsplit

import pytest

from kubeling.logging.query import format_line, query_path, register


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["logs", "query", *argv])


def test_flags_become_the_api_path() -> None:
    args = parse("-l", "app=web", "--pod", "web-1", "--since", "10m", "--contains", "err", "--limit", "50")
    url = urlsplit(query_path(args, "shop"))
    assert url.path == "/apis/logging.kubeling.io/v1alpha1/namespaces/shop/logs"
    assert parse_qs(url.query) == {
        "labelSelector": ["app=web"],
        "pod": ["web-1"],
        "sinceSeconds": ["600"],
        "contains": ["err"],
        "limit": ["50"],
    }


def test_all_namespaces_asks_the_cluster_scope() -> None:
    assert urlsplit(query_path(parse("-A"), "shop")).path == "/apis/logging.kubeling.io/v1alpha1/logs"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "5m", "--since-time", "2026-11-23T18:00:00Z"], "at most one"),
        (["--since-time", "noon"], "--since-time"),
        (["--until-time", "later"], "--until-time"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_contradictory_or_malformed_flags(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        query_path(parse(*argv), "default")


def test_lines_print_like_kubectl_logs_prefix() -> None:
    item = {"namespace": "shop", "pod": "web-1", "container": "app", "time": "T", "log": "line 1"}
    assert format_line(item, all_namespaces=False, timestamps=False) == "[pod/web-1/app] line 1"
    assert format_line(item, all_namespaces=True, timestamps=True) == "[shop/pod/web-1/app] T line 1"
