"""Benchmark: wall time of installing a 3-node lab cluster, and of the idempotent second run.

Prints, from one run:
  - images: the node image and the kubeling/pause/busybox images built (or found
    current) and saved with the wheelhouse for shipping — reported apart, not
    part of the install time;
  - nodes: ``kubeling lab up --kind nodes --no-install`` (1 control plane + 2
    workers booted, SSH answering, inventory written);
  - install: ``pyinfra -y INVENTORY deploys/install.py`` from nothing to a
    cluster with its addons and the admin kubeconfig (target <= 5 min);
  - second install: the same command again, which should change nothing
    (target <= 1 min);
  - kube-system pods Ready: how long after the install the addons settle;
  - verify: ``kubeling verify -i INVENTORY`` on the result, its time and verdict.

The lab is named ``bench<pid>`` (its inventory ``inventories/lab-bench<pid>.py``)
and is always removed at the end with ``kubeling lab down``.

Run: .venv/bin/python bench/install.py [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
TARGET_INSTALL, TARGET_SECOND = 300.0, 60.0


def _timed(argv: list[str], *, log: Path, timeout: float) -> tuple[float, int]:
    """Run from the checkout with output to ``log``; (seconds, exit status)."""
    started = time.monotonic()
    with log.open("w") as out:
        try:
            status = subprocess.run(
                argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            status = -1
    return time.monotonic() - started, status


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _build_images() -> tuple[float, str]:
    from deploys.tasks.artifacts import ensure_shipment

    from kubeling.image.recipes import resolve_version
    from kubeling.lab.nodeimage import ensure_node_image

    started = time.monotonic()
    node = ensure_node_image()
    version = resolve_version(None)
    shipment = ensure_shipment(version)
    what = f"{node.ref} ({'built' if node.built else 'cached'}), {len(shipment.tarballs)} shipped image(s)"
    return time.monotonic() - started, what


def _diagnose(kubeling: str, inventory: Path, logs: Path) -> None:
    """What kubeling verify finds on a failed install, before the lab goes."""
    _timed([kubeling, "verify", "-i", str(inventory)], log=logs / "verify.log", timeout=600)
    failed = [line for line in (logs / "verify.log").read_text().splitlines() if "FAILED" in line]
    print("kubeling verify after the failed install:", *failed[:12], sep="\n  ", file=sys.stderr)


def _line(label: str, seconds: float, extra: str) -> None:
    print(f"{label:<30} {seconds:7.1f} s  {extra}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()

    name = f"bench{os.getpid() % 100000}"
    inventory = ROOT / "inventories" / f"lab-{name}.py"
    logs = Path(f"/tmp/kubeling-bench-install-{name}")
    logs.mkdir(parents=True, exist_ok=True)
    kubeling, pyinfra = str(BIN / "kubeling"), str(BIN / "pyinfra")

    seconds, what = _build_images()
    _line("images (not in the install)", seconds, what)
    try:
        up = [kubeling, "lab", "up", "--kind", "nodes", "--name", name, "--nodes", str(args.workers)]
        seconds, status = _timed([*up, "--no-install"], log=logs / "lab-up.log", timeout=600)
        _line(f"nodes up (1 + {args.workers})", seconds, f"exit {status}")
        if status:
            print(_tail(logs / "lab-up.log"), file=sys.stderr)
            return 1
        install = [pyinfra, "-y", str(inventory), "deploys/install.py"]
        first, status = _timed(install, log=logs / "install-1.log", timeout=1800)
        _line("install", first, f"exit {status}  (target <= {TARGET_INSTALL:.0f} s)")
        if status:
            print(_tail(logs / "install-1.log"), file=sys.stderr)
            _diagnose(kubeling, inventory, logs)
            return 1
        second, status = _timed(install, log=logs / "install-2.log", timeout=900)
        _line("second install (idempotent)", second, f"exit {status}  (target <= {TARGET_SECOND:.0f} s)")
        # The install returns once the addons are applied; metrics-server is Ready only after
        # its first scrape, so verify waits for the system pods rather than racing them.
        kubectl = str(BIN / "kubectl")
        settle = [kubectl, "--kubeconfig", str(inventory.with_suffix(".kubeconfig")), "wait", "-n"]
        settle += ["kube-system", "--for=condition=Ready", "pods", "--all", "--timeout=180s"]
        seconds, status = _timed(settle, log=logs / "settle.log", timeout=240)
        _line("kube-system pods Ready", seconds, f"exit {status}")
        verify = [kubeling, "verify", "-i", str(inventory)]
        seconds, status = _timed(verify, log=logs / "verify.log", timeout=600)
        _line("verify", seconds, f"exit {status}  {_tail(logs / 'verify.log', 1)}")
        print(
            f"install / target {first / TARGET_INSTALL:.2f}; second run / target {second / TARGET_SECOND:.2f}"
        )
        print(f"logs: {logs}")
        return 0
    finally:
        if not args.keep:
            subprocess.run(
                [kubeling, "lab", "down", "--name", name], cwd=ROOT, capture_output=True, timeout=300
            )


if __name__ == "__main__":
    sys.exit(main())
