"""What ``deploys/upgrade.py`` asks of the API, from the deploying machine, in a process of its own.

Run as ``python -m deploys.tasks.upgrade_api STEP --kubeconfig K ...`` (pyinfra's
CLI runs under gevent's monkey-patching, which kubeling's asyncio client should
not share; ``deploys/tasks/api.py`` does the same).  Exit 0 on success; 1 with
one line on stderr saying what failed.

Steps:
- ``plan --target V``: print the upgrade plan (``kubeling upgrade plan``); exit 1 if refused;
- ``wait-apiserver --endpoint HOST:PORT --target V``: until that apiserver's
  ``/readyz`` is ok and its ``/version`` reports kubeling V;
- ``wait-node --node N --target V``: until the Node reports kubelet V and is Ready;
- ``drain --node N`` / ``uncordon --node N``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from typing import Any

import aiohttp

from kubeling.client.kubeconfig import ClientConfig, ConfigError, load_config
from kubeling.client.rest import RESTClient
from kubeling.upgrade import drain, plan, skew


class StepError(RuntimeError):
    pass


async def _ready_endpoint(config: ClientConfig, endpoint: str) -> bool:
    """``/readyz`` answers 200 (its body is plain text, not the JSON RESTClient decodes)."""
    token = config.bearer_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"https://{endpoint}/readyz", ssl=config.ssl_context(), headers=headers) as answer,
    ):
        return answer.status == 200


async def _wait_apiserver(config: ClientConfig, endpoint: str, target: str, timeout: float) -> None:
    client = RESTClient(
        dataclasses.replace(config, server=f"https://{endpoint}"), component="kubeling-upgrade"
    )
    client.max_retries = 0
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    try:
        while time.monotonic() < deadline:
            try:
                version = await client.request("GET", "/version", timeout=5)
                running = skew.kubeling_version_of(str(version.get("gitVersion") or ""))
                if running != target:
                    last = f"/version reports kubeling {running}, not {target}"
                elif await _ready_endpoint(config, endpoint):
                    return
                else:
                    last = "/readyz is not ok"
            except Exception as exc:  # down, restarting, TLS reset, 500 from readyz: keep asking
                last = str(exc) or type(exc).__name__
            await asyncio.sleep(2)
    finally:
        await client.close()
    raise StepError(f"apiserver at {endpoint} not healthy at {target} within {timeout:.0f}s ({last})")


def _ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def _wait_node(client: RESTClient, name: str, target: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            node = await client.get(plan.NODES, name=name)
            reported = str(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or "")
            running = skew.kubeling_version_of(reported)
            if running != target:
                last = f"kubelet reports {running}"
            elif not _ready(node):
                last = f"kubelet {running} but not Ready"
            else:
                return
        except Exception as exc:  # the API itself may be restarting on a control-plane node
            last = str(exc) or type(exc).__name__
        await asyncio.sleep(2)
    raise StepError(f"node {name} not Ready with kubelet {target} within {timeout:.0f}s ({last})")


async def _main(args: argparse.Namespace) -> str:
    try:
        config = load_config(args.kubeconfig)
    except ConfigError as exc:
        raise StepError(f"{args.kubeconfig}: {exc}") from None
    if args.step == "plan":
        made = plan.make_plan(await plan.gather(config), args.target)
        if not made.allowed:
            raise StepError(made.render())
        return made.render()
    if args.step == "wait-apiserver":
        await _wait_apiserver(config, args.endpoint, args.target, args.timeout)
        return f"apiserver at {args.endpoint} healthy at {args.target}"
    client = RESTClient(config, component="kubeling-upgrade")
    try:
        if args.step == "wait-node":
            await _wait_node(client, args.node, args.target, args.timeout)
            return f"{args.node} Ready with kubelet {args.target}"
        if args.step == "drain":
            evicted = await drain.drain(client, args.node, timeout=args.timeout)
            return f"{args.node} drained ({len(evicted)} pods evicted)"
        if args.step == "uncordon":
            await drain.set_unschedulable(client, args.node, False)
            return f"{args.node} uncordoned"
    finally:
        await client.close()
    raise StepError(f"unknown step {args.step}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploys.tasks.upgrade_api")
    p.add_argument("step", choices=("plan", "wait-apiserver", "wait-node", "drain", "uncordon"))
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--target", default="")
    p.add_argument("--node", default="")
    p.add_argument("--endpoint", default="")
    p.add_argument("--timeout", type=float, default=180.0)
    args = p.parse_args(argv)
    try:
        print(asyncio.run(_main(args)))
    except (StepError, drain.DrainError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # an API error: one line, never a traceback in the deploy's report
        print(f"{args.step}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
