"""Kubeconfig and in-cluster config parsing, with files in a temporary folder."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeling.client.kubeconfig import (
    ClientConfig,
    ConfigError,
    in_cluster_config,
    load_config,
    load_kubeconfig,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def make_kubeconfig(
    *, cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None, **top: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "main", "cluster": cluster or {"server": "https://10.0.0.1:6443"}},
            {"name": "other", "cluster": {"server": "https://other:443/", "insecure-skip-tls-verify": True}},
        ],
        "users": [
            {"name": "admin", "user": user or {"token": "abc"}},
            {"name": "viewer", "user": {"tokenFile": "viewer.token"}},
        ],
        "contexts": [
            {"name": "admin@main", "context": {"cluster": "main", "user": "admin"}},
            {"name": "viewer@other", "context": {"cluster": "other", "user": "viewer", "namespace": "apps"}},
        ],
        "current-context": "admin@main",
    }
    document.update(top)
    return document


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("document", "context", "expected"),
    [
        pytest.param(
            make_kubeconfig(),
            None,
            ClientConfig(server="https://10.0.0.1:6443", token="abc"),
            id="current-context-token",
        ),
        pytest.param(
            make_kubeconfig(),
            "viewer@other",
            ClientConfig(
                server="https://other:443",
                token_file="{dir}/viewer.token",
                insecure_skip_tls_verify=True,
                namespace="apps",
            ),
            id="named-context-token-file-relative-to-kubeconfig",
        ),
        pytest.param(
            make_kubeconfig(
                cluster={"server": "https://a:1", "certificate-authority-data": b64("CA")},
                user={"client-certificate-data": b64("CERT"), "client-key-data": b64("KEY")},
            ),
            None,
            ClientConfig(server="https://a:1", ca_data=b"CA", cert_data=b"CERT", key_data=b"KEY"),
            id="embedded-data",
        ),
        pytest.param(
            make_kubeconfig(
                cluster={"server": "https://a:1", "certificate-authority": "pki/ca.crt"},
                user={"client-certificate": "/abs/tls.crt", "client-key": "tls.key"},
            ),
            None,
            ClientConfig(
                server="https://a:1",
                ca_file="{dir}/pki/ca.crt",
                cert_file="/abs/tls.crt",
                key_file="{dir}/tls.key",
            ),
            id="file-paths",
        ),
    ],
)
def test_load_kubeconfig(
    tmp_path: Path, document: dict[str, Any], context: str | None, expected: ClientConfig
) -> None:
    path = write(tmp_path, document)
    for name in ("ca_file", "cert_file", "key_file", "token_file"):
        value = getattr(expected, name)
        if value:
            setattr(expected, name, value.format(dir=tmp_path.resolve()))
    assert load_kubeconfig(path, context=context) == expected


@pytest.mark.parametrize(
    ("document", "context", "message"),
    [
        pytest.param(make_kubeconfig(), "nope", "context 'nope' not found", id="unknown-context"),
        pytest.param(make_kubeconfig(**{"current-context": ""}), None, "no current-context", id="no-context"),
        pytest.param(
            make_kubeconfig(cluster={"insecure-skip-tls-verify": True}), None, "has no server", id="no-server"
        ),
        pytest.param(
            make_kubeconfig(cluster={"server": "https://a", "certificate-authority-data": "!!notbase64"}),
            None,
            "invalid base64",
            id="bad-base64",
        ),
        pytest.param(["a", "list"], None, "not a mapping", id="not-a-mapping"),
    ],
)
def test_load_kubeconfig_errors(tmp_path: Path, document: Any, context: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(write(tmp_path, document), context=context)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        load_kubeconfig(tmp_path / "absent")


def test_default_path_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, make_kubeconfig())
    monkeypatch.setenv("KUBECONFIG", f"{path}{os.pathsep}/elsewhere")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert load_config().server == "https://10.0.0.1:6443"


def test_token_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    config = ClientConfig(server="https://a", token_file=str(token))
    assert config.bearer_token() == "first"
    token.write_text("second-token\n")
    # Make sure the mtime moves even on coarse-grained filesystems.
    later = time.time() + 5
    os.utime(token, (later, later))
    assert config.bearer_token() == "second-token"
    token.unlink()  # mid-rotation: keep the last good token
    assert config.bearer_token() == "second-token"


def make_account_dir(tmp_path: Path, *, namespace: str | None = "kube-system") -> Path:
    folder = tmp_path / "sa"
    folder.mkdir()
    (folder / "token").write_text("sa-token")
    (folder / "ca.crt").write_text("CA")
    if namespace is not None:
        (folder / "namespace").write_text(namespace)
    return folder


@pytest.mark.parametrize(
    ("host", "namespace", "server", "expected_namespace"),
    [
        pytest.param("10.96.0.1", "kube-system", "https://10.96.0.1:443", "kube-system", id="ipv4"),
        pytest.param("fd00::1", None, "https://[fd00::1]:443", "default", id="ipv6-no-namespace-file"),
    ],
)
def test_in_cluster_config(
    tmp_path: Path, host: str, namespace: str | None, server: str, expected_namespace: str
) -> None:
    folder = make_account_dir(tmp_path, namespace=namespace)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": "443"}
    config = in_cluster_config(environ=environ, account_dir=folder)
    assert config == ClientConfig(
        server=server,
        ca_file=str(folder / "ca.crt"),
        token_file=str(folder / "token"),
        namespace=expected_namespace,
    )
    assert config.bearer_token() == "sa-token"


@pytest.mark.parametrize(
    ("environ", "with_token"),
    [
        pytest.param({}, True, id="no-env"),
        pytest.param({"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"}, False, id="no-token"),
    ],
)
def test_not_in_cluster(tmp_path: Path, environ: dict[str, str], with_token: bool) -> None:
    folder = make_account_dir(tmp_path)
    if not with_token:
        (folder / "token").unlink()
    with pytest.raises(ConfigError, match="not in a cluster"):
        in_cluster_config(environ=environ, account_dir=folder)


@pytest.mark.parametrize(
    ("config", "verify"),
    [
        pytest.param(ClientConfig(server="https://a"), True, id="system-trust"),
        pytest.param(ClientConfig(server="https://a", insecure_skip_tls_verify=True), False, id="insecure"),
    ],
)
def test_ssl_context(config: ClientConfig, verify: bool) -> None:
    context = config.ssl_context()
    assert context is not None
    assert context.check_hostname is verify


def test_plain_http_has_no_ssl_context() -> None:
    assert ClientConfig(server="http://127.0.0.1:8080").ssl_context() is None


def test_certificate_without_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="together"):
        ClientConfig(server="https://a", cert_data=b"CERT").ssl_context()
