"""The checks run on one host through testinfra, one small function per check.

Each function takes a testinfra ``Host`` (any backend: ssh, local, docker)
and returns :class:`CheckResult`\\ s named ``<what> <which>`` (``unit kubelet``,
``port 6443``, ``cert /etc/kubernetes/pki/apiserver.crt``).  Commands are
plain POSIX tools a Debian host has (``systemctl``, ``ss``, ``ip``, ``stat``,
``cat``, ``docker``, ``etcdctl`` when installed, else ``python3`` for HTTPS);
their output is parsed by the pure helpers in ``parse``, ``certs`` and
``routes``.  :func:`check_host` runs them all for one target; a check that
raises becomes a failure of that check, and an unreachable host one failure.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import shlex
from collections.abc import Callable, Sequence

import yaml
from testinfra.host import Host

from kubeling.kubelet.docker import TYPE_CONTAINER
from kubeling.kubelet.runtime import CONTAINER_NAME, CONTAINER_TYPE, POD_NAME
from kubeling.verify import certs, layout, parse, routes
from kubeling.verify.report import CheckResult, failed, passed
from kubeling.verify.targets import Target

# GETs URLs in turn until one answers 2xx; args: URL [CAFILE CERTFILE KEYFILE].  No CA: no verification
# (the kubelet's serving certificate names its node, not 127.0.0.1; the cert checks look at it).
_HTTPS_GET = """
import ssl, sys, urllib.request
url, tls = sys.argv[1], sys.argv[2:]
ctx = ssl.create_default_context(cafile=tls[0]) if tls else ssl._create_unverified_context()
if tls:
    ctx.load_cert_chain(tls[1], tls[2])
try:
    with urllib.request.urlopen(url, context=ctx, timeout=5) as answer:
        print(answer.status, answer.read(300).decode(errors="replace"))
except Exception as exc:
    print(type(exc).__name__, exc)
    sys.exit(1)
"""
_PYTHON = "$(command -v python3 || echo /opt/kubeling/venv/bin/python)"


def https_get(host: Host, url: str, *tls: str) -> tuple[bool, str]:
    """GET ``url`` from the host itself; (answered 2xx, first line of what it said)."""
    args = " ".join(shlex.quote(a) for a in (url, *tls))
    result = host.run(f"{_PYTHON} -c {shlex.quote(_HTTPS_GET)} {args}")
    said = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return result.rc == 0, said[0] if said else f"exit status {result.rc}"


def check_units(host: Host, target: Target) -> list[CheckResult]:
    names = layout.units(target.groups)
    states = host.run("systemctl is-active" + " %s" * len(names), *names).stdout.split()
    results = []
    for i, unit in enumerate(names):
        state = states[i] if i < len(states) else "unknown"
        if state == "active":
            results.append(passed(target.name, f"unit {unit}"))
        else:
            results.append(failed(target.name, f"unit {unit}", f"systemctl is-active says {state}"))
    return results


def check_ports(host: Host, target: Target) -> list[CheckResult]:
    listening = parse.listening_ports(host.check_output("ss -Htln"))
    return [
        passed(target.name, f"port {port}", "listening")
        if port in listening
        else failed(target.name, f"port {port}", "nothing listens on this TCP port")
        for port in layout.ports(target.groups)
    ]


def _check_cert(
    host: Host, target: Target, path: str, *, kubeconfig: bool, now: dt.datetime, warn_days: int
) -> CheckResult:
    name = f"cert {path}"
    file = host.file(path)
    if not file.exists:
        return failed(target.name, name, "missing")
    content = file.content
    try:
        pem = certs.kubeconfig_certificate(content) if kubeconfig else content
        validity = certs.parse_certificate(pem)
    except certs.CertificateError as exc:
        return failed(target.name, name, str(exc))
    problem = certs.expiry_problem(validity, now=now, warn_days=warn_days)
    if problem:
        return failed(target.name, name, problem)
    return passed(target.name, name, certs.describe_expiry(validity, now=now))


def _check_key(host: Host, target: Target, path: str) -> CheckResult:
    name = f"key {path}"
    file = host.file(path)
    if not file.exists:
        return failed(target.name, name, "missing")
    problem = certs.key_mode_problem(file.mode)
    return (
        failed(target.name, name, problem) if problem else passed(target.name, name, f"mode {file.mode:04o}")
    )


def check_certificates(
    host: Host,
    target: Target,
    *,
    now: dt.datetime,
    warn_days: int = certs.DEFAULT_WARN_DAYS,
    extra: Sequence[layout.CertFile] = (),
) -> list[CheckResult]:
    results = []
    for entry in [*layout.cert_files(target.groups), *extra]:
        if entry.kubeconfig:
            results.append(
                _check_cert(host, target, entry.path, kubeconfig=True, now=now, warn_days=warn_days)
            )
            results.append(_check_key(host, target, entry.path))
            continue
        if entry.has_cert:
            results.append(
                _check_cert(host, target, f"{entry.path}.crt", kubeconfig=False, now=now, warn_days=warn_days)
            )
        if entry.has_key:
            results.append(_check_key(host, target, f"{entry.path}.key"))
    return results


def kubelet_serving_cert(host: Host) -> list[layout.CertFile]:
    """The kubelet's serving certificate as its config file names it (none when it self-signs)."""
    config = host.file(layout.KUBELET_CONFIG)
    if not config.exists:
        return []
    try:
        document = yaml.safe_load(config.content) or {}
    except yaml.YAMLError:
        return []
    cert, key = document.get("tlsCertFile"), document.get("tlsPrivateKeyFile")
    if not cert or not key:
        return []
    stem, ext = posixpath.splitext(cert)
    key_stem, key_ext = posixpath.splitext(key)
    if (ext, key_ext) == (".crt", ".key") and stem == key_stem:
        return [layout.CertFile(stem)]
    # differently named pair: check both files on their own
    return [layout.CertFile(cert, has_key=False, kubeconfig=False), layout.CertFile(key, has_cert=False)]


