"""Upstream's version-skew policy applied to kubeling's own versions (pure).

Every kubeling release serves the same Kubernetes API release, so the policy
is applied to kubeling's version, which the components report as a suffix:
the apiserver's ``/version`` ``gitVersion`` is ``v1.37.0+kubeling-0.2.0``,
a kubelet's ``nodeInfo.kubeletVersion`` is ``v1.37.0-kubeling.0.2.0``.

The rules (kubeadm's, from the Kubernetes version-skew policy):

- the control plane moves one minor version at a time: no skipping minors,
  no downgrade of the minor, no change of the major version;
- a kubelet is never newer than the apiserver;
- a kubelet is at most three minor versions older than the apiserver, so a
  control plane may not be upgraded past what its oldest kubelet allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KUBELET_MAX_MINORS_BEHIND = 3
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?(\S*)")
# What follows "kubeling" in a gitVersion (+kubeling-V) or a kubeletVersion (-kubeling.V).
_SUFFIX = re.compile(r"kubeling[-.](\S+)$")


class BadVersion(ValueError):
    """A string that is no kubeling version; the message says which and where."""


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int
    rest: str = ""  # pre-release or build suffix, kept for display; not compared by the policy

    @classmethod
    def parse(cls, text: str) -> Version:
        found = _VERSION.fullmatch(text.strip().lstrip("v"))
        if found is None:
            raise BadVersion(f"{text!r} is not a version (MAJOR.MINOR[.PATCH])")
        major, minor, patch, rest = found.groups()
        return cls(int(major), int(minor), int(patch or 0), rest)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}{self.rest}"


def kubeling_version_of(reported: str) -> str:
    """kubeling's version inside a component's reported version (``v1.37.0+kubeling-0.2.0`` → ``0.2.0``)."""
    found = _SUFFIX.search(reported or "")
    if found is None:
        raise BadVersion(
            f"{reported!r} carries no kubeling version (expected a '+kubeling-V' or '-kubeling.V' suffix)"
        )
    return found.group(1)


def minors_between(old: Version, new: Version) -> int:
    """How many minor versions ``new`` is ahead of ``old`` (negative: behind); majors must agree."""
    return new.minor - old.minor


def control_plane_problems(current: list[Version], target: Version) -> list[str]:
    """Why the control plane (its apiservers at ``current``) may not move to ``target``."""
    problems = []
    for version in sorted(set(current)):
        if version.major != target.major:
            problems.append(f"apiserver {version} → {target}: a change of major version is not supported")
        elif minors_between(version, target) > 1:
            following = f"{version.major}.{version.minor + 1}"
            problems.append(
                f"apiserver {version} → {target} skips a minor version: upgrade to {following}.x first"
            )
        elif minors_between(version, target) < 0:
            problems.append(f"apiserver {version} → {target} is a downgrade of the minor version")
    return problems


def kubelet_problems(kubelets: dict[str, Version], apiserver: Version, *, when: str) -> list[str]:
    """Kubelets (node → version) that break the policy against ``apiserver``; ``when`` names the moment."""
    problems = []
    for node, version in sorted(kubelets.items()):
        if version.major != apiserver.major:
            problems.append(
                f"kubelet on {node} ({version}): not the major version of the apiserver {when} ({apiserver})"
            )
        elif minors_between(apiserver, version) > 0:
            problems.append(
                f"kubelet on {node} ({version}) would be newer than the apiserver {when} ({apiserver})"
            )
        elif minors_between(version, apiserver) > KUBELET_MAX_MINORS_BEHIND:
            behind = minors_between(version, apiserver)
            problems.append(
                f"kubelet on {node} ({version}) would be {behind} minor versions older than the apiserver"
                f" {when} ({apiserver}); at most {KUBELET_MAX_MINORS_BEHIND}: upgrade that node first"
            )
    return problems


def upgrade_problems(apiservers: list[Version], kubelets: dict[str, Version], target: Version) -> list[str]:
    """Everything that refuses an upgrade of the whole cluster to ``target`` (empty: allowed).

    The kubelets are checked against the target apiserver: during the run the control planes
    reach ``target`` while the workers are still at their current version.
    """
    problems = control_plane_problems(apiservers, target)
    problems += kubelet_problems(kubelets, target, when="after the control-plane upgrade")
    return problems
