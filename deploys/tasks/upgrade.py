"""The steps of ``deploys/upgrade.py``: ship a version, then upgrade nodes one at a time with rollback.

Host layout during an upgrade (beside install.py's, docs/deploy.md):

- ``/opt/kubeling/images/*.tar``: the target's image tarballs beside the
  current ones (loading them disturbs nothing that runs);
- ``/opt/kubeling/wheelhouse-<version>.tar``: the wheels of each version; the
  running version's is kept (copied from install's ``wheelhouse.tar`` when
  missing), it is what a rollback reinstalls from;
- ``/opt/kubeling/previous/``: the static-pod manifests and the venv's
  wheelhouse marker as they were before this node's upgrade.

A node's upgrade is one operation whose command is a Python function run on
the deploying machine (pyinfra's ``FunctionCommand``): it runs shell commands
on the host and asks the API (``deploys/tasks/upgrade_api.py``, in a process
of its own), so the order inside a node and the rollback when a check fails
are plain code.  The operations run with ``_serial``, one host after the
other; once a node failed, every later node's operation refuses to start, so
the run stops there.  Facts decide at preparation whether a node is already
at the target; such a node gets no command, so a second run changes nothing
and a stopped run resumes at the node it stopped on.

Control planes are not drained (the static pods are the control plane, and
kubeadm's drain of them exists for workloads we keep off them by the taint);
their kubelet restarts in place, which leaves running containers alone.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FactBase, FunctionCommand, StringCommand, operation

from deploys.cluster import MANIFESTS, OPT, ROOT, VENV
from deploys.tasks.ops import FileText

KUBELING_IMAGE_PREFIX = "kubeling/kubeling:"
PREVIOUS = f"{OPT}/previous"
INSTALLED_WHEELHOUSE = f"{OPT}/wheelhouse.tar"
MARKER = f"{VENV}/.kubeling-wheelhouse"
# The controller-manager and scheduler serve health on loopback only: asked on the host.
LOCAL_HEALTH_PORTS = {"kube-controller-manager": 10257, "kube-scheduler": 10259}
# A changed manifest waits for the kubelet's poll of the manifest directory (20 s) and the start.
HEALTH_TIMEOUT = 180.0
DRAIN_TIMEOUT = 300.0
_IMAGE_LINE = re.compile(r"^\s*image:\s*(\S+)\s*$", re.MULTILINE)

# Nodes whose upgrade failed in this run: later nodes do not start (pyinfra would go on with them).
_failed: list[str] = []


def wheelhouse_of(version: str) -> str:
    return f"{OPT}/wheelhouse-{version}.tar"


class KubelingVersion(FactBase[str | None]):
    """The version of kubeling in the host's venv (what its kubelet runs), None without one."""

    def command(self) -> str:
        return f"{VENV}/bin/python -c 'import kubeling; print(kubeling.__version__)' 2>/dev/null || true"

    def process(self, output: list[str]) -> str | None:
        return output[0].strip() if output and output[0].strip() else None


def manifest_version(text: str | None) -> str | None:
    """The kubeling version a static-pod manifest runs (its image tag), None when unreadable."""
    found = _IMAGE_LINE.search(text or "")
    if found is None or not found.group(1).startswith(KUBELING_IMAGE_PREFIX):
        return None
    return found.group(1)[len(KUBELING_IMAGE_PREFIX) :]


@dataclass(frozen=True)
class NodeUpgrade:
    node: str
    target: str
    previous: str  # the version the kubelet runs now: what a rollback returns to
    kubeconfig: str  # the admin kubeconfig on the deploying machine
    stamp: str  # the target wheelhouse's digest, written as the venv's marker (install.py reads it)
    endpoint: str = ""  # control planes: the apiserver's host:port
    manifests: tuple[tuple[str, str], ...] = ()  # control planes: (component, manifest at the target)


