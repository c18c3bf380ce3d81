"""Where to reach the apiserver and who to be: kubeconfig files and in-cluster config.

Both sources end in one :class:`ClientConfig` (server URL, TLS material,
credentials, default namespace) that :class:`kubeling.client.rest.RESTClient`
consumes.  Paths inside a kubeconfig are resolved against the file's folder,
as kubectl does; ``*-data`` fields win over their file twins.

Tokens may rotate under a running process (projected service-account tokens
are rewritten by the kubelet), so a ``token_file`` is not read once: every
:meth:`ClientConfig.bearer_token` call compares the file's mtime and size with
the last read and re-reads only when they changed.

Only the first file of a colon-separated ``$KUBECONFIG`` is read (no merging),
and exec/auth-provider plugins and basic auth are not supported.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """The kubeconfig (or the in-cluster environment) cannot be turned into a ClientConfig."""


@dataclass
class ClientConfig:
    server: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    cert_data: bytes | None = None
    key_file: str | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    insecure_skip_tls_verify: bool = False
    namespace: str = "default"
    # (mtime_ns, size, token) of the last read of token_file.
    _token_cache: tuple[int, int, str] | None = field(default=None, repr=False, compare=False)

    def bearer_token(self) -> str | None:
        """The token to send; a token file is re-read whenever it changed on disk."""
        if self.token_file:
            try:
                stat = os.stat(self.token_file)
            except OSError:
                # A file being swapped in place: keep the last good token.
                return self._token_cache[2] if self._token_cache else self.token
            cached = self._token_cache
            if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
                token = Path(self.token_file).read_text().strip()
                self._token_cache = (stat.st_mtime_ns, stat.st_size, token)
            return self._token_cache[2]  # type: ignore[index]
        return self.token

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for an https server (None for plain http)."""
        if not self.server.startswith("https://"):
            return None
        if self.insecure_skip_tls_verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            context = ssl.create_default_context(cadata=self.ca_data.decode())
        elif self.ca_file:
            context = ssl.create_default_context(cafile=self.ca_file)
        else:
            context = ssl.create_default_context()
        cert = _pem(self.cert_data, self.cert_file)
        key = _pem(self.key_data, self.key_file)
        if cert and key:
            _load_cert_chain(context, cert, key)
        elif cert or key:
            raise ConfigError("client certificate and client key must be given together")
        return context


def _pem(data: bytes | None, path: str | None) -> bytes | None:
    if data:
        return data
    if path:
        return Path(path).read_bytes()
    return None


def _load_cert_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl only loads certificates from files: write them to a private
    # temporary folder that lives just for the call.
    with tempfile.TemporaryDirectory(prefix="kubeling-tls-") as folder:
        cert_path, key_path = Path(folder, "tls.crt"), Path(folder, "tls.key")
        for path, content in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        context.load_cert_chain(str(cert_path), str(key_path))


def default_kubeconfig_path() -> Path:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return Path(first) if first else Path.home() / ".kube" / "config"


def _named(entries: Any, name: str, what: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(what)
            return body if isinstance(body, dict) else {}
    raise ConfigError(f"{what} {name!r} not found in kubeconfig")


def _decode(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{what}: invalid base64: {exc}") from None


def _resolve(value: Any, base: Path) -> str | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else base / path)


def parse_kubeconfig(document: dict[str, Any], *, base: Path, context: str | None = None) -> ClientConfig:
    """Build a ClientConfig from a parsed kubeconfig (relative paths resolve against ``base``)."""
    if not isinstance(document, dict):
        raise ConfigError("kubeconfig is not a mapping")
    context_name = context or document.get("current-context")
    if not context_name:
        raise ConfigError("kubeconfig has no current-context and none was asked for")
    ctx = _named(document.get("contexts"), context_name, "context")
    if not ctx.get("cluster"):
        raise ConfigError(f"context {context_name!r} names no cluster")
    cluster = _named(document.get("clusters"), ctx["cluster"], "cluster")
    user = _named(document.get("users"), ctx["user"], "user") if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise ConfigError(f"cluster {ctx['cluster']!r} has no server")

    def data(key: str) -> bytes | None:
        source = cluster if key.startswith("certificate-authority") else user
        value = source.get(key)
        return _decode(value, key) if value else None

    return ClientConfig(
        server=str(server).rstrip("/"),
        ca_file=_resolve(cluster.get("certificate-authority"), base),
        ca_data=data("certificate-authority-data"),
        cert_file=_resolve(user.get("client-certificate"), base),
        cert_data=data("client-certificate-data"),
        key_file=_resolve(user.get("client-key"), base),
        key_data=data("client-key-data"),
        token=user.get("token") or None,
        token_file=_resolve(user.get("tokenFile"), base),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=ctx.get("namespace") or "default",
    )


def load_kubeconfig(path: str | Path | None = None, *, context: str | None = None) -> ClientConfig:
    """Read a kubeconfig file (default: :func:`default_kubeconfig_path`) for one context."""
    file = Path(path) if path is not None else default_kubeconfig_path()
    try:
        document = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {file}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {file} is not valid YAML: {exc}") from None
    return parse_kubeconfig(document, base=file.resolve().parent, context=context)


def in_cluster_config(
    *, environ: dict[str, str] | None = None, account_dir: Path = SERVICE_ACCOUNT_DIR
) -> ClientConfig:
    """The config of a pod: the service's env vars plus the mounted service-account files."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
    token_file = account_dir / "token"
    if not token_file.exists():
        raise ConfigError(f"not in a cluster: {token_file} is missing")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 service address
    namespace_file = account_dir / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.exists() else "default"
    ca_file = account_dir / "ca.crt"
    return ClientConfig(
        server=f"https://{host}:{port}",
        ca_file=str(ca_file) if ca_file.exists() else None,
        token_file=str(token_file),
        namespace=namespace or "default",
    )


def load_config(kubeconfig: str | Path | None = None, *, context: str | None = None) -> ClientConfig:
    """What a component uses: an explicit kubeconfig, else in-cluster, else the default kubeconfig."""
    if kubeconfig is not None:
        return load_kubeconfig(kubeconfig, context=context)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_DIR.joinpath("token").exists():
        return in_cluster_config()
    return load_kubeconfig(None, context=context)
