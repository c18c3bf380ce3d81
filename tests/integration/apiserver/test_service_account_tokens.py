"""ServiceAccount tokens end to end: kubectl create token, use it, revoke it."""

from __future__ import annotations

import json

import pytest

from kubeling.apiserver import jwt
from tests.fixtures.server import kubectl

pytestmark = pytest.mark.integration


def test_token_request_authenticates_until_the_account_goes(server):
    kubectl(server, "create", "namespace", "sa-tokens")
    kubectl(server, "create", "serviceaccount", "robot", "-n", "sa-tokens")
    token = kubectl(server, "create", "token", "robot", "-n", "sa-tokens", "--duration=20m").stdout.strip()
    claims = json.loads(jwt.b64url_decode(token.split(".")[1]))
    assert claims["sub"] == "system:serviceaccount:sa-tokens:robot"
    assert claims["exp"] - claims["iat"] == 1200
    who = kubectl(server, "auth", "whoami", "-o", "json", f"--token={token}", check=False)
    listed = kubectl(server, "get", "configmaps", "-n", "sa-tokens", f"--token={token}")
    assert listed.returncode == 0
    if who.returncode == 0:  # SelfSubjectReview is served once authorization lands
        assert json.loads(who.stdout)["status"]["userInfo"]["username"] == claims["sub"]
    kubectl(server, "delete", "serviceaccount", "robot", "-n", "sa-tokens")
    revoked = kubectl(server, "get", "configmaps", "-n", "sa-tokens", f"--token={token}", check=False)
    assert revoked.returncode != 0 and "Unauthorized" in revoked.stderr


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
