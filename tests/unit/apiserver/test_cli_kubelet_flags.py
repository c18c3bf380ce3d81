"""kubeling apiserver: the kubelet client flags reach APIServerConfig."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.apiserver import app
from kubeling.apiserver.config import APIServerConfig
from kubeling.cli import build_parser


def test_kubelet_client_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[APIServerConfig] = []

    def fake_run(config: APIServerConfig) -> Any:
        seen.append(config)
        return None

    monkeypatch.setattr(app, "run", fake_run)
    args = build_parser().parse_args(
        [
            "apiserver",
            "--storage-backend=sqlite",
            "--kubelet-client-certificate=/pki/apiserver-kubelet-client.crt",
            "--kubelet-client-key=/pki/apiserver-kubelet-client.key",
            "--kubelet-certificate-authority=/pki/kubelet-ca.crt",
        ]
    )
    args.run(args)
    (config,) = seen
    assert config.kubelet_client_certificate == "/pki/apiserver-kubelet-client.crt"
    assert config.kubelet_client_key == "/pki/apiserver-kubelet-client.key"
    assert config.kubelet_certificate_authority == "/pki/kubelet-ca.crt"


def test_kubelet_client_flags_default_to_unset() -> None:
    config = APIServerConfig()
    assert (
        config.kubelet_client_certificate,
        config.kubelet_client_key,
        config.kubelet_certificate_authority,
    ) == (
        "",
        "",
        "",
    )
