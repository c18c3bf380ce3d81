"""projected volumes: several sources written into one directory.

Sources: secret, configMap, downwardAPI and serviceAccountToken — what the
ServiceAccount admission plugin's ``kube-api-access-*`` volume uses (token,
the ``kube-root-ca.crt`` ConfigMap's ``ca.crt``, the namespace).  Every
file gets the volume's ``defaultMode`` unless its item sets a mode.
Failures of all sources are reported together, as upstream aggregates them.
clusterTrustBundle and podCertificate sources are not supported.  Upstream
gives the token file to a shared runAsUser with mode 0600 when fsGroup is
set; here the token follows the fsGroup rules like the other files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeling.kubelet.atomicwriter import FileProjection
from kubeling.kubelet.volumeplugins import configmap, downwardapi, secret
from kubeling.kubelet.volumeplugins.base import DEFAULT_MODE, Obj, ObjectReader, VolumeError, file_mode
from kubeling.kubelet.volumeplugins.tokens import TokenManager


async def payload(
    reader: ObjectReader,
    tokens: TokenManager,
    pod: Obj,
    source: Obj,
    allocatable: Mapping[str, Any],
) -> dict[str, FileProjection]:
    mode = file_mode(source.get("defaultMode"), DEFAULT_MODE)
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    files: dict[str, FileProjection] = {}
    failures: list[str] = []
    for projection in source.get("sources") or []:
        try:
            if "secret" in projection:
                files.update(await secret.payload(reader, namespace, projection["secret"] or {}, mode))
            elif "configMap" in projection:
                files.update(await configmap.payload(reader, namespace, projection["configMap"] or {}, mode))
            elif "downwardAPI" in projection:
                files.update(downwardapi.payload(pod, projection["downwardAPI"] or {}, allocatable, mode))
            elif "serviceAccountToken" in projection:
                spec = projection["serviceAccountToken"] or {}
                token = await tokens.get(
                    pod, audience=spec.get("audience") or "", expiration_seconds=spec.get("expirationSeconds")
                )
                files[spec.get("path") or "token"] = FileProjection(token.encode(), mode)
            else:
                kinds = ", ".join(sorted(projection)) or "empty"
                failures.append(f"unsupported projected volume source: {kinds}")
        except VolumeError as exc:
            failures.append(str(exc))
    if failures:
        raise VolumeError(f"[{', '.join(failures)}]" if len(failures) > 1 else failures[0])
    return files
