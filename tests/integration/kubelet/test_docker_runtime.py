"""DockerRuntime on the real engine with the real CNI plugins, on a bridge and podCIDR of the test's own."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from kubeling.kubelet.cni import CNINetwork
from kubeling.kubelet.docker import DockerRuntime
from kubeling.kubelet.images import BUSYBOX_IMAGE
from kubeling.kubelet.runtime import (
    ContainerConfig,
    DeadlineExceeded,
    DNSConfig,
    ImageNotPresent,
    PortMapping,
    Resources,
    RuntimeFailure,
    SandboxConfig,
    SecurityContext,
)
from tests.fixtures.dockerpods import PodNetwork

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HTTPD = [
    "sh",
    "-c",
    "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www",
]


def make_sandbox(name: str = "", **kw) -> SandboxConfig:
    name = name or f"pod-{uuid.uuid4().hex[:6]}"
    return SandboxConfig(pod_uid=str(uuid.uuid4()), name=name, namespace="default", hostname=name, **kw)


def make_container(name: str, command: list[str], **kw) -> ContainerConfig:
    return ContainerConfig(name=name, image=BUSYBOX_IMAGE, command=command, **kw)


async def run_pod(rt: DockerRuntime, command: list[str], **kw) -> tuple[SandboxConfig, str, str]:
    """A sandbox with one started container: (sandbox config, sandbox id, container id)."""
    sandbox = make_sandbox(port_mappings=kw.pop("port_mappings", []))
    sid = await rt.run_sandbox(sandbox)
    cid = await rt.create_container(sid, make_container("main", command, **kw), sandbox)
    await rt.start_container(cid)
    return sandbox, sid, cid


async def wait_exited(rt: DockerRuntime, cid: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await rt.container_status(cid)
        if status.state == "exited":
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cid} did not exit within {timeout}s")


async def wget(rt: DockerRuntime, cid: str, url: str) -> str:
    for _ in range(30):  # httpd may still be starting
        # (no -T: Debian's static busybox wget segfaults with it; exec_sync's timeout bounds it)
        result = await rt.exec_sync(cid, ["wget", "-qO-", url], timeout=5)
        if result.exit_code == 0:
            return result.stdout.decode()
        await asyncio.sleep(0.2)
    raise AssertionError(f"wget {url}: {result}")


async def test_sandbox_ip_from_pod_cidr_and_del_frees_it(
    docker_runtime: DockerRuntime, test_network: PodNetwork
):
    rt = docker_runtime
    sid = await rt.run_sandbox(make_sandbox())
    status = await rt.sandbox_status(sid)
    assert status.ready and ipaddress.ip_address(status.ip) in ipaddress.ip_network(test_network.pod_cidr)
    reservation = test_network.ipam_dir / test_network.name / status.ip
    assert reservation.read_text().startswith(sid)
    await rt.stop_sandbox(sid)
    assert not reservation.exists()
    assert not (await rt.sandbox_status(sid)).ready
    await rt.stop_sandbox(sid)  # idempotent
    await rt.remove_sandbox(sid)
    await rt.stop_sandbox(sid)  # even once gone
    assert sid not in {s.id for s in await rt.list_sandboxes()}


async def test_containers_of_a_pod_share_localhost_and_hostname(docker_runtime: DockerRuntime):
    rt = docker_runtime
    sandbox, sid, _ = await run_pod(rt, HTTPD)
    other = await rt.create_container(sid, make_container("side", ["sleep", "60"]), sandbox)
    await rt.start_container(other)
    assert await wget(rt, other, "http://127.0.0.1/") == f"hello-from-{sandbox.hostname}\n"
    assert (await rt.exec_sync(other, ["hostname"], 5)).stdout.decode().strip() == sandbox.hostname


async def test_pod_reaches_another_pod_by_ip(docker_runtime: DockerRuntime):
    rt = docker_runtime
    server, server_sid, _ = await run_pod(rt, HTTPD)
    _, _, client = await run_pod(rt, ["sleep", "60"])
    ip = (await rt.sandbox_status(server_sid)).ip
    assert await wget(rt, client, f"http://{ip}/") == f"hello-from-{server.hostname}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _http_get(host: str, port: int) -> str:
    for _ in range(30):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
            writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            if data:
                return data.decode()
        except (OSError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"nothing answered on {host}:{port}")


async def test_host_port_reaches_the_pod(docker_runtime: DockerRuntime, test_network: PodNetwork):
    port = _free_port()
    sandbox, _, _ = await run_pod(docker_runtime, HTTPD, port_mappings=[PortMapping(80, port)])
    # Locally originated traffic, to loopback (portmap turns route_localnet on) and to the node's
    # address on the pod bridge.
    for host in ("127.0.0.1", test_network.gateway):
        assert f"hello-from-{sandbox.hostname}" in await _http_get(host, port), host


async def test_port_forward_connects_into_the_pod(docker_runtime: DockerRuntime):
    sandbox, sid, _ = await run_pod(docker_runtime, HTTPD)
    deadline = time.monotonic() + 15
    while True:  # httpd listens a moment after its container starts (longer on a loaded machine)
        try:
            reader, writer = await docker_runtime.port_forward(sid, 80)
            break
        except RuntimeFailure:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    assert f"hello-from-{sandbox.hostname}" in (await asyncio.wait_for(reader.read(), 5)).decode()
    writer.close()


@pytest.mark.parametrize(
    ("command", "code", "reason"),
    [(["sh", "-c", "exit 0"], 0, "Completed"), (["sh", "-c", "exit 3"], 3, "Error")],
    ids=["zero-completed", "nonzero-error"],
)
async def test_exit_codes_and_reasons(docker_runtime: DockerRuntime, command, code, reason):
    _, _, cid = await run_pod(docker_runtime, command)
    status = await wait_exited(docker_runtime, cid)
    assert (status.exit_code, status.reason) == (code, reason)
    assert status.finished_at >= status.started_at > 0


async def test_oom_killed(docker_runtime: DockerRuntime):
    grow = ["sh", "-c", 'x=aaaaaaaaaaaaaaaa; while :; do x="$x$x"; done']
    _, _, cid = await run_pod(docker_runtime, grow, resources=Resources(memory_limit=8 * 1024 * 1024))
    status = await wait_exited(docker_runtime, cid)
    assert (status.reason, status.exit_code) == ("OOMKilled", 137)


async def test_stop_sends_sigterm_before_sigkill(docker_runtime: DockerRuntime):
    rt = docker_runtime
    trap = ["sh", "-c", 'trap "echo got-TERM; exit 7" TERM; echo ready; while :; do sleep 0.1; done']
    _, _, graceful = await run_pod(rt, trap)
    ignores = ["sh", "-c", 'trap "" TERM; echo ready; while :; do sleep 0.1; done']
    _, _, stubborn = await run_pod(rt, ignores)
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await rt.stop_container(graceful, 10)
    assert time.monotonic() - started < 5
    assert (await rt.container_status(graceful)).exit_code == 7
    assert b"got-TERM" in b"".join([c async for c in rt.logs(graceful)])
    started = time.monotonic()
    await rt.stop_container(stubborn, 1)
    assert 0.8 < time.monotonic() - started < 8
    assert (await rt.container_status(stubborn)).exit_code == 137


async def test_logs_tail_timestamps_limit_follow_and_log_path(docker_runtime: DockerRuntime, tmp_path: Path):
    rt = docker_runtime
    script = (
        "for i in 1 2 3 4 5; do echo line$i; done; echo err >&2;"
        " i=0; while :; do i=$((i+1)); echo tick$i; sleep 0.2; done"
    )
    log_path = tmp_path / "pods" / "default_p_uid" / "main" / "0.log"
    _, _, cid = await run_pod(rt, ["sh", "-c", script], log_path=str(log_path))
    await asyncio.sleep(0.5)
    everything = b"".join([c async for c in rt.logs(cid)]).decode()
    # stdout and stderr are separate pipes: their relative order is not kept, each stream's is
    assert [x for x in everything.splitlines() if x != "err"][:6] == [f"line{i}" for i in range(1, 6)] + [
        "tick1"
    ]
    assert "err" in everything.splitlines()
    assert len(b"".join([c async for c in rt.logs(cid, limit_bytes=7)])) == 7
    tail = b"".join([c async for c in rt.logs(cid, tail_lines=1, timestamps=True)]).decode()
    assert tail.count("\n") == 1 and tail[:2] == "20" and " tick" in tail
    since = time.time()
    await asyncio.sleep(0.5)
    recent = b"".join([c async for c in rt.logs(cid, since=since)]).decode()
    assert recent.startswith("tick") and "line1" not in recent and 1 <= recent.count("\n") <= 4
    seen = b""
    async for chunk in rt.logs(cid, follow=True, tail_lines=0):
        seen += chunk
        if seen.count(b"\n") >= 2:
            break
    assert seen.startswith(b"tick")
    assert log_path.is_symlink() and b'"log":"line1\\n"' in log_path.read_bytes()
    await rt.remove_container(cid)
    assert not log_path.exists() and not log_path.is_symlink()


async def test_exec_sync_output_and_timeout(docker_runtime: DockerRuntime):
    rt = docker_runtime
    _, _, cid = await run_pod(rt, ["sleep", "60"])
    result = await rt.exec_sync(cid, ["sh", "-c", "echo out; echo err >&2; exit 4"], 5)
    assert (result.exit_code, result.stdout, result.stderr) == (4, b"out\n", b"err\n")
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await rt.exec_sync(cid, ["sleep", "30"], 1)
    assert time.monotonic() - started < 5
    ps = (await rt.exec_sync(cid, ["ps"], 5)).stdout.decode()
    assert "sleep 30" not in ps  # the timed-out command was killed


async def test_exec_stream_stdin_stdout_stderr(docker_runtime: DockerRuntime):
    rt = docker_runtime
    _, _, cid = await run_pod(rt, ["sleep", "60"])
    stream = await rt.exec(cid, ["sh", "-c", "cat; echo done >&2; exit 5"], tty=False, stdin=True)
    await stream.write_stdin(b"hello\n")
    await stream.close_stdin()
    got: dict[int, bytes] = {1: b"", 2: b""}
    async for fd, data in stream.output():
        got[fd] += data
    assert got == {1: b"hello\n", 2: b"done\n"}
    assert await stream.wait() == 5
    await stream.close()


async def test_a_new_runtime_sees_the_same_pods(docker_runtime: DockerRuntime, test_network: PodNetwork):
    rt = docker_runtime
    _, sid, cid = await run_pod(rt, ["sleep", "60"])
    before = {s.id: s for s in await rt.list_sandboxes()}
    again = DockerRuntime(test_network.cni(), root_dir=str(rt.root_dir), labels=rt.labels)
    try:
        after = {s.id: s for s in await again.list_sandboxes()}
        assert after.keys() == before.keys() == {sid}
        assert (after[sid].ip, after[sid].labels, after[sid].ready) == (
            before[sid].ip,
            before[sid].labels,
            True,
        )
        [container] = await again.list_containers(sid)
        assert (container.id, container.name, container.state, container.sandbox_id) == (
            cid,
            "main",
            "running",
            sid,
        )
        assert container.labels == (await rt.container_status(cid)).labels
        # The restarted runtime can still tear the network down (the ADD result is cached on disk).
        reservation = test_network.ipam_dir / test_network.name / after[sid].ip
        assert reservation.exists()
        await again.stop_sandbox(sid)
        assert not reservation.exists() and sid not in _nat_rules()
    finally:
        again.close()


async def test_stats(docker_runtime: DockerRuntime):
    _, _, cid = await run_pod(docker_runtime, ["sleep", "60"])
    [stats] = await docker_runtime.stats([cid])
    assert stats.id == cid and stats.memory_usage_bytes > 0 and stats.timestamp > 0


async def test_images_present_missing_and_pull_failure(docker_runtime: DockerRuntime):
    rt = docker_runtime
    info = await rt.image_status(BUSYBOX_IMAGE)
    assert info is not None and BUSYBOX_IMAGE in info.tags
    assert info.id in {i.id for i in await rt.list_images()}
    assert await rt.image_status("kubeling/absent:0") is None
    with pytest.raises(ImageNotPresent) as err:
        await rt.pull_image("kubeling/absent:0")
    assert err.value.reason == "ErrImagePull" and "kubeling/absent:0" in str(err.value)
    sandbox = make_sandbox()
    sid = await rt.run_sandbox(sandbox)
    with pytest.raises(ImageNotPresent):
        await rt.create_container(sid, ContainerConfig(name="x", image="kubeling/absent:0"), sandbox)


def _nat_rules() -> str:
    return subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout


async def test_dead_pause_del_without_netns_leaves_nothing(
    docker_runtime: DockerRuntime, test_network: PodNetwork
):
    rt = docker_runtime
    sid = await rt.run_sandbox(make_sandbox())
    ip = (await rt.sandbox_status(sid)).ip
    assert sid in _nat_rules()
    await asyncio.to_thread(rt.api.kill, sid)  # the pause died: no netns to hand to DEL
    await rt.stop_sandbox(sid)
    assert sid not in _nat_rules()
    assert not (test_network.ipam_dir / test_network.name / ip).exists()


async def test_cleanup_network_removes_what_a_vanished_sandbox_left(
    docker_runtime: DockerRuntime, test_network: PodNetwork
):
    rt = docker_runtime
    sid = await rt.run_sandbox(make_sandbox(port_mappings=[PortMapping(80, _free_port())]))
    ip = (await rt.sandbox_status(sid)).ip
    await rt.cni.check(
        sid, f"/proc/{(await asyncio.to_thread(rt.api.inspect_container, sid))['State']['Pid']}/ns/net"
    )
    await asyncio.to_thread(rt.api.remove_container, sid, force=True)  # gone behind the runtime's back
    assert sid in _nat_rules()
    await rt.cleanup_network()
    assert sid not in _nat_rules()
    assert not (test_network.ipam_dir / test_network.name / ip).exists()
    forward = subprocess.run(["iptables", "-S", "CNI-FORWARD"], capture_output=True, text=True).stdout
    assert f"{ip}/32" not in forward


async def test_host_network_sandbox(docker_runtime: DockerRuntime):
    rt = docker_runtime
    sandbox = make_sandbox(host_network=True)
    sid = await rt.run_sandbox(sandbox)
    status = await rt.sandbox_status(sid)
    assert status.ready and status.host_network and status.ip == ""
    cid = await rt.create_container(sid, make_container("main", ["sleep", "60"]), sandbox)
    await rt.start_container(cid)
    assert (await rt.exec_sync(cid, ["hostname"], 5)).stdout.decode().strip() == socket.gethostname()


async def test_security_context_and_resources(docker_runtime: DockerRuntime):
    rt = docker_runtime
    security = SecurityContext(
        run_as_user=65534,
        run_as_group=65534,
        supplemental_groups=[1234],
        read_only_root_filesystem=True,
        capabilities_drop=["ALL"],
        capabilities_add=["NET_ADMIN"],
    )
    resources = Resources(cpu_shares=512, cpu_quota=50_000, cpu_period=100_000, memory_limit=64 * 1024 * 1024)
    _, _, cid = await run_pod(rt, ["sleep", "60"], security=security, resources=resources)
    ident = (await rt.exec_sync(cid, ["id"], 5)).stdout.decode()
    assert "uid=65534(nobody) gid=65534(nobody)" in ident and "1234" in ident
    assert (await rt.exec_sync(cid, ["touch", "/x"], 5)).exit_code != 0
    # A non-root user has no effective capabilities; the bounding set shows what was granted.
    caps = (await rt.exec_sync(cid, ["grep", "CapBnd", "/proc/self/status"], 5)).stdout.decode()
    assert caps.split()[1] == f"{1 << 12:016x}"  # CAP_NET_ADMIN only
    host = (await asyncio.to_thread(rt.api.inspect_container, cid))["HostConfig"]
    assert (host["CpuShares"], host["CpuQuota"], host["CpuPeriod"]) == (512, 50_000, 100_000)
    assert host["Memory"] == host["MemorySwap"] == 64 * 1024 * 1024


async def test_termination_message_and_dns(docker_runtime: DockerRuntime):
    rt = docker_runtime
    sandbox = make_sandbox(
        dns=DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"]),
        sysctls={"net.ipv4.ip_unprivileged_port_start": "80"},
    )
    sid = await rt.run_sandbox(sandbox)
    script = (
        "cat /etc/resolv.conf /proc/sys/net/ipv4/ip_unprivileged_port_start;"
        " echo bye > /dev/termination-log; exit 1"
    )
    cid = await rt.create_container(sid, make_container("main", ["sh", "-c", script]), sandbox)
    await rt.start_container(cid)
    status = await wait_exited(rt, cid)
    assert (status.exit_code, status.reason, status.message) == (1, "Error", "bye\n")
    logged = b"".join([c async for c in rt.logs(cid)]).decode()
    assert "nameserver 10.96.0.10" in logged and "search default.svc.cluster.local" in logged
    assert logged.splitlines()[-1] == "80"  # the sandbox's sysctl, seen through the shared netns


async def test_attach_and_tty_exec_with_resize(docker_runtime: DockerRuntime):
    rt = docker_runtime
    sandbox = make_sandbox()
    sid = await rt.run_sandbox(sandbox)
    config = make_container(
        "main", ["sh", "-c", "read line; echo got:$line; exit 9"], stdin=True, stdin_once=True
    )
    cid = await rt.create_container(sid, config, sandbox)
    await rt.start_container(cid)
    stream = await rt.attach(cid, tty=False, stdin=True)
    await stream.write_stdin(b"hi\n")
    out = b"".join([data async for fd, data in stream.output() if fd == 1])
    assert out == b"got:hi\n" and await stream.wait() == 9
    await stream.close()

    _, _, cid = await run_pod(rt, ["sleep", "60"])
    stream = await rt.exec(cid, ["sh", "-c", "sleep 0.5; stty size"], tty=True, stdin=True)
    await stream.resize(100, 30)
    out = b"".join([data async for _, data in stream.output()])
    assert out.strip() == b"30 100" and await stream.wait() == 0
    await stream.close()


async def test_network_not_ready_until_the_pod_cidr_is_known(tmp_path: Path, images: dict[str, str]):
    net = CNINetwork(str(tmp_path / "conf"), "/usr/lib/cni", str(tmp_path / "cache"), network_name="unused")
    rt = DockerRuntime(
        net, root_dir=str(tmp_path / "root"), labels={"io.kubeling.test": uuid.uuid4().hex[:12]}
    )
    try:
        status = await rt.status()
        assert status.runtime_ready and not status.network_ready
        assert (status.reason, "cni config uninitialized" in status.message) == (
            "NetworkPluginNotReady",
            True,
        )
        with pytest.raises(RuntimeFailure) as err:
            await rt.run_sandbox(make_sandbox())
        assert err.value.reason == "NetworkNotReady"
        assert (await rt.version())[0] == "docker"
        await rt.update_pod_cidr("10.244.199.0/24")  # only written: no sandbox, so no bridge is made
        assert (await rt.status()).network_ready
        assert (tmp_path / "conf" / "10-kubeling.conflist").exists()
    finally:
        rt.close()


async def test_privileged_container_holds_every_capability_the_host_has(docker_runtime: DockerRuntime):
    from kubeling.kubelet.docker import CAPABILITIES, missing_host_caps

    _, _, cid = await run_pod(docker_runtime, ["sleep", "60"], security=SecurityContext(privileged=True))
    caps = (await docker_runtime.exec_sync(cid, ["grep", "CapEff", "/proc/self/status"], 5)).stdout.decode()
    effective = int(caps.split()[1], 16)
    missing = set(missing_host_caps())
    for bit, name in enumerate(CAPABILITIES[:38]):  # the ones every engine of ours knows
        assert bool(effective >> bit & 1) == (name not in missing), name
    mounted = await docker_runtime.exec_sync(cid, ["sh", "-c", "mkdir -p /m && mount -t tmpfs none /m"], 5)
    assert mounted.exit_code == 0, mounted
