"""The admission chain: plugins in upstream's order.

``admit`` runs every mutating plugin, then ``validate`` every validating
one; the first rejection stops the request.  The apiserver calls ``admit``
after decoding and defaulting a write (DELETE included: NamespaceLifecycle
guards namespace deletion there) and ``validate`` after the kind's own
validation, right before storage.

The default order is upstream's recommended one: NamespaceLifecycle first so
a missing namespace is a 404 before anything else looks into it, then
LimitRanger, ServiceAccount, NodeRestriction, TaintNodesByCondition, Priority,
DefaultTolerationSeconds, DefaultStorageClass, StorageObjectInUseProtection mutating; LimitRanger,
NodeRestriction, PodSecurity, Priority and ResourceQuota validating, quota last
so nothing rejects a request after it has been charged.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeling.apiserver.admission.defaultstorageclass import DefaultStorageClass
from kubeling.apiserver.admission.defaulttolerationseconds import DEFAULT_SECONDS, DefaultTolerationSeconds
from kubeling.apiserver.admission.interface import Attributes, Lister, MutatingPlugin, ValidatingPlugin
from kubeling.apiserver.admission.limitranger import LimitRanger
from kubeling.apiserver.admission.namespacelifecycle import FetchNamespace, NamespaceLifecycle
from kubeling.apiserver.admission.noderestriction import NodeRestriction
from kubeling.apiserver.admission.podsecurity import PodSecurity
from kubeling.apiserver.admission.priority import Priority
from kubeling.apiserver.admission.resourcequota import Charge, ResourceQuota
from kubeling.apiserver.admission.serviceaccount import ServiceAccount
from kubeling.apiserver.admission.storageobjectinuseprotection import StorageObjectInUseProtection
from kubeling.apiserver.admission.taintnodesbycondition import TaintNodesByCondition


class AdmissionChain:
    def __init__(self, mutating: Sequence[MutatingPlugin], validating: Sequence[ValidatingPlugin]) -> None:
        self.mutating = list(mutating)
        self.validating = list(validating)

    @property
    def names(self) -> tuple[list[str], list[str]]:
        return [p.name for p in self.mutating], [p.name for p in self.validating]

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        for plugin in self.mutating:
            await plugin.admit(attrs, obj, old)

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        for plugin in self.validating:
            await plugin.validate(attrs, obj, old)


def default_chain(
    lister: Lister,
    charge: Charge,
    *,
    require_service_account: bool = False,
    fetch_namespace: FetchNamespace | None = None,
    pod_security: bool = True,
    not_ready_toleration_seconds: int = DEFAULT_SECONDS,
    unreachable_toleration_seconds: int = DEFAULT_SECONDS,
) -> AdmissionChain:
    limit_ranger = LimitRanger(lister)
    node_restriction = NodeRestriction()
    priority = Priority(lister)
    mutating: list[MutatingPlugin] = [
        NamespaceLifecycle(lister, fetch_namespace=fetch_namespace),
        limit_ranger,
        ServiceAccount(lister, require_service_account=require_service_account),
        node_restriction,
        TaintNodesByCondition(),
        priority,
        DefaultTolerationSeconds(
            not_ready_seconds=not_ready_toleration_seconds, unreachable_seconds=unreachable_toleration_seconds
        ),
        DefaultStorageClass(lister),
        StorageObjectInUseProtection(),
    ]
    validating: list[ValidatingPlugin] = [limit_ranger, node_restriction]
    if pod_security:
        validating.append(PodSecurity(lister))
    validating.append(priority)
    validating.append(ResourceQuota(lister, charge))
    return AdmissionChain(mutating, validating)
