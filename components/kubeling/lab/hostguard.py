"""Keep the host's own iptables rules off a lab's bridged traffic.

With ``net.bridge.bridge-nf-call-iptables=1`` frames bridged between the
containers of a lab's Docker network pass the host's ``nat POSTROUTING`` and
``filter FORWARD``.  Rules left there by a host kubelet that died without
CNI DEL (a per-pod ``CNI-…`` chain that MASQUERADEs ``-s 10.244.0.X/32``)
or by a host kube-proxy (``KUBE-FORWARD`` dropping conntrack-INVALID
packets) then rewrite or drop lab pod traffic between lab nodes.

A lab puts two rules of its own at the top of those chains, matching only
frames bridged inside its own bridge: no NAT (``RETURN``) and ``ACCEPT``
(what Docker's inter-container rule would decide further down anyway).
Routed traffic — a lab node's outbound NAT through the host, published
ports — is not "bridged" and keeps Docker's rules.
"""

from __future__ import annotations

import subprocess

from kubeling.lab.netns import LabError


def comment(lab: str) -> str:
    return f"kubeling lab {lab}: bridged lab traffic skips host rules"


def rules(bridge: str, lab: str) -> list[tuple[str, str, list[str]]]:
    """(table, chain, rule spec) of every guard rule for ``bridge``."""
    bridged = ["-m", "physdev", "--physdev-is-bridged", "-m", "comment", "--comment", comment(lab)]
    return [
        ("nat", "POSTROUTING", ["-o", bridge, *bridged, "-j", "RETURN"]),
        ("filter", "FORWARD", ["-i", bridge, "-o", bridge, *bridged, "-j", "ACCEPT"]),
    ]


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise LabError("iptables not found: install iptables (the lab guards its bridge with it)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"iptables {' '.join(args)}: no answer in 30s") from None


def _present(table: str, chain: str, spec: list[str]) -> bool:
    return _iptables("-t", table, "-C", chain, *spec).returncode == 0


def guard(bridge: str, lab: str) -> None:
    """Insert the guard rules at the top of the host's chains, once (``up`` may run again)."""
    for table, chain, spec in rules(bridge, lab):
        if _present(table, chain, spec):
            continue
        result = _iptables("-t", table, "-I", chain, "1", *spec)
        if result.returncode:
            raise LabError(f"guarding lab bridge {bridge} in {table} {chain}: {result.stderr.strip()}")


def unguard(bridge: str, lab: str) -> None:
    """Remove the guard rules (every copy; nothing when there are none)."""
    for table, chain, spec in rules(bridge, lab):
        for _ in range(10):
            if _iptables("-t", table, "-D", chain, *spec).returncode:
                break


def guarded(lab: str) -> list[str]:
    """The host's rules that carry the guard comment of ``lab`` (``-S`` lines)."""
    found = []
    for table, chain in (("nat", "POSTROUTING"), ("filter", "FORWARD")):
        listing = _iptables("-t", table, "-S", chain).stdout.splitlines()
        found += [line for line in listing if comment(lab) in line]
    return found
