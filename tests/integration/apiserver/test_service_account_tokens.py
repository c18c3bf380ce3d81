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