def check_kubelet_health(host: Host, target: Target) -> list[CheckResult]:
    attempts = []
    node_ip = f"[{target.node_ip}]" if ":" in target.node_ip else target.node_ip
    urls = [
        f"http://127.0.0.1:{layout.KUBELET_HEALTHZ_PORT}/healthz",
        f"https://127.0.0.1:{layout.KUBELET_PORT}/healthz",
        f"https://{node_ip}:{layout.KUBELET_PORT}/healthz",  # a kubelet bound to its node IP only
    ]
    for url in dict.fromkeys(urls):
        ok, said = https_get(host, url)
        if ok:
            return [passed(target.name, "kubelet healthz", f"{url}: {said}")]
        attempts.append(f"{url}: {said}")
    return [failed(target.name, "kubelet healthz", "; ".join(attempts))]


def check_static_pods(host: Host, target: Target) -> list[CheckResult]:
    ps = host.run(
        "docker ps --filter %s --format %s",
        f"label={CONTAINER_TYPE}={TYPE_CONTAINER}",
        f'{{{{.Label "{POD_NAME}"}}}} {{{{.Label "{CONTAINER_NAME}"}}}}',
    )
    running = parse.running_containers(ps.stdout) if ps.rc == 0 else set()
    results = []
    for name in layout.STATIC_PODS:
        check = f"static-pod {name}"
        manifest = host.file(f"{layout.MANIFESTS_DIR}/{name}.yaml")
        if not manifest.exists:
            results.append(failed(target.name, check, f"{manifest.path} missing"))
            continue
        try:
            pod = parse.static_pod(manifest.content_string)
        except ValueError as exc:
            results.append(failed(target.name, check, f"{manifest.path}: {exc}"))
            continue
        if ps.rc != 0:
            results.append(failed(target.name, check, f"docker ps failed: {ps.stderr.strip()[:200]}"))
            continue
        missing = parse.missing_static_containers(pod, running, target.node_name)
        if missing:
            results.append(failed(target.name, check, f"container(s) not running: {', '.join(missing)}"))
        else:
            results.append(passed(target.name, check, f"{len(pod.containers)} container(s) running"))
    return results


