"""PortForwardSession over an in-memory byte stream: stream pairs, replies, errors, ping."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeling.kubelet.streaming import portforward, spdy


class Pipe:
    """The session's side of a connection; the test plays the client through ``send``/``frames``."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.client_codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader(spdy.HeaderCodec())
        self.received: list[spdy.Frame] = []
        self.closed = False

    async def read(self) -> bytes:
        return await self.incoming.get()

    async def write(self, data: bytes) -> None:
        self.received += self.reader.feed(data)

    def close(self) -> None:
        self.closed = True

    def send(self, frame: spdy.Frame) -> None:
        self.incoming.put_nowait(spdy.encode(frame, self.client_codec))


class Echo:
    """A dialer whose "pod port" upper-cases what it gets and ends at EOF."""

    def __init__(self) -> None:
        self.ports: list[int] = []

    async def __call__(self, port: int) -> tuple[Any, Any]:
        self.ports.append(port)
        reader = asyncio.StreamReader()
        outer = self

        class Writer:
            def write(self, data: bytes) -> None:
                reader.feed_data(data.upper())

            async def drain(self) -> None:
                pass

            def can_write_eof(self) -> bool:
                return True

            def write_eof(self) -> None:
                reader.feed_eof()

            def close(self) -> None:
                outer.closed = True

        return reader, Writer()


def _pair(pipe: Pipe, request_id: str, port: int, first_id: int) -> None:
    headers = {"port": [str(port)], "requestid": [request_id]}
    pipe.send(spdy.SynStream(first_id, {**headers, "streamtype": ["error"]}, spdy.FLAG_FIN))
    pipe.send(spdy.SynStream(first_id + 2, {**headers, "streamtype": ["data"]}))


async def _until(predicate: Any) -> None:
    async with asyncio.timeout(5):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_a_pair_forwards_both_ways_and_ends_with_fins() -> None:
    pipe, dial = Pipe(), Echo()
    session = asyncio.create_task(portforward.PortForwardSession(pipe, dial, pod="ns/p").run())
    _pair(pipe, "0", 8080, 1)
    pipe.send(spdy.DataFrame(3, b"hello "))
    pipe.send(spdy.DataFrame(3, b"world", spdy.FLAG_FIN))
    await _until(lambda: spdy.DataFrame(1, b"", spdy.FLAG_FIN) in pipe.received)
    assert dial.ports == [8080]
    assert [f for f in pipe.received if isinstance(f, spdy.SynReply)] == [spdy.SynReply(1), spdy.SynReply(3)]
    data = b"".join(f.data for f in pipe.received if isinstance(f, spdy.DataFrame) and f.stream_id == 3)
    assert data == b"HELLO WORLD"
    assert spdy.DataFrame(3, b"", spdy.FLAG_FIN) in pipe.received
    pipe.incoming.put_nowait(b"")
    await session
    assert pipe.closed


async def test_dial_failure_is_written_to_the_error_stream() -> None:
    pipe = Pipe()

    async def refuse(port: int) -> tuple[Any, Any]:
        raise ConnectionRefusedError("connection refused")

    session = asyncio.create_task(portforward.PortForwardSession(pipe, refuse, pod="ns/p").run())
    _pair(pipe, "7", 9, 5)
    await _until(lambda: spdy.DataFrame(7, b"", spdy.FLAG_FIN) in pipe.received)
    errors = b"".join(f.data for f in pipe.received if isinstance(f, spdy.DataFrame) and f.stream_id == 5)
    assert errors == b"error forwarding port 9 to pod ns/p: connection refused"
    pipe.send(spdy.GoAway(7))
    await session


async def test_ping_is_echoed_and_a_bad_port_is_reset() -> None:
    pipe = Pipe()
    session = asyncio.create_task(portforward.PortForwardSession(pipe, Echo(), pod="ns/p").run())
    pipe.send(spdy.Ping(1))
    pipe.send(spdy.SynStream(3, {"port": ["nope"], "streamtype": ["data"]}))
    await _until(lambda: len(pipe.received) >= 2)
    assert pipe.received == [spdy.Ping(1), spdy.RstStream(3, spdy.PROTOCOL_ERROR)]
    pipe.incoming.put_nowait(b"")
    await session
