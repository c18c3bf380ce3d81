"""Parsing the watches a page asks its live stream for."""

from __future__ import annotations

import pytest
from aiohttp import web

from kubeling.dashboard.live import parse_watch
from kubeling.dashboard.pages import live_url


def test_live_url_round_trips() -> None:
    text = live_url("pods", "ns", labelSelector="app=web", fieldSelector="")
    spec = parse_watch(text)
    assert (spec.kind.plural, spec.namespace, spec.selectors) == (
        "pods",
        "ns",
        (("labelSelector", "app=web"),),
    )


def test_cluster_scoped_kinds_drop_the_namespace_and_unknown_kinds_are_refused() -> None:
    assert parse_watch("kind=nodes&namespace=x").namespace == ""
    with pytest.raises(web.HTTPBadRequest):
        parse_watch("kind=flunders")
