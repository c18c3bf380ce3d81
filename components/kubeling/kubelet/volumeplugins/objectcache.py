"""ConfigMaps and Secrets the node's pods mount, each kept current by a watch of that one object.

Upstream's default change detection (``Watch``): while at least one pod
references an object, an informer lists and watches it alone
(``fieldSelector=metadata.name=<name>`` in its namespace, which the Node
authorizer allows for referenced objects), so refreshing a volume reads
memory, not the apiserver.  The last pod to let go stops the watch.

Until a watch has synced (or while it cannot: a broken watch keeps
retrying with backoff) reads fall through to a GET, so a volume is never
set up from nothing.  A watch the apiserver refuses (403: an authorizer
that does not take ``metadata.name`` field selectors as the object's name)
is dropped for good and that object is read with GETs.  ``on_change`` is called with the uids of the
pods that reference an object whenever the watch sees it change, for the
kubelet to resync them early rather than at its next periodic sync; it is
a plain function (enqueue, don't work) run in the watch's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.client.informer import Informer
from kubeling.client.rest import RESTClient
from kubeling.kubelet.volumeplugins.base import CONFIGMAPS, SECRETS, Obj

log = logging.getLogger(__name__)

Ref = tuple[str, str, str]  # ("configmaps" | "secrets", namespace, name)
_RESOURCES = {"configmaps": CONFIGMAPS, "secrets": SECRETS}


def pod_refs(pod: Obj) -> set[Ref]:
    """The ConfigMaps and Secrets the pod's volumes read."""
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    refs: set[Ref] = set()
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("configMap"):
            refs.add(("configmaps", namespace, volume["configMap"].get("name", "")))
        if volume.get("secret"):
            refs.add(("secrets", namespace, volume["secret"].get("secretName", "")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                refs.add(("configmaps", namespace, source["configMap"].get("name", "")))
            if source.get("secret"):
                refs.add(("secrets", namespace, source["secret"].get("name", "")))
    return {ref for ref in refs if ref[2]}


class _RefusalProbe:
    """The client, as the informer sees it: a 403 on the list marks the watch as refused."""

    def __init__(self, client: RESTClient, refused: Callable[[StatusError], None]) -> None:
        self.client = client
        self.refused = refused

    async def list(self, resource: Any, **options: Any) -> Obj:
        try:
            return await self.client.list(resource, **options)
        except StatusError as exc:
            if exc.code == 403:
                self.refused(exc)
            raise

    def watch(self, resource: Any, **options: Any) -> AsyncIterator[tuple[str, Obj]]:
        return self.client.watch(resource, **options)


class _Watch:
    def __init__(self, client: RESTClient, ref: Ref, notify: Callable[[Ref], None]) -> None:
        plural, namespace, name = ref
        self.ref = ref
        self.refused = False
        self.informer = Informer(
            _RefusalProbe(client, self._refused),
            _RESOURCES[plural],
            namespace=namespace,
            field_selector=f"metadata.name={name}",
        )
        self.informer.add_event_handler(
            on_add=lambda _obj: self._changed(notify, ref),
            on_update=lambda _old, _new: self._changed(notify, ref),
            on_delete=lambda _obj: notify(ref),
        )
        self.name = name
        self.task = asyncio.create_task(self.informer.run(), name=f"volume-watch-{plural}/{namespace}/{name}")

    def _refused(self, exc: StatusError) -> None:
        log.warning("watching %s %s/%s refused (%s); reading it with GETs", *self.ref, exc)
        self.refused = True
        self.informer.stop()

    def _changed(self, notify: Callable[[Ref], None], ref: Ref) -> None:
        if self.informer.has_synced():  # the initial list is not a change
            notify(ref)

    def get(self) -> tuple[bool, Obj | None]:
        """(known, object): known is False until the watch has synced."""
        if self.refused or not self.informer.has_synced() or self.task.done():
            return False, None
        return True, self.informer.store.get_by(name=self.name, namespace=self.informer.namespace)

    async def stop(self) -> None:
        self.informer.stop()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


class ObjectCache:
    def __init__(self, client: RESTClient, *, on_change: Callable[[list[str]], Any] | None = None) -> None:
        self.client = client
        self.on_change = on_change
        self._watches: dict[Ref, _Watch] = {}
        self._users: dict[Ref, set[str]] = {}

    def register(self, pod_uid: str, refs: Iterable[Ref]) -> None:
        """Start watching what the pod references (once per object, shared by every pod)."""
        for ref in refs:
            self._users.setdefault(ref, set()).add(pod_uid)
            if ref not in self._watches:
                self._watches[ref] = _Watch(self.client, ref, self._notify)

    async def unregister(self, pod_uid: str) -> None:
        """Forget the pod; stop watches no pod needs any longer."""
        for ref in [ref for ref, users in self._users.items() if pod_uid in users]:
            users = self._users[ref]
            users.discard(pod_uid)
            if not users:
                del self._users[ref]
                watch = self._watches.pop(ref, None)
                if watch is not None:
                    await watch.stop()

    def lookup(self, ref: Ref) -> tuple[bool, Obj | None]:
        """(known, object) from the watch; known False means: ask the apiserver."""
        watch = self._watches.get(ref)
        return watch.get() if watch is not None else (False, None)

    def watched(self) -> list[Ref]:
        return sorted(self._watches)

    async def close(self) -> None:
        watches, self._watches, self._users = list(self._watches.values()), {}, {}
        for watch in watches:
            await watch.stop()

    def _notify(self, ref: Ref) -> None:
        if self.on_change is not None:
            self.on_change(sorted(self._users.get(ref, ())))
