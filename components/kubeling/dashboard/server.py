"""The dashboard's HTTP side: routes, the login gate, templates, and the process.

Every route except ``/login``, ``/healthz`` and ``/static/`` needs a session
(else a redirect to the login page); the handler gets the session's
:class:`UserAPI` and acts only through it. Links and redirects are relative
(``root`` = as many ``../`` as the page is deep), so the same pages work at
``/`` behind ``kubectl port-forward`` and under the apiserver's
``.../services/http:kubeling-dashboard:/proxy/`` prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from kubeling.api.errors import StatusError
from kubeling.client.kubeconfig import ClientConfig, load_config
from kubeling.client.rest import RESTClient
from kubeling.dashboard import actions, live, pages
from kubeling.dashboard.config import DashboardConfig
from kubeling.dashboard.history import History, Sampler
from kubeling.dashboard.kinds import KINDS, NAVIGATION
from kubeling.dashboard.sessions import COOKIE, Session, Sessions
from kubeling.dashboard.userapi import APIConnection, UserAPI

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).parent
SESSION = web.RequestKey("session", Session)


def relative_root(path: str) -> str:
    """The relative way from a page at ``path`` back to the dashboard's root."""
    depth = path.count("/") - 1
    return "../" * depth if depth > 0 else "./"


class Dashboard:
    def __init__(self, config: DashboardConfig, client_config: ClientConfig) -> None:
        self.config = config
        self.connection = APIConnection(client_config)
        self.own = RESTClient(client_config, component="dashboard", max_retries=1)
        self.sessions = Sessions(idle_timeout=config.session_idle_timeout)
        self.history = History(window=config.metric_window)
        self.sampler = Sampler(self._fetch_own, self.history, interval=config.metric_resolution)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
            autoescape=True,
            undefined=jinja2.ChainableUndefined,  # API objects omit empty fields
        )

    async def _fetch_own(self, path: str) -> dict[str, Any]:
        return await self.own.request("GET", path)

    async def close(self) -> None:
        await self.connection.close()
        await self.own.close()

    # -- rendering ------------------------------------------------------------------------

    def render(
        self, request: web.Request, template: str, *, status: int = 200, **values: Any
    ) -> web.Response:
        session = request.get(SESSION)
        context = {
            "root": relative_root(request.path),
            "kinds": KINDS,
            "navigation": NAVIGATION,
            "username": session.username if session else "",
            "error": "",
            "notice": request.query.get("notice", ""),
            **values,
        }
        body = self.templates.get_template(template).render(**context)
        return web.Response(text=body, status=status, content_type="text/html")

    def user(self, request: web.Request) -> UserAPI:
        return self.connection.as_user(request[SESSION].token)

    # -- the gate ---------------------------------------------------------------------------

    @web.middleware
    async def gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        public = request.path in ("/login", "/healthz") or request.path.startswith("/static/")
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None and not public:
            if request.path.startswith("/live") or request.headers.get("Accept") == "text/event-stream":
                raise web.HTTPUnauthorized(text="log in first")
            raise web.HTTPSeeOther(location=relative_root(request.path) + "login")
        request[SESSION] = session  # type: ignore[assignment]  # None on public pages
        return await handler(request)

    async def login_page(self, request: web.Request) -> web.Response:
        return self.render(request, "login.html.j2")

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("token", "")).strip()
        if not token:
            return self.render(request, "login.html.j2", status=400, error="Enter a bearer token.")
        try:
            username = await self.connection.as_user(token).whoami()
        except StatusError as exc:
            message = "The API server did not accept this token." if exc.code == 401 else exc.message
            return self.render(request, "login.html.j2", status=401, error=message)
        except OSError as exc:
            return self.render(request, "login.html.j2", status=502, error=f"API server unreachable: {exc}")
        response = web.HTTPSeeOther(location="./")
        # No Path: the browser scopes it to this directory, which is the root under any proxy prefix.
        response.set_cookie(COOKIE, self.sessions.open(token, username), httponly=True, samesite="Strict")
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.close(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther(location="login")
        response.del_cookie(COOKIE)
        raise response

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    # -- app --------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.gate])
        router = app.router
        router.add_get("/login", self.login_page)
        router.add_post("/login", self.login)
        router.add_post("/logout", self.logout)
        router.add_get("/healthz", self.healthz)
        router.add_static("/static/", PACKAGE / "static")
        router.add_get("/", partial(pages.overview, self))
        router.add_get("/live", partial(live.watch_stream, self))
        router.add_get("/r/{kind}", partial(pages.listing, self))
        router.add_get("/r/{kind}/{namespace}/{name}", partial(pages.detail, self))
        router.add_get("/r/{kind}/{namespace}/{name}/reveal", partial(pages.reveal, self))
        router.add_get("/r/pods/{namespace}/{name}/logstream", partial(live.log_stream, self))
        for action in ("scale", "restart", "delete"):
            router.add_post(f"/r/{{kind}}/{{namespace}}/{{name}}/{action}", actions.handler(self, action))
        return app


async def run(config: DashboardConfig) -> None:
    client_config = load_config(config.kubeconfig or None)
    dashboard = Dashboard(config, client_config)
    runner = web.AppRunner(dashboard.make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.bind_address, config.port)
    await site.start()
    log.info("dashboard serving on http://%s:%d", config.bind_address, config.port)
    sampler = asyncio.create_task(dashboard.sampler.run())
    try:
        await asyncio.Event().wait()
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await runner.cleanup()
        await dashboard.close()
