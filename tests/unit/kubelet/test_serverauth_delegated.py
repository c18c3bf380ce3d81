"""DelegatedAuth: TokenReview and SubjectAccessReview bodies, and their caching."""

from __future__ import annotations

from typing import Any

from kubeling.kubelet.serverauth import DelegatedAuth, Identity


class FakeClient:
    def __init__(self, allowed: bool = True) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.allowed = allowed

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        self.calls.append((path, body))
        if path.endswith("tokenreviews"):
            if body["spec"]["token"] == "good":
                user = {"username": "alice", "uid": "u1", "groups": ["devs", "system:authenticated"]}
                return {"status": {"authenticated": True, "user": user}}
            return {"status": {"authenticated": False}}
        return {"status": {"allowed": self.allowed}}


class FakeRequest:
    transport = None

    def __init__(self, token: str = "") -> None:
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}


async def test_token_review_and_its_cache() -> None:
    client = FakeClient()
    auth = DelegatedAuth(client, "node-1")  # type: ignore[arg-type]
    for _ in range(2):
        identity = await auth.authenticate(FakeRequest("good"))  # type: ignore[arg-type]
        assert identity == Identity("alice", ("devs", "system:authenticated"), "u1")
    assert await auth.authenticate(FakeRequest("bad")) is None  # type: ignore[arg-type]
    assert await auth.authenticate(FakeRequest()) is None  # type: ignore[arg-type]
    reviews = [body for path, body in client.calls]
    assert reviews == [
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "good"}},
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "bad"}},
    ]


async def test_access_review_names_the_node_subresource_and_verb() -> None:
    client = FakeClient(allowed=False)
    auth = DelegatedAuth(client, "node-1")  # type: ignore[arg-type]
    who = Identity("bob", ("g",), "u2")
    allowed, reason = await auth.authorize(who, "GET", "/stats/summary")
    assert not allowed
    assert reason == "Forbidden (user=bob, verb=get, resource=nodes, subresource=stats)"
    await auth.authorize(who, "GET", "/stats/summary")  # cached
    await auth.authorize(who, "POST", "/exec/ns/pod/c")
    specs = [body["spec"] for _, body in client.calls]
    assert specs == [
        {
            "user": "bob",
            "groups": ["g"],
            "uid": "u2",
            "resourceAttributes": {
                "verb": "get", "group": "", "version": "v1", "resource": "nodes", "subresource": "stats",
                "name": "node-1",
            },
        },
        {
            "user": "bob",
            "groups": ["g"],
            "uid": "u2",
            "resourceAttributes": {
                "verb": "create", "group": "", "version": "v1", "resource": "nodes", "subresource": "proxy",
                "name": "node-1",
            },
        },
    ]  # fmt: skip


async def test_without_an_api_client_everything_authenticated_is_allowed() -> None:
    auth = DelegatedAuth(None, "node-1")
    assert await auth.authorize(Identity("anyone"), "GET", "/pods") == (True, "")
