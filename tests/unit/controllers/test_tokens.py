from cryptography.hazmat.primitives.asymmetric import rsa

from kubeling.apiserver import jwt
from kubeling.controllers.serviceaccount import legacy_claims, token_secret_index

ACCOUNT = {"metadata": {"name": "builder", "namespace": "ci", "uid": "u-1"}}


def _secret(kind: str = "kubernetes.io/service-account-token", account: str | None = "builder") -> dict:
    annotations = {"kubernetes.io/service-account.name": account} if account else {}
    return {
        "type": kind,
        "metadata": {"name": "builder-token", "namespace": "ci", "annotations": annotations},
    }


def test_legacy_claims_as_upstream() -> None:
    assert legacy_claims(ACCOUNT, _secret()) == {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "ci",
        "kubernetes.io/serviceaccount/secret.name": "builder-token",
        "kubernetes.io/serviceaccount/service-account.name": "builder",
        "kubernetes.io/serviceaccount/service-account.uid": "u-1",
        "sub": "system:serviceaccount:ci:builder",
    }


def test_token_signs_and_verifies_with_the_service_account_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.sign(legacy_claims(ACCOUNT, _secret()), key)
    assert jwt.verify(token, [key.public_key()])["sub"] == "system:serviceaccount:ci:builder"


def test_index_only_token_secrets_with_an_account() -> None:
    assert token_secret_index(_secret()) == ["ci/builder"]
    assert token_secret_index(_secret(kind="Opaque")) == []
    assert token_secret_index(_secret(account=None)) == []
