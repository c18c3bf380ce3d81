"""Kubeconfig files with the client certificate, key and CA embedded.

The shape is kubeadm's: one cluster named after the cluster, one user named
after the certificate's CN, one context ``<user>@<cluster>`` that is current.
``render`` is deterministic, so an unchanged identity renders to the same
bytes and a second ``pki init`` finds nothing to write.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Credentials:
    """The parts of a kubeconfig that pki cares about (PEM bytes, decoded)."""

    cluster: str
    server: str
    ca_pem: bytes
    user: str
    cert_pem: bytes
    key_pem: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render(creds: Credentials) -> bytes:
    context = f"{creds.user}@{creds.cluster}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": creds.cluster,
                "cluster": {"certificate-authority-data": _b64(creds.ca_pem), "server": creds.server},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": creds.cluster, "user": creds.user}}],
        "current-context": context,
        "preferences": {},
        "users": [
            {
                "name": creds.user,
                "user": {
                    "client-certificate-data": _b64(creds.cert_pem),
                    "client-key-data": _b64(creds.key_pem),
                },
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1 << 20).encode()


def _named(items: Any, name: str, field: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name and isinstance(item.get(field), dict):
            return item[field]
    raise ValueError(f"no {field} named {name!r}")


def parse(data: bytes) -> Credentials:
    """Read the current context's cluster and user; ValueError when anything is missing."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "Config":
        raise ValueError("not a kubeconfig (kind: Config)")
    current = doc.get("current-context")
    context = _named(doc.get("contexts"), str(current), "context")
    cluster_name, user_name = str(context.get("cluster")), str(context.get("user"))
    cluster = _named(doc.get("clusters"), cluster_name, "cluster")
    user = _named(doc.get("users"), user_name, "user")
    try:
        return Credentials(
            cluster=cluster_name,
            server=str(cluster["server"]),
            ca_pem=base64.b64decode(cluster["certificate-authority-data"], validate=True),
            user=user_name,
            cert_pem=base64.b64decode(user["client-certificate-data"], validate=True),
            key_pem=base64.b64decode(user["client-key-data"], validate=True),
        )
    except KeyError as exc:
        raise ValueError(f"missing {exc.args[0]}") from None
    except (binascii.Error, TypeError):
        raise ValueError("embedded data is not base64") from None
