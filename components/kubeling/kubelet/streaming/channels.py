"""The WebSocket channel protocol of exec and attach (``v4.channel.k8s.io``, ``v5.channel.k8s.io``).

Every binary message starts with one byte naming its channel: 0 stdin,
1 stdout, 2 stderr, 3 error, 4 resize.  The error channel carries one
``metav1.Status`` as JSON when the process ends: Success, or Failure with
reason ``NonZeroExitCode`` and the exit code as the cause ``ExitCode``
(kubectl turns that into its own exit code).  Resize messages are JSON
``{"Width": w, "Height": h}``.  v5 adds channel 255: ``[255, n]`` says the
peer closed its side of channel ``n`` (kubectl sends ``[255, 0]`` when its
stdin ends, which ``kubectl cp`` needs).  ``v4.base64.channel.k8s.io`` is v4
in text messages, for clients that cannot send binary ones: the channel as
an ASCII digit, then the data in base64.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"  # text messages: the channel as a digit, then base64 (browsers)
PROTOCOLS = (V5, V4, V4_BASE64)  # preference order

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255


def frame(channel: int, data: bytes) -> bytes:
    return bytes((channel,)) + data


@dataclass(frozen=True)
class Message:
    channel: int
    data: bytes


def parse(message: bytes) -> Message | None:
    """A received binary message; None for an empty one (upstream ignores those)."""
    if not message:
        return None
    return Message(message[0], bytes(message[1:]))


def frame_text(channel: int, data: bytes) -> str:
    """The base64 protocols' message: ``"1aGk="`` is "hi" on stdout."""
    return chr(ord("0") + channel) + base64.b64encode(data).decode()


def parse_text(message: str) -> Message | None:
    """A received base64-protocol message; None for an empty or undecodable one."""
    if not message:
        return None
    try:
        return Message(ord(message[0]) - ord("0"), base64.b64decode(message[1:], validate=True))
    except (ValueError, binascii.Error):
        return None


def parse_resize(data: bytes) -> tuple[int, int] | None:
    try:
        size = json.loads(data)
        return int(size["Width"]), int(size["Height"])
    except (ValueError, KeyError, TypeError):
        return None


def closed_channel(message: Message) -> int | None:
    """The channel a v5 close message names, else None."""
    if message.channel == CLOSE and len(message.data) == 1:
        return message.data[0]
    return None


def exit_status(exit_code: int, command: list[str] | None = None) -> dict[str, Any]:
    """The error-channel Status for a finished process, as upstream writes it."""
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    what = f"error executing command {command}, " if command else ""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {what}exit code {exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def error_status(message: str) -> dict[str, Any]:
    """A Status for a failure that is not the process's own exit (the runtime failed)."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


def error_frame(status: dict[str, Any]) -> bytes:
    return frame(ERROR, json.dumps(status).encode())


def exit_code_of(status: dict[str, Any]) -> int | None:
    """The exit code a Status from the error channel carries (0 for Success), None if it says nothing."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", ""))
            except ValueError:
                return None
    return None
