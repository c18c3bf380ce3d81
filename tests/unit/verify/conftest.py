"""Builders for verify's unit tests: certificates, targets and a fake testinfra host."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from kubeling.pki import certs as pki
from kubeling.pki.certs import CLIENT_AUTH, CertRequest, KeyType
from kubeling.verify.layout import CONTROL_PLANE, ETCD, NODE
from kubeling.verify.targets import Target

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)


def make_cert(*, days: int = 365, issued: dt.datetime = NOW) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a client certificate valid from ``issued`` for ``days``."""
    ca_key = pki.generate_key(KeyType.ECDSA)
    ca = pki.new_ca(ca_key, common_name="kubernetes", days=3650, now=issued)
    key = pki.generate_key(KeyType.ECDSA)
    request = CertRequest("system:node:w1", ("system:nodes",), frozenset({CLIENT_AUTH}))
    cert = pki.issue(request, public_key=key.public_key(), ca_cert=ca, ca_key=ca_key, days=days, now=issued)
    return pki.cert_to_pem(cert), pki.key_to_pem(key)


def make_target(name: str = "w1", *groups: str, node_ip: str = "10.0.0.2", **data: object) -> Target:
    return Target(
        name=name,
        node_name=str(data.get("node_name") or name),
        groups=frozenset(groups or (NODE,)),
        address=node_ip,
        node_ip=node_ip,
        data=dict(data),
    )


CONTROL_PLANE_ETCD = (CONTROL_PLANE, ETCD)


@dataclass
class FakeResult:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeFile:
    path: str
    content: bytes | None = None
    mode: int = 0o644

    @property
    def exists(self) -> bool:
        return self.content is not None

    @property
    def content_string(self) -> str:
        return (self.content or b"").decode()


@dataclass
class FakeHost:
    """Answers commands by their first word(s) and files by path, as a testinfra Host would."""

    commands: dict[str, FakeResult] = field(default_factory=dict)
    files: dict[str, FakeFile] = field(default_factory=dict)
    binaries: set[str] = field(default_factory=set)
    ran: list[str] = field(default_factory=list)

    def run(self, command: str, *args: str) -> FakeResult:
        line = command % args if args else command
        self.ran.append(line)
        for prefix, result in self.commands.items():
            if line.startswith(prefix):
                return result
        return FakeResult(127, "", f"{line.split()[0]}: not found")

    def check_output(self, command: str, *args: str) -> str:
        result = self.run(command, *args)
        assert result.rc == 0, result.stderr
        return result.stdout

    def file(self, path: str) -> FakeFile:
        return self.files.get(path, FakeFile(path))

    def exists(self, binary: str) -> bool:
        return binary in self.binaries

    def add_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        self.files[path] = FakeFile(path, content, mode)
