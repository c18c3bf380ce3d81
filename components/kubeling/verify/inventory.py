"""Read a pyinfra inventory with pyinfra's own loader, in a child process, as JSON.

``pyinfra_cli`` monkey-patches the whole interpreter with gevent when it is
imported (sockets, ssl, threads, subprocess), which would break the asyncio
and thread code of ``kubeling verify``; so the loader runs in a child
(``python -m kubeling.verify.inventory FILE``) that prints each host's name,
groups, connector and data (``group_data/`` next to the file applied), and
:func:`read_inventory` parses that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

LOAD_TIMEOUT = 60


class InventoryLoadError(Exception):
    pass


def read_inventory(path: Path) -> list[dict[str, Any]]:
    """``[{"name", "groups", "connector", "data"}]`` of every host, in inventory order."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kubeling.verify.inventory", str(path)],
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InventoryLoadError(f"loading took longer than {LOAD_TIMEOUT} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise InventoryLoadError(lines[-1] if lines else f"loader exited {done.returncode}")
    return json.loads(done.stdout)


def _dump(path: str) -> list[dict[str, Any]]:
    from pyinfra.api import Config, State
    from pyinfra.api.inventory import Inventory
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory_from_files

    # The CLI loader records the file it executes on the current State.
    with ctx_state.use(State(Inventory(([], {})), Config())):
        inventory = make_inventory_from_files(path)
    return [
        {
            "name": host.name,
            "groups": list(host.groups),
            "connector": getattr(host.connector_cls, "__name__", ""),
            "data": host.data.dict(),
        }
        for host in inventory
    ]


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m kubeling.verify.inventory INVENTORY.py", file=sys.stderr)
        return 2
    try:
        hosts = _dump(sys.argv[1])
    except Exception as exc:  # the inventory is user code: say what broke, in one line
        # pyinfra wraps errors raised by the file in UnexpectedExternalError(.exception, .filename)
        cause = getattr(exc, "exception", None)
        error = cause if isinstance(cause, BaseException) else exc
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(hosts, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
