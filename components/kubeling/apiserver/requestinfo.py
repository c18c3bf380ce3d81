"""Parse a request path into what it asks for, like upstream's RequestInfoFactory.

/api/v1/namespaces/default/pods/web/status   → get pods "web" subresource status
/apis/apps/v1/deployments?watch=true          → watch deployments, all namespaces
"""

from __future__ import annotations

from dataclasses import dataclass

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}


@dataclass(frozen=True)
class RequestInfo:
    is_resource_request: bool
    path: str
    verb: str  # get list watch create update patch delete deletecollection (or an HTTP verb)
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()


def parse(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    segments = [s for s in path.split("/") if s]
    http_verb = method.lower()
    non_resource = RequestInfo(False, path, http_verb)
    if not segments or segments[0] not in ("api", "apis"):
        return non_resource
    prefix = segments[0]
    rest = segments[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 2:
            return non_resource
        group, rest = rest[0], rest[1:]
    if not rest:
        return non_resource
    version, rest = rest[0], rest[1:]
    if not rest:
        return non_resource

    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        # /namespaces/NAME and /namespaces/NAME/status address the namespace itself.
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            rest = ["namespaces", *rest[1:]]
    parts = tuple(rest)
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    if resource == "namespaces":
        namespace = ""

    watching = query.get("watch", "").lower() in ("1", "true")
    if http_verb in ("get", "head"):
        verb = "get" if name else "watch" if watching else "list"
    elif http_verb == "post":
        verb = "create"
    elif http_verb == "put":
        verb = "update"
    elif http_verb == "patch":
        verb = "patch"
    elif http_verb == "delete":
        verb = "delete" if name else "deletecollection"
    else:
        verb = http_verb
    return RequestInfo(
        True,
        path,
        verb,
        api_prefix=prefix,
        group=group,
        version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        parts=parts,
    )


def authorization_name(info: RequestInfo, query: dict[str, str]) -> str:
    """The object name authorizers see: a list/watch pinned by ``fieldSelector=metadata.name=X`` names X.

    Upstream's request info does the same, so that a client allowed one object
    (a kubelet and the Secret its pod mounts) may also watch just that object.
    """
    if info.name or info.verb not in ("list", "watch", "deletecollection"):
        return info.name
    text = query.get("fieldSelector", "")
    if not text:
        return ""
    from kubeling.api.errors import StatusError
    from kubeling.api.selectors import parse_field_selector

    try:
        selector = parse_field_selector(text)
    except StatusError:
        return ""
    return selector.requires_exact_match("metadata.name") or ""
