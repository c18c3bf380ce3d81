"""The hosts to verify, read from a pyinfra inventory, and testinfra connections to them.

The inventory is loaded with pyinfra's own CLI loader (in a child process,
see ``inventory``), so ``group_data/`` next to it applies and a host's data
is exactly what the deploy sees.  Each host becomes a :class:`Target`: its
groups, how to reach it over SSH (``ssh_hostname``, ``ssh_user``,
``ssh_port``, ``ssh_key``, ``ssh_known_hosts_file``,
``ssh_strict_host_key_checking``, ``_sudo``), its Node name (``node_name``,
else the inventory name) and the address other nodes know it by
(``node_ip``, else the SSH host name) — the host data deploys/install.py reads.

Connections: testinfra's ``ssh://`` backend runs the system ``ssh`` with
``BatchMode`` (never a password prompt) and one ControlMaster socket per host
under a private directory, so the many small commands of the checks share
one SSH session; leaving :func:`connections` ends the masters.  ``@local`` hosts
use testinfra's ``local://`` backend.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import testinfra
from testinfra.host import Host

from kubeling.verify.inventory import InventoryLoadError, read_inventory
from kubeling.verify.layout import GROUPS

NODE_IP_KEY = "node_ip"
NODE_NAME_KEY = "node_name"
CONNECT_TIMEOUT = 10


class InventoryError(Exception):
    """The inventory cannot be read or names no host we can reach; the message says why."""


@dataclass(frozen=True)
class Target:
    name: str  # the inventory's
    node_name: str  # the Node's (host data node_name, default the inventory name)
    groups: frozenset[str]
    address: str  # what ssh dials (ssh_hostname, else the name)
    node_ip: str  # the node's InternalIP as the deploy gave it
    user: str | None = None
    port: int | None = None
    key: str | None = None
    sudo: bool = False
    local: bool = False
    known_hosts_file: str | None = None
    strict_host_key_checking: str = "accept-new"
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def addresses(self) -> set[str]:
        return {self.address, self.node_ip}


def load_targets(path: Path) -> list[Target]:
    """Every host of the inventory file at ``path`` that belongs to one of kubespray's groups."""
    if not path.is_file():
        raise InventoryError(f"inventory {path} does not exist (want a pyinfra inventory .py file)")
    try:
        hosts = read_inventory(path)
    except InventoryLoadError as exc:
        raise InventoryError(f"cannot load inventory {path}: {exc}") from None
    targets = [target_from(host) for host in hosts if set(host["groups"]) & set(GROUPS)]
    if not targets:
        raise InventoryError(f"inventory {path} has no host in any of the groups {', '.join(GROUPS)}")
    return targets


def target_from(host: dict[str, Any]) -> Target:
    """A Target from one host of :func:`~kubeling.verify.inventory.read_inventory`."""
    name, data, connector = host["name"], host["data"], host["connector"]
    local = connector == "LocalConnector"
    if not local and connector != "SSHConnector":
        raise InventoryError(f"host {name}: only SSH and @local hosts can be verified, not {connector}")
    address = "127.0.0.1" if local else str(data.get("ssh_hostname") or name)
    port, key = data.get("ssh_port"), data.get("ssh_key")
    try:
        port = int(port) if port else None
    except ValueError:
        raise InventoryError(f"host {name}: ssh_port {port!r} is not a number") from None
    return Target(
        name=name,
        node_name=str(data.get(NODE_NAME_KEY) or name),
        groups=frozenset(host["groups"]) & frozenset(GROUPS),
        address=address,
        node_ip=str(data.get(NODE_IP_KEY) or address),
        user=data.get("ssh_user") or None,
        port=port,
        key=str(Path(key).expanduser().resolve()) if key else None,
        sudo=bool(data.get("_sudo")),
        local=local,
        known_hosts_file=data.get("ssh_known_hosts_file") or None,
        strict_host_key_checking=str(data.get("ssh_strict_host_key_checking") or "accept-new"),
        data=data,
    )


def hostspec(target: Target) -> str:
    if target.local:
        return "local://"
    user = f"{target.user}@" if target.user else ""
    address = f"[{target.address}]" if ":" in target.address else target.address
    port = f":{target.port}" if target.port else ""
    return f"ssh://{user}{address}{port}"


def ssh_options(target: Target) -> list[str]:
    """OpenSSH ``-o`` options besides user, port and key (testinfra adds those)."""
    options = ["BatchMode=yes", f"StrictHostKeyChecking={target.strict_host_key_checking}"]
    if target.known_hosts_file:
        options.append(f"UserKnownHostsFile={Path(target.known_hosts_file).expanduser()}")
    return options


@contextlib.contextmanager
def connections() -> Iterator[Path]:
    """A private directory for the ControlMaster sockets; masters are ended on the way out."""
    directory = Path(tempfile.mkdtemp(prefix="kv-"))  # short: socket paths are limited to 108 bytes
    try:
        yield directory
    finally:
        for socket in directory.iterdir():
            # `ssh -O exit` needs a destination but only talks to the master behind the socket.
            subprocess.run(
                ["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "kubeling-verify"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        shutil.rmtree(directory, ignore_errors=True)


def open_host(target: Target, control_dir: Path) -> Host:
    if target.local:
        return testinfra.get_host("local://", sudo=target.sudo)
    extra = " ".join(f"-o {shlex.quote(option)}" for option in ssh_options(target))
    return testinfra.get_host(
        hostspec(target),
        ssh_identity_file=target.key,
        ssh_extra_args=extra,
        controlpath=str(control_dir / target.name),
        timeout=CONNECT_TIMEOUT,
        sudo=target.sudo,
    )
