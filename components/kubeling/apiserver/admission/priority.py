"""Priority: pods get their priority from a PriorityClass, at create time.

- ``admit`` (pods, CREATE): ``spec.priorityClassName`` is looked up among the
  PriorityClasses; ``spec.priority`` and ``spec.preemptionPolicy`` are copied
  from it.  A pod naming no class gets the globalDefault class (its name too)
  or priority 0 with ``PreemptLowerPriority``.  An unknown class, or a
  priority/preemptionPolicy the pod set itself that differs from the class's,
  is a 403 with upstream's wording.  On UPDATE the values set at create are
  carried over when a client drops them (the API forbids changing them).
- ``validate`` (priorityclasses, CREATE/UPDATE): only one class may be the
  global default.  Reserved ``system-`` names and value bounds are checked by
  the kind's validation (``api/validation/other.py``).

:func:`ensure_system_priority_classes` creates the two built-in classes at
apiserver start, as kube-apiserver's scheduling post-start hook does.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from kubeling.api import errors
from kubeling.apiserver.admission.common import forbidden
from kubeling.apiserver.admission.interface import CREATE, UPDATE, Attributes, Lister

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

GROUP = "scheduling.k8s.io"
DEFAULT_PREEMPTION = "PreemptLowerPriority"
SYSTEM_CLASSES: tuple[tuple[str, int, str], ...] = (
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node "
        "if necessary.",
    ),
)


def default_class(classes: list[dict]) -> dict | None:
    """The globalDefault class; after a race left several, the lowest value wins as upstream."""
    defaults = [pc for pc in classes if pc.get("globalDefault")]
    return min(defaults, key=lambda pc: int(pc.get("value") or 0)) if defaults else None


class Priority:
    name = "Priority"

    def __init__(self, lister: Lister) -> None:
        self._lister = lister

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        if resource.group or resource.plural != "pods" or attrs.subresource:
            return
        spec = obj.setdefault("spec", {})
        if attrs.operation == UPDATE and old is not None:
            old_spec = old.get("spec") or {}
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]
            return
        if attrs.operation != CREATE:
            return
        class_name = spec.get("priorityClassName") or ""
        if not class_name:
            found = default_class(self._lister.list(GROUP, "priorityclasses"))
            if found is None:
                priority, preemption = 0, DEFAULT_PREEMPTION
            else:
                spec["priorityClassName"] = found["metadata"]["name"]
                priority, preemption = int(found.get("value") or 0), found.get("preemptionPolicy")
        else:
            found = self._lister.get(GROUP, "priorityclasses", "", class_name)
            if found is None:
                raise forbidden(attrs, f"no PriorityClass with name {class_name} was found")
            priority, preemption = int(found.get("value") or 0), found.get("preemptionPolicy")
        own = spec.get("priority")
        if own is not None and own != priority:
            raise forbidden(
                attrs,
                f"the integer value of priority ({own}) must not be provided in pod spec; priority "
                f"admission controller computed {priority} from the given PriorityClass name",
            )
        spec["priority"] = priority
        if preemption:
            own_policy = spec.get("preemptionPolicy")
            if own_policy and own_policy != preemption:
                raise forbidden(
                    attrs,
                    f"the string value of PreemptionPolicy ({own_policy}) must not be provided in pod "
                    f"spec; priority admission controller computed {preemption} from the given "
                    "PriorityClass name",
                )
            spec["preemptionPolicy"] = preemption

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        if resource.group != GROUP or resource.plural != "priorityclasses" or attrs.subresource:
            return
        if attrs.operation not in (CREATE, UPDATE) or not obj.get("globalDefault"):
            return
        current = default_class(self._lister.list(GROUP, "priorityclasses"))
        if current is None:
            return
        current_name = current["metadata"]["name"]
        if attrs.operation == CREATE or current_name != attrs.name:
            raise forbidden(
                attrs,
                f"PriorityClass {current_name} is already marked as default. Only one default can exist",
            )


async def ensure_system_priority_classes(server: APIServer) -> None:
    """Create the built-in PriorityClasses that are missing (an existing one is left alone)."""
    from kubeling.apiserver.store import WriteContext

    ctx = WriteContext(user="system:apiserver", field_manager="kube-apiserver")
    store = server.store(GROUP, "v1", "priorityclasses")
    for name, value, description in SYSTEM_CLASSES:
        body = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
        }
        with contextlib.suppress(errors.StatusError):
            await store.create("", body, ctx)
