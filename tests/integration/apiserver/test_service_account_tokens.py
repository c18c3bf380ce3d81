"""ServiceAccount tokens end to end: kubectl create token, use it, revoke it."""

from __future__ import annotations

import json

import pytest

from kubeling.apiserver import jwt
from tests.fixtures.server import kubectl

pytestmark = pytest.mark.integration


def test_rbac_matrix_for_a_service_account_token(server):
    ns = "sa-tokens"
    kubectl(server, "create", "namespace", ns)
    kubectl(server, "create", "serviceaccount", "robot", "-n", ns)
    token = kubectl(server, "create", "token", "robot", "-n", ns, "--duration=20m").stdout.strip()
    claims = json.loads(jwt.b64url_decode(token.split(".")[1]))
    user = "system:serviceaccount:sa-tokens:robot"
    assert claims["sub"] == user and claims["exp"] - claims["iat"] == 1200
    who = json.loads(kubectl(server, "auth", "whoami", "-o", "json", f"--token={token}").stdout)
    assert who["status"]["userInfo"]["username"] == user

    denied = kubectl(server, "get", "pods", "-n", ns, f"--token={token}", check=False)
    assert denied.returncode != 0
    expected = f'User "{user}" cannot list resource "pods" in API group "" in the namespace "{ns}"'
    assert f"pods is forbidden: {expected}" in denied.stderr
    can_i = kubectl(server, "auth", "can-i", "list", "pods", "-n", ns, f"--as={user}", check=False)
    assert can_i.stdout.strip() == "no"

    kubectl(server, "create", "role", "pod-reader", "-n", ns, "--verb=get,list,watch", "--resource=pods")
    kubectl(server, "create", "rolebinding", "robot-reads", "-n", ns, "--role=pod-reader",
            f"--serviceaccount={ns}:robot")  # fmt: skip
    assert kubectl(server, "get", "pods", "-n", ns, f"--token={token}").returncode == 0
    assert kubectl(server, "auth", "can-i", "list", "pods", "-n", ns, f"--as={user}").stdout.strip() == "yes"
    secrets = kubectl(server, "get", "secrets", "-n", ns, f"--token={token}", check=False)
    assert secrets.returncode != 0 and 'cannot list resource "secrets"' in secrets.stderr
    no_secrets = kubectl(server, "auth", "can-i", "get", "secrets", "-n", ns, f"--as={user}", check=False)
    assert no_secrets.stdout.strip() == "no"
    # Other namespaces are out of the Role's reach.
    elsewhere = kubectl(server, "get", "pods", "-n", "default", f"--token={token}", check=False)
    assert elsewhere.returncode != 0 and "forbidden" in elsewhere.stderr

    kubectl(server, "delete", "serviceaccount", "robot", "-n", ns)
    revoked = kubectl(server, "get", "pods", "-n", ns, f"--token={token}", check=False)
    assert revoked.returncode != 0 and "Unauthorized" in revoked.stderr


def test_anonymous_sees_only_health_and_version(server):
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(server.url + path, context=context, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert [status(p) for p in ("/healthz", "/readyz", "/livez", "/version")] == [200, 200, 200, 200]
    assert [status(p) for p in ("/api/v1/namespaces", "/api/v1/namespaces/default/secrets", "/apis")] == [
        403
    ] * 3


def test_wrong_token_is_unauthorized(server):
    result = kubectl(server, "get", "pods", "--token=not-a-real-token", check=False)
    assert result.returncode != 0 and "Unauthorized" in result.stderr


def test_openid_discovery_publishes_the_verification_key(server):
    status, body = server.request("GET", "/.well-known/openid-configuration")
    config = json.loads(body)
    assert status == 200 and config["issuer"] == "https://kubernetes.default.svc.cluster.local"
    keys = json.loads(server.request("GET", "/openid/v1/jwks")[1])["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"


def test_whoami_and_can_i(server):
    who = json.loads(kubectl(server, "auth", "whoami", "-o", "json").stdout)
    assert who["kind"] == "SelfSubjectReview"
    assert who["status"]["userInfo"]["username"] == "admin"
    assert "system:masters" in who["status"]["userInfo"]["groups"]
    assert kubectl(server, "auth", "can-i", "create", "deployments").stdout.strip() == "yes"
    listing = kubectl(server, "auth", "can-i", "--list").stdout
    assert "*.*" in listing


def test_token_review_tells_whose_token_it_is(server):
    kubectl(server, "create", "namespace", "sa-review")
    kubectl(server, "create", "serviceaccount", "checker", "-n", "sa-review")
    token = kubectl(server, "create", "token", "checker", "-n", "sa-review").stdout.strip()
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    status, body = server.request(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        json.dumps(review).encode(),
        {"Content-Type": "application/json"},
    )
    result = json.loads(body)["status"]
    assert status == 201 and result["authenticated"] is True
    assert result["user"]["username"] == "system:serviceaccount:sa-review:checker"
    assert "system:serviceaccounts:sa-review" in result["user"]["groups"]
    review["spec"]["token"] = token[:-3] + "abc"
    result = json.loads(
        server.request(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            json.dumps(review).encode(),
            {"Content-Type": "application/json"},
        )[1]
    )
    assert result["status"]["authenticated"] is False


def test_token_review_checks_the_audiences_asked_about(server):
    kubectl(server, "create", "namespace", "sa-audience")
    kubectl(server, "create", "serviceaccount", "metrics", "-n", "sa-audience")
    token = kubectl(
        server, "create", "token", "metrics", "-n", "sa-audience", "--audience=https://metrics.example"
    ).stdout.strip()

    def review(audiences: list[str] | None) -> dict:
        spec: dict = {"token": token}
        if audiences is not None:
            spec["audiences"] = audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        status, answer = server.request(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 201
        return json.loads(answer)["status"]

    meant = review(["https://metrics.example"])
    assert meant["authenticated"] is True and meant["audiences"] == ["https://metrics.example"]
    assert meant["user"]["username"] == "system:serviceaccount:sa-audience:metrics"
    # Not for the apiserver itself, nor for another audience.
    assert review(None)["authenticated"] is False
    assert review(["https://other.example"])["authenticated"] is False
