"""Pod networking through the CNI reference plugins (the CNI spec's exec protocol).

The kubelet writes one network configuration list into ``--cni-conf-dir``
(:func:`write_conflist`): ``bridge`` (the node's pods on one Linux bridge, the
bridge as their gateway, masquerade for traffic leaving the pod CIDR, hairpin
so a pod reaches itself through a Service) with ``host-local`` IPAM over the
node's podCIDR, then ``firewall`` (lets pod traffic through the FORWARD
chain, whose policy Docker sets to DROP), then ``portmap`` (hostPort, via the ``portMappings``
capability), then ``loopback`` (brings ``lo`` up; it passes the previous
result through unchanged, so it can sit last in the chain).

:class:`CNINetwork` runs that list the way libcni does: ADD executes the
plugins in order, each getting the previous one's result as ``prevResult``;
DEL runs them in reverse; CHECK in order with the cached ADD result.  Plugins
are executables in ``--cni-bin-dir`` fed their config on stdin and the
request in ``CNI_*`` environment variables; an error is a JSON object on
stdout.  Each ADD result is cached on disk (as libcni does under
/var/lib/cni/results) so DEL and CHECK after a kubelet restart still have
the result and the port mappings.

What DEL leaves behind: when the sandbox's process is already gone there is
no netns to pass, and ``bridge`` then skips its masquerade teardown, leaving
a per-container ``CNI-<hash>`` nat chain; ``host-local`` reservations of
sandboxes that never got their DEL stay on disk; ``portmap``'s shared
``CNI-HOSTPORT-*`` chains are never removed.  :meth:`CNINetwork.garbage_collect`
removes what belongs to container ids that no longer exist (found by the
``id: "<container id>"`` comments the plugins put on their iptables rules);
:meth:`CNINetwork.teardown` removes the bridge (and, for the node's last
network, the shared chains once no pod uses them).

Pure parts (config building, result parsing, rule parsing) have no I/O and
are unit-tested; plugin execution runs under asyncio subprocesses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CNI_VERSION = "1.0.0"  # the Debian plugins (1.1.x) speak 0.1.0 … 1.0.0
DEFAULT_NETWORK = "kubeling"
DEFAULT_BRIDGE = "kubeling0"
DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_BIN_DIR = "/usr/lib/cni"
DEFAULT_CACHE_DIR = "/var/lib/kubeling/cni"
CONFLIST_NAME = "10-kubeling.conflist"
PLUGIN_TIMEOUT = 30.0

Obj = dict[str, Any]


class CNIError(Exception):
    """A plugin failed; ``code`` and ``details`` as the spec's error object gives them."""

    def __init__(self, plugin: str, command: str, msg: str, code: int = 0, details: str = "") -> None:
        super().__init__(f"CNI {plugin} {command} failed: {msg}" + (f" ({details})" if details else ""))
        self.plugin, self.command, self.code, self.details = plugin, command, code, details


@dataclass
class CNIResult:
    ips: list[str] = field(default_factory=list)  # addresses without prefix length, IPv4 first
    raw: Obj = field(default_factory=dict)


# -- pure parts -------------------------------------------------------------------------------


def make_conflist(
    pod_cidr: str,
    *,
    name: str = DEFAULT_NETWORK,
    bridge: str = DEFAULT_BRIDGE,
    data_dir: str = "",
    mtu: int = 0,
    ip_masq: bool = True,
) -> Obj:
    """The network configuration list for a node whose pods live in ``pod_cidr``."""
    ipaddress.ip_network(pod_cidr)  # reject garbage early, with Python's message
    ipam: Obj = {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}]}
    if data_dir:
        ipam["dataDir"] = data_dir
    bridge_conf: Obj = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipMasq": ip_masq,
        "hairpinMode": True,
        "ipam": ipam,
    }
    if mtu:
        bridge_conf["mtu"] = mtu
    return {
        "cniVersion": CNI_VERSION,
        "name": name,
        "plugins": [
            bridge_conf,
            # Docker sets FORWARD's policy to DROP and bridged frames pass iptables
            # (bridge-nf-call-iptables): firewall accepts the pods' own traffic.
            {"type": "firewall", "backend": "iptables"},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "loopback"},
        ],
    }


