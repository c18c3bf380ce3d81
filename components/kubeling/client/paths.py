"""URLs of the Kubernetes REST API, built from a resource's group/version/plural.

``/api/v1/...`` for the core group, ``/apis/<group>/<version>/...`` for the
others; ``namespaces/<ns>/`` only for namespaced resources, and a namespaced
resource without a namespace addresses every namespace (list, watch).
Names are percent-encoded so no name can escape its path segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlencode


class ResourceLike(Protocol):
    """What URL building needs; :class:`kubeling.api.resources.Resource` fits."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...


@dataclass(frozen=True)
class StaticResource:
    """A resource named by hand, for clients that need no Registry."""

    group: str
    version: str
    plural: str
    namespaced: bool = True


def group_version_path(resource: ResourceLike) -> str:
    if resource.group:
        return f"/apis/{resource.group}/{resource.version}"
    return f"/api/{resource.version}"


def resource_path(
    resource: ResourceLike,
    *,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """``/apis/apps/v1/namespaces/ns/deployments/web/scale`` style paths."""
    if namespace and not resource.namespaced:
        raise ValueError(f"{resource.plural} is cluster-scoped: no namespace allowed")
    if subresource and not name:
        raise ValueError("a subresource needs an object name")
    parts = [group_version_path(resource)]
    if namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(resource.plural)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def with_query(path: str, params: Mapping[str, str | int | bool | None]) -> str:
    """Append the non-None params (booleans as ``true``/``false``) as a query string."""
    pairs = [
        (key, ("true" if value else "false") if isinstance(value, bool) else str(value))
        for key, value in params.items()
        if value is not None
    ]
    return f"{path}?{urlencode(pairs)}" if pairs else path
