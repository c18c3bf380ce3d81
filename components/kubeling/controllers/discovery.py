"""What the API serves, read from discovery: for the garbage collector and the namespace controller.

Both need every resource, custom resources included, and both follow
upstream in using each group's *preferred* version only (one version of a
resource is enough to see or delete all its objects).  :func:`discover`
reads ``/api/v1`` and, for every group in ``/apis``, its preferred version's
resource list; subresources (``pods/status``) are skipped.  A group-version
whose list fails is reported rather than raised, so a broken aggregated API
does not stop namespace deletion of everything else (upstream's
``NamespaceDeletionDiscoveryFailure``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class APIResource:
    """A served resource; fits :class:`kubeling.client.paths.ResourceLike`."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str] = field(default_factory=frozenset, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def supports(self, *verbs: str) -> bool:
        return all(verb in self.verbs for verb in verbs)


@dataclass
class Discovery:
    resources: list[APIResource]
    failed: dict[str, str]  # group-version → error

    def by_kind(self) -> dict[tuple[str, str], APIResource]:
        """(group, kind) → resource, to resolve ownerReferences."""
        return {(r.group, r.kind): r for r in self.resources}


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def resource_for(
    api_version: str, kind: str, known: dict[tuple[str, str], APIResource]
) -> APIResource | None:
    """The resource serving ``kind`` of ``api_version``'s group (any version: the preferred one)."""
    return known.get((_group_of(api_version), kind))


async def discover(client: RESTClient) -> Discovery:
    group_versions: list[str] = []
    failed: dict[str, str] = {}
    try:
        core = await client.request("GET", "/api")
        group_versions += list(core.get("versions") or [])
    except (StatusError, OSError) as exc:
        failed["v1"] = str(exc)
    try:
        groups = await client.request("GET", "/apis")
    except (StatusError, OSError) as exc:
        failed["apis"] = str(exc)
        groups = {}
    for group in groups.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if not preferred and group.get("versions"):
            preferred = group["versions"][0].get("groupVersion")
        if preferred:
            group_versions.append(preferred)
    resources: list[APIResource] = []
    for group_version in group_versions:
        path = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
        try:
            listing = await client.request("GET", path)
        except (StatusError, OSError) as exc:
            log.warning("discovery of %s failed: %s", group_version, exc)
            failed[group_version] = str(exc)
            continue
        group, _, version = group_version.rpartition("/")
        for item in listing.get("resources") or []:
            name = item.get("name", "")
            if not name or "/" in name:
                continue
            resources.append(
                APIResource(
                    group=group,
                    version=version,
                    plural=name,
                    kind=item.get("kind", ""),
                    namespaced=bool(item.get("namespaced")),
                    verbs=frozenset(item.get("verbs") or []),
                )
            )
    return Discovery(resources, failed)