def write_conflist(conf_dir: str | os.PathLike[str], conflist: Obj, filename: str = CONFLIST_NAME) -> Path:
    """Write ``conflist`` atomically (a reader never sees half a file); returns its path."""
    path = Path(conf_dir) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(conflist, indent=2) + "\n")
    tmp.replace(path)
    return path


def load_conflist(conf_dir: str | os.PathLike[str]) -> Obj:
    """The first ``*.conflist`` in lexical order, as libcni picks the default network."""
    for path in sorted(Path(conf_dir).glob("*.conflist")):
        conflist = json.loads(path.read_text())
        if conflist.get("plugins"):
            return conflist
    raise FileNotFoundError(f"no CNI network configuration list in {conf_dir}")


def plugin_config(conflist: Obj, plugin: Obj, prev_result: Obj | None, runtime_config: Obj) -> Obj:
    """One plugin's stdin: its entry plus the list's name/version, prevResult and the
    runtimeConfig keys it declares as capabilities (libcni's injection rules)."""
    conf = dict(plugin)
    conf["name"] = conflist["name"]
    conf["cniVersion"] = conflist.get("cniVersion", CNI_VERSION)
    if prev_result is not None:
        conf["prevResult"] = prev_result
    caps = plugin.get("capabilities") or {}
    injected = {k: v for k, v in runtime_config.items() if caps.get(k)}
    if injected:
        conf["runtimeConfig"] = injected
    return conf


def port_mappings_config(mappings: Sequence[Any]) -> list[Obj]:
    """runtime.PortMapping list → the ``portMappings`` capability's entries (hostPort > 0 only)."""
    out = []
    for m in mappings:
        if m.host_port <= 0:
            continue
        entry: Obj = {
            "hostPort": m.host_port,
            "containerPort": m.container_port,
            "protocol": m.protocol.lower(),
        }
        if m.host_ip:
            entry["hostIP"] = m.host_ip
        out.append(entry)
    return out


def plugin_env(
    command: str, container_id: str, netns: str, ifname: str, bin_dir: str, cni_args: str = ""
) -> dict[str, str]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_PATH": bin_dir,
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    if cni_args:
        env["CNI_ARGS"] = cni_args
    return env


def parse_result(data: Obj) -> CNIResult:
    """IPs out of a result of any spec version (0.1/0.2 ``ip4``/``ip6``; 0.3+ ``ips``)."""
    addrs: list[str] = []
    for entry in data.get("ips") or []:
        addrs.append(entry["address"].split("/")[0])
    for key in ("ip4", "ip6"):
        if data.get(key, {}).get("ip"):
            addrs.append(data[key]["ip"].split("/")[0])
    addrs.sort(key=lambda a: ipaddress.ip_address(a).version)
    return CNIResult(ips=addrs, raw=data)


def parse_error(plugin: str, command: str, stdout: bytes, stderr: bytes, rc: int) -> CNIError:
    try:
        err = json.loads(stdout)
        return CNIError(plugin, command, err.get("msg", ""), int(err.get("code", 0)), err.get("details", ""))
    except (ValueError, AttributeError):
        text = (stderr or stdout).decode(errors="replace").strip()
        return CNIError(plugin, command, text or f"exit status {rc}")


_COMMENT = re.compile(r'name: "([^"]*)" id: "([^"]*)"')


def parse_rule(line: str) -> tuple[str, str, str, list[str]] | None:
    """An ``iptables -S`` ``-A`` line → (chain, jump target, comment, argv after ``-A``)."""
    if not line.startswith("-A "):
        return None
    argv = shlex.split(line)[1:]
    target = argv[argv.index("-j") + 1] if "-j" in argv else ""
    comment = argv[argv.index("--comment") + 1] if "--comment" in argv else ""
    return argv[0], target, comment, argv


