"""``kubeling lab up|down|status|ssh|add-node|remove-node``: a cluster of several nodes on this machine.

Two kinds of lab (``up --kind``):

- ``netns``: nodes are network namespaces (``lab/netns.py``): a control plane
  on the host, a kubelet per node, and the addons (kube-proxy, cluster DNS,
  metrics-server) from ``templates/addons`` running as pods from the kubeling
  image, which is built first when missing.
- ``nodes``: nodes are systemd containers reached over SSH (``lab/nodes.py``,
  image from ``lab/nodeimage.py``); ``up`` writes their pyinfra inventory
  (``lab/inventory.py``) and runs ``deploys/install.py`` on it, the path a
  real inventory takes (``--no-install`` stops after the nodes).

The lab's state lives in its directory, so ``down``, ``status`` and ``ssh``
work from any shell and find the kind from the state file there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from kubeling.flags import csv_list


def _default_dir(name: str) -> Path:
    base = os.environ.get("KUBELING_LAB_DIR") or str(Path.home() / ".kubeling" / "labs")
    return Path(base) / name


def register(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="a multi-node cluster on this machine")
    verbs = lab.add_subparsers(dest="lab_command", required=True)

    up = verbs.add_parser("up", help="bring a lab up (builds the images it needs)")
    _common(up)
    up.add_argument(
        "--kind",
        choices=("netns", "nodes"),
        default="nodes",
        help="nodes: systemd containers installed over SSH by deploys/install.py (default);"
        " netns: network-namespace nodes, control plane on this host (lighter, no SSH)",
    )
    up.add_argument("--nodes", type=int, default=2, help="worker nodes (default 2)")
    up.add_argument(
        "--control-planes", type=int, default=1, help="control-plane nodes (--kind nodes; default 1)"
    )
    up.add_argument(
        "--no-install", action="store_true", help="--kind nodes: the nodes and inventory only, no install.py"
    )
    up.add_argument(
        "--inventory",
        type=Path,
        default=None,
        help="--kind nodes: where to write the pyinfra inventory (default inventories/lab.py,"
        " inventories/lab-NAME.py for other names)",
    )
    up.add_argument(
        "--subnet",
        default="",
        help="the lab network, a /24 (default: a free 10.250.x.0/24; --kind nodes: 10.251.x.0/24)",
    )
    # --kind nodes takes these from the inventory's group data (inventories/group_data/all.py).
    up.add_argument("--secure-port", type=int, default=6443, help="--kind netns: the apiserver's port")
    up.add_argument(
        "--addons",
        type=csv_list,
        default=None,
        help="--kind netns: addons to apply (default kube-proxy,dns,metrics-server; '' for none)",
    )
    up.add_argument(
        "--resolv-conf", default="/etc/resolv.conf", help="--kind netns: the cluster DNS's upstream resolvers"
    )
    up.set_defaults(run=_up)

    down = verbs.add_parser("down", help="stop a lab and remove everything it made")
    _common(down)
    down.set_defaults(run=_down)

    status = verbs.add_parser("status", help="the lab's nodes and system pods")
    _common(status)
    status.set_defaults(run=_status)

    ssh = verbs.add_parser("ssh", help="ssh to a node of a --kind nodes lab as root (with the lab's key)")
    _common(ssh)
    ssh.add_argument("node", help="node name (e.g. lab-worker-1, or worker-1)")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="a command to run instead of a shell")
    ssh.set_defaults(run=_ssh)

    add = verbs.add_parser(
        "add-node", help="--kind nodes: boot one more worker and join it (deploys/scale.py)"
    )
    _common(add)
    add.add_argument("--no-install", action="store_true", help="the node and inventory only, no scale.py")
    add.set_defaults(run=_add_node)

    remove = verbs.add_parser(
        "remove-node",
        help="--kind nodes: drain and remove a worker (deploys/remove_node.py), then its container",
    )
    _common(remove)
    remove.add_argument("node", help="worker name (e.g. lab-worker-2, or worker-2)")
    remove.add_argument(
        "--keep-cluster", action="store_true", help="delete the container only, without remove_node.py"
    )
    remove.set_defaults(run=_remove_node)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="lab", help="lab name (default lab)")
    p.add_argument("--dir", type=Path, default=None, help="state directory (default ~/.kubeling/labs/NAME)")


def _directory(args: argparse.Namespace) -> Path:
    return (args.dir or _default_dir(args.name)).resolve()


async def _up(args: argparse.Namespace) -> int:
    from kubeling.lab.netns import STATE_FILE
    from kubeling.lab.nodes import STATE_FILE as NODES_STATE_FILE

    directory = _directory(args)
    if (directory / STATE_FILE).exists() or (directory / NODES_STATE_FILE).exists():
        print(f"lab {args.name} exists ({directory}): kubeling lab down --name {args.name}", file=sys.stderr)
        return 1
    if args.kind == "nodes":
        from kubeling.lab.nodescli import up_nodes

        return await up_nodes(args, directory)
    return await _up_netns(args)


async def _up_netns(args: argparse.Namespace) -> int:
    from kubeling.addons import DEFAULT_ADDONS, AddonValues, apply_addons
    from kubeling.client.kubeconfig import load_kubeconfig
    from kubeling.client.rest import RESTClient
    from kubeling.lab.netns import LabError, LabSpec, NetnsLab, free_subnet

    directory = _directory(args)
    if not args.name.isalnum() or len(args.name) > 10:
        print("--name: letters and digits only, at most 10", file=sys.stderr)
        return 2
    addons = list(DEFAULT_ADDONS) if args.addons is None else [a for a in args.addons if a]
    image = ""
    if addons:
        from kubeling.image.build import ensure_kubeling_image

        print("==> the kubeling image (built when missing or older than this checkout)", flush=True)
        image = await asyncio.to_thread(ensure_kubeling_image)
    spec = LabSpec(
        name=args.name,
        directory=directory,
        nodes=args.nodes,
        subnet=args.subnet or free_subnet(),
        secure_port=args.secure_port,
        resolv_conf=args.resolv_conf,
    )
    lab = NetnsLab(spec)
    print(f"==> lab {args.name}: control plane at {spec.apiserver_url}, {args.nodes} nodes", flush=True)
    try:
        await asyncio.to_thread(lab.up)
    except LabError as exc:
        print(f"lab up failed: {exc}", file=sys.stderr)
        return 1
    if addons:
        print(f"==> addons: {', '.join(addons)}", flush=True)

        async def apply() -> list[str]:
            client = RESTClient(load_kubeconfig(lab.kubeconfig), component="kubeling-lab")
            try:
                values = AddonValues(
                    image=image,
                    apiserver_url=spec.apiserver_url,
                    service_cidr=spec.service_cidr,
                    cluster_cidr=spec.cluster_cidr,
                )
                return await apply_addons(client, addons, values)
            finally:
                await client.close()

        applied = await apply()
        print("==> waiting for the addons to roll out", flush=True)
        try:
            await asyncio.to_thread(lab.wait_rollouts, applied)
        except LabError as exc:
            print(f"the addons did not come up: {exc}", file=sys.stderr)
            return 1
    print(f"lab {args.name} is up:\n    export KUBECONFIG={lab.kubeconfig}\n    kubectl get nodes -o wide")
    return 0


async def _down(args: argparse.Namespace) -> int:
    from kubeling.lab.netns import STATE_FILE, NetnsLab
    from kubeling.lab.nodes import STATE_FILE as NODES_STATE_FILE

    directory = _directory(args)
    if (directory / NODES_STATE_FILE).exists():
        from kubeling.lab.nodescli import down_nodes

        return await down_nodes(args, directory)
    if not (directory / STATE_FILE).exists():
        print(f"no lab {args.name} in {directory}", file=sys.stderr)
        return 1
    NetnsLab.load(directory).down(remove=True)
    print(f"lab {args.name} is down")
    return 0


async def _status(args: argparse.Namespace) -> int:
    from kubeling.lab.netns import STATE_FILE, NetnsLab
    from kubeling.lab.nodes import STATE_FILE as NODES_STATE_FILE

    directory = _directory(args)
    if (directory / NODES_STATE_FILE).exists():
        from kubeling.lab.nodescli import status_nodes

        return await status_nodes(args, directory)
    if not (directory / STATE_FILE).exists():
        print(f"no lab {args.name} in {directory}", file=sys.stderr)
        return 1
    lab = NetnsLab.load(directory)
    nodes = lab.kubectl("get", "nodes", "-o", "wide", check=False)
    pods = lab.kubectl("get", "pods", "-n", "kube-system", "-o", "wide", check=False)
    print(nodes.stdout or nodes.stderr, pods.stdout or pods.stderr, sep="\n")
    return 0 if nodes.returncode == 0 else 1


async def _ssh(args: argparse.Namespace) -> int:
    from kubeling.lab.nodes import STATE_FILE

    directory = _directory(args)
    if not (directory / STATE_FILE).exists():
        print(f"no --kind nodes lab {args.name} in {directory}", file=sys.stderr)
        return 1
    from kubeling.lab.nodescli import ssh_node

    return ssh_node(args, directory)


def _nodes_lab(args: argparse.Namespace, verb: str) -> Path | None:
    from kubeling.lab.nodes import STATE_FILE

    directory = _directory(args)
    if not (directory / STATE_FILE).exists():
        print(f"lab {verb}: no --kind nodes lab {args.name} in {directory}", file=sys.stderr)
        return None
    return directory


async def _add_node(args: argparse.Namespace) -> int:
    directory = _nodes_lab(args, "add-node")
    if directory is None:
        return 1
    from kubeling.lab.nodescli import add_node

    return await add_node(args, directory)


async def _remove_node(args: argparse.Namespace) -> int:
    directory = _nodes_lab(args, "remove-node")
    if directory is None:
        return 1
    from kubeling.lab.nodescli import remove_node

    return await remove_node(args, directory)
