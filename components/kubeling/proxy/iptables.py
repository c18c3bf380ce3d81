"""Running iptables-save / iptables-restore, and reading what they print.

Everything acts on the network namespace the process runs in; ``prefix``
(e.g. ``ip netns exec NAME``) lets a test or a benchmark drive another
namespace from outside.  One sync is one ``iptables-save`` (which chains and
jump rules exist) and one ``iptables-restore --noflush`` (all changes in a
single atomic transaction per table).  ``--cleanup`` is the same two steps
with a text that deletes every jump rule and chain this proxy owns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubeling.proxy import chains
from kubeling.proxy.rules import JUMPS, JumpRule

TABLES = ("filter", "nat")


class IPTablesError(Exception):
    """An iptables command failed; the message carries its stderr."""


@dataclass
class SavedTable:
    chains: dict[str, str] = field(default_factory=dict)  # name -> policy ("-" for user chains)
    rules: list[str] = field(default_factory=list)  # "-A CHAIN ..." lines as printed


def parse_save(text: str) -> dict[str, SavedTable]:
    """``iptables-save`` output → its tables."""
    tables: dict[str, SavedTable] = {}
    current: SavedTable | None = None
    for line in text.splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), SavedTable())
        elif current is None or line.startswith("#") or line == "COMMIT":
            continue
        elif line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            current.chains[name] = rest.split(" ", 1)[0]
        elif line.startswith("-A "):
            current.rules.append(line)
    return tables


def _jump_of(rule: str) -> tuple[str, str, str]:
    """(chain, jump target, comment) of a saved ``-A`` line."""
    try:
        words = shlex.split(rule)
    except ValueError:
        return "", "", ""
    chain = words[1] if len(words) > 1 else ""
    target = comment = ""
    for word, following in itertools.pairwise(words):
        if word == "-j":
            target = following
        elif word == "--comment":
            comment = following
    return chain, target, comment


def missing_jumps(saved: dict[str, SavedTable]) -> list[JumpRule]:
    """The jump rules of :data:`JUMPS` that are not at the top of their builtin chain: absent
    ones, and ones another program's rule now precedes (marked ``misplaced``, to be moved).

    Position matters: the CNI firewall plugin inserts an ACCEPT of each pod's traffic at the
    top of FORWARD, and a pod's packet to a Service without endpoints would then be routed
    off the node instead of reaching the REJECT in KUBE-SERVICES.
    """
    ours = {(j.table, j.chain, j.target, j.comment) for j in JUMPS}
    on_top: set[tuple[str, str, str, str]] = set()
    present: set[tuple[str, str, str, str]] = set()
    for table, contents in saved.items():
        foreign_seen: set[str] = set()  # builtin chains where a rule not ours came first
        for rule in contents.rules:
            key = (table, *_jump_of(rule))
            if key in ours:
                present.add(key)
                if key[1] not in foreign_seen:
                    on_top.add(key)
            else:
                foreign_seen.add(key[1])
    wanted = []
    for jump in JUMPS:
        key = (jump.table, jump.chain, jump.target, jump.comment)
        if key not in present:
            wanted.append(jump)
        elif key not in on_top:
            wanted.append(dataclasses.replace(jump, misplaced=True))
    return wanted


def cleanup_text(saved: dict[str, SavedTable]) -> tuple[str, int]:
    """A restore text that removes every kube-proxy jump and chain, and how many chains it deletes."""
    lines: list[str] = []
    deleted = 0
    for table, contents in saved.items():
        ours = sorted(name for name in contents.chains if chains.is_kube_proxy_chain(name))
        removals = []
        for rule in contents.rules:
            chain, target, _ = _jump_of(rule)
            if chain not in ours and target in ours:
                removals.append("-D" + rule[2:])
        if not ours and not removals:
            continue
        lines += [f"*{table}", *removals, *(f":{name} - [0:0]" for name in ours)]
        lines += [*(f"-X {name}" for name in ours), "COMMIT"]
        deleted += len(ours)
    return "\n".join([*lines, ""]) if lines else "", deleted


class IPTables:
    def __init__(self, *, prefix: Sequence[str] = (), wait_seconds: int = 5) -> None:
        self.prefix = list(prefix)
        self.wait = str(wait_seconds)

    async def _run(self, argv: list[str], stdin: str | None = None) -> str:
        try:
            process = await asyncio.create_subprocess_exec(
                *self.prefix,
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise IPTablesError(f"cannot run {argv[0]}: {exc.strerror}") from None
        out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        if process.returncode != 0:
            raise IPTablesError(f"{' '.join(argv)} failed ({process.returncode}): {err.decode().strip()}")
        return out.decode()

    async def save(self, tables: Iterable[str] = TABLES) -> dict[str, SavedTable]:
        saved: dict[str, SavedTable] = {}
        for table in tables:
            saved.update(parse_save(await self._run(["iptables-save", "-t", table])))
        return saved

    async def restore(self, text: str) -> None:
        """Apply ``text`` without flushing what it doesn't name (atomic per table)."""
        await self._run(["iptables-restore", "-w", self.wait, "--noflush"], stdin=text)

    async def cleanup(self) -> int:
        """Remove every jump rule and chain kube-proxy installed; returns how many chains went."""
        text, deleted = cleanup_text(await self.save())
        if text:
            await self.restore(text)
        return deleted
