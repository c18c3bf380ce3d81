"""A cold build from nothing cached: debootstrap, a fresh wheelhouse, the base, the kubeling layer.

Minutes, so e2e.  It rebuilds the shared ``kubeling/base:<hash>`` tag in
place (an image still using the old one keeps it, untagged) and tags the
kubeling, pause and busybox images with a private version it removes after.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest

import kubeling
from kubeling.image import recipes
from kubeling.image.build import CACHE_ENV, build_all, node_image_refs
from tests.integration.image.conftest import run_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def test_cold_build_then_warm_rebuild(
    docker_client: docker.DockerClient, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # no wheelhouse yet
    version = f"e2e-{uuid.uuid4().hex[:8]}"
    refs = [recipes.kubeling_ref(version), *node_image_refs(version)]
    try:
        started = time.monotonic()
        cold = build_all(version, no_cache=True, client=docker_client, root=checkout)
        cold_seconds = time.monotonic() - started
        assert [r.built for r in cold[:2]] == [True, True], cold
        started = time.monotonic()
        warm = build_all(version, client=docker_client, root=checkout)
        warm_seconds = time.monotonic() - started
        assert not any(r.built for r in warm), warm
        print(f"\ncold build {cold_seconds:.1f} s, warm re-run {warm_seconds:.1f} s")
        for result in cold:
            print(f"  {result.ref:<40} {result.size / 1e6:7.1f} MB {result.seconds:7.1f} s")
        assert docker_client.images.get(refs[0]).labels["io.kubeling.version"] == version
        code, out = run_in(docker_client, refs[0], ["kubeling", "--version"])
        assert (code, out.strip()) == (0, f"kubeling {kubeling.__version__}"), out
    finally:
        for ref in refs:
            try:
                docker_client.images.remove(ref)
            except docker.errors.APIError:
                pass
