"""/logs/: Go file server listings, files, redirects, and no way out of the directory."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kubeling.kubelet.nodelogs import NodeLogs


async def test_listing_files_and_no_escape(tmp_path: Path) -> None:
    root = tmp_path / "log"
    (root / "containers").mkdir(parents=True)
    (root / "syslog").write_text("boot\n")
    (root / "containers" / "a b.log").write_text("x\n")
    (tmp_path / "secret").write_text("no")
    app = web.Application()
    app.add_routes(NodeLogs(root).routes())
    async with TestClient(TestServer(app)) as client:
        listing = await client.get("/logs/")
        assert listing.status == 200 and listing.content_type == "text/html"
        assert await listing.text() == (
            '<pre>\n<a href="containers/">containers/</a>\n<a href="syslog">syslog</a>\n</pre>\n'
        )
        assert await (await client.get("/logs/syslog")).text() == "boot\n"
        sub = await client.get("/logs/containers", allow_redirects=False)
        assert (sub.status, sub.headers["Location"]) == (301, "/logs/containers/")
        assert '<a href="a%20b.log">a b.log</a>' in await (await client.get("/logs/containers/")).text()
        assert (await client.get("/logs/missing")).status == 404
        assert (await client.get("/logs/containers/../../secret")).status in (400, 404)
        assert (await client.get("/logs/%2E%2E/secret")).status in (400, 404)
