"""CertificateSigningRequests (certificates.k8s.io/v1): the store's rules for them, as upstream's.

A CSR has three writers, each with its own endpoint and its own part of the
object:

- the requester creates it: the server stamps ``spec.username``/``groups``
  from who asked (a client can never claim another identity) and drops any
  status; the spec never changes afterwards;
- an approver writes ``/approval``: only the Approved/Denied conditions;
- a signer writes ``/status``: the certificate and the other conditions,
  never the approval ones.

Validation follows upstream's: a PEM ``CERTIFICATE REQUEST`` that parses, a
signer name of the form ``domain/path``, usages present, ``expirationSeconds``
at least 600, Approved and Denied never together, a certificate only on an
approved request and, once issued, never replaced.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from typing import TYPE_CHECKING

from cryptography import x509

from kubeling.api import errors
from kubeling.apiserver.objects import Obj, now_rfc3339
from kubeling.apiserver.strategies import Strategy

if TYPE_CHECKING:
    from kubeling.apiserver.store import WriteContext

APPROVAL_TYPES = ("Approved", "Denied")
MIN_EXPIRATION_SECONDS = 600
_SIGNER = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----")


def _decode(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _validate_spec(spec: Obj) -> list[errors.Cause]:
    causes: list[errors.Cause] = []
    request = _decode(spec.get("request"))
    if not spec.get("request"):
        causes.append(errors.Cause("FieldValueRequired", "Required value", "spec.request"))
    elif request is None or not request.lstrip().startswith(b"-----BEGIN CERTIFICATE REQUEST-----"):
        causes.append(
            errors.Cause("FieldValueInvalid", "PEM block type must be CERTIFICATE REQUEST", "spec.request")
        )
    else:
        try:
            x509.load_pem_x509_csr(request)
        except ValueError as exc:
            causes.append(
                errors.Cause("FieldValueInvalid", f"invalid certificate request: {exc}", "spec.request")
            )
    signer = spec.get("signerName")
    if not signer:
        causes.append(errors.Cause("FieldValueRequired", "Required value", "spec.signerName"))
    elif not isinstance(signer, str) or not _SIGNER.match(signer):
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                f"Invalid value: {signer!r}: must be a fully qualified domain and path of the form "
                "'example.com/signer-name'",
                "spec.signerName",
            )
        )
    if not spec.get("usages"):
        causes.append(errors.Cause("FieldValueRequired", "Required value", "spec.usages"))
    seconds = spec.get("expirationSeconds")
    if seconds is not None and (not isinstance(seconds, int) or seconds < MIN_EXPIRATION_SECONDS):
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                f"Invalid value: {seconds}: may not specify a duration less than 600 seconds (10 minutes)",
                "spec.expirationSeconds",
            )
        )
    return causes


def _approved(status: Obj) -> bool:
    return any(
        c.get("type") == "Approved" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def _validate_status(status: Obj, old_status: Obj | None) -> list[errors.Cause]:
    causes: list[errors.Cause] = []
    seen: set[str] = set()
    for index, condition in enumerate(status.get("conditions") or []):
        kind = condition.get("type")
        where = f"status.conditions[{index}]"
        if not kind:
            causes.append(errors.Cause("FieldValueRequired", "Required value", f"{where}.type"))
            continue
        if condition.get("status") not in ("True", "False", "Unknown"):
            causes.append(
                errors.Cause(
                    "FieldValueNotSupported",
                    'supported values: "True", "False", "Unknown"',
                    f"{where}.status",
                )
            )
        if kind in (*APPROVAL_TYPES, "Failed"):
            if kind in seen:
                causes.append(
                    errors.Cause("FieldValueDuplicate", f"Duplicate value: {kind!r}", f"{where}.type")
                )
            seen.add(kind)
    if {"Approved", "Denied"} <= seen:
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                "Approved and Denied conditions are mutually exclusive",
                "status.conditions",
            )
        )
    certificate = status.get("certificate")
    old_certificate = (old_status or {}).get("certificate")
    if certificate:
        data = _decode(certificate)
        blocks = _PEM_BLOCK.findall(data or b"")
        if not blocks or any(block != b"CERTIFICATE" for block in blocks):
            causes.append(
                errors.Cause(
                    "FieldValueInvalid", "must contain PEM-encoded certificates only", "status.certificate"
                )
            )
        if not _approved(status):
            causes.append(
                errors.Cause(
                    "FieldValueForbidden",
                    "certificate can only be set once the request is approved",
                    "status.certificate",
                )
            )
    if old_certificate and certificate != old_certificate:
        causes.append(
            errors.Cause("FieldValueForbidden", "updates may not modify a certificate", "status.certificate")
        )
    return causes


def _stamp_times(status: Obj, old_status: Obj, now: str) -> None:
    """Conditions that are new or changed get the current time, as upstream's strategy sets them."""
    old = {c.get("type"): c for c in old_status.get("conditions") or []}
    for condition in status.get("conditions") or []:
        condition.setdefault("status", "True")
        before = old.get(condition.get("type"))
        if before is None or before.get("status") != condition.get("status"):
            condition.setdefault("lastUpdateTime", now)
            condition.setdefault("lastTransitionTime", now)


class CertificateSigningRequestStrategy(Strategy):
    def prepare_for_create(self, obj: Obj, ctx: WriteContext) -> None:
        super().prepare_for_create(obj, ctx)
        obj.pop("status", None)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            # Who asked is the server's word, never the client's.
            spec["username"] = ctx.user
            spec["groups"] = list(ctx.groups)
            for field in ("uid", "extra"):
                spec.pop(field, None)

    def main_update(self, current: Obj, obj: Obj) -> Obj:
        obj["spec"] = copy.deepcopy(current.get("spec"))
        return super().main_update(current, obj)

    def status_update(self, current: Obj, obj: Obj) -> Obj:
        """The signer's write: certificate and conditions other than Approved/Denied."""
        result = super().status_update(current, obj)
        status = copy.deepcopy(result.get("status") or {})
        old_status = current.get("status") or {}
        kept = [c for c in old_status.get("conditions") or [] if c.get("type") in APPROVAL_TYPES]
        others = [c for c in status.get("conditions") or [] if c.get("type") not in APPROVAL_TYPES]
        status["conditions"] = kept + others
        if not status["conditions"]:
            status.pop("conditions")
        _stamp_times(status, old_status, now_rfc3339())
        result["status"] = status
        return result

    def approval_update(self, current: Obj, obj: Obj) -> Obj:
        """The approver's write: only the Approved/Denied conditions."""
        result = Strategy.status_update(self, current, obj)
        old_status = current.get("status") or {}
        wanted = (obj.get("status") or {}).get("conditions") or []
        approvals = [copy.deepcopy(c) for c in wanted if c.get("type") in APPROVAL_TYPES]
        others = [c for c in old_status.get("conditions") or [] if c.get("type") not in APPROVAL_TYPES]
        status = {k: copy.deepcopy(v) for k, v in old_status.items() if k != "conditions"}
        if approvals or others:
            status["conditions"] = approvals + others
        _stamp_times(status, old_status, now_rfc3339())
        result["status"] = status
        return result

    def validate(self, obj: Obj, old: Obj | None, ctx: WriteContext) -> None:
        super().validate(obj, old, ctx)
        causes = _validate_spec(obj.get("spec") or {})
        causes += _validate_status(obj.get("status") or {}, (old or {}).get("status"))
        if causes:
            raise errors.invalid(
                self.resource.group, self.resource.kind, obj["metadata"].get("name", ""), causes
            )
