"""Check results and how they are printed: one line per check, failures say why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CLUSTER = "cluster"  # the "host" column of checks made through the API


@dataclass(frozen=True)
class CheckResult:
    host: str
    check: str
    ok: bool
    detail: str = ""  # what was seen when ok; the reason when not


def passed(host: str, check: str, detail: str = "") -> CheckResult:
    return CheckResult(host, check, True, detail)


def failed(host: str, check: str, reason: str) -> CheckResult:
    return CheckResult(host, check, False, reason)


def format_results(results: Sequence[CheckResult]) -> list[str]:
    """Aligned lines: ``HOST  CHECK  ok (detail)`` or ``HOST  CHECK  FAILED: reason``."""
    host_width = max((len(r.host) for r in results), default=0)
    check_width = max((len(r.check) for r in results), default=0)
    lines = []
    for r in results:
        if r.ok:
            verdict = f"ok ({r.detail})" if r.detail else "ok"
        else:
            verdict = f"FAILED: {r.detail or 'no reason given'}"
        lines.append(f"{r.host:<{host_width}}  {r.check:<{check_width}}  {verdict}")
    return lines


def exit_status(results: Iterable[CheckResult]) -> int:
    return 0 if all(r.ok for r in results) else 1


def summary(results: Sequence[CheckResult]) -> str:
    bad = [r for r in results if not r.ok]
    if not bad:
        return f"all {len(results)} checks passed"
    names = ", ".join(f"{r.host} {r.check}" for r in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"{len(bad)} of {len(results)} checks FAILED: {names}{more}"
