"""Certificate rotation steps (``deploys/rotate_certs.py``): renew on the deploying machine,
then restart what uses the new files one host at a time.

- ``renew_once``: ``kubeling pki renew all`` on ``certs/<cluster>/`` (only the leaves
  expiring within a threshold, when one is given), once per run, while pyinfra prepares
  the hosts (file uploads hash their sources then);
- ``etcd_member``: restart etcd and wait until the member answers ``/health`` before the
  next host (``_serial``), so a quorum always stands;
- ``static_pod``: rewrite a control-plane manifest with the annotation
  ``kubeling.io/certificates-hash`` (the hash of everything the host received), so the
  kubelet, which restarts a static pod whose manifest changed, recreates it with the new
  certificates; then wait for its mirror pod to run that manifest, Ready (and the
  apiserver's ``/readyz``), before the next host;
- ``kubelet``: restart and wait for the Node to be Ready with a fresh heartbeat.

Nothing is restarted when nothing it uses changed, which is what makes a second run with a
threshold change nothing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import yaml
from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import Sha256File
from pyinfra.operations import files

from deploys.cluster import APISERVER_PORT, MANIFESTS, PKI, ROOT, Cluster, Node, render
from deploys.tasks.artifacts import kubeconfig_for, pki_dir
from deploys.tasks.pki import files_for, kubeconfigs_for

ANNOTATION = "kubeling.io/certificates-hash"
STEP_TIMEOUT = 240.0
_renewing = threading.Lock()


class RenewError(RuntimeError):
    pass


def threshold_days() -> int | None:
    """Group data ``threshold_days`` (alias ``only_expiring_within``); None: renew everything."""
    for key in ("threshold_days", "only_expiring_within"):
        value = host.data.get(key)
        if value not in (None, ""):
            try:
                return int(value)
            except (TypeError, ValueError):
                raise RenewError(f"{key}={value!r}: want a whole number of days") from None
    return None


def renew_once(cluster: Cluster, within_days: int | None) -> tuple[Path, tuple[str, ...]]:
    with _renewing:
        return _renew(cluster, within_days)


@functools.cache
def _renew(cluster: Cluster, within_days: int | None) -> tuple[Path, tuple[str, ...]]:
    from kubeling.pki.commands import PkiError, renew_leaves

    directory = pki_dir(cluster)
    out = io.StringIO()
    try:
        renewed = renew_leaves(directory, "all", expiring_within_days=within_days, out=out)
    except PkiError as exc:
        raise RenewError(f"PKI in {directory}: {exc}") from None
    what = ", ".join(renewed) if renewed else f"nothing (none expires within {within_days} days)"
    print(f"[rotate-certs] renewed in {directory}: {what}", file=sys.stderr)
    return directory, tuple(renewed)


def certificates_hash(cluster: Cluster, node: Node, source: Path) -> str:
    """One digest of every file and kubeconfig the node receives (its components' inputs)."""
    digest = hashlib.sha256()
    for local, remote, _mode, _owner in files_for(cluster, node, source):
        digest.update(remote.encode() + b"\0" + local.read_bytes() + b"\0")
    for content, remote in kubeconfigs_for(cluster, node, source):
        digest.update(remote.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()[:16]


def annotated_manifest(cluster: Cluster, node: Node, component: str, certs_hash: str) -> tuple[bytes, str]:
    """The component's manifest with the hash annotation, and the pod uid the kubelet will give it."""
    from kubeling.kubelet.static import static_pod

    text = render(f"{component}.yaml.j2", cluster, node)
    header = "".join(line for line in text.splitlines(keepends=True)[:1] if line.startswith("#"))
    manifest = yaml.safe_load(text)
    manifest.setdefault("metadata", {}).setdefault("annotations", {})[ANNOTATION] = certs_hash
    content = header + yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
    uid = static_pod(yaml.safe_load(content), node.name)["metadata"]["uid"]
    return content.encode(), uid


def admin_kubeconfig_file(cluster: Cluster, source: Path) -> Path:
    """A renewed admin kubeconfig pointed where this machine reaches the API, for the waits."""
    from kubeling.pki.certs import write_atomic

    path = source / ".rotate-certs-admin.conf"
    content = kubeconfig_for(cluster, source / "admin.conf", cluster.admin_url)
    if not path.exists() or path.read_bytes() != content:
        write_atomic(path, content, 0o600)
    return path


def _step(step: str, *args: str) -> None:
    argv = [sys.executable, "-m", "deploys.tasks.certs_steps", step, *args, "--timeout", str(STEP_TIMEOUT)]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=STEP_TIMEOUT + 60)
    if done.returncode:
        raise OperationError((done.stderr or done.stdout).strip() or f"{step} failed")
    print(f"[rotate-certs] {step} {' '.join(args[2:6])}: {time.monotonic() - started:.1f}s", file=sys.stderr)


_ETCD_HEALTHY = (
    "python3 -c \"import json,ssl,sys,urllib.request as u; p='" + PKI + "/etcd/'; "
    "c=ssl.create_default_context(cafile=p+'ca.crt'); "
    "c.load_cert_chain(p+'healthcheck-client.crt',p+'healthcheck-client.key'); "
    "sys.exit(json.load(u.urlopen('https://127.0.0.1:2379/health',context=c,timeout=3)).get('health')!='true')\""
)


@operation()
def etcd_member() -> Iterator[StringCommand]:
    """Restart this etcd member and wait (up to 120 s) until it reports healthy.

    Call with ``_serial=True`` and ``_if`` on its certificates' uploads.
    """
    yield StringCommand("systemctl restart etcd")
    yield StringCommand(
        f"for i in $(seq 1 120); do {_ETCD_HEALTHY} 2>/dev/null && exit 0; sleep 1; done; "
        "echo 'etcd member not healthy within 120s' >&2; exit 1"
    )


@operation()
def static_pod(
    component: str,
    content: bytes,
    uid: str,
    node_name: str,
    kubeconfig: str,
    readyz: str = "",
    cacert: str = "",
) -> Iterator[object]:
    """The manifest ``/etc/kubernetes/manifests/<component>.yaml`` with ``content``; when it
    changed, wait until the kubelet runs it (mirror pod hash ``uid``) Ready.

    + component: ``kube-apiserver``, ``kube-controller-manager`` or ``kube-scheduler``
    + content: the manifest's bytes (with the certificates-hash annotation)
    + uid: the static pod uid the kubelet derives from ``content``
    + node_name, kubeconfig: the Node whose mirror pod to watch, through this admin kubeconfig
    + readyz, cacert: an apiserver URL whose ``/readyz`` must answer, and its CA
    """
    path = f"{MANIFESTS}/{component}.yaml"
    if host.get_fact(Sha256File, path=path) == hashlib.sha256(content).hexdigest():
        return
    yield from files.put._inner(src=BytesIO(content), dest=path, mode="600")
    args = ["--kubeconfig", kubeconfig, "--node", node_name, "--component", component, "--hash", uid]
    if readyz:
        args += ["--readyz", readyz, "--cacert", cacert]
    yield FunctionCommand(_step, ("static-pod", *args), {})


@operation()
def kubelet(node_name: str, kubeconfig: str) -> Iterator[object]:
    """Restart the kubelet and wait for its Node to be Ready with a heartbeat from after the restart.

    + node_name: the Node to wait for
    + kubeconfig: an admin kubeconfig of the cluster
    """
    since: list[float] = []
    yield FunctionCommand(lambda: since.append(time.time() - 1), (), {})
    yield StringCommand("systemctl restart kubelet")
    yield FunctionCommand(
        lambda: _step(
            "node-ready", "--kubeconfig", kubeconfig, "--node", node_name, "--since", str(since[-1])
        ),
        (),
        {},
    )


def readyz_url(node: Node) -> str:
    return f"https://{node.ip}:{APISERVER_PORT}"
