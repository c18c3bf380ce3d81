"""The kubelet server behind a real apiserver, driven by real kubectl: logs, exec, cp, port-forward, attach.

A KubeletServer runs in a thread of its own (kubectl blocks this one) over
the DockerRuntime, serving real busybox containers on the session's CNI
network, for a Node whose InternalIP is 127.0.0.1 and whose
kubeletEndpoint port is the server's.  The apiserver reaches it with
the all-in-one server's kubelet client certificate; the kubelet checks
callers against the server's CA and asks the apiserver (TokenReview,
SubjectAccessReview) about tokens.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import select
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import stream as k8s_stream

from kubeling.apiserver.config import APIServerConfig
from kubeling.apiserver.kubeletproxy import KubeletProxy
from kubeling.client.kubeconfig import ClientConfig, load_config
from kubeling.client.rest import RESTClient
from kubeling.kubelet.docker import DockerRuntime
from kubeling.kubelet.images import BUSYBOX_IMAGE
from kubeling.kubelet.podsource import RuntimePodsSource
from kubeling.kubelet.runtime import ContainerConfig, SandboxConfig
from kubeling.kubelet.server import KubeletServer
from kubeling.kubelet.streaming import spdy
from kubeling.pki.selfsigned import ensure_serving_cert
from tests.fixtures.dockerpods import PodNetwork
from tests.fixtures.server import KubelingServer, free_port, kubectl, kubectl_env, kubectl_path

pytestmark = pytest.mark.integration

NODE = "kubelet-server-test"
POD = "web"
RESTARTED = "restarted"
INTERACTIVE = "interactive"
PAGE = "hello from the pod\n"
# The "container": an httpd on the pod's port 8080, and a line every 0.2 s on stdout.
WEB = (
    f"mkdir -p /www && echo '{PAGE.strip()}' > /www/index.html && httpd -p 8080 -h /www && "
    'i=0; while :; do echo "line $i"; i=$((i+1)); sleep 0.2; done'
)


@dataclass
class Env:
    server: KubelingServer
    kubelet: KubeletServer
    loop: asyncio.AbstractEventLoop
    kubelet_ca: Path

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def kubelet_get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"https://127.0.0.1:{self.kubelet.port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=str(self.kubelet_ca))
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def _create(server: KubelingServer, obj: dict[str, Any]) -> dict[str, Any]:
    out = kubectl(server, "create", "-o", "json", "-f", "-", input=json.dumps(obj))
    return json.loads(out.stdout)


def _patch_status(server: KubelingServer, kind: str, name: str, status: dict[str, Any]) -> None:
    kubectl(
        server,
        "patch",
        kind,
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, test_network: PodNetwork) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("kubelet-server")
    server = KubelingServer(
        base / "server", extra_args=["--disable-controller-manager", "--disable-scheduler"]
    )
    server.start()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    label = {"io.kubeling.test": uuid.uuid4().hex[:12]}
    runtime = DockerRuntime(test_network.cni(), root_dir=str(base / "kubelet"), labels=label)
    kubelet_ca, crt, key = ensure_serving_cert(base / "kubelet-pki", ["127.0.0.1", "localhost"])

    async def start() -> KubeletServer:
        client = RESTClient(load_config(str(server.data_dir / "kubelet.kubeconfig")), component="kubelet")
        kubelet = KubeletServer(
            runtime,
            RuntimePodsSource(runtime),
            tls_cert=str(crt),
            tls_key=str(key),
            client_ca=str(server.data_dir / "pki" / "ca.crt"),
            api_client=client,
            port=0,
            address="127.0.0.1",
            node_name=NODE,
        )
        await kubelet.start()
        return kubelet

    env = Env(server, None, loop, kubelet_ca)  # type: ignore[arg-type]
    try:
        env.kubelet = env.run(start())
        _create(server, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}})
        _patch_status(
            server,
            "node",
            NODE,
            {
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": NODE},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": env.kubelet.port}},
            },
        )
        env.run(_run_pod(runtime, _create(server, _pod_manifest(POD)), [["sh", "-c", WEB]]), timeout=60)
        # A pod whose container restarted once: its first life's log is the "previous" one.
        env.run(
            _run_pod(
                runtime,
                _create(server, _pod_manifest(RESTARTED)),
                [["echo", "first life"], ["sh", "-c", "echo second life; exec sleep 600"]],
            ),
            timeout=60,
        )
        # A pod whose container reads its stdin, for attach -i.
        manifest = _pod_manifest(INTERACTIVE)
        manifest["spec"]["containers"][0]["stdin"] = True
        script = 'while read line; do echo "got $line"; done'
        env.run(_run_pod(runtime, _create(server, manifest), [["sh", "-c", script]], stdin=True), timeout=60)
        for name in (POD, RESTARTED, INTERACTIVE):
            _mark_running(server, name)
        yield env
    finally:
        if env.kubelet is not None:
            with contextlib.suppress(Exception):
                env.run(env.kubelet.stop())
                env.run(env.kubelet.auth.client.close())  # type: ignore[union-attr]
        env.run(_remove_all(runtime, label), timeout=60)
        runtime.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        server.stop()


async def _run_pod(
    runtime: DockerRuntime, pod: dict[str, Any], attempts: list[list[str]], *, stdin: bool = False
) -> None:
    """The pod's sandbox, then one "main" container per attempt; all but the last run to their end."""
    meta = pod["metadata"]
    sandbox = SandboxConfig(pod_uid=meta["uid"], name=meta["name"], namespace=meta["namespace"])
    sid = await runtime.run_sandbox(sandbox)
    for attempt, command in enumerate(attempts):
        config = ContainerConfig(
            name="main", image=BUSYBOX_IMAGE, command=command, attempt=attempt, stdin=stdin
        )
        cid = await runtime.create_container(sid, config, sandbox)
        await runtime.start_container(cid)
        if attempt < len(attempts) - 1:
            async with asyncio.timeout(20):
                while (await runtime.container_status(cid)).state != "exited":
                    await asyncio.sleep(0.1)


