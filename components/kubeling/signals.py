"""How every long-running kubeling command ends: SIGTERM or SIGINT cancels its work."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any


async def until_signalled(work: Coroutine[Any, Any, Any]) -> int:
    """Run ``work`` until SIGTERM/SIGINT cancels it (exit status 0). Work that ends on its own is
    a failure (1): a daemon returning means it lost something it needs, e.g. its leader lease,
    and the supervisor should restart it."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(work)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 1
