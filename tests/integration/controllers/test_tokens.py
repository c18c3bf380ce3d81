"""serviceaccount-token-controller against a real server: legacy token Secrets filled and cleaned up."""

from __future__ import annotations

import base64
import dataclasses
import uuid

import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver import jwt
from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import NAMESPACES, SECRETS, SERVICEACCOUNTS
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


def _options(server: KubelingServer) -> ControllerOptions:
    pki = server.data_dir / "pki"
    return ControllerOptions(
        root_ca_file=str(pki / "ca.crt"), service_account_private_key_file=str(pki / "sa.key")
    )


def _token_secret(name: str, account: str) -> dict:
    return {
        "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": account}},
        "type": "kubernetes.io/service-account-token",
    }


async def _filled(client: RESTClient, namespace: str, name: str) -> dict | None:
    secret = await client.get(SECRETS, name=name, namespace=namespace)
    return secret if (secret.get("data") or {}).get("token") else None


async def test_token_secret_is_filled_and_removed_with_its_account(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    ns = f"tok-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    try:
        async with controllers_running(
            bare_server, ["serviceaccount-token-controller"], _options(bare_server)
        ):
            account = await client.create(SERVICEACCOUNTS, {"metadata": {"name": "builder"}}, namespace=ns)
            await client.create(SECRETS, _token_secret("builder-token", "builder"), namespace=ns)
            secret = await eventually(lambda: _filled(client, ns, "builder-token"), timeout=30)

            data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
            assert data["ca.crt"] == (bare_server.data_dir / "pki" / "ca.crt").read_bytes()
            assert data["namespace"] == ns.encode()
            uid = account["metadata"]["uid"]
            assert secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == uid
            keys = jwt.load_public_keys((bare_server.data_dir / "pki" / "sa.key").read_bytes())
            claims = jwt.verify(data["token"].decode(), keys)
            assert claims == {
                "iss": "kubernetes/serviceaccount",
                "kubernetes.io/serviceaccount/namespace": ns,
                "kubernetes.io/serviceaccount/secret.name": "builder-token",
                "kubernetes.io/serviceaccount/service-account.name": "builder",
                "kubernetes.io/serviceaccount/service-account.uid": uid,
                "sub": f"system:serviceaccount:{ns}:builder",
            }

            # A Secret for an account that doesn't exist, and then the account going away: both deleted.
            await client.create(SECRETS, _token_secret("orphan-token", "nobody"), namespace=ns)
            await client.delete(SERVICEACCOUNTS, name="builder", namespace=ns)

            async def gone() -> bool:
                names = {s["metadata"]["name"] for s in (await client.list(SECRETS, namespace=ns))["items"]}
                return not names & {"builder-token", "orphan-token"}

            await eventually(gone, timeout=30)
    finally:
        await client.delete(NAMESPACES, name=ns)
        await client.close()


async def test_legacy_token_authenticates_as_its_account(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    ns = f"tok-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    try:
        async with controllers_running(
            bare_server, ["serviceaccount-token-controller"], _options(bare_server)
        ):
            await client.create(SERVICEACCOUNTS, {"metadata": {"name": "bot"}}, namespace=ns)
            await client.create(SECRETS, _token_secret("bot-token", "bot"), namespace=ns)
            secret = await eventually(lambda: _filled(client, ns, "bot-token"), timeout=30)
        token = base64.b64decode(secret["data"]["token"]).decode()
        config = dataclasses.replace(
            load_config(str(bare_server.kubeconfig)),
            token=token,
            token_file=None,
            cert_file=None,
            cert_data=None,
            key_file=None,
            key_data=None,
        )
        as_bot = RESTClient(config, component="test", qps=0, max_retries=0)
        review_body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
        try:
            try:
                review = await as_bot.request("POST", path, body=review_body)
            except StatusError as exc:
                pytest.fail(f"legacy token rejected: {exc}")
            assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:bot"
            # Deleting the Secret revokes the token (it never expires on its own).
            await client.delete(SECRETS, name="bot-token", namespace=ns)

            async def refused() -> bool:
                try:
                    await as_bot.request("POST", path, body=review_body)
                except StatusError as exc:
                    return exc.code == 401
                return False  # the apiserver's cache may take a moment to see the delete

            await eventually(refused, timeout=10)
        finally:
            await as_bot.close()
    finally:
        await client.delete(NAMESPACES, name=ns)
        await client.close()
