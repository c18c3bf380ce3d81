"""``kubeling upgrade plan``: what runs where now, what an upgrade to a target changes, and whether
the version-skew policy allows it (kubeadm's ``upgrade plan``).

What runs where is read through the API:

- each apiserver's own ``/version``, asked at the endpoint its mirror pod
  advertises (annotation ``kubeling.io/kube-apiserver.advertise-address.endpoint``),
  with the kubeconfig's credentials;
- the controller-manager's and scheduler's versions from their mirror pods'
  image tag (``kubeling/kubeling:<version>``);
- every kubelet's ``status.nodeInfo.kubeletVersion``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kubeling.client.kubeconfig import ClientConfig
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.upgrade import skew

NODES = StaticResource("", "v1", "nodes", False)
PODS = StaticResource("", "v1", "pods", True)
ENDPOINT_ANNOTATION = "kubeling.io/kube-apiserver.advertise-address.endpoint"
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
_ASK_TIMEOUT = 10.0


@dataclass(frozen=True)
class Component:
    kind: str  # kube-apiserver | kube-controller-manager | kube-scheduler | kubelet
    node: str
    version: str | None  # kubeling's version; None: could not be read (``problem`` says why)
    problem: str = ""


@dataclass
class Plan:
    target: str
    components: list[Component]
    problems: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[Component]:
        return [c for c in self.components if c.version != self.target]

    @property
    def allowed(self) -> bool:
        return not self.problems

    def render(self) -> str:
        rows = [("COMPONENT", "NODE", "CURRENT", "TARGET", "")]
        for c in self.components:
            action = "up to date" if c.version == self.target else "upgrade"
            rows.append((c.kind, c.node, c.version or "?", self.target, c.problem or action))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
            for row in rows
        ]
        lines = [line.rstrip() for line in lines]
        if self.problems:
            lines.append("")
            lines.append(f"upgrade to {self.target} refused:")
            lines += [f"  - {problem}" for problem in self.problems]
        elif not self.pending:
            lines.append("")
            lines.append(f"nothing to upgrade: every component is at {self.target}")
        else:
            lines.append("")
            lines.append(
                f"upgrade to {self.target} allowed: {len(self.pending)} component(s) to upgrade;"
                " control planes one at a time, then workers one at a time (cordon, drain, kubelet, uncordon)"
            )
        return "\n".join(lines)


def _image_version(pod: dict[str, Any]) -> str | None:
    containers = (pod.get("spec") or {}).get("containers") or []
    image = str(containers[0].get("image") or "") if containers else ""
    return image.rsplit(":", 1)[1] if ":" in image else None


async def _apiserver_version(config: ClientConfig, endpoint: str) -> str:
    """kubeling's version from the ``/version`` of the apiserver at ``endpoint`` (host:port)."""
    client = RESTClient(
        dataclasses.replace(config, server=f"https://{endpoint}"), component="kubeling-upgrade"
    )
    client.max_retries = 0
    try:
        answer = await client.request("GET", "/version", timeout=_ASK_TIMEOUT)
    finally:
        await client.close()
    return skew.kubeling_version_of(str(answer.get("gitVersion") or ""))


async def _control_plane(client: RESTClient, config: ClientConfig) -> list[Component]:
    found: list[Component] = []
    for kind in CONTROL_PLANE_COMPONENTS:
        pods = await client.list(PODS, namespace="kube-system", label_selector=f"component={kind}")
        for pod in sorted(pods.get("items") or [], key=lambda p: str((p.get("spec") or {}).get("nodeName"))):
            node = str((pod.get("spec") or {}).get("nodeName") or "?")
            if kind != "kube-apiserver":
                found.append(Component(kind, node, _image_version(pod)))
                continue
            endpoint = ((pod.get("metadata") or {}).get("annotations") or {}).get(ENDPOINT_ANNOTATION)
            if not endpoint:
                found.append(Component(kind, node, _image_version(pod), "no advertised endpoint"))
                continue
            try:
                found.append(Component(kind, node, await _apiserver_version(config, endpoint)))
            except Exception as exc:  # refused, TLS, timeout, an answer without a version: all reported
                found.append(
                    Component(kind, node, None, f"/version at {endpoint}: {exc or type(exc).__name__}")
                )
    return found


async def _kubelets(client: RESTClient) -> list[Component]:
    found = []
    for node in sorted((await client.list(NODES)).get("items") or [], key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        reported = str(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or "")
        try:
            found.append(Component("kubelet", name, skew.kubeling_version_of(reported)))
        except skew.BadVersion as exc:
            found.append(Component("kubelet", name, None, str(exc)))
    return found


async def gather(config: ClientConfig) -> list[Component]:
    """What runs where, read through the API at ``config``."""
    client = RESTClient(config, component="kubeling-upgrade")
    try:
        return [*await _control_plane(client, config), *await _kubelets(client)]
    finally:
        await client.close()


def make_plan(components: list[Component], target: str) -> Plan:
    """The plan for ``components`` and the skew policy's verdict on moving them to ``target``."""
    plan = Plan(target, components)
    try:
        wanted = skew.Version.parse(target)
    except skew.BadVersion as exc:
        plan.problems.append(f"target: {exc}")
        return plan
    plan.problems += [f"{c.kind} on {c.node}: {c.problem}" for c in components if c.version is None]
    apiservers: list[skew.Version] = []
    kubelets: dict[str, skew.Version] = {}
    for c in components:
        if c.version is None or c.kind not in ("kube-apiserver", "kubelet"):
            continue
        try:
            version = skew.Version.parse(c.version)
        except skew.BadVersion as exc:
            plan.problems.append(f"{c.kind} on {c.node}: {exc}")
            continue
        if c.kind == "kube-apiserver":
            apiservers.append(version)
        else:
            kubelets[c.node] = version
    if not apiservers and not plan.problems:
        plan.problems.append("no kube-apiserver mirror pod found in kube-system: is this a kubeling cluster?")
    plan.problems += skew.upgrade_problems(apiservers, kubelets, wanted)
    return plan
