"""DefaultTolerationSeconds: pods ride out a short node outage before eviction.

On pod CREATE and UPDATE (not subresources), a pod that does not already
tolerate ``node.kubernetes.io/not-ready`` (resp. ``unreachable``) with effect
NoExecute gets ``{key, operator: Exists, effect: NoExecute,
tolerationSeconds: N}``, N from ``--default-not-ready-toleration-seconds``
(resp. ``--default-unreachable-toleration-seconds``), 300 by default.  An
empty key or effect in an existing toleration counts as tolerating, as upstream.
"""

from __future__ import annotations

from kubeling.apiserver.admission.interface import CREATE, UPDATE, Attributes

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"
DEFAULT_SECONDS = 300


def tolerates(tolerations: list[dict], key: str) -> bool:
    return any(
        t.get("key", "") in (key, "") and t.get("effect", "") in (NO_EXECUTE, "")
        for t in tolerations
        if isinstance(t, dict)
    )


class DefaultTolerationSeconds:
    name = "DefaultTolerationSeconds"

    def __init__(
        self, *, not_ready_seconds: int = DEFAULT_SECONDS, unreachable_seconds: int = DEFAULT_SECONDS
    ) -> None:
        self._defaults = ((NOT_READY, not_ready_seconds), (UNREACHABLE, unreachable_seconds))

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        if resource.group or resource.plural != "pods" or attrs.subresource:
            return
        if attrs.operation not in (CREATE, UPDATE):
            return
        spec = obj.setdefault("spec", {})
        tolerations = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]
        added = [
            {"key": key, "operator": "Exists", "effect": NO_EXECUTE, "tolerationSeconds": seconds}
            for key, seconds in self._defaults
            if not tolerates(tolerations, key)
        ]
        if added:
            spec["tolerations"] = tolerations + added
