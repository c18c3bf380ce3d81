"""Which Ingresses this controller takes.  Pure, no I/O.

As ingress-nginx: the controller owns every IngressClass whose
``spec.controller`` is its ``--controller-class``.  An Ingress is ours when
its ``spec.ingressClassName`` names one of those classes, or (the deprecated
way) its ``kubernetes.io/ingress.class`` annotation equals ``--ingress-class``.
An Ingress naming no class is ours when one of our classes carries
``ingressclass.kubernetes.io/is-default-class: "true"`` (what the admission
plugin upstream would have filled in), or with ``--watch-ingress-without-class``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class ClassFilter:
    class_names: frozenset[str]
    annotation_class: str
    takes_unclassed: bool

    def owns(self, ingress: Obj) -> bool:
        meta = ingress.get("metadata") or {}
        name = (ingress.get("spec") or {}).get("ingressClassName")
        if name:
            return name in self.class_names
        annotated = (meta.get("annotations") or {}).get(CLASS_ANNOTATION)
        if annotated:
            return bool(annotated == self.annotation_class)
        return self.takes_unclassed


def class_filter(
    ingress_classes: Iterable[Obj],
    *,
    controller_class: str,
    annotation_class: str,
    watch_without_class: bool = False,
) -> ClassFilter:
    ours = [c for c in ingress_classes if (c.get("spec") or {}).get("controller") == controller_class]
    is_default = any(
        str(((c.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)).lower()
        == "true"
        for c in ours
    )
    return ClassFilter(
        class_names=frozenset(str(c["metadata"]["name"]) for c in ours),
        annotation_class=annotation_class,
        takes_unclassed=is_default or watch_without_class,
    )
