"""The kubelet server's ``/logs/``: the node's log directory as a read-only file server.

As upstream's debugging handler: ``GET /logs/`` lists the directory
(``/var/log`` by default, ``--node-log-dir`` here) as the small HTML index
Go's file server writes, ``/logs/<path>`` returns a file or lists a
subdirectory, so ``kubectl get --raw /api/v1/nodes/<node>/proxy/logs/`` and
``.../logs/containers/<pod>_<ns>_<c>-<id>.log`` work through the
apiserver's ``nodes/proxy``.  The server's authorizer asks for ``nodes/log``
on these paths.  Symlinks are followed (the container log links point into
the engine's directory, as upstream), but a path may not climb out with
``..``.  Only GET and HEAD; the handler is absent when debugging handlers are off.
"""

from __future__ import annotations

import html
import os
import urllib.parse
from pathlib import Path

from aiohttp import web


def _listing(directory: Path) -> str:
    """Go's http.FileServer index: names sorted, directories with a trailing slash."""
    lines = ["<pre>"]
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        name = entry.name + ("/" if entry.is_dir() else "")
        lines.append(f'<a href="{urllib.parse.quote(name)}">{html.escape(name)}</a>')
    lines.append("</pre>")
    return "\n".join(lines) + "\n"


class NodeLogs:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/logs", self._redirect), web.get("/logs/{path:.*}", self.handle)]

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/logs/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info.get("path", "")
        parts = [p for p in relative.split("/") if p]
        if ".." in parts:
            raise web.HTTPBadRequest(text="invalid path: '..' is not allowed")
        target = self.root.joinpath(*parts)
        if not target.exists():
            raise web.HTTPNotFound(text="404 page not found")
        if target.is_dir():
            if relative and not relative.endswith("/"):
                raise web.HTTPMovedPermanently(f"/logs/{relative}/")
            try:
                body = _listing(target)
            except PermissionError:
                raise web.HTTPForbidden(text="403 Forbidden") from None
            return web.Response(text=body, content_type="text/html", charset="utf-8")
        if not os.access(target, os.R_OK):
            raise web.HTTPForbidden(text="403 Forbidden")
        return web.FileResponse(target)
