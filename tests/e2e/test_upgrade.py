"""Issue 8's upgrade acceptance on a 3-node lab (1 control plane + 2 workers) serving traffic.

Version A is this checkout as installed (its own version); version B is a
copy of the same checkout built as ``B_VERSION`` (``image/stamp.py`` writes the version
into the wheel, so every component reports it).  The broken version is a copy
of the checkout with a one-line test-only patch (its apiserver exits at
start), built as ``BROKEN_VERSION`` and named to the deploy by data
``target_source``: nothing in product code knows about breaking itself.

In order, with the traffic harness (tests/e2e/traffic.py) running through each:
1. ``kubeling upgrade plan`` allows A → B and refuses a skipped minor;
2. the upgrade to the broken version fails on the control plane, rolls it
   back, stops before any worker, and the cluster keeps serving;
3. the upgrade to B completes: every node's kubelet and the apiserver report B;
4. a second run changes nothing.
Zero failed requests throughout.  Timings are printed.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.traffic import Traffic

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
LAB = "e2eupgrade"
INVENTORY = ROOT / "inventories" / f"lab-{LAB}.py"
KUBECONFIG = INVENTORY.with_suffix(".kubeconfig")
BIN = Path(sys.executable).parent
B_VERSION = "0.2.0"
BROKEN_VERSION = "0.2.1"
# The test-only break: the apiserver subcommand of the copy exits before serving.
BREAK_ANCHOR = "def _run_apiserver(args: argparse.Namespace) -> Coroutine[Any, Any, None]:\n"
BREAK_LINE = '    raise SystemExit("deliberately broken build (tests/e2e/test_upgrade.py)")\n'


def run(*argv: str, timeout: float = 2400, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-5000:]}\n{done.stderr[-3000:]}"
        )
    return done


def upgrade(target: str, *data: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    argv = [
        str(BIN / "pyinfra"),
        "-y",
        str(INVENTORY),
        "deploys/upgrade.py",
        "--data",
        f"target_version={target}",
    ]
    for item in data:
        argv += ["--data", item]
    done = run(*argv, check=check)
    return time.monotonic() - started, done


def changed_operations(output: str) -> str:
    """The Success column of pyinfra's Grand total row ('-' when no operation changed anything)."""
    row = next(line for line in output.splitlines() if "Grand total" in line)
    return re.split(r"\s{2,}", row.strip())[2]


def kubectl(*args: str) -> str:
    return run(str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args, timeout=120).stdout


def versions() -> dict[str, str]:
    """Node name → the kubeling version its kubelet reports, plus the apiserver's under 'apiserver'."""
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    found = {
        n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"].split("kubeling.")[-1] for n in nodes
    }
    found["apiserver"] = json.loads(kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"].split(
        "kubeling-"
    )[-1]
    return found