async def _remove_all(runtime: DockerRuntime, label: dict[str, str]) -> None:
    """Tear down what the test made; whatever a failing step leaves, the label sweep still removes."""
    with contextlib.suppress(Exception):
        for sandbox in await runtime.list_sandboxes():
            with contextlib.suppress(Exception):
                await runtime.stop_sandbox(sandbox.id)
                await runtime.remove_sandbox(sandbox.id)
    leftovers = await asyncio.to_thread(
        runtime.api.containers, all=True, filters={"label": [f"{k}={v}" for k, v in label.items()]}
    )
    for c in leftovers:
        await asyncio.to_thread(runtime.api.remove_container, c["Id"], force=True)


def _pod_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "schedulerName": "none-such",
            "containers": [{"name": "main", "image": "kubeling/busybox:0.1.0"}],
        },
    }


def _mark_running(server: KubelingServer, name: str) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _patch_status(
        server,
        "pod",
        name,
        {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 0,
                    "image": "kubeling/busybox:0.1.0",
                    "imageID": "",
                    "state": {"running": {"startedAt": now}},
                }
            ],
        },
    )


def _read_lines(process: subprocess.Popen[str], count: int, timeout: float = 15) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
    return lines


def _popen(server: KubelingServer, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [kubectl_path(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=kubectl_env(server),
    )


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        _, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err


# -- logs --------------------------------------------------------------------------------------


def test_logs(env: Env) -> None:
    time.sleep(0.5)
    out = kubectl(env.server, "logs", POD).stdout
    assert out.startswith("line 0\nline 1\n")
    tail = kubectl(env.server, "logs", POD, "--tail=1").stdout
    assert tail.count("\n") == 1 and tail.startswith("line ")
    assert kubectl(env.server, "logs", POD, "--limit-bytes=4").stdout == "line"
    unverified = kubectl(env.server, "logs", POD, "--insecure-skip-tls-verify-backend").stdout
    assert unverified.startswith("line 0\n")


def test_logs_previous(env: Env) -> None:
    assert kubectl(env.server, "logs", RESTARTED).stdout == "second life\n"
    assert kubectl(env.server, "logs", RESTARTED, "--previous").stdout == "first life\n"
    result = kubectl(env.server, "logs", POD, "--previous", check=False)
    assert result.returncode != 0
    assert 'previous terminated container "main" in pod "web" not found' in result.stderr


def test_logs_follow_streams_new_lines(env: Env) -> None:
    process = _popen(env.server, "logs", "-f", "--tail=1", POD)
    try:
        lines = _read_lines(process, 4)
    finally:
        _stop(process)
    assert len(lines) == 4
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + 4))  # live, in order