def stale_rules(
    nat_rules: list[str], network: str, is_dead: Callable[[str], bool]
) -> tuple[list[list[str]], set[str]]:
    """From ``iptables -t nat -S`` lines: the rules (argv after ``-A``) whose comment names a dead
    container of ``network``, and the per-container chains (``CNI-*`` but not the shared
    ``CNI-HOSTPORT-*``) they jump to or sit in."""
    rules, chains = [], set()
    for line in nat_rules:
        rule = parse_rule(line)
        if rule is None:
            continue
        chain, target, comment, argv = rule
        m = _COMMENT.search(comment)
        if not m or m.group(1) != network or not is_dead(m.group(2)):
            continue
        rules.append(argv)
        for name in (chain, target):
            if name.startswith("CNI-") and not name.startswith("CNI-HOSTPORT-"):
                chains.add(name)
    return rules, chains


def forward_rules_to_remove(
    lines: list[str], subnets: list[ipaddress.IPv4Network | ipaddress.IPv6Network], reserved: set[str]
) -> list[list[str]]:
    """``CNI-FORWARD`` rules (``iptables -S`` lines) naming a /32 or /128 of ``subnets`` that is
    not in ``reserved`` (the host-local reservations)."""
    out = []
    for line in lines:
        rule = parse_rule(line)
        if rule is None:
            continue
        argv = rule[3]
        for flag in ("-s", "-d"):
            if flag in argv:
                addr = ipaddress.ip_interface(argv[argv.index(flag) + 1]).ip
                if any(addr in net for net in subnets) and str(addr) not in reserved:
                    out.append(argv)
                    break
    return out


def stale_reservations(data_dir: Path, live_ids: set[str]) -> list[Path]:
    """host-local's reservation files (one per IP, holding ``<container id>\\n<ifname>``) of dead ids."""
    out = []
    if not data_dir.is_dir():
        return out
    for path in data_dir.iterdir():
        try:
            ipaddress.ip_address(path.name)
        except ValueError:
            continue  # "lock", "last_reserved_ip.0"
        owner = path.read_text().split()[:1]
        if owner and owner[0] not in live_ids:
            out.append(path)
    return out


# -- executing plugins ------------------------------------------------------------------------


async def _run(
    argv: list[str],
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = PLUGIN_TIMEOUT,
) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


async def iptables(*args: str, check: bool = True) -> tuple[int, str]:
    rc, out, err = await _run(["iptables", "-w", "5", *args])
    if check and rc:
        raise RuntimeError(f"iptables {' '.join(args)}: {err.decode().strip()}")
    return rc, out.decode()


