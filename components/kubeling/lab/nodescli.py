"""The ``--kind nodes`` side of ``kubeling lab``: up, down, status, ssh, add-node and remove-node
of systemd-container labs.

``up`` runs, in order: the node image (built when missing, minutes once),
the nodes (``lab/nodes.py``), the inventory (``lab/inventory.py``), then the
install deploy as a subprocess, ``pyinfra -y INVENTORY deploys/install.py``
from the checkout, exactly what a user runs against their own hosts.  Every
failure ends in one line naming what failed and how to clean up; the lab is
left in place after a failed install so its nodes can be looked at.

``add-node`` boots one more worker, rewrites the inventory and runs
``deploys/scale.py``; ``remove-node`` runs ``deploys/remove_node.py`` for a
worker, then deletes its container and rewrites the inventory.  Both are the
deploys a real inventory gets.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kubeling.image.errors import ImageError
from kubeling.lab import inventory
from kubeling.lab.netns import LabError
from kubeling.lab.nodes import NodesLab, NodesLabSpec, Role, free_lab_subnet

INSTALL_DEPLOY = Path("deploys/install.py")
SCALE_DEPLOY = Path("deploys/scale.py")
REMOVE_DEPLOY = Path("deploys/remove_node.py")


def checkout_root() -> Path:
    """The checkout kubeling runs from (deploys/ and inventories/ live there), else the working directory."""
    from kubeling.image.build import source_root

    try:
        return source_root()
    except ImageError:
        return Path.cwd()


def admin_kubeconfig(inventory_path: Path) -> Path:
    """Where install.py writes the admin kubeconfig: next to the inventory, same stem."""
    return inventory_path.with_suffix(".kubeconfig")


def _pyinfra() -> str:
    beside = Path(sys.executable).with_name("pyinfra")
    return str(beside) if os.access(beside, os.X_OK) else (shutil.which("pyinfra") or "pyinfra")


async def up_nodes(args: argparse.Namespace, directory: Path) -> int:
    from kubeling.lab.nodeimage import ensure_node_image

    spec = NodesLabSpec(
        name=args.name,
        directory=directory,
        control_planes=args.control_planes,
        workers=args.nodes,
        subnet=args.subnet or f"{free_lab_subnet()}",
    )
    try:
        spec.check()
    except LabError as exc:
        print(f"lab up: {exc}", file=sys.stderr)
        return 2
    print("==> the node image (built when missing: a few minutes, once)", flush=True)
    try:
        image = await asyncio.to_thread(ensure_node_image)
    except ImageError as exc:
        print(f"lab up: the node image: {exc}", file=sys.stderr)
        return 1
    print(f"    {image.ref} {'built' if image.built else 'cached'} in {image.seconds:.1f} s", flush=True)
    lab = NodesLab(dataclasses.replace(spec, image=image.ref))
    roles = f"{spec.control_planes} control plane(s) + {spec.workers} worker(s)"
    print(f"==> lab {spec.name}: {roles} on {spec.subnet}", flush=True)
    started = time.monotonic()
    try:
        times = await asyncio.to_thread(lab.up)
    except LabError as exc:
        print(f"lab up failed (what was made is removed): {exc}", file=sys.stderr)
        return 1
    for node in lab.nodes:
        t = times[node.name]
        booted = f"systemd {t.systemd:5.1f} s, ssh {t.ssh:5.1f} s"
        print(f"    {node.name:<24} {node.ip:<15} {node.role:<14} {booted}")
    print(f"    nodes up in {time.monotonic() - started:.1f} s", flush=True)
    root = checkout_root()
    path = (args.inventory or inventory.default_path(root, spec.name)).resolve()
    # install.py writes these on this machine; they belong to the lab and go with it.
    lab.generated = [admin_kubeconfig(path), root / "certs" / spec.name]
    inventory.write(lab, path)
    print(f"==> inventory {path}", flush=True)
    if args.no_install:
        print("==> install skipped (--no-install)")
        return _usage(lab, path, root)
    if not (root / INSTALL_DEPLOY).is_file():
        print(f"==> install skipped: {root / INSTALL_DEPLOY} does not exist in this checkout")
        return _usage(lab, path, root)
    print(f"==> {_pyinfra()} -y {path} {INSTALL_DEPLOY}", flush=True)
    started = time.monotonic()
    argv = [_pyinfra(), "-y", str(path), str(INSTALL_DEPLOY)]
    result = await asyncio.to_thread(subprocess.run, argv, cwd=root)
    if result.returncode != 0:
        print(
            f"lab up: install.py failed (exit {result.returncode}); the nodes are kept for a look"
            f" (kubeling lab ssh --name {spec.name} NODE);"
            f" remove them with kubeling lab down --name {spec.name}",
            file=sys.stderr,
        )
        return 1
    print(f"    installed in {time.monotonic() - started:.1f} s")
    return _usage(lab, path, root)


def _usage(lab: NodesLab, path: Path, root: Path) -> int:
    name = lab.spec.name
    print(f"lab {name} is up. Nodes over SSH:\n    kubeling lab ssh --name {name} {lab.nodes[0].name}")
    print(f"Install (again) onto it:\n    cd {root} && pyinfra -y {path} {INSTALL_DEPLOY}")
    kubeconfig = admin_kubeconfig(path)
    if kubeconfig.exists():
        print(f"kubectl:\n    export KUBECONFIG={kubeconfig}\n    kubectl get nodes -o wide")
    return 0


async def down_nodes(args: argparse.Namespace, directory: Path) -> int:
    lab = NodesLab.load(directory)
    await asyncio.to_thread(lab.down)
    print(f"lab {args.name} is down")
    return 0


async def status_nodes(args: argparse.Namespace, directory: Path) -> int:
    lab = NodesLab.load(directory)
    containers = await asyncio.to_thread(lab.container_states)
    print(f"{'NODE':<24} {'ROLE':<14} {'IP':<15} {'CONTAINER':<10} SYSTEMD")
    healthy = True
    for node in lab.nodes:
        state = containers[node.name]
        system = await asyncio.to_thread(lab.system_state, node) if state == "running" else "-"
        healthy = healthy and system in ("running", "degraded")
        print(f"{node.name:<24} {node.role:<14} {node.ip:<15} {state:<10} {system}")
    if lab.inventory is not None:
        print(f"inventory: {lab.inventory}")
        kubeconfig = admin_kubeconfig(lab.inventory)
        if kubeconfig.exists():
            kubectl = Path(sys.executable).with_name("kubectl")
            argv = [str(kubectl) if kubectl.exists() else "kubectl", "--kubeconfig", str(kubeconfig)]
            result = subprocess.run([*argv, "get", "nodes", "-o", "wide"], capture_output=True, text=True)
            print(result.stdout or result.stderr, end="")
    return 0 if healthy else 1


def ssh_node(args: argparse.Namespace, directory: Path) -> int:
    lab = NodesLab.load(directory)
    try:
        node = lab.node(args.node)
    except LabError as exc:
        print(f"lab ssh: {exc}", file=sys.stderr)
        return 1
    argv = lab.ssh_argv(node)
    if not args.command and sys.stdin.isatty():
        argv.insert(1, "-t")
    sys.stdout.flush()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    os.execvp(argv[0], [*argv, *command])


def _deploy(root: Path, inventory_path: Path, deploy: Path, *extra: str) -> int:
    argv = [_pyinfra(), "-y", str(inventory_path), str(deploy), *extra]
    print(f"==> {' '.join(argv)}", flush=True)
    return subprocess.run(argv, cwd=root).returncode


async def add_node(args: argparse.Namespace, directory: Path) -> int:
    lab = NodesLab.load(directory)
    if lab.inventory is None:
        print(f"lab add-node: lab {args.name} has no inventory (was it installed?)", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        node, boot = await asyncio.to_thread(lab.add_worker)
    except LabError as exc:
        print(f"lab add-node: {exc}", file=sys.stderr)
        return 1
    booted = f"systemd {boot.systemd:5.1f} s, ssh {boot.ssh:5.1f} s"
    print(f"    {node.name:<24} {node.ip:<15} {node.role:<14} {booted}")
    inventory.write(lab, lab.inventory)
    print(f"==> inventory {lab.inventory}", flush=True)
    if args.no_install:
        return 0
    root = checkout_root()
    code = await asyncio.to_thread(_deploy, root, lab.inventory, SCALE_DEPLOY)
    if code:
        print(f"lab add-node: scale.py failed (exit {code}); {node.name} is kept for a look", file=sys.stderr)
        return 1
    print(f"    {node.name} added in {time.monotonic() - started:.1f} s")
    return 0


async def remove_node(args: argparse.Namespace, directory: Path) -> int:
    lab = NodesLab.load(directory)
    try:
        node = lab.node(args.node)
    except LabError as exc:
        print(f"lab remove-node: {exc}", file=sys.stderr)
        return 1
    if node.role != Role.WORKER:
        print(f"lab remove-node: {node.name} is a control plane; only workers are removed", file=sys.stderr)
        return 2
    started = time.monotonic()
    if lab.inventory is not None and not args.keep_cluster:
        root = checkout_root()
        code = await asyncio.to_thread(
            _deploy, root, lab.inventory, REMOVE_DEPLOY, "--data", f"node={node.name}"
        )
        if code:
            print(
                f"lab remove-node: remove_node.py failed (exit {code}); {node.name} is kept", file=sys.stderr
            )
            return 1
    await asyncio.to_thread(lab.remove, node)
    if lab.inventory is not None:
        inventory.write(lab, lab.inventory)
    print(f"    {node.name} removed in {time.monotonic() - started:.1f} s")
    return 0