def test_logs_of_an_unknown_container_is_refused_by_the_apiserver(env: Env) -> None:
    result = kubectl(env.server, "logs", POD, "-c", "nope", check=False)
    assert result.returncode != 0
    assert "container nope is not valid for pod web" in result.stderr


# -- exec ------------------------------------------------------------------------------------


def _counted(env: Env, key: tuple[str, str, int], more_than: int = 0, timeout: float = 10) -> int:
    """The count of requests ``key`` once above ``more_than`` (requests count when their handler ends)."""
    deadline = time.monotonic() + timeout
    while env.kubelet.requests[key] <= more_than and time.monotonic() < deadline:
        time.sleep(0.1)
    return env.kubelet.requests[key]


def test_exec_output_and_exit_code(env: Env) -> None:
    result = kubectl(env.server, "exec", POD, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3", check=False)
    assert result.stdout == "hi\n"
    assert "oops" in result.stderr
    assert result.returncode == 3
    assert _counted(env, ("GET", "exec", 101)) >= 1  # the v5 WebSocket, not the SPDY fallback


def test_exec_with_stdin(env: Env) -> None:
    result = kubectl(env.server, "exec", "-i", POD, "--", "sh", "-c", "tr a-z A-Z", input="some input\n")
    assert result.stdout == "SOME INPUT\n"


def test_cp_both_ways(env: Env, tmp_path: Path) -> None:
    source = tmp_path / "payload.txt"
    source.write_text("copied through tar over exec\n" * 100)
    kubectl(env.server, "cp", str(source), f"{POD}:/tmp/payload.txt")
    inside = kubectl(env.server, "exec", POD, "--", "cat", "/tmp/payload.txt").stdout
    assert inside == source.read_text()
    back = tmp_path / "back.txt"
    kubectl(env.server, "cp", f"{POD}:/tmp/payload.txt", str(back))
    assert back.read_text() == source.read_text()


# -- port-forward ------------------------------------------------------------------------------


def test_port_forward_then_fetch(env: Env) -> None:
    local = free_port()
    process = _popen(env.server, "port-forward", f"pod/{POD}", f"{local}:8080")
    try:
        assert "Forwarding from" in "".join(_read_lines(process, 1))
        for _ in range(3):  # each fetch is a new stream pair on the one connection
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10) as response:
                assert response.read().decode() == PAGE
    finally:
        _stop(process)
    # kubectl's first choice worked: SPDY tunnelled in a WebSocket (a GET answered 101), no fallback POST.
    # (A request is counted when its handler ends: shortly after kubectl went away.)
    deadline = time.monotonic() + 10
    while not env.kubelet.requests[("GET", "portForward", 101)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.kubelet.requests[("GET", "portForward", 101)] >= 1, env.kubelet.requests
    assert not any(k[:2] == ("POST", "portForward") for k in env.kubelet.requests)


# -- attach ------------------------------------------------------------------------------------


def test_attach_streams_the_containers_output(env: Env) -> None:
    process = _popen(env.server, "attach", POD)
    try:
        lines = _read_lines(process, 2)
    finally:
        _stop(process)
    assert len(lines) == 2 and all(line.startswith("line ") for line in lines)


def test_attach_with_stdin(env: Env) -> None:
    process = subprocess.Popen(
        [kubectl_path(), "attach", "-i", INTERACTIVE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        env=kubectl_env(env.server),
    )
    try:
        assert process.stdin is not None
        lines: list[str] = []
        for word in ("hello", "again"):  # the session may still be starting when the first line goes
            process.stdin.write(f"{word}\n")
            process.stdin.flush()
            lines += _read_lines(process, 1, timeout=10)
    finally:
        _stop(process)
    assert "got again\n" in lines


def test_logs_timestamps_and_since(env: Env) -> None:
    stamped = kubectl(env.server, "logs", POD, "--timestamps", "--tail=2").stdout.splitlines()
    assert len(stamped) == 2
    for line in stamped:
        moment, _, text = line.partition(" ")
        assert moment[:4].isdigit() and moment[10] == "T" and moment.endswith("Z"), line
        assert text.startswith("line ")
    everything = kubectl(env.server, "logs", POD).stdout.splitlines()
    recent = kubectl(env.server, "logs", POD, "--since=1s").stdout.splitlines()
    assert 0 < len(recent) < len(everything)
    assert all(line.startswith("line ") for line in recent)


# -- the kubelet's own endpoints ----------------------------------------------------------------


def test_nodes_proxy_reaches_pods_stats_and_metrics(env: Env) -> None:
    pods = json.loads(kubectl(env.server, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/pods").stdout)
    assert pods["kind"] == "PodList"
    names = sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods["items"])
    assert names == [("default", INTERACTIVE), ("default", RESTARTED), ("default", POD)]
    restarted = next(p for p in pods["items"] if p["metadata"]["name"] == RESTARTED)
    assert restarted["status"]["containerStatuses"][0]["restartCount"] == 1
    summary = json.loads(
        kubectl(env.server, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/stats/summary").stdout
    )
    assert summary["node"]["nodeName"] == NODE
    assert summary["node"]["memory"]["workingSetBytes"] > 0
    pod = next(p for p in summary["pods"] if p["podRef"]["name"] == POD)
    assert pod["containers"][0]["name"] == "main"
    assert pod["containers"][0]["memory"]["workingSetBytes"] > 0
    metrics = kubectl(env.server, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/metrics").stdout
    assert "kubelet_running_pods 3" in metrics
    resource = kubectl(env.server, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/metrics/resource").stdout
    assert "node_memory_working_set_bytes " in resource
    (line,) = [
        x
        for x in resource.splitlines()
        if x.startswith("container_memory_working_set_bytes{") and f'pod="{POD}"' in x
    ]
    assert line.startswith(
        'container_memory_working_set_bytes{container="main",namespace="default",pod="web"} '
    )
    assert int(line.split()[1]) > 0


def test_kubelet_authenticates_and_authorizes(env: Env) -> None:
    assert env.kubelet_get("/healthz") == (200, b"ok")
    assert env.kubelet_get("/pods")[0] == 401
    assert env.kubelet_get("/pods", token="not-a-token")[0] == 401
    assert env.kubelet_get("/pods", token=env.server.token())[0] == 200
    # A ServiceAccount with no rights is known to the apiserver but may not use the kubelet.
    kubectl(env.server, "create", "serviceaccount", "nobody")
    token = kubectl(env.server, "create", "token", "nobody").stdout.strip()
    status, body = env.kubelet_get("/stats/summary", token=token)
    assert status == 403
    assert b"subresource=stats" in body


# -- the SPDY fallback (what kubectl does when the WebSocket upgrade fails) ----------------------


async def _spdy_fetch(env: Env, port: int) -> tuple[bytes, bytes]:
    """POST .../portforward with Upgrade: SPDY/3.1 through the apiserver; one HTTP GET over stream pair 0."""
    context = env.server.ssl_context()
    reader, writer = await asyncio.open_connection("127.0.0.1", env.server.port, ssl=context)
    head = (
        f"POST /api/v1/namespaces/default/pods/{POD}/portforward HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {env.server.token()}\r\n"
        "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    writer.write(head.encode())
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    assert b"portforward.k8s.io" in answer
    codec = spdy.HeaderCodec()
    frames = spdy.FrameReader(codec)
    headers = {"port": [str(port)], "requestid": ["0"]}
    writer.write(spdy.encode(spdy.SynStream(1, {**headers, "streamtype": ["error"]}, spdy.FLAG_FIN), codec))
    writer.write(spdy.encode(spdy.SynStream(3, {**headers, "streamtype": ["data"]}), codec))
    writer.write(spdy.encode(spdy.DataFrame(3, b"GET / HTTP/1.0\r\n\r\n", spdy.FLAG_FIN), codec))
    data, errors = b"", b""
    replies = set()
    try:
        async with asyncio.timeout(10):
            while True:
                chunk = await reader.read(65536)
                assert chunk, "connection closed early"
                for frame in frames.feed(chunk):
                    if isinstance(frame, spdy.SynReply):
                        replies.add(frame.stream_id)
                    elif isinstance(frame, spdy.DataFrame) and frame.stream_id == 3:
                        data += frame.data
                        if frame.fin:
                            assert replies == {1, 3}
                            return data, errors
                    elif isinstance(frame, spdy.DataFrame) and frame.stream_id == 1:
                        errors += frame.data
    finally:
        writer.close()


def test_port_forward_over_upgraded_spdy(env: Env) -> None:
    data, errors = asyncio.run(_spdy_fetch(env, 8080))
    assert data.split(b"\r\n")[0].endswith(b" 200 OK")
    assert data.endswith(PAGE.encode())
    assert errors == b""


def test_port_forward_to_a_closed_port_reports_on_the_error_stream(env: Env) -> None:
    data, errors = asyncio.run(_spdy_fetch(env, 9999))
    assert data == b""
    assert b"error forwarding port 9999 to pod default/web" in errors


# -- other clients and failures -------------------------------------------------------------------


async def _exec_v4(
    env: Env, command: str, protocol: str = "v4.channel.k8s.io"
) -> tuple[bytes, dict[str, Any]]:
    """An exec through the apiserver by a client that speaks only ``protocol`` (v4, binary or base64)."""
    query = urlencode([("command", "sh"), ("command", "-c"), ("command", command), ("stdout", "true")])
    url = f"{env.server.url}/api/v1/namespaces/default/pods/{POD}/exec?{query}"
    headers = {"Authorization": f"Bearer {env.server.token()}"}
    stdout, status = b"", {}
    async with (
        asyncio.timeout(20),
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=[protocol], headers=headers, ssl=env.server.ssl_context()) as ws,
    ):
        assert ws.protocol == protocol
        async for message in ws:
            data = message.data
            if message.type == aiohttp.WSMsgType.TEXT and data:  # the base64 protocol
                data = bytes((ord(data[0]) - ord("0"),)) + base64.b64decode(data[1:])
            elif message.type != aiohttp.WSMsgType.BINARY or not data:
                continue
            if data[0] == 1:
                stdout += data[1:]
            elif data[0] == 3:
                status = json.loads(data[1:])
    return stdout, status


def test_exec_over_v4_reports_the_exit_status_on_the_error_channel(env: Env) -> None:
    stdout, status = asyncio.run(_exec_v4(env, "echo v4; exit 7"))
    assert stdout == b"v4\n"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    stdout, status = asyncio.run(_exec_v4(env, "true"))
    assert status == {"metadata": {}, "status": "Success"}
    stdout, status = asyncio.run(_exec_v4(env, "echo text; exit 9", "v4.base64.channel.k8s.io"))
    assert stdout == b"text\n"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "9"}]


def test_an_unreachable_kubelet_is_a_clear_error(env: Env) -> None:
    ghost, pod = "ghost-node", "ghost-pod"
    _create(env.server, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": ghost}})
    closed = free_port()  # nothing listens here
    _patch_status(
        env.server,
        "node",
        ghost,
        {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": closed}},
        },
    )
    manifest = _pod_manifest(pod)
    manifest["spec"]["nodeName"] = ghost
    _create(env.server, manifest)
    _mark_running(env.server, pod)
    for args in (["logs", pod], ["exec", pod, "--", "true"]):
        result = kubectl(env.server, *args, check=False, timeout=30)
        assert result.returncode != 0
        assert f"error dialing the kubelet at 127.0.0.1:{closed}" in result.stderr, result.stderr


def test_exec_with_a_tty_gets_the_terminal_size(env: Env) -> None:
    """``kubectl exec -it`` from a real terminal: the remote side has a TTY of the local terminal's size."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    command = [kubectl_path(), "exec", "-it", POD, "--", "sh", "-c", "sleep 0.5; stty size; tty; exit 4"]
    process = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, env=kubectl_env(env.server), start_new_session=True
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the terminal's last user left
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    text = output.decode(errors="replace")
    assert "33 101" in text, text
    assert "/dev/pts/" in text, text
    assert code == 4


def _connect_when_listening(port: int, timeout: float = 10) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_port_forward_moves_megabytes_both_ways(env: Env) -> None:
    """More than SPDY's initial 64 KiB window each way, on two ports of one forward."""
    blob = os.urandom(3 * 1024 * 1024 + 17)
    kubectl(
        env.server,
        "exec",
        POD,
        "--",
        "sh",
        "-c",
        "head -c 2500000 /dev/urandom > /www/big && (sleep 30 | nc -l -p 9000 > /tmp/upload &) && sleep 0.2",
    )
    down_port, up_port = free_port(), free_port()
    process = _popen(env.server, "port-forward", f"pod/{POD}", f"{down_port}:8080", f"{up_port}:9000")
    want = hashlib.md5(blob).hexdigest()
    uploaded = ""
    try:
        assert "Forwarding from" in "".join(_read_lines(process, 1))
        with _connect_when_listening(up_port) as upload:  # kubectl opens its ports one after another
            upload.sendall(blob)
        with urllib.request.urlopen(f"http://127.0.0.1:{down_port}/big", timeout=20) as response:
            downloaded = response.read()
        # The upload is only in kubectl's hands when sendall returns: wait for it before stopping kubectl.
        deadline = time.monotonic() + 20
        while uploaded != want and time.monotonic() < deadline:
            time.sleep(0.2)
            uploaded = kubectl(env.server, "exec", POD, "--", "sh", "-c", "md5sum < /tmp/upload").stdout[:32]
    finally:
        _stop(process)
    remote = kubectl(env.server, "exec", POD, "--", "md5sum", "/www/big").stdout.split()[0]
    assert len(downloaded) == 2_500_000
    assert hashlib.md5(downloaded).hexdigest() == remote
    assert uploaded == want


async def _fetch_healthz(kubelet_port: int, proxy: KubeletProxy) -> int:
    async with aiohttp.ClientSession() as session:
        url = f"https://127.0.0.1:{kubelet_port}/healthz"
        async with session.get(
            url, ssl=proxy.ssl_context(), timeout=aiohttp.ClientTimeout(total=10)
        ) as answer:
            return answer.status


def test_apiserver_verifies_kubelets_with_the_configured_authority(env: Env, tmp_path: Path) -> None:
    def proxy_with(ca: str) -> KubeletProxy:
        return KubeletProxy(SimpleNamespace(config=APIServerConfig(kubelet_certificate_authority=ca)))  # type: ignore[arg-type]

    assert asyncio.run(_fetch_healthz(env.kubelet.port, proxy_with(str(env.kubelet_ca)))) == 200
    assert asyncio.run(_fetch_healthz(env.kubelet.port, proxy_with(""))) == 200  # unverified when unset
    other_ca, _, _ = ensure_serving_cert(tmp_path, ["127.0.0.1"])
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        asyncio.run(_fetch_healthz(env.kubelet.port, proxy_with(str(other_ca))))


# kubectl's switches back to its SPDY clients (the path older kubectls and client-go SPDY executors take).
_SPDY_ONLY = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}


def _kubectl_spdy(env: Env, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl_path(), *args],
        input=input,
        capture_output=True,
        text=True,
        env={**kubectl_env(env.server), **_SPDY_ONLY},
        timeout=60,
    )


def test_exec_over_spdy(env: Env) -> None:
    before = env.kubelet.requests[("POST", "exec", 101)]
    result = _kubectl_spdy(
        env, "exec", "-i", POD, "--", "sh", "-c", "tr a-z A-Z; echo bad >&2; exit 5", input="spdy\n"
    )
    assert result.stdout == "SPDY\n"
    assert "bad" in result.stderr
    assert result.returncode == 5
    deadline = time.monotonic() + 10
    while env.kubelet.requests[("POST", "exec", 101)] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.kubelet.requests[("POST", "exec", 101)] == before + 1  # it really took the SPDY path


def test_cp_over_spdy(env: Env, tmp_path: Path) -> None:
    source = tmp_path / "spdy.txt"
    source.write_text("tar over SPDY streams\n" * 50)
    assert _kubectl_spdy(env, "cp", str(source), f"{POD}:/tmp/spdy.txt").returncode == 0
    back = tmp_path / "back.txt"
    assert _kubectl_spdy(env, "cp", f"{POD}:/tmp/spdy.txt", str(back)).returncode == 0
    assert back.read_text() == source.read_text()


def test_port_forward_over_spdy(env: Env) -> None:
    before = env.kubelet.requests[("POST", "portForward", 101)]
    local = free_port()
    process = subprocess.Popen(
        [kubectl_path(), "port-forward", f"pod/{POD}", f"{local}:8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**kubectl_env(env.server), **_SPDY_ONLY},
    )
    try:
        assert "Forwarding from" in "".join(_read_lines(process, 1))
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10) as response:
            assert response.read().decode() == PAGE
    finally:
        _stop(process)
    deadline = time.monotonic() + 10
    while env.kubelet.requests[("POST", "portForward", 101)] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.kubelet.requests[("POST", "portForward", 101)] == before + 1  # SPDY upgrade, no WebSocket


def test_official_python_client_port_forward(env: Env) -> None:
    """The `kubernetes` client forwards over the channel WebSocket (v4.channel.k8s.io, ?ports=)."""
    before = env.kubelet.requests[("GET", "portForward", 101)]
    api = k8s_client.CoreV1Api(k8s_config.new_client_from_config(str(env.server.kubeconfig)))
    forward = k8s_stream.portforward(
        api.connect_get_namespaced_pod_portforward, POD, "default", ports="8080,9999"
    )
    try:
        sock = forward.socket(8080)
        sock.settimeout(10)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if answer.endswith(PAGE.encode()):
                break
        assert answer.split(b"\r\n")[0].endswith(b" 200 OK")
        assert answer.endswith(PAGE.encode())
        deadline = time.monotonic() + 10
        while forward.error(9999) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "error forwarding port 9999 to pod default/web" in (forward.error(9999) or "")
    finally:
        forward.close()
    deadline = time.monotonic() + 10
    while env.kubelet.requests[("GET", "portForward", 101)] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.kubelet.requests[("GET", "portForward", 101)] == before + 1


def test_official_python_client_exec(env: Env) -> None:
    api = k8s_client.CoreV1Api(k8s_config.new_client_from_config(str(env.server.kubeconfig)))
    response = k8s_stream.stream(
        api.connect_get_namespaced_pod_exec,
        POD,
        "default",
        command=["sh", "-c", "echo from python; echo to stderr >&2; exit 2"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    stdout, stderr = "", ""
    deadline = time.monotonic() + 20
    while response.is_open() and time.monotonic() < deadline:
        response.update(timeout=1)
        stdout += response.read_stdout() if response.peek_stdout() else ""
        stderr += response.read_stderr() if response.peek_stderr() else ""
    response.close()
    assert stdout == "from python\n"
    assert stderr == "to stderr\n"
    assert response.returncode == 2


def test_exec_of_a_missing_binary_fails_like_upstream(env: Env) -> None:
    result = kubectl(env.server, "exec", POD, "--", "no-such-binary", check=False)
    assert result.returncode in (126, 127), (result.returncode, result.stdout, result.stderr)
    assert "no-such-binary" in result.stdout + result.stderr


def test_exec_is_authorized_by_rbac_on_pods_exec(env: Env) -> None:
    """The apiserver judges the user (RBAC on pods/exec); the kubelet only sees the apiserver's identity."""
    kubectl(env.server, "create", "serviceaccount", "execer")
    kubectl(env.server, "create", "role", "exec", "--verb=get,create", "--resource=pods,pods/exec")
    kubectl(env.server, "create", "rolebinding", "execer", "--role=exec", "--serviceaccount=default:execer")
    allowed = kubectl(env.server, "create", "token", "execer").stdout.strip()
    kubectl(env.server, "create", "serviceaccount", "reader")
    kubectl(env.server, "create", "role", "read", "--verb=get", "--resource=pods")
    kubectl(env.server, "create", "rolebinding", "reader", "--role=read", "--serviceaccount=default:reader")
    denied = kubectl(env.server, "create", "token", "reader").stdout.strip()
    ok = kubectl(env.server, "--token", allowed, "exec", POD, "--", "echo", "allowed")
    assert ok.stdout == "allowed\n"
    refused = kubectl(env.server, "--token", denied, "exec", POD, "--", "echo", "nope", check=False)
    assert refused.returncode != 0
    assert 'cannot create resource "pods/exec"' in refused.stderr, refused.stderr
    # get on pods/exec is not enough for the WebSocket upgrade (a GET) either: it needs create.
    kubectl(env.server, "create", "serviceaccount", "getter")
    kubectl(env.server, "create", "role", "getter", "--verb=get", "--resource=pods,pods/exec")
    kubectl(env.server, "create", "rolebinding", "getter", "--role=getter", "--serviceaccount=default:getter")
    getter = kubectl(env.server, "create", "token", "getter").stdout.strip()
    refused = kubectl(env.server, "--token", getter, "exec", POD, "--", "echo", "nope", check=False)
    assert refused.returncode != 0
    assert 'cannot create resource "pods/exec"' in refused.stderr, refused.stderr


def test_callers_are_refused_while_the_apiserver_cannot_review_them(env: Env) -> None:
    unreachable = RESTClient(ClientConfig(server=f"https://127.0.0.1:{free_port()}"), max_retries=0)
    _, crt, key = ensure_serving_cert(Path(env.kubelet.tls_cert).parent, [])
    lonely = KubeletServer(
        env.kubelet.runtime,
        env.kubelet.pods,
        tls_cert=str(crt),
        tls_key=str(key),
        api_client=unreachable,
        port=0,
    )
    lonely.address = "127.0.0.1"
    port = env.run(lonely.start())
    try:
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}/pods", headers={"Authorization": "Bearer x"}
        )
        context = ssl.create_default_context(cafile=str(env.kubelet_ca))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, context=context, timeout=10)
        assert refused.value.code == 503
    finally:
        env.run(lonely.stop())
        env.run(unreachable.close())