def check_pod_routes(
    host: Host, target: Target, networks: Sequence[routes.PodNetwork] | None
) -> list[CheckResult]:
    if networks is None:
        return [failed(target.name, "pod-routes", "the nodes' podCIDRs are unknown: the API did not answer")]
    peers = routes.peers_of(networks, name=target.node_name, addresses=target.addresses)
    table = routes.parse_routes(host.check_output("ip -json route show"))
    missing = routes.missing_routes(table, peers)
    if missing:
        return [failed(target.name, "pod-routes", "; ".join(missing))]
    return [passed(target.name, "pod-routes", f"{len(peers)} other node(s) routed")]


def check_etcd(host: Host, target: Target, *, members: int) -> list[CheckResult]:
    pki = f"{layout.PKI_DIR}/etcd"
    ca, cert, key = f"{pki}/ca.crt", f"{pki}/healthcheck-client.crt", f"{pki}/healthcheck-client.key"
    if host.exists("etcdctl"):
        result = host.run(
            "ETCDCTL_API=3 etcdctl --endpoints=%s --cacert=%s --cert=%s --key=%s "
            "--dial-timeout=3s --command-timeout=5s endpoint health --cluster 2>&1",
            layout.ETCD_CLIENT_URL, ca, cert, key,
        )  # fmt: skip
        health = parse.etcd_health(result.stdout)
        healthy = [h for h in health if h.healthy]
        sick = [f"{h.endpoint}: {h.message}" for h in health if not h.healthy]
        if not health:
            return [failed(target.name, "etcd health", result.stdout.strip()[-300:] or f"exit {result.rc}")]
        if sick or len(healthy) < members:
            reasons = sick or [f"{len(healthy)} member(s) answer, the inventory has {members}"]
            return [failed(target.name, "etcd health", "; ".join(reasons))]
        return [passed(target.name, "etcd health", f"{len(healthy)} member(s) healthy")]
    ok, said = https_get(host, f"{layout.ETCD_CLIENT_URL}/health", ca, cert, key)
    if ok and '"true"' in said:
        return [passed(target.name, "etcd health", f"local member: {said}")]
    return [failed(target.name, "etcd health", said)]


HostCheck = Callable[[], list[CheckResult]]


def check_host(
    host: Host,
    target: Target,
    *,
    networks: Sequence[routes.PodNetwork] | None,
    etcd_members: int,
    now: dt.datetime,
    warn_days: int = certs.DEFAULT_WARN_DAYS,
) -> list[CheckResult]:
    """Every check for the target's groups, in a fixed order."""
    try:
        host.run("true")
    except Exception as exc:  # testinfra raises RuntimeError(CommandResult) when ssh itself fails
        return [failed(target.name, "ssh", _unreachable(exc))]
    checks: list[tuple[str, HostCheck]] = [
        ("units", lambda: check_units(host, target)),
        ("ports", lambda: check_ports(host, target)),
        (
            "certificates",
            lambda: check_certificates(
                host, target, now=now, warn_days=warn_days, extra=kubelet_serving_cert(host)
            ),
        ),
        ("kubelet healthz", lambda: check_kubelet_health(host, target)),
        ("pod-routes", lambda: check_pod_routes(host, target, networks)),
    ]
    if layout.CONTROL_PLANE in target.groups:
        checks.append(("static pods", lambda: check_static_pods(host, target)))
    if layout.ETCD in target.groups:
        checks.append(("etcd health", lambda: check_etcd(host, target, members=etcd_members)))
    results: list[CheckResult] = []
    for name, check in checks:
        try:
            results += check()
        except Exception as exc:
            results.append(failed(target.name, name, f"could not check: {_unreachable(exc)}"))
    return results


def _unreachable(exc: Exception) -> str:
    # testinfra's ssh failures carry the CommandResult, whose stderr is ssh's own message
    arg = exc.args[0] if exc.args else None
    stderr = getattr(arg, "stderr", None)
    text = stderr.strip() if isinstance(stderr, str) and stderr.strip() else str(exc)
    return text.splitlines()[-1][:300] if text else type(exc).__name__
