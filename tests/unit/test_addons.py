from __future__ import annotations

from pathlib import Path

import pytest

from kubeling import addons
from kubeling.api import defaults
from kubeling.api.validation import validate

VALUES = addons.AddonValues(image="kubeling/kubeling:9.9.9", apiserver_url="https://10.250.0.1:6443")


def test_dns_ip_is_the_tenth_service_address() -> None:
    assert VALUES.dns_ip == "10.96.0.10"
    assert (
        addons.AddonValues(image="i", apiserver_url="u", service_cidr="10.100.0.0/16").dns_ip == "10.100.0.10"
    )


@pytest.mark.parametrize("name", addons.available())
def test_every_addon_renders_to_served_kinds_with_the_image(name: str) -> None:
    objects = addons.render(name, VALUES)
    assert objects, name
    for obj in objects:
        addons.resource_of(obj)  # a kind the apiserver serves
        group, _, version = obj["apiVersion"].rpartition("/")
        resource = addons._REGISTRY.by_kind(group, version, obj["kind"])
        assert resource is not None
        defaults.apply_defaults(resource, obj)
        assert validate(resource, obj) == [], (obj["kind"], obj["metadata"]["name"])
    text = str(objects)
    if any(o["kind"] in ("Deployment", "DaemonSet") for o in objects):
        assert "kubeling/kubeling:9.9.9" in text


def test_default_addons_have_templates() -> None:
    missing = set(addons.DEFAULT_ADDONS) - set(addons.available())
    assert not missing, f"templates/addons lacks {missing}"


def test_unknown_addon_and_missing_value_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(addons.AddonError, match="no addon 'nope'"):
        addons.render("nope", VALUES)
    (tmp_path / "x.yaml.j2").write_text("kind: ConfigMap\nmetadata: {name: {{ nowhere }}}\n")
    with pytest.raises(addons.AddonError, match="nowhere"):
        addons.render("x", VALUES, templates=tmp_path)
