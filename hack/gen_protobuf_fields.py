#!/usr/bin/env python3
"""Generate ``components/kubeling/api/protobuf_fields.json`` from upstream .proto files.

kubectl's typed commands (``create namespace``, ``create configmap``, ...) send
request bodies in Kubernetes' protobuf encoding.  Decoding them needs each
message's field numbers, names and types — facts of the API that live in
upstream's ``generated.proto`` files.  This script reads those files from
local clones of k8s.io/api and k8s.io/apimachinery (any checkout, or bare git
mirrors read with ``git show``) and writes one compact table.  It is run by a
developer when the served Kubernetes version changes, never at run time.

    python hack/gen_protobuf_fields.py --api PATH --apimachinery PATH
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "components/kubeling/api/protobuf_fields.json"
# Served API versions only: stable v1/v2 groups and the apimachinery basics.
KEEP = re.compile(r"(^|/)(v1|v2)/generated\.proto$|pkg/(api/resource|runtime|util/intstr)/generated\.proto$")

_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.M)
_MESSAGE = re.compile(r"^message\s+(\w+)\s*\{(.*?)^\}", re.M | re.S)
_FIELD = re.compile(
    r"^\s*(optional|repeated|map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>)\s*([\w.]*)\s+(\w+)\s*=\s*(\d+)", re.M
)


def read_protos(root: Path) -> dict[str, str]:
    """path -> text, from a work tree or a bare mirror."""
    if (root / "HEAD").exists() and not (root / ".git").exists() and (root / "objects").exists():
        names = subprocess.run(
            ["git", "-C", str(root), "ls-tree", "-r", "--name-only", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return {
            n: subprocess.run(
                ["git", "-C", str(root), "show", f"HEAD:{n}"], capture_output=True, text=True, check=True
            ).stdout
            for n in names
            if KEEP.search(n)
        }
    return {
        str(p.relative_to(root)): p.read_text() for p in root.rglob("generated.proto") if KEEP.search(str(p))
    }


def _qualify(type_name: str, package: str) -> str:
    if type_name.startswith("."):
        return type_name[1:]
    if type_name in _SCALARS:
        return type_name
    return f"{package}.{type_name}"


_SCALARS = {
    "string",
    "bytes",
    "bool",
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "double",
    "float",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
}


def parse(text: str) -> dict[str, list[list[object]]]:
    package = _PACKAGE.search(text).group(1)  # type: ignore[union-attr]
    messages: dict[str, list[list[object]]] = {}
    for name, body in _MESSAGE.findall(text):
        fields: list[list[object]] = []
        for label, key_type, value_type, type_name, field_name, number in _FIELD.findall(body):
            if label.startswith("map"):
                fields.append(
                    [
                        int(number),
                        field_name,
                        "map",
                        _qualify(key_type, package),
                        _qualify(value_type, package),
                    ]
                )
            else:
                fields.append([int(number), field_name, label, _qualify(type_name, package)])
        messages[f"{package}.{name}"] = sorted(fields)
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", type=Path, required=True)
    parser.add_argument("--apimachinery", type=Path, required=True)
    args = parser.parse_args()
    messages: dict[str, list[list[object]]] = {}
    for root in (args.api, args.apimachinery):
        for _, text in sorted(read_protos(root).items()):
            messages.update(parse(text))
    OUT.write_text(json.dumps({"messages": dict(sorted(messages.items()))}, separators=(",", ":")) + "\n")
    print(f"wrote {len(messages)} messages to {OUT}")


if __name__ == "__main__":
    main()