def addon_images() -> dict[str, set[str]]:
    """kube-system Deployment/DaemonSet name → the kubeling image tags its template and pods run."""
    found: dict[str, set[str]] = {}
    for kind in ("deployments", "daemonsets"):
        for workload in json.loads(kubectl("get", kind, "-n", "kube-system", "-o", "json"))["items"]:
            images = {c["image"] for c in workload["spec"]["template"]["spec"]["containers"]}
            found[workload["metadata"]["name"]] = {i.rsplit(":", 1)[-1] for i in images if "kubeling/" in i}
    for pod in json.loads(kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue  # on its way out
        owner = (pod["metadata"].get("ownerReferences") or [{}])[0]
        name = owner.get("name", "")
        if owner.get("kind") == "ReplicaSet":
            name = name.rsplit("-", 1)[0]
        if name in found:
            found[name] |= {c["image"].rsplit(":", 1)[-1] for c in pod["spec"]["containers"]}
    return {name: tags for name, tags in found.items() if tags}


def tree_copy(directory: Path, *, broken: bool = False) -> Path:
    """A copy of the checkout's sources (frozen: others may change the working tree meanwhile, and
    a changed tree is another build); ``broken``: with the test-only patch."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, directory / name)
    ignored = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "components", directory / "components", ignore=ignored)
    if broken:
        cli = directory / "components" / "kubeling" / "cli.py"
        text = cli.read_text()
        assert BREAK_ANCHOR in text, "the apiserver entry point moved: update BREAK_ANCHOR"
        cli.write_text(text.replace(BREAK_ANCHOR, BREAK_ANCHOR + BREAK_LINE))
    return directory


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, str]]:
    started = time.monotonic()
    try:
        run(str(BIN / "kubeling"), "lab", "up", "--kind", "nodes", "--name", LAB, "--nodes", "2")
        print(f"\nlab up (1 control plane + 2 workers, installed): {time.monotonic() - started:.1f} s")
        # The plan reads the control plane from its mirror pods, which the kubelet posts a little
        # after the install's last check (nodes Ready).
        deadline = time.monotonic() + 120
        for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            while not json.loads(
                kubectl("get", "pods", "-n", "kube-system", "-l", f"component={component}", "-o", "json")
            )["items"]:
                assert time.monotonic() < deadline, f"no {component} mirror pod 120 s after the install"
                time.sleep(2)
        nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        roles = {
            (
                "cp"
                if "node-role.kubernetes.io/control-plane" in n["metadata"].get("labels", {})
                else "worker"
            ): n
            for n in nodes
        }
        cp = roles["cp"]
        ip = next(a["address"] for a in cp["status"]["addresses"] if a["type"] == "InternalIP")
        yield {"control_plane": cp["metadata"]["name"], "control_plane_ip": ip}
    finally:
        run(str(BIN / "kubeling"), "lab", "down", "--name", LAB, check=False)
        from kubeling.image.build import cache_dir

        shutil.rmtree(cache_dir() / "ship" / BROKEN_VERSION, ignore_errors=True)
        for version in (BROKEN_VERSION, B_VERSION):
            for repository in ("kubeling/kubeling", "kubeling/pause", "kubeling/busybox"):
                with contextlib.suppress(Exception):
                    subprocess.run(
                        ["docker", "rmi", f"{repository}:{version}"], capture_output=True, timeout=60
                    )


def test_upgrade_with_rollback_then_success_then_nothing(lab: dict[str, str], tmp_path: Path) -> None:
    a_version = versions()["apiserver"]
    assert set(versions().values()) == {a_version}
    addons_before = addon_images()
    assert addons_before and all(tags == {a_version} for tags in addons_before.values()), addons_before

    plan = run(str(BIN / "kubeling"), "upgrade", "plan", "-i", str(INVENTORY), "--to", B_VERSION)
    assert f"upgrade to {B_VERSION} allowed" in plan.stdout, plan.stdout
    print(plan.stdout)
    skipping = run(
        str(BIN / "kubeling"), "upgrade", "plan", "-i", str(INVENTORY), "--to", "0.4.0", check=False
    )
    assert skipping.returncode == 1 and "skips a minor version" in skipping.stdout, skipping.stdout

    traffic = Traffic(KUBECONFIG, node_ip=lab["control_plane_ip"], client_node=lab["control_plane"]).start()
    try:
        broken_source = tree_copy(tmp_path / "broken", broken=True)
        broken_seconds, broken = upgrade(BROKEN_VERSION, f"target_source={broken_source}", check=False)
        output = broken.stdout + broken.stderr
        assert broken.returncode != 0, output[-4000:]
        assert f"upgrade of {lab['control_plane']} to {BROKEN_VERSION} failed at check" in output, output[
            -4000:
        ]
        assert f"rolled back to {a_version}" in output, output[-4000:]
        assert set(versions().values()) == {a_version}, "the rollback left a node at another version"
        assert addon_images() == addons_before, "a stopped upgrade changed the addons"

        b_source = f"target_source={tree_copy(tmp_path / 'b')}"
        upgrade_seconds, _ = upgrade(B_VERSION, b_source)
        assert set(versions().values()) == {B_VERSION}, versions()
        # The addons moved too, and their old pods are gone (wait-addons waited for the rollouts).
        assert addon_images() == {name: {B_VERSION} for name in addons_before}, addon_images()

        again_seconds, again = upgrade(B_VERSION, b_source)
        assert changed_operations(again.stdout + again.stderr) == "-", (again.stdout + again.stderr)[-3000:]
    finally:
        report = traffic.stop()
    print(
        f"\nfailed upgrade + rollback: {broken_seconds:.1f} s; upgrade {a_version} → {B_VERSION}:"
        f" {upgrade_seconds:.1f} s; second run: {again_seconds:.1f} s\ntraffic: {report.summary()}"
    )
    assert report.count("pod") > 50 and report.count("host") > 50, report.summary()
    assert report.failures == [], report.summary()
