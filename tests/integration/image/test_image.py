"""The kubeling image on the real engine: cached rebuilds, what runs inside, save and load.

A warm cache makes this module take seconds; on a machine that never built
the base, the first fixture builds it (minutes, hence the long timeout).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import docker
import docker.errors
import pytest

from kubeling.image import recipes, ship, sources
from kubeling.image.build import build_all
from kubeling.image.wheelhouse import project_dependencies
from tests.integration.image.conftest import run_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# Imports every dependency in pyproject.toml through the distributions' own top-level names,
# so the check follows the dependency list as it grows.
IMPORT_ALL = """
import importlib, importlib.metadata as md, re, sys
wanted = {re.split(r"[<>=!~;\\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in sys.argv[1:]}
modules = {}
for module, dists in md.packages_distributions().items():
    for dist in dists:
        if dist.lower().replace("_", "-") in wanted and not module.startswith("_"):
            modules.setdefault(dist.lower(), []).append(module)
missing = wanted - {d.replace("_", "-") for d in modules}
assert not missing, f"not installed: {sorted(missing)}"
for module in sorted(m for ms in modules.values() for m in ms):
    importlib.import_module(module)
print("imported", len(modules), "distributions")
"""


def test_second_build_is_a_no_op(
    kubeling_image: str, docker_client: docker.DockerClient, checkout: Path
) -> None:
    started = time.monotonic()
    results = build_all(client=docker_client, root=checkout)
    assert [r.built for r in results] == [False] * 4, results
    assert [r.ref.split(":")[0] for r in results] == [
        "kubeling/base",
        "kubeling/kubeling",
        "kubeling/pause",
        "kubeling/busybox",
    ]
    assert results[1].ref == kubeling_image
    assert time.monotonic() - started < 20  # hashing the sources and four inspects, no build


def test_image_is_labelled_with_the_checkout_and_has_no_entrypoint(
    kubeling_image: str, docker_client: docker.DockerClient, checkout: Path
) -> None:
    config = docker_client.images.get(kubeling_image).attrs["Config"]
    labels = config["Labels"]
    assert labels[recipes.SOURCE_HASH_LABEL] == recipes.source_hash(checkout)
    base = docker_client.images.get(recipes.base_ref(labels[recipes.BASE_HASH_LABEL]))
    assert labels[recipes.BASE_ID_LABEL] == base.id
    assert config["Entrypoint"] is None
    assert config["Cmd"] == ["kubeling", "--help"]
    assert f"PATH={recipes.IMAGE_PATH}" in config["Env"]


def test_kubeling_runs_in_the_image(kubeling_image: str, docker_client: docker.DockerClient) -> None:
    code, out = run_in(docker_client, kubeling_image, ["kubeling", "--help"])
    assert code == 0 and "usage: kubeling" in out and "controller-manager" in out, out
    code, out = run_in(docker_client, kubeling_image, ["kubeling", "--version"])
    assert (code, out.strip()) == (0, f"kubeling {recipes.resolve_version()}")
    tools = "for t in iptables conntrack ip ps; do command -v $t; done"
    code, out = run_in(docker_client, kubeling_image, ["sh", "-c", tools])
    assert code == 0 and len(out.split()) == 4, out


def test_every_dependency_imports_in_the_image(
    kubeling_image: str, docker_client: docker.DockerClient, checkout: Path
) -> None:
    dependencies = project_dependencies(checkout / "pyproject.toml")
    code, out = run_in(docker_client, kubeling_image, ["python3", "-c", IMPORT_ALL, *dependencies])
    assert code == 0, out
    assert f"imported {len(dependencies)} distributions" in out
    named = "import kubeling, aiohttp, uvloop, orjson, grpc, cryptography; from kubeling.api import schemas; "
    code, out = run_in(
        docker_client, kubeling_image, ["python3", "-c", named + "print(len(schemas.definitions()) > 500)"]
    )
    assert (code, out.strip()) == (0, "True"), out


def test_image_names_no_mirror_or_build_host(kubeling_image: str, docker_client: docker.DockerClient) -> None:
    host = urlsplit(sources.find_mirror(recipes.DEBIAN_SUITE)).hostname or ""
    assert host
    script = (
        'grep -rlsF "$MIRROR" /etc /var /opt /root /usr/share;'
        " find /var/lib/apt/lists /usr/share/doc -mindepth 1"
    )
    _, out = run_in(docker_client, kubeling_image, ["sh", "-c", script], MIRROR=host)
    assert out.strip() == "", out  # no file names the mirror; no apt lists, no docs


def test_save_then_load_restores_the_images(
    kubeling_image: str, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    # A private tag, so untagging it (to prove load brings it back) disturbs nobody.
    ref = f"kubeling-test/kubeling:{uuid.uuid4().hex[:8]}"
    docker_client.images.get(kubeling_image).tag(*ref.split(":"))
    try:
        saved = ship.save_images(docker_client, [ref], tmp_path)
        assert [s.path.name for s in saved] == [f"kubeling-{ref.split(':')[1]}.tar"]
        assert saved[0].size > 50_000_000
        docker_client.images.remove(ref)
        assert ship.load(tmp_path, client=docker_client) == [ref]
        assert docker_client.images.get(ref).id == docker_client.images.get(kubeling_image).id
    finally:
        try:
            docker_client.images.remove(ref)
        except docker.errors.ImageNotFound:
            pass


def test_save_refuses_images_not_built(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    from kubeling.image.errors import ImageError

    with pytest.raises(ImageError, match="not built yet: kubeling-test/none:x"):
        ship.save_images(docker_client, ["kubeling-test/none:x"], tmp_path)
    assert list(tmp_path.iterdir()) == []
