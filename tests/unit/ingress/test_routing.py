"""The routing table: host and path matching, precedence, default backend, TLS hosts."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.ingress.routing import Backend, TLSRef, build, normalize_host


def make_ingress(
    name: str,
    rules: list[dict[str, Any]] | None = None,
    *,
    default: str | None = None,
    tls: list[dict[str, Any]] | None = None,
    created: str = "2026-01-01T00:00:00Z",
    namespace: str = "default",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": rules or []}
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    if tls:
        spec["tls"] = tls
    return {
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": spec,
    }


def rule(host: str | None, *paths: tuple[str, str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "http": {
            "paths": [
                {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
                for p, t, s in paths
            ]
        }
    }
    if host:
        entry["host"] = host
    return entry


TABLE = build(
    [
        make_ingress(
            "main",
            [
                rule("foo.example.com", ("/", "Prefix", "foo-root"), ("/api", "Prefix", "foo-api")),
                rule("foo.example.com", ("/api/v2", "Exact", "foo-v2-exact")),
                rule("*.example.com", ("/", "Prefix", "wild")),
                rule(None, ("/shared", "Prefix", "no-host"), ("/impl", "ImplementationSpecific", "impl")),
                rule("exact.example.com", ("/only", "Exact", "exact-only")),
            ],
            default="fallback",
        )
    ]
)


@pytest.mark.parametrize(
    ("host", "path", "service"),
    [
        ("foo.example.com", "/", "foo-root"),
        ("foo.example.com", "/anything", "foo-root"),
        ("foo.example.com", "/api", "foo-api"),
        ("foo.example.com", "/api/", "foo-api"),
        ("foo.example.com", "/api/users", "foo-api"),
        ("foo.example.com", "/apis", "foo-root"),  # prefix by path elements, not characters
        ("foo.example.com", "/api/v2", "foo-v2-exact"),
        ("foo.example.com", "/api/v2/x", "foo-api"),  # Exact does not match below itself
        ("FOO.Example.com:8080", "/api", "foo-api"),
        ("bar.example.com", "/x", "wild"),
        ("a.b.example.com", "/shared", "no-host"),  # a wildcard covers exactly one label
        ("example.com", "/shared/x", "no-host"),
        ("other.test", "/impl/deep", "impl"),
        ("exact.example.com", "/only", "exact-only"),
        ("exact.example.com", "/only/", "wild"),  # exact host had no match: the wildcard is next
        ("other.test", "/nothing", "fallback"),
    ],
)
def test_route(host: str, path: str, service: str) -> None:
    backend = TABLE.route(host, path)
    assert backend is not None
    assert backend.service == service


def test_longest_match_then_exact_before_prefix() -> None:
    table = build(
        [
            make_ingress(
                "a",
                [rule("h", ("/a", "Prefix", "prefix"), ("/a", "Exact", "exact"), ("/a/b", "Prefix", "b"))],
            )
        ]
    )
    assert table.route("h", "/a").service == "exact"  # type: ignore[union-attr]
    assert table.route("h", "/a/c").service == "prefix"  # type: ignore[union-attr]
    assert table.route("h", "/a/b/c").service == "b"  # type: ignore[union-attr]


def test_no_rule_and_no_default_is_none() -> None:
    table = build([make_ingress("a", [rule("h", ("/a", "Prefix", "s"))])])
    assert table.route("h", "/b") is None
    assert table.route("other", "/a") is None


def test_oldest_ingress_keeps_a_duplicate_path_and_the_default_backend() -> None:
    newer = make_ingress(
        "newer", [rule("h", ("/", "Prefix", "new"))], default="new-default", created="2026-02-01T00:00:00Z"
    )
    older = make_ingress(
        "older", [rule("h", ("/", "Prefix", "old"))], default="old-default", created="2026-01-01T00:00:00Z"
    )
    table = build([newer, older])
    assert table.route("h", "/") == Backend("default", "old", 80, "older")
    assert table.route("x", "/") == Backend("default", "old-default", 80, "older")


def test_rules_of_several_ingresses_and_namespaces_merge() -> None:
    table = build(
        [
            make_ingress("a", [rule("h", ("/a", "Prefix", "sa"))], namespace="one"),
            make_ingress("b", [rule("h", ("/b", "Prefix", "sb"))], namespace="two"),
        ]
    )
    assert table.route("h", "/a") == Backend("one", "sa", 80, "a")
    assert table.route("h", "/b") == Backend("two", "sb", 80, "b")
    assert table.backends() == {Backend("one", "sa", 80, "a"), Backend("two", "sb", 80, "b")}


def test_port_by_name_and_resource_backends_skipped() -> None:
    ingress = make_ingress("a")
    ingress["spec"]["rules"] = [
        {
            "host": "h",
            "http": {
                "paths": [
                    {
                        "path": "/n",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": "s", "port": {"name": "web"}}},
                    },
                    {
                        "path": "/r",
                        "pathType": "Prefix",
                        "backend": {"resource": {"kind": "Bucket", "name": "b"}},
                    },
                ]
            },
        }
    ]
    table = build([ingress])
    assert table.route("h", "/n") == Backend("default", "s", "web", "a")
    assert table.route("h", "/r") is None


def test_tls_hosts_exact_wildcard_and_defaulted_to_rule_hosts() -> None:
    table = build(
        [
            make_ingress(
                "a",
                [rule("a.test", ("/", "Prefix", "s")), rule("b.test", ("/", "Prefix", "s"))],
                tls=[{"hosts": ["*.wild.test"], "secretName": "wild"}, {"secretName": "rules"}],
            )
        ]
    )
    assert table.certificate_for("x.wild.test") == TLSRef("default", "wild")
    assert table.certificate_for("A.test") == TLSRef("default", "rules")
    assert table.certificate_for("b.test") == TLSRef("default", "rules")
    assert table.certificate_for("x.y.wild.test") is None
    assert table.certificate_for("c.test") is None


@pytest.mark.parametrize(
    ("raw", "host"),
    [("Example.COM", "example.com"), ("a.test:443", "a.test"), ("a.test.", "a.test"), ("[::1]:80", "[::1]")],
)
def test_normalize_host(raw: str, host: str) -> None:
    assert normalize_host(raw) == host