class CNINetwork:
    """One CNI network list, executed for pod sandboxes."""

    def __init__(
        self,
        conf_dir: str = DEFAULT_CONF_DIR,
        bin_dir: str = DEFAULT_BIN_DIR,
        cache_dir: str = DEFAULT_CACHE_DIR,
        *,
        ifname: str = "eth0",
        network_name: str = DEFAULT_NETWORK,
        bridge: str = DEFAULT_BRIDGE,
        ipam_data_dir: str = "",
        non_masquerade_cidr: str = "",
    ) -> None:
        self.conf_dir, self.bin_dir, self.ifname = conf_dir, bin_dir, ifname
        self.cache_dir = Path(cache_dir)
        self.network_name, self.bridge, self.ipam_data_dir = network_name, bridge, ipam_data_dir
        if non_masquerade_cidr:
            ipaddress.ip_network(non_masquerade_cidr)  # a clear error at start, not at first pod
        self.non_masquerade_cidr = non_masquerade_cidr
        self._conflist: Obj | None = None

    def configure(self, pod_cidr: str) -> Path:
        """Write this node's conflist for ``pod_cidr`` (CRI UpdateRuntimeConfig) and use it."""
        conflist = make_conflist(
            pod_cidr,
            name=self.network_name,
            bridge=self.bridge,
            data_dir=self.ipam_data_dir,
            # With a cluster-wide pod range, pods on other nodes must see real pod IPs: the
            # kubelet masquerades only what leaves that range (ensure_masquerade), not the bridge.
            ip_masq=not self.non_masquerade_cidr,
        )
        path = write_conflist(self.conf_dir, conflist)
        self._conflist = conflist
        return path

    def ready(self) -> tuple[bool, str]:
        """(a network config is present, why not)."""
        try:
            plugins = [p["type"] for p in self.conflist["plugins"]]
        except (FileNotFoundError, ValueError, KeyError) as exc:
            return False, f"cni config uninitialized: {exc}"
        try:
            for plugin in plugins:
                self._plugin(plugin)
        except CNIError as exc:
            return False, str(exc)
        return True, ""

    @property
    def conflist(self) -> Obj:
        if self._conflist is None:  # read lazily: the kubelet writes it once it knows its podCIDR
            self._conflist = load_conflist(self.conf_dir)
        return self._conflist

    def reload(self) -> None:
        self._conflist = None

    @property
    def name(self) -> str:
        """The network's name; before any config exists, the one :meth:`configure` would write."""
        try:
            return str(self.conflist["name"])
        except (FileNotFoundError, ValueError):
            return self.network_name

    def _plugin(self, plugin_type: str) -> str:
        for d in self.bin_dir.split(os.pathsep):
            path = os.path.join(d, plugin_type)
            if os.access(path, os.X_OK):
                return path
        raise CNIError(plugin_type, "find", f"plugin {plugin_type!r} not found in {self.bin_dir}")

    async def _exec(self, command: str, conf: Obj, container_id: str, netns: str, cni_args: str) -> Obj:
        plugin = conf["type"]
        env = plugin_env(command, container_id, netns, self.ifname, self.bin_dir, cni_args)
        rc, out, err = await _run([self._plugin(plugin)], json.dumps(conf).encode(), env)
        if rc:
            raise parse_error(plugin, command, out, err, rc)
        return json.loads(out) if out.strip() else {}

    def _cache_path(self, container_id: str) -> Path:
        return self.cache_dir / "results" / f"{self.name}-{container_id}-{self.ifname}"

    def cached(self, container_id: str) -> Obj | None:
        try:
            return json.loads(self._cache_path(container_id).read_text())
        except (FileNotFoundError, ValueError):
            return None

    async def add(
        self,
        container_id: str,
        netns: str,
        port_mappings: list[Any] = (),
        cni_args: str = "",
    ) -> CNIResult:
        """Wire ``netns`` into the network; on failure the partial setup is torn down."""
        runtime_config: Obj = {"portMappings": port_mappings_config(list(port_mappings))}
        result: Obj | None = None
        try:
            for plugin in self.conflist["plugins"]:
                conf = plugin_config(self.conflist, plugin, result, runtime_config)
                result = await self._exec("ADD", conf, container_id, netns, cni_args)
        except BaseException:
            await self.delete(container_id, netns, port_mappings, cni_args, runtime_config=runtime_config)
            raise
        path = self._cache_path(container_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"result": result, "runtimeConfig": runtime_config, "netns": netns}))
        return parse_result(result or {})

    async def delete(
        self,
        container_id: str,
        netns: str = "",
        port_mappings: Sequence[Any] = (),
        cni_args: str = "",
        *,
        runtime_config: Obj | None = None,
    ) -> None:
        """Tear down; idempotent.  ``netns`` is "" when the sandbox's process is gone (never pass
        a stale /proc/<pid> path: the pid may belong to someone else by now)."""
        cached = self.cached(container_id) or {}
        if runtime_config is None:
            runtime_config = cached.get("runtimeConfig") or {
                "portMappings": port_mappings_config(list(port_mappings))
            }
        prev = cached.get("result")
        errors: list[CNIError] = []
        for plugin in reversed(self.conflist["plugins"]):
            conf = plugin_config(self.conflist, plugin, prev, runtime_config)
            try:
                await self._exec("DEL", conf, container_id, netns, cni_args)
            except CNIError as exc:
                # DEL must succeed when what it removes is already gone (the CNI spec asks it of
                # plugins; the reference bridge still fails on a vanished masquerade chain).
                if "does not exist" not in str(exc):
                    errors.append(exc)
        if errors:
            raise errors[0]
        if not netns:  # bridge skips its masquerade teardown without a netns
            await self._remove_nat_rules(lambda cid: cid == container_id)
        self._cache_path(container_id).unlink(missing_ok=True)

    async def check(self, container_id: str, netns: str, cni_args: str = "") -> None:
        """Verify the network is as ADD left it (raises CNIError otherwise)."""
        cached = self.cached(container_id)
        if cached is None:
            raise CNIError(self.name, "CHECK", f"no cached result for {container_id}")
        has_v6 = any(":" in ip for ip in parse_result(cached["result"] or {}).ips)
        for plugin in self.conflist["plugins"]:
            if plugin["type"] == "portmap" and not has_v6:
                # portmap 1.1.x CHECKs its IPv6 DNAT chain even for IPv4-only pods and fails.
                continue
            conf = plugin_config(self.conflist, plugin, cached["result"], cached["runtimeConfig"])
            await self._exec("CHECK", conf, container_id, netns, cni_args)

    def _ipam(self) -> Obj:
        return dict(self.conflist["plugins"][0].get("ipam", {}))

    def _ipam_dir(self) -> Path:
        ipam = self._ipam()
        return Path(ipam.get("dataDir") or "/var/lib/cni/networks") / self.name

    async def garbage_collect(self, live_ids: set[str]) -> None:
        """Remove what dead sandboxes left: IP reservations, per-container nat chains, cached results."""
        for path in stale_reservations(self._ipam_dir(), live_ids):
            log.info("releasing stale CNI IP reservation %s", path.name)
            path.unlink(missing_ok=True)
        results = self.cache_dir / "results"
        if results.is_dir():
            prefix = f"{self.name}-"
            for path in results.iterdir():
                rest = path.name.removeprefix(prefix)
                if path.name.startswith(prefix) and rest.rsplit("-", 1)[0] not in live_ids:
                    path.unlink(missing_ok=True)
        await self._remove_nat_rules(lambda cid: cid not in live_ids)
        await self._remove_forward_rules()

    async def _remove_nat_rules(self, is_dead: Callable[[str], bool]) -> None:
        _, out = await iptables("-t", "nat", "-S")
        rules, chains = stale_rules(out.splitlines(), self.name, is_dead)
        for argv in rules:
            if argv[0] in chains:
                continue  # the chain goes as a whole below
            await iptables("-t", "nat", "-D", *argv, check=False)
        for chain in chains:
            await iptables("-t", "nat", "-F", chain, check=False)
            await iptables("-t", "nat", "-X", chain, check=False)

    async def _remove_forward_rules(self) -> None:
        """firewall's per-pod ACCEPTs carry no container id: drop those for IPs of this
        network's subnet that host-local no longer has reserved."""
        subnets = [ipaddress.ip_network(r["subnet"]) for rs in self._ipam().get("ranges", []) for r in rs]
        reserved = {p.name for p in self._ipam_dir().iterdir()} if self._ipam_dir().is_dir() else set()
        rc, out = await iptables("-S", "CNI-FORWARD", check=False)
        for argv in forward_rules_to_remove(out.splitlines() if rc == 0 else [], subnets, reserved):
            await iptables("-D", *argv, check=False)

    async def teardown(self, bridge: str | None = None, *, shared: bool = False) -> None:
        """Remove the bridge; with ``shared``, also portmap's and firewall's host-wide chains when
        no rule uses them.  Only the node's last network may pass ``shared``: another network's
        ADD can be between creating those chains and filling them (tests running side by side)."""
        bridge = bridge or self.conflist["plugins"][0].get("bridge", DEFAULT_BRIDGE)
        await _run(["ip", "link", "del", bridge])
        if not shared:
            return
        rc, out = await iptables("-t", "nat", "-S", "CNI-HOSTPORT-DNAT", check=False)
        if rc == 0 and not [line for line in out.splitlines() if line.startswith("-A ")]:
            await remove_hostport_chains()
        rc, out = await iptables("-S", "CNI-FORWARD", check=False)
        if rc == 0 and all(r[1] == "CNI-ADMIN" for r in map(parse_rule, out.splitlines()) if r):
            await remove_firewall_chains()


