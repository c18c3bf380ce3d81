"""Tailing one container's log files, across rotation and truncation.

A file is known by its *identity*: the container id, its inode and a hash of
its first record.  The first record carries a nanosecond timestamp, so two
files never share an identity even when the filesystem reuses an inode, and
a file truncated and written again becomes a new identity.  Identity plus the
byte offset of a line is the line's id in the store.

A container's files form a chain (:class:`ContainerLog`): when Docker's
json-file driver rotates (``x-json.log`` renamed to ``x-json.log.1``, a new
``x-json.log`` created), the link's target gets a new inode; the old file
stays open at the head of the chain and is read to its end before the new
one is read at all.  Open descriptors also keep a deleted container's file
readable until its last line was shipped.

Only complete lines (ending in a newline) are read: Docker writes whole
records, and a half-written one is read once its newline is there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import deque
from dataclasses import dataclass, field

from kubeling.logging.records import ContainerRef

READ_CHUNK = 256 * 1024
HEAD_LIMIT = 64 * 1024  # longest first record looked at for the identity


@dataclass(frozen=True)
class Line:
    identity: str
    offset: int  # of the line's first byte
    end: int  # just past its newline
    raw: bytes  # without the newline

    @property
    def id(self) -> str:
        return f"{self.identity}:{self.offset}"


def identify(fd: int, container_id: str) -> str | None:
    """The identity of an open file; None while it holds no complete first record."""
    inode = os.fstat(fd).st_ino
    head = os.pread(fd, HEAD_LIMIT, 0)
    end = head.find(b"\n")
    if end < 0:
        if len(head) < HEAD_LIMIT:
            return None
        end = len(head)
    digest = hashlib.sha256(head[:end]).hexdigest()[:16]
    return f"{container_id[:16]}.{inode}.{digest}"


class TailedFile:
    """One open log file and the offset up to which the store has its lines."""

    def __init__(self, path: str, fd: int, identity: str, offset: int) -> None:
        self.path = path
        self.fd = fd
        self.identity = identity
        self.offset = offset
        self.inode = os.fstat(fd).st_ino

    @classmethod
    def open(cls, path: str, container_id: str, committed: dict[str, int]) -> TailedFile | None:
        """Open ``path`` at its acknowledged offset (``committed``, by identity; else 0); None if it
        is missing or has no complete first record yet."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            identity = identify(fd, container_id)
        except OSError:
            identity = None
        if identity is None:
            os.close(fd)
            return None
        return cls(path, fd, identity, committed.get(identity, 0))

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def deleted(self) -> bool:
        return os.fstat(self.fd).st_nlink == 0

    def at_end(self) -> bool:
        return self.size() <= self.offset

    def read(self, max_bytes: int) -> list[Line]:
        """Complete lines from the acknowledged offset, about ``max_bytes`` at most (at least one line)."""
        lines: list[Line] = []
        position, budget = self.offset, max_bytes
        while budget > 0:
            want = min(READ_CHUNK, budget)
            chunk = os.pread(self.fd, want, position)
            last = chunk.rfind(b"\n")
            if last < 0:
                if lines or len(chunk) < want:
                    break  # the budget ends inside a line, or the line is not complete yet
                chunk = self._whole_line(position)  # one line longer than the budget: take it whole
                last = len(chunk) - 1
                if last < 0:
                    break
            start = 0
            for piece in chunk[: last + 1].split(b"\n")[:-1]:
                lines.append(Line(self.identity, position + start, position + start + len(piece) + 1, piece))
                start += len(piece) + 1
            position += last + 1
            budget -= last + 1
            if len(chunk) < want:
                break
        return lines

    def _whole_line(self, position: int) -> bytes:
        """A line longer than one chunk: read on to its newline (empty if it has none yet)."""
        parts, cursor = [], position
        while True:
            chunk = os.pread(self.fd, READ_CHUNK, cursor)
            if not chunk:
                return b""
            newline = chunk.find(b"\n")
            if newline >= 0:
                parts.append(chunk[: newline + 1])
                return b"".join(parts)
            parts.append(chunk)
            cursor += len(chunk)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass
class ContainerLog:
    """A container's chain of files, oldest first; only the head is read."""

    ref: ContainerRef
    link: str
    files: deque[TailedFile] = field(default_factory=deque)
    gone: bool = False  # its link is gone: finish what is open, then drop it
    first_seen: float = 0.0

    @property
    def head(self) -> TailedFile | None:
        return self.files[0] if self.files else None

    @property
    def current(self) -> TailedFile | None:
        return self.files[-1] if self.files else None

    def follow(self, target: str, committed: dict[str, int]) -> None:
        """Bring the chain up to date with the file the link points at now (rotation, truncation)."""
        try:
            inode = os.stat(target).st_ino
        except OSError:
            self.gone = True  # dangling: the container and its log were removed
            return
        current = self.current
        if current is not None and current.inode == inode:
            if current.size() < current.offset:  # truncated in place
                reopened = TailedFile.open(target, self.ref.container_id, {})
                if reopened is not None:
                    current.close()
                    self.files[-1] = reopened
            return
        newer = TailedFile.open(target, self.ref.container_id, committed)
        if newer is not None and all(f.identity != newer.identity for f in self.files):
            self.files.append(newer)
        elif newer is not None:
            newer.close()

    def retire_finished(self) -> list[TailedFile]:
        """Close head files read to their end that will not grow any more: rotated away (a newer
        file follows) or left by a removed container; returns them so their positions go too."""
        done = []
        while self.files and self.files[0].at_end() and (len(self.files) > 1 or self.gone):
            head = self.files.popleft()
            head.close()
            done.append(head)
        return done

    def close(self) -> None:
        for each in self.files:
            each.close()
        self.files.clear()
