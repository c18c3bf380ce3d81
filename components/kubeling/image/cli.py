"""The ``kubeling image`` subcommand group: ``build``, ``save`` and ``load``.

Each prints one line per image (what happened, size, duration) and returns
0; bad input or a failed step prints one ``error:`` line on stderr and
returns 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from kubeling.image.errors import ImageError


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _tree(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    """The tree to build from (None: this checkout) and the version: ``--version``, else
    ``$KUBELING_VERSION``, else what that tree declares (None: kubeling's own)."""
    from kubeling.image import build, gitref, recipes, stamp

    root = None
    if args.git_ref:
        root = gitref.export_ref(build.source_root(), args.git_ref, build.cache_dir())
    elif args.source:
        root = gitref.checked_source(args.source)
    version = args.version or os.environ.get(recipes.VERSION_ENV)
    if version is None and root is not None:
        version = stamp.tree_version(root)
    return root, version


def _build(args: argparse.Namespace) -> int:
    from kubeling.image.build import build_all

    started = time.monotonic()
    root, version = _tree(args)
    results = build_all(version, no_cache=args.no_cache, root=root)
    for result in results:
        state = "built " if result.built else "cached"
        print(f"{state}  {result.ref:<40} {_mb(result.size):>10} {result.seconds:7.1f} s")
    print(f"done in {time.monotonic() - started:.1f} s")
    return 0


def _save(args: argparse.Namespace) -> int:
    from kubeling.image.ship import save

    root, version = _tree(args)
    for item in save(args.output, version, root=root):
        print(f"saved   {item.ref:<40} {_mb(item.size):>10}  {item.path}")
    return 0


def _load(args: argparse.Namespace) -> int:
    from kubeling.image.ship import load

    for ref in load(args.dir):
        print(f"loaded  {ref}")
    return 0


def _guarded(
    name: str, work: Callable[[argparse.Namespace], int]
) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    async def run(args: argparse.Namespace) -> int:
        try:
            return work(args)
        except ImageError as exc:
            print(f"kubeling image {name}: error: {exc}", file=sys.stderr)
            return 2

    return run


def _source_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--git-ref", default=None, help="build the tree of this branch, tag or commit of the checkout"
    )
    source.add_argument(
        "--source", type=Path, default=None, help="build this directory (a kubeling checkout) instead"
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``image build``, ``image save`` and ``image load`` to the top-level parser."""
    image = sub.add_parser("image", help="build, save and load the kubeling images (no registry needed)")
    verbs = image.add_subparsers(dest="image_command", required=True)
    version_help = (
        "version: the images' tag and, when a PEP 440 release version, what the built kubeling reports"
        " (default $KUBELING_VERSION, else the tree's own version)"
    )

    p = verbs.add_parser(
        "build", help="build kubeling/base, kubeling/kubeling, kubeling/pause and kubeling/busybox"
    )
    p.add_argument("--version", default=None, help=version_help)
    p.add_argument(
        "--no-cache", action="store_true", help="rebuild the base (and its wheels) and the kubeling image"
    )
    _source_arguments(p)
    p.set_defaults(run=_guarded("build", _build))

    p = verbs.add_parser("save", help="docker save the images (and a wheelhouse) into a directory")
    p.add_argument("--output", type=Path, default=Path("images"), help="directory (default ./images)")
    p.add_argument("--version", default=None, help=version_help)
    _source_arguments(p)
    p.set_defaults(run=_guarded("save", _save))

    p = verbs.add_parser("load", help="docker load every *.tar of a directory made by `image save`")
    p.add_argument("dir", type=Path)
    p.set_defaults(run=_guarded("load", _load))