MASQUERADE_CHAIN = "KUBELING-POD-MASQ"


def masquerade_rules(pod_cidr: str, non_masquerade_cidr: str) -> list[list[str]]:
    """The nat rules (argv after ``-A``) that masquerade pod traffic leaving the cluster's pod range."""
    return [
        [
            MASQUERADE_CHAIN,
            "-s", pod_cidr,
            "!", "-d", non_masquerade_cidr,
            "-m", "addrtype", "!", "--dst-type", "LOCAL",
            "-m", "comment", "--comment", "kubeling: pod traffic leaving the pod network",
            "-j", "MASQUERADE",
        ]
    ]  # fmt: skip


async def ensure_masquerade(pod_cidr: str, non_masquerade_cidr: str) -> None:
    """Make this network namespace's nat table masquerade ``pod_cidr``'s traffic to outside
    ``non_masquerade_cidr`` (idempotent: the chain is rebuilt, the jump added once)."""
    rc, _ = await iptables("-t", "nat", "-N", MASQUERADE_CHAIN, check=False)
    if rc:
        await iptables("-t", "nat", "-F", MASQUERADE_CHAIN)
    for argv in masquerade_rules(pod_cidr, non_masquerade_cidr):
        await iptables("-t", "nat", "-A", *argv)
    jump = ["POSTROUTING", "-j", MASQUERADE_CHAIN]
    if (await iptables("-t", "nat", "-C", *jump, check=False))[0]:
        await iptables("-t", "nat", "-A", *jump)


