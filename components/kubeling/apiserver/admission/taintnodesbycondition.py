"""TaintNodesByCondition: a new Node starts out not schedulable.

On Node CREATE the taint ``node.kubernetes.io/not-ready:NoSchedule`` is added
(unless a taint with that key and effect is there), so nothing lands on a node
before its conditions have been looked at.  The node lifecycle controller
removes it once the Node reports Ready (``controllers/nodelifecycle.py``).
"""

from __future__ import annotations

from kubeling.apiserver.admission.interface import CREATE, Attributes

NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


class TaintNodesByCondition:
    name = "TaintNodesByCondition"

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        if resource.group or resource.plural != "nodes" or attrs.subresource or attrs.operation != CREATE:
            return
        spec = obj.setdefault("spec", {})
        taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
        if any(t.get("key") == NOT_READY_TAINT["key"] and t.get("effect") == "NoSchedule" for t in taints):
            return
        spec["taints"] = [*taints, dict(NOT_READY_TAINT)]
