"""Image names, versions, content hashes and Dockerfile text."""

from __future__ import annotations

from pathlib import Path

import pytest

import kubeling
from kubeling.image import recipes
from kubeling.image.errors import ImageError


def test_version_from_flag_then_environment_then_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(recipes.VERSION_ENV, raising=False)
    assert recipes.resolve_version() == kubeling.__version__
    monkeypatch.setenv(recipes.VERSION_ENV, "0.2.0-rc.1")
    assert recipes.resolve_version() == "0.2.0-rc.1"
    assert recipes.resolve_version("dev_3") == "dev_3"


@pytest.mark.parametrize("bad", ["with space", "-leading-dash", ".dot", "a:b", "x" * 129])
def test_versions_that_are_no_docker_tag_are_refused(bad: str) -> None:
    with pytest.raises(ImageError, match="not a valid image tag"):
        recipes.resolve_version(bad)


def test_base_hash_follows_packages_and_dependencies_not_their_order() -> None:
    deps = ["aiohttp>=3.9", "orjson>=3.9"]
    digest = recipes.base_hash(deps)
    assert digest == recipes.base_hash(list(reversed(deps)))
    assert digest == recipes.base_hash(deps, packages=reversed(recipes.PACKAGES))
    assert digest != recipes.base_hash([*deps, "dnslib>=0.9"])
    assert digest != recipes.base_hash(["aiohttp>=3.10", "orjson>=3.9"])
    assert digest != recipes.base_hash(deps, packages=[*recipes.PACKAGES, "curl"])
    assert recipes.base_ref(digest) == f"kubeling/base:{digest[:12]}"


def _checkout(root: Path) -> Path:
    (root / "components/kubeling/sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='kubeling'\n")
    (root / "components/kubeling/__init__.py").write_text("x = 1\n")
    (root / "components/kubeling/sub/mod.py").write_text("y = 2\n")
    return root


def test_source_hash_covers_components_and_pyproject_but_not_bytecode(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    digest = recipes.source_hash(root)
    (root / "components/kubeling/__pycache__").mkdir()
    (root / "components/kubeling/__pycache__/x.cpython-311.pyc").write_bytes(b"\0")
    (root / "components/kubeling.egg-info").mkdir()
    (root / "components/kubeling.egg-info/PKG-INFO").write_text("Name: kubeling\n")
    (root / "README.md").write_text("not part of the image's code\n")
    assert recipes.source_hash(root) == digest
    (root / "components/kubeling/sub/mod.py").write_text("y = 3\n")
    changed = recipes.source_hash(root)
    assert changed != digest
    (root / "pyproject.toml").write_text("[project]\nname='kubeling'\nversion='9'\n")
    assert recipes.source_hash(root) != changed


def test_source_hash_sees_renames(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    digest = recipes.source_hash(root)
    (root / "components/kubeling/sub/mod.py").rename(root / "components/kubeling/sub/other.py")
    assert recipes.source_hash(root) != digest


def test_kubeling_dockerfile_is_a_thin_layer_over_the_base() -> None:
    text = recipes.kubeling_dockerfile(
        base="kubeling/base:0123456789ab",
        base_id="sha256:" + "b" * 64,
        wheel="kubeling-0.1.0-py3-none-any.whl",
        version="0.1.0",
        digest="f" * 64,
    )
    assert text == (
        "FROM kubeling/base:0123456789ab\n"
        "COPY kubeling-0.1.0-py3-none-any.whl /tmp/kubeling-0.1.0-py3-none-any.whl\n"
        "RUN /opt/kubeling/bin/pip install --isolated --no-cache-dir --no-index --no-deps"
        " /tmp/kubeling-0.1.0-py3-none-any.whl && rm /tmp/kubeling-0.1.0-py3-none-any.whl\n"
        f'LABEL io.kubeling.source-hash="{"f" * 64}" io.kubeling.base-id="sha256:{"b" * 64}"'
        ' io.kubeling.version="0.1.0"\n'
        'CMD ["kubeling", "--help"]\n'
    )
    assert "ENTRYPOINT" not in text


def test_base_config_puts_the_venv_first_on_path() -> None:
    changes = recipes.base_import_changes("a" * 64)
    assert changes[0] == f"ENV PATH=/opt/kubeling/bin:{recipes.IMAGE_PATH.split(':', 1)[1]}"
    assert f'LABEL io.kubeling.base-hash="{"a" * 64}"' in changes
