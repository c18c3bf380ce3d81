"""Scale, restart and delete, done as the user: success redirects back, a refusal shows its Status.

Plain HTML form posts (the session cookie is SameSite=Strict, so no other
site can post them for the user). Scale PATCHes the scale subresource;
restart sets ``kubectl.kubernetes.io/restartedAt`` on the pod template as
``kubectl rollout restart`` does; delete removes one object (pods only).
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from kubeling.api.errors import StatusError
from kubeling.dashboard import pages, render

if TYPE_CHECKING:
    from kubeling.dashboard.server import Dashboard

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def handler(dash: Dashboard, action: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        kind = pages.kind_of(request)
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        user = dash.user(request)
        form = await request.post()
        try:
            if action == "scale" and kind.scalable:
                try:
                    replicas = int(str(form.get("replicas", "")))
                except ValueError:
                    raise StatusError(400, "BadRequest", "replicas must be a whole number") from None
                if replicas < 0:
                    raise StatusError(400, "BadRequest", "replicas must not be negative")
                await user.request(
                    "PATCH", kind.path(namespace, name, "scale"), body={"spec": {"replicas": replicas}},
                    content_type="application/merge-patch+json",
                )  # fmt: skip
                notice = f"Scaled {kind.plural}/{name} to {replicas}."
            elif action == "restart" and kind.restartable:
                await user.request(
                    "PATCH", kind.path(namespace, name),
                    body=render.restart_patch(datetime.datetime.now(datetime.UTC)),
                    content_type="application/strategic-merge-patch+json",
                )  # fmt: skip
                notice = f"Restarted {kind.plural}/{name}."
            elif action == "delete" and kind.plural == "pods":
                await user.request("DELETE", kind.path(namespace, name))
                raise web.HTTPSeeOther(
                    location=f"../../../{kind.plural}?namespace={quote(namespace)}"
                    f"&notice={quote(f'Deleted {kind.plural}/{name}.')}"
                )
            else:
                raise StatusError(400, "BadRequest", f"{action} is not offered for {kind.plural}")
        except StatusError as exc:
            return await pages.detail(dash, request, error=exc.message, status=exc.code)
        raise web.HTTPSeeOther(location=f"../{quote(name)}?notice={quote(notice)}")

    return handle
