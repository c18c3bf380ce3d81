"""Kubeconfig rendering: kubeadm's shape, deterministic, and parsed back."""

from __future__ import annotations

import base64

import pytest
import yaml

from kubeling.pki import kubeconfig
from kubeling.pki.kubeconfig import Credentials

CREDS = Credentials(
    cluster="demo",
    server="https://10.0.0.11:6443",
    ca_pem=b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
    user="kubernetes-admin",
    cert_pem=b"-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n",
    key_pem=b"-----BEGIN EC PRIVATE KEY-----\nKEY\n-----END EC PRIVATE KEY-----\n",
)


def test_render_has_kubeadm_shape() -> None:
    doc = yaml.safe_load(kubeconfig.render(CREDS))
    assert doc == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "demo",
                "cluster": {
                    "certificate-authority-data": base64.b64encode(CREDS.ca_pem).decode(),
                    "server": "https://10.0.0.11:6443",
                },
            }
        ],
        "contexts": [
            {"name": "kubernetes-admin@demo", "context": {"cluster": "demo", "user": "kubernetes-admin"}}
        ],
        "current-context": "kubernetes-admin@demo",
        "preferences": {},
        "users": [
            {
                "name": "kubernetes-admin",
                "user": {
                    "client-certificate-data": base64.b64encode(CREDS.cert_pem).decode(),
                    "client-key-data": base64.b64encode(CREDS.key_pem).decode(),
                },
            }
        ],
    }


def test_render_is_deterministic_and_round_trips() -> None:
    assert kubeconfig.render(CREDS) == kubeconfig.render(CREDS)
    assert kubeconfig.parse(kubeconfig.render(CREDS)) == CREDS


def _mutated(path: list[str | int], value: object) -> bytes:
    doc = yaml.safe_load(kubeconfig.render(CREDS))
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return yaml.safe_dump(doc).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not yaml", "not YAML"),
        (b"kind: Pod\n", "not a kubeconfig"),
        (_mutated(["current-context"], "other"), "no context named"),
        (_mutated(["users", 0, "name"], "someone"), "no user named"),
        (_mutated(["users", 0, "user", "client-key-data"], None), "missing client-key-data"),
        (_mutated(["clusters", 0, "cluster", "certificate-authority-data"], "@@@"), "not base64"),
    ],
    ids=["not-yaml", "wrong-kind", "no-context", "no-user", "no-key", "bad-base64"],
)
def test_parse_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kubeconfig.parse(data)
