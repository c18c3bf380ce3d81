"""CertificateSigningRequest controllers: csrapproving and csrsigning (as upstream's).

Both watch CSRs through the shared informer and act as
``kube-system/certificate-controller``; neither touches anything but the API.

- ``CSRApprovingController`` auto-approves kubelet client certificates
  (``kubernetes.io/kube-apiserver-client-kubelet``) whose request is a node
  client request (``O=system:nodes``, ``CN=system:node:<name>``, client auth,
  no SANs).  A request whose CN is its requester's own name (a kubelet
  renewing itself) is approved when a SubjectAccessReview lets the requester
  ``create certificatesigningrequests/selfnodeclient``; any other (a bootstrap
  identity asking for a first certificate) when it may ``create
  certificatesigningrequests/nodeclient``.  Anything else is left for a
  person (``kubectl certificate approve``).
- ``CSRSigningController`` signs approved requests of the three built-in
  signers with the cluster CA (``--cluster-signing-cert-file`` /
  ``--cluster-signing-key-file``, re-read when the files change so a CA
  rotation needs no restart).  The validity is ``spec.expirationSeconds``
  capped by ``--cluster-signing-duration`` (8760h), never past the CA.
  A request its signer may not sign gets a ``Failed`` condition
  (``SignerValidationFailure``) instead of a certificate.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.resources import resource
from kubeling.pki import csr as csrs
from kubeling.pki.certs import PrivateKey, cert_to_pem, load_cert, load_key, utcnow

log = logging.getLogger(__name__)

CSRS = resource("certificates.k8s.io", "v1", "certificatesigningrequests")
SUBJECT_ACCESS_REVIEWS = resource("authorization.k8s.io", "v1", "subjectaccessreviews")
SERVICE_ACCOUNT = "certificate-controller"


def condition(csr: Obj, kind: str) -> Obj | None:
    for item in (csr.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return item
    return None


def is_approved(csr: Obj) -> bool:
    found = condition(csr, "Approved")
    return found is not None and found.get("status", "True") == "True"


def is_finished(csr: Obj) -> bool:
    """Decided (approved or denied) or failed: nothing left for an approver."""
    return any(condition(csr, kind) is not None for kind in ("Approved", "Denied", "Failed"))


def parse_request(csr: Obj) -> x509.CertificateSigningRequest | None:
    try:
        return csrs.load_request(base64.b64decode((csr.get("spec") or {}).get("request", "")))
    except ValueError:
        return None


# -- approving -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recognizer:
    """One kind of request the approver knows: who may ask for it is a SubjectAccessReview."""

    subresource: str
    message: str
    applies: bool


def recognizers(csr: Obj, request: x509.CertificateSigningRequest) -> list[Recognizer]:
    """Upstream's order: the self-renewal check first, then the any-node one."""
    spec = csr.get("spec") or {}
    usages = list(spec.get("usages") or [])
    node_client = spec.get(
        "signerName"
    ) == csrs.KUBE_APISERVER_CLIENT_KUBELET and csrs.is_node_client_request(request, usages)
    own = csrs.subject_of(request).common_name == spec.get("username")
    return [
        Recognizer(
            "selfnodeclient",
            "Auto approving self kubelet client certificate after SubjectAccessReview.",
            node_client and own,
        ),
        Recognizer(
            "nodeclient", "Auto approving kubelet client certificate after SubjectAccessReview.", node_client
        ),
    ]


