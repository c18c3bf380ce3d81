"""Facts and operations the kubeling deploys need beyond pyinfra's own.

Each operation reads facts, yields commands only for what differs, and yields
nothing when the host already matches — so a second install reports no change.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from pyinfra import host
from pyinfra.api import FactBase, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import Directory

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


class ListeningPorts(FactBase[dict[int, set[str]]]):
    """TCP ports in LISTEN state → names of the processes holding them (``ss -Hltnp``)."""

    @staticmethod
    def default() -> dict[int, set[str]]:
        return {}

    def command(self) -> str:
        return "ss -Hltnp 2>/dev/null || true"

    def process(self, output: list[str]) -> dict[int, set[str]]:
        ports: dict[int, set[str]] = {}
        for line in output:
            parts = line.split()
            if len(parts) < 4:
                continue
            port = parts[3].rsplit(":", 1)[-1]
            if not port.isdigit():
                continue
            names = set()
            for chunk in line.split('(("')[1:]:
                names.add(chunk.split('"', 1)[0])
            for chunk in line.split('),("')[1:]:
                names.add(chunk.split('"', 1)[0])
            ports.setdefault(int(port), set()).update(names)
        return ports


class SwapTotalKiB(FactBase[int]):
    def command(self) -> str:
        return "awk '/^SwapTotal:/ {print $2}' /proc/meminfo"

    def process(self, output: list[str]) -> int:
        return int(output[0]) if output and output[0].isdigit() else 0


class MemTotalKiB(FactBase[int]):
    def command(self) -> str:
        return "awk '/^MemTotal:/ {print $2}' /proc/meminfo"

    def process(self, output: list[str]) -> int:
        return int(output[0]) if output and output[0].isdigit() else 0


class EpochSeconds(FactBase[float]):
    def command(self) -> str:
        return "date +%s.%N"

    def process(self, output: list[str]) -> float:
        return float(output[0])


class OsRelease(FactBase[dict[str, str]]):
    def command(self) -> str:
        return "cat /etc/os-release 2>/dev/null || true"

    def process(self, output: list[str]) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in output if "=" in line)
        return {key: value.strip().strip('"') for key, value in pairs}


class DockerImageIds(FactBase[dict[str, str]]):
    """ref → image ID for the given refs the local engine has (missing refs and no engine: absent)."""

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    def command(self, refs: tuple[str, ...]) -> str:
        quoted = " ".join(shlex.quote(r) for r in refs)
        return (
            f"for ref in {quoted}; do id=$(docker image inspect -f '{{{{.Id}}}}' \"$ref\" 2>/dev/null)"
            ' && echo "$ref $id"; done; true'
        )

    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split(None, 1) for line in output if " " in line)


class FileText(FactBase[str | None]):
    """A small text file's content, None when it does not exist."""

    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null || echo __kubeling_missing__"

    def process(self, output: list[str]) -> str | None:
        if output == ["__kubeling_missing__"]:
            return None
        return "\n".join(output)


@operation()
def packages_present(packages: list[str]) -> Iterator[str]:
    """Install the Debian packages that are missing; refresh apt's lists only then.

    + packages: names, e.g. ``["docker.io", "conntrack"]``
    """
    installed = host.get_fact(DebPackages) or {}
    missing = [p for p in packages if p not in installed]
    if missing:
        yield f"{APT_ENV} apt-get update -q"
        yield f"{APT_ENV} apt-get install -y -q --no-install-recommends {' '.join(missing)}"
    else:
        host.noop(f"packages {', '.join(packages)} are installed")


@operation()
def images_loaded(images: dict[str, str], tarballs: dict[str, str]) -> Iterator[str]:
    """``docker load`` each tarball whose image is missing or another build than wanted.

    + images: ref → wanted image ID, e.g. ``{"kubeling/pause:0.1.0": "sha256:..."}``
    + tarballs: ref → tarball on the host
    """
    present = host.get_fact(DockerImageIds, refs=tuple(sorted(images)))
    for ref, wanted in images.items():
        if present.get(ref) != wanted:
            yield f"docker load -q -i {shlex.quote(tarballs[ref])}"


@operation()
def venv_installed(venv: str, wheelhouse_tar: str, version: str, stamp: str) -> Iterator[str]:
    """A venv with kubeling ``version`` from a shipped wheelhouse tarball, offline.

    + venv: e.g. ``/opt/kubeling/venv``
    + wheelhouse_tar: the tarball of wheels on the host
    + version: kubeling's version to install
    + stamp: a digest of the wheelhouse; the venv is refreshed when it changes
    """
    marker = f"{venv}/.kubeling-wheelhouse"
    if host.get_fact(FileText, path=marker) == stamp:
        host.noop(f"{venv} has wheelhouse {stamp[:12]}")
        return
    unpacked = f"{venv}.wheels"
    pip = f"{venv}/bin/pip install -q --no-index --find-links {unpacked}"
    yield f"rm -rf {unpacked} && mkdir -p {unpacked} && tar -C {unpacked} -xf {wheelhouse_tar}"
    yield f"test -x {venv}/bin/python || python3 -m venv {venv}"
    yield f"{pip} kubeling=={version}"
    # Same version, new build (a checkout changed): only kubeling's own wheel is reinstalled.
    yield f"{pip} --no-deps --force-reinstall kubeling=={version}"
    yield f"rm -rf {unpacked} && echo {shlex.quote(stamp)} > {marker}"


@operation()
def bridge_netfilter_loaded() -> Iterator[str]:
    """``modprobe br_netfilter`` unless its sysctls exist already (built in, or loaded by the host
    of a lab node, which cannot load modules itself)."""
    if host.get_fact(Directory, path="/proc/sys/net/bridge"):
        host.noop("br_netfilter is loaded")
        return
    yield "modprobe br_netfilter"