class CheckFailed(RuntimeError):
    """A check after a change failed: ``check`` names it, the message says what was seen."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check


# -- running things ---------------------------------------------------------------------------


def _shell(on: object, command: str) -> tuple[bool, str]:
    ok, output = on.run_shell_command(StringCommand(command))  # type: ignore[attr-defined]
    return ok, "\n".join(line for line in (output.stderr or output.stdout or "").splitlines()[-5:])


def _must(on: object, what: str, command: str) -> None:
    ok, text = _shell(on, command)
    if not ok:
        raise CheckFailed(what, text or "failed")


def _api(step: str, kubeconfig: str, *args: str, timeout: float = HEALTH_TIMEOUT) -> str:
    argv = [sys.executable, "-m", "deploys.tasks.upgrade_api", step, "--kubeconfig", kubeconfig, *args]
    argv += ["--timeout", str(timeout)]
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        raise CheckFailed(step, f"no answer within {timeout + 60:.0f}s") from None
    if done.returncode:
        raise CheckFailed(step, (done.stderr or done.stdout).strip() or "failed")
    return done.stdout.strip()


def _say(plan: NodeUpgrade, started: float, message: str) -> None:
    logger.info(f"upgrade {plan.node}: {message} ({time.monotonic() - started:.1f} s)")


def _fail(on: object, message: str) -> bool:
    """Report a failure on the host's line and fail its operation (returning False: pyinfra then
    marks the host failed without printing a traceback, as it would for a raised exception)."""
    on.log_styled(message, fg="red", log_func=logger.error)  # type: ignore[attr-defined]
    return False


def _stopped_earlier(on: object, plan: NodeUpgrade) -> bool:
    if not _failed:
        return False
    _fail(
        on,
        f"{plan.node}: not upgraded: the upgrade stopped at {', '.join(_failed)} (see above);"
        " fix that and run deploys/upgrade.py again to resume",
    )
    return True


# -- the venv and the kubelet -----------------------------------------------------------------


def _install(on: object, wheelhouse: str, version: str, marker: str) -> None:
    unpacked = f"{VENV}.wheels"
    pip = f"{VENV}/bin/pip install -q --no-index --find-links {unpacked}"
    _must(
        on,
        f"kubeling {version} installed in {VENV}",
        f"rm -rf {unpacked} && mkdir -p {unpacked} && tar -C {unpacked} -xf {wheelhouse}"
        f" && {pip} kubeling=={version} && {pip} --no-deps --force-reinstall kubeling=={version}"
        f" && rm -rf {unpacked} && echo {shlex.quote(marker)} > {MARKER}",
    )


def _save_previous(on: object, plan: NodeUpgrade) -> None:
    """What a rollback needs: the running version's wheels, its venv marker and the manifests."""
    keep = wheelhouse_of(plan.previous)
    _must(
        on,
        "previous version kept",
        f"mkdir -p {PREVIOUS}/manifests && (test -e {keep} || cp {INSTALLED_WHEELHOUSE} {keep})"
        f" && (cat {MARKER} 2>/dev/null || true) > {PREVIOUS}/marker"
        f" && cp -a {MANIFESTS}/. {PREVIOUS}/manifests/",
    )


def _upgrade_kubelet(on: object, plan: NodeUpgrade, started: float) -> None:
    _install(on, wheelhouse_of(plan.target), plan.target, plan.stamp)
    _must(on, "kubelet restarted", "systemctl restart kubelet")
    _api("wait-node", plan.kubeconfig, "--node", plan.node, "--target", plan.target)
    _say(plan, started, f"kubelet Ready at {plan.target}")


def _rollback_kubelet(on: object, plan: NodeUpgrade) -> list[str]:
    """Back to the previous kubeling; returns what did not come back (empty: all well)."""
    problems = []
    ok, text = _shell(on, f"cat {PREVIOUS}/marker")
    try:
        _install(on, wheelhouse_of(plan.previous), plan.previous, text.strip() if ok else "")
        _must(on, "kubelet restarted", "systemctl restart kubelet")
        _api("wait-node", plan.kubeconfig, "--node", plan.node, "--target", plan.previous)
    except CheckFailed as exc:
        problems.append(f"rollback of the kubelet: {exc}")
    return problems


# -- control planes ---------------------------------------------------------------------------


def _component_healthy(on: object, plan: NodeUpgrade, component: str) -> None:
    if component == "kube-apiserver":
        _api("wait-apiserver", plan.kubeconfig, "--endpoint", plan.endpoint, "--target", plan.target)
        return
    # The container of the new manifest (its image is the target's) answering /healthz.
    image = f"{KUBELING_IMAGE_PREFIX}{plan.target}"
    probe = (
        'python3 -c "import ssl,urllib.request;urllib.request.urlopen('
        f"'https://127.0.0.1:{LOCAL_HEALTH_PORTS[component]}/healthz',"
        'context=ssl._create_unverified_context(),timeout=5)"'
    )
    tries = int(HEALTH_TIMEOUT / 3)
    check = (
        f"for i in $(seq {tries}); do"
        f" img=$(docker ps --filter name=k8s_{component}_ --format '{{{{.Image}}}}' | head -1);"
        f' if [ "$img" = {shlex.quote(image)} ] && {probe} 2>/dev/null; then exit 0; fi; sleep 3; done;'
        f' echo "running image: ${{img:-none}}; /healthz not ok within {HEALTH_TIMEOUT:.0f}s" >&2; exit 1'
    )
    _must(on, f"{component} health", check)


def _swap_manifest(on: object, component: str, text: str) -> None:
    staged = f"{MANIFESTS}/.{component}.yaml.next"  # dotfiles: the kubelet ignores them
    if not on.put_file(StringIO(text), staged):  # type: ignore[attr-defined]
        raise CheckFailed(f"{component} manifest", f"upload of {staged} failed")
    _must(on, f"{component} manifest", f"chmod 600 {staged} && mv {staged} {MANIFESTS}/{component}.yaml")


