"""Versioned builds: the stamp written into a copy of the checkout, and the tree a git ref exports."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from kubeling.image import gitref, recipes, stamp, wheelhouse
from kubeling.image.errors import ImageError

ROOT = Path(__file__).resolve().parents[3]


def _tree(root: Path, version: str = "0.1.0") -> Path:
    (root / "components" / "kubeling").mkdir(parents=True)
    (root / "components" / "kubeling" / "__init__.py").write_text(
        f'"""doc"""\n\n__version__ = "{version}"\nKUBERNETES_VERSION = "v1.37.0"\n'
    )
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "kubeling"\nversion = "{version}"\n\n[tool.ruff]\nversion = "x"\n'
    )
    (root / "README.md").write_text("readme\n")
    return root


def test_stamp_rewrites_the_code_and_the_metadata_version(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    stamp.stamp(tree, "0.2.0")
    assert stamp.tree_version(tree) == "0.2.0"
    pyproject = (tree / "pyproject.toml").read_text()
    assert 'version = "0.2.0"' in pyproject and 'version = "x"' in pyproject  # only [project]'s


@pytest.mark.parametrize(
    ("version", "stamped"),
    [
        pytest.param("0.2.0", "0.2.0", id="release"),
        pytest.param("0.2.0rc1", "0.2.0rc1", id="pre-release"),
        pytest.param("0.1.0", None, id="the-tree-s-own"),
        pytest.param("dev_3", None, id="not-pep440"),
        pytest.param("0.2.0-rc.1", None, id="not-canonical"),
    ],
)
def test_only_other_canonical_versions_are_stamped(tmp_path: Path, version: str, stamped: str | None) -> None:
    assert stamp.version_to_stamp(_tree(tmp_path), version) == stamped


def test_a_tree_without_a_version_line_is_a_clear_error(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree / "pyproject.toml").write_text('[project]\nname = "kubeling"\n')
    with pytest.raises(ImageError, match="no version line"):
        stamp.stamp(tree, "0.2.0")


def test_a_stamped_build_is_another_source_hash(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert recipes.source_hash(tree) == recipes.source_hash(tree, None)
    assert recipes.source_hash(tree, "0.2.0") != recipes.source_hash(tree)


def test_the_wheel_of_a_stamped_build_reports_the_new_version(tmp_path: Path) -> None:
    wheel = wheelhouse.build_kubeling_wheel(ROOT, tmp_path / "out", version="0.2.0")
    assert wheel.name.startswith("kubeling-0.2.0-")
    with zipfile.ZipFile(wheel) as archive:
        assert '__version__ = "0.2.0"' in archive.read("kubeling/__init__.py").decode()
    assert stamp.tree_version(ROOT) != "0.2.0"  # the working tree is untouched


def test_a_git_ref_exports_that_commit_once(tmp_path: Path) -> None:
    checkout = _tree(tmp_path / "repo")
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    stamp.stamp(checkout, "0.9.0")  # uncommitted: the export must not see it
    tree = gitref.export_ref(checkout, "HEAD", tmp_path / "cache")
    assert stamp.tree_version(tree) == "0.1.0"
    assert gitref.export_ref(checkout, "HEAD", tmp_path / "cache") == tree
    with pytest.raises(ImageError, match="no-such-ref"):
        gitref.export_ref(checkout, "no-such-ref", tmp_path / "cache")