async def remove_masquerade() -> None:
    await iptables("-t", "nat", "-D", "POSTROUTING", "-j", MASQUERADE_CHAIN, check=False)
    await iptables("-t", "nat", "-F", MASQUERADE_CHAIN, check=False)
    await iptables("-t", "nat", "-X", MASQUERADE_CHAIN, check=False)


async def remove_hostport_chains() -> None:
    """Drop portmap's shared CNI-HOSTPORT-* chains and the jumps into them."""
    _, out = await iptables("-t", "nat", "-S")
    for line in out.splitlines():
        rule = parse_rule(line)
        if rule and rule[1].startswith("CNI-HOSTPORT-") and not rule[0].startswith("CNI-HOSTPORT-"):
            await iptables("-t", "nat", "-D", *rule[3], check=False)
    for chain in ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"):
        await iptables("-t", "nat", "-F", chain, check=False)
    for chain in ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"):
        await iptables("-t", "nat", "-X", chain, check=False)


async def remove_firewall_chains() -> None:
    """Drop the firewall plugin's shared CNI-FORWARD/CNI-ADMIN chains and FORWARD's jump."""
    await iptables(
        "-D",
        "FORWARD",
        "-m",
        "comment",
        "--comment",
        "CNI firewall plugin rules",
        "-j",
        "CNI-FORWARD",
        check=False,
    )
    for chain in ("CNI-FORWARD", "CNI-ADMIN"):
        await iptables("-F", chain, check=False)
    for chain in ("CNI-FORWARD", "CNI-ADMIN"):
        await iptables("-X", chain, check=False)