def _rollback_control_plane(on: object, plan: NodeUpgrade, kubelet_changed: bool) -> list[str]:
    problems = []
    ok, text = _shell(
        on,
        f"for f in {PREVIOUS}/manifests/*.yaml; do cp -a $f {MANIFESTS}/.$(basename $f).back"
        f" && mv {MANIFESTS}/.$(basename $f).back {MANIFESTS}/$(basename $f); done",
    )
    if not ok:
        problems.append(f"restoring the manifests: {text}")
    if kubelet_changed:
        problems += _rollback_kubelet(on, plan)
    try:
        _api("wait-apiserver", plan.kubeconfig, "--endpoint", plan.endpoint, "--target", plan.previous)
    except CheckFailed as exc:
        problems.append(f"the apiserver after the rollback: {exc}")
    return problems


def _report(on: object, plan: NodeUpgrade, failure: CheckFailed, problems: list[str]) -> bool:
    _failed.append(plan.node)
    outcome = (
        f"rolled back to {plan.previous}"
        if not problems
        else f"rollback to {plan.previous} incomplete: {'; '.join(problems)}"
    )
    return _fail(
        on,
        f"upgrade of {plan.node} to {plan.target} failed at check '{failure.check}': {failure}; {outcome};"
        " the upgrade stopped here",
    )


def upgrade_control_plane(state: object, host: object, plan: NodeUpgrade, kubelet_at_target: bool) -> bool:
    """Manifests swapped one component at a time (each waited healthy), then the kubelet."""
    if _stopped_earlier(host, plan):
        return False
    started = time.monotonic()
    kubelet_changed = False
    try:
        _save_previous(host, plan)
        for component, text in plan.manifests:
            _swap_manifest(host, component, text)
            _component_healthy(host, plan, component)
            _say(plan, started, f"{component} healthy at {plan.target}")
        if not kubelet_at_target:
            kubelet_changed = True
            _upgrade_kubelet(host, plan, started)
    except CheckFailed as failure:
        _say(plan, started, f"{failure}: rolling back to {plan.previous}")
        return _report(host, plan, failure, _rollback_control_plane(host, plan, kubelet_changed))
    return True


@operation()
def control_plane_upgraded(plan: NodeUpgrade) -> Iterator[FunctionCommand]:
    """This control plane's static pods and kubelet at ``plan.target`` (nothing when already there).

    + plan: the node, target, previous version, manifests at the target
    """
    pending = []
    for component, text in plan.manifests:
        current = manifest_version(host.get_fact(FileText, path=f"{MANIFESTS}/{component}.yaml"))
        if current != plan.target:
            pending.append((component, text))
    kubelet_at_target = host.get_fact(KubelingVersion) == plan.target
    if not pending and kubelet_at_target:
        host.noop(f"{plan.node} runs {plan.target}")
        return
    todo = dataclasses.replace(plan, manifests=tuple(pending))
    yield FunctionCommand(upgrade_control_plane, (todo, kubelet_at_target), {})


# -- workers ----------------------------------------------------------------------------------


def upgrade_worker(state: object, host: object, plan: NodeUpgrade) -> bool:
    """Cordon and drain (PodDisruptionBudgets honoured), kubelet upgraded, Ready at the target, uncordon."""
    if _stopped_earlier(host, plan):
        return False
    started = time.monotonic()
    try:
        _say(plan, started, _api("drain", plan.kubeconfig, "--node", plan.node, timeout=DRAIN_TIMEOUT))
    except CheckFailed as failure:
        problems = []
        try:
            _api("uncordon", plan.kubeconfig, "--node", plan.node, timeout=60)
        except CheckFailed as exc:
            problems.append(f"uncordon: {exc}")
        _failed.append(plan.node)
        left = f"; {'; '.join(problems)}" if problems else " (uncordoned again)"
        return _fail(
            host,
            f"upgrade of {plan.node} to {plan.target} failed at check '{failure.check}': {failure}; "
            f"nothing was changed on the node{left}; the upgrade stopped here",
        )
    try:
        _save_previous(host, plan)
        _upgrade_kubelet(host, plan, started)
    except CheckFailed as failure:
        _say(plan, started, f"{failure}: rolling back to {plan.previous}")
        problems = _rollback_kubelet(host, plan)
        try:
            _api("uncordon", plan.kubeconfig, "--node", plan.node, timeout=60)
        except CheckFailed as exc:
            problems.append(f"uncordon: {exc}")
        return _report(host, plan, failure, problems)
    try:
        _say(plan, started, _api("uncordon", plan.kubeconfig, "--node", plan.node, timeout=60))
    except CheckFailed as failure:
        _failed.append(plan.node)
        return _fail(host, f"{plan.node} runs {plan.target} but stays cordoned: {failure}")
    return True


@operation()
def worker_upgraded(plan: NodeUpgrade) -> Iterator[FunctionCommand]:
    """This worker's kubelet at ``plan.target`` (nothing when already there).

    + plan: the node, target and previous version
    """
    if host.get_fact(KubelingVersion) == plan.target:
        host.noop(f"{plan.node} runs {plan.target}")
        return
    yield FunctionCommand(upgrade_worker, (plan,), {})