class CSRApprovingController(Controller):
    name = "certificatesigningrequest-approving-controller"
    service_account = SERVICE_ACCOUNT
    workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.csrs = self.watch(CSRS)

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None or is_finished(csr) or (csr.get("status") or {}).get("certificate"):
            return
        request = parse_request(csr)
        if request is None:
            return  # the signer marks it failed; nothing to approve
        tried = []
        for recognizer in recognizers(csr, request):
            if not recognizer.applies:
                continue
            if await self._allowed(csr, recognizer.subresource):
                await self._approve(csr, recognizer.message)
                return
            tried.append(recognizer.subresource)
        if tried:
            # Left for a person, as upstream: its requester may not create these subresources.
            log.info(
                "not auto-approving %s: %s may not create %s",
                key,
                (csr.get("spec") or {}).get("username"),
                tried,
            )

    async def _allowed(self, csr: Obj, subresource: str) -> bool:
        spec = csr.get("spec") or {}
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": spec.get("username", ""),
                "uid": spec.get("uid", ""),
                "groups": spec.get("groups") or [],
                "extra": spec.get("extra") or {},
                "resourceAttributes": {
                    "group": "certificates.k8s.io",
                    "resource": "certificatesigningrequests",
                    "verb": "create",
                    "subresource": subresource,
                },
            },
        }
        answer = await self.client.create(SUBJECT_ACCESS_REVIEWS, review)
        return bool((answer.get("status") or {}).get("allowed"))

    async def _approve(self, csr: Obj, message: str) -> None:
        body = {
            **csr,
            "status": {
                **(csr.get("status") or {}),
                "conditions": [
                    *((csr.get("status") or {}).get("conditions") or []),
                    {"type": "Approved", "status": "True", "reason": "AutoApproved", "message": message},
                ],
            },
        }
        await self.client.update(CSRS, body, subresource="approval")
        log.info("approved %s: %s", csr["metadata"]["name"], message)


# -- signing ---------------------------------------------------------------------------------------


class SigningAuthority:
    """The CA's certificate and key from files, re-read whenever either file changes."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._stamp: tuple[float, float] | None = None
        self._loaded: tuple[x509.Certificate, PrivateKey] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.cert_file and self.key_file)

    def current(self) -> tuple[x509.Certificate, PrivateKey]:
        stamp = (os.stat(self.cert_file).st_mtime, os.stat(self.key_file).st_mtime)
        if self._loaded is None or stamp != self._stamp:
            cert = load_cert(Path(self.cert_file).read_bytes())
            key = load_key(Path(self.key_file).read_bytes())
            self._loaded, self._stamp = (cert, key), stamp
        return self._loaded


def signing_duration(spec: Obj, maximum: datetime.timedelta) -> datetime.timedelta:
    """``expirationSeconds`` (at least 600 s) capped by ``--cluster-signing-duration``."""
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and seconds > 0:
        return min(datetime.timedelta(seconds=max(seconds, 600)), maximum)
    return maximum


class CSRSigningController(Controller):
    name = "certificatesigningrequest-signing-controller"
    service_account = SERVICE_ACCOUNT
    workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.authority = SigningAuthority(
            self.options.cluster_signing_cert_file, self.options.cluster_signing_key_file
        )
        self.max_duration = datetime.timedelta(seconds=self.options.cluster_signing_duration)
        self.csrs = self.watch(CSRS)
        if not self.authority.configured:
            log.info("csrsigning: no --cluster-signing-cert-file/--cluster-signing-key-file: signing nothing")

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None or not self.authority.configured:
            return
        spec, status = csr.get("spec") or {}, csr.get("status") or {}
        signer = spec.get("signerName")
        if (
            signer not in csrs.SIGNERS
            or not is_approved(csr)
            or condition(csr, "Failed")
            or status.get("certificate")
        ):
            return
        request = parse_request(csr)
        usages = list(spec.get("usages") or [])
        problem = (
            "the request does not parse"
            if request is None
            else csrs.validation_problem(signer, request, usages)
        )
        if problem is not None or request is None:
            await self._fail(csr, problem or "")
            return
        ca_cert, ca_key = self.authority.current()
        cert = csrs.sign(
            request,
            usages=usages,
            ca_cert=ca_cert,
            ca_key=ca_key,
            duration=signing_duration(spec, self.max_duration),
            now=utcnow(),
        )
        body = {**csr, "status": {**status, "certificate": base64.b64encode(cert_to_pem(cert)).decode()}}
        try:
            await self.client.update(CSRS, body, subresource="status")
        except StatusError as exc:
            if exc.code != 404:
                raise
        log.info(
            "signed %s for %s (%s)", csr["metadata"]["name"], csrs.subject_of(request).common_name, signer
        )

    async def _fail(self, csr: Obj, problem: str) -> None:
        status = csr.get("status") or {}
        failed = {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": problem}
        body = {**csr, "status": {**status, "conditions": [*(status.get("conditions") or []), failed]}}
        await self.client.update(CSRS, body, subresource="status")
        log.info("refused %s: %s", csr["metadata"]["name"], problem)
