"""CNINetwork's exec protocol against tiny stand-in plugins (real executables that log what they got)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from kubeling.kubelet import cni
from kubeling.kubelet.runtime import PortMapping

# A plugin: logs (type, command, env, stdin) as a JSON line; "first" answers with an IP, the others
# pass prevResult on; a plugin whose type starts with "fail" fails ADD the way the spec says.
PLUGIN = """#!{python} -S
import json, os, sys
conf = json.load(sys.stdin)
env = {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}
with open({log!r}, "a") as f:
    f.write(json.dumps({{"type": conf["type"], "env": env, "conf": conf}}) + "\\n")
if conf["type"].startswith("fail") and env["CNI_COMMAND"] == "ADD":
    print(json.dumps({{"cniVersion": "1.0.0", "code": 7, "msg": "no luck", "details": "d"}}))
    sys.exit(1)
if env["CNI_COMMAND"] == "ADD":
    out = conf.get("prevResult") or {{"cniVersion": "1.0.0", "ips": [{{"address": "10.9.0.5/24"}}]}}
    print(json.dumps(out))
"""


@pytest.fixture
def fake(tmp_path: Path):
    bin_dir, conf_dir, log = tmp_path / "bin", tmp_path / "conf", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    for name in ("first", "second", "third", "fail"):
        path = bin_dir / name
        path.write_text(PLUGIN.format(python=sys.executable, log=str(log)))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def network(*types: str, caps: dict | None = None) -> cni.CNINetwork:
        plugins = [{"type": t} for t in types]
        if caps:
            plugins[-1]["capabilities"] = caps
        cni.write_conflist(conf_dir, {"cniVersion": "1.0.0", "name": "fake", "plugins": plugins})
        return cni.CNINetwork(str(conf_dir), str(bin_dir), str(tmp_path / "cache"))

    def calls() -> list[dict]:
        if not log.exists():
            return []
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        log.unlink()
        return lines

    return network, calls


async def test_add_chains_prev_results_and_caches(fake) -> None:
    network, calls = fake
    net = network("first", "second", "third", caps={"portMappings": True})
    result = await net.add("cid1", "/proc/1/ns/net", [PortMapping(80, 8080)], "K8S_POD_NAME=p")
    assert result.ips == ["10.9.0.5"]
    got = calls()
    assert [c["type"] for c in got] == ["first", "second", "third"]
    assert (
        "prevResult" not in got[0]["conf"]
        and got[1]["conf"]["prevResult"]["ips"][0]["address"] == "10.9.0.5/24"
    )
    assert got[0]["env"] == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "cid1",
        "CNI_NETNS": "/proc/1/ns/net",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": net.bin_dir,
        "CNI_ARGS": "K8S_POD_NAME=p",
    }
    assert "runtimeConfig" not in got[0]["conf"]
    assert got[2]["conf"]["runtimeConfig"] == {
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    }
    assert net.cached("cid1")["result"]["ips"] == [{"address": "10.9.0.5/24"}]


async def test_delete_runs_in_reverse_with_the_cached_result_and_is_idempotent(fake) -> None:
    network, calls = fake
    net = network("first", "second", "third", caps={"portMappings": True})
    await net.add("cid1", "/proc/1/ns/net", [PortMapping(80, 8080)])
    calls()
    await net.delete("cid1", "/proc/1/ns/net")
    got = calls()
    assert [(c["type"], c["env"]["CNI_COMMAND"]) for c in got] == [
        ("third", "DEL"),
        ("second", "DEL"),
        ("first", "DEL"),
    ]
    assert got[0]["conf"]["runtimeConfig"]["portMappings"][0]["hostPort"] == 8080  # from the cache
    assert got[0]["conf"]["prevResult"]["ips"]
    assert net.cached("cid1") is None
    await net.delete("cid1", "/proc/1/ns/net")  # again: plugins run, nothing breaks
    assert "prevResult" not in calls()[0]["conf"]


async def test_failed_add_raises_the_plugins_error_and_rolls_back(fake) -> None:
    network, calls = fake
    net = network("first", "fail", "third")
    with pytest.raises(cni.CNIError) as err:
        await net.add("cid2", "/proc/1/ns/net")
    assert (err.value.code, err.value.plugin, str(err.value)) == (
        7,
        "fail",
        "CNI fail ADD failed: no luck (d)",
    )
    assert [(c["type"], c["env"]["CNI_COMMAND"]) for c in calls()] == [
        ("first", "ADD"),
        ("fail", "ADD"),
        ("third", "DEL"),
        ("fail", "DEL"),
        ("first", "DEL"),
    ]
    assert net.cached("cid2") is None


async def test_check_needs_a_cached_result(fake) -> None:
    network, calls = fake
    net = network("first", "second")
    with pytest.raises(cni.CNIError):
        await net.check("nope", "/proc/1/ns/net")
    await net.add("cid3", "/proc/1/ns/net")
    calls()
    await net.check("cid3", "/proc/1/ns/net")
    assert [(c["type"], c["env"]["CNI_COMMAND"], "prevResult" in c["conf"]) for c in calls()] == [
        ("first", "CHECK", True),
        ("second", "CHECK", True),
    ]


def test_ready_and_missing_plugins(fake, tmp_path: Path) -> None:
    network, _ = fake
    empty = cni.CNINetwork(str(tmp_path / "none"), str(tmp_path / "bin"), str(tmp_path / "cache"))
    ok, why = empty.ready()
    assert not ok and "cni config uninitialized" in why
    assert empty.cached("x") is None  # no config yet: nothing cached, no error
    assert network("first").ready() == (True, "")
    ok, why = network("first", "absent").ready()
    assert not ok and "absent" in why


def test_configure_writes_the_nodes_conflist(tmp_path: Path) -> None:
    net = cni.CNINetwork(
        str(tmp_path / "conf"), "/usr/lib/cni", str(tmp_path / "c"), network_name="n", bridge="b0"
    )
    path = net.configure("10.244.3.0/24")
    assert path == tmp_path / "conf" / cni.CONFLIST_NAME and os.access(path, os.R_OK)
    assert net.conflist["name"] == "n" and net.conflist["plugins"][0]["bridge"] == "b0"
    assert cni.load_conflist(tmp_path / "conf")["plugins"][0]["ipam"]["ranges"] == [
        [{"subnet": "10.244.3.0/24"}]
    ]
