"""The balancer's unit file: rendered for every node of an HA cluster, its command line parsed by
``kubeling``'s own parser and pointing at every control plane."""

from __future__ import annotations

import io
import shlex
from pathlib import Path

from deploys import cluster as c
from deploys.tasks.kubeconfig import admin_content

from kubeling.cli import build_parser
from kubeling.lb.backends import Backend
from kubeling.lb.cli import config_from
from tests.unit.deploys.test_templates import HA, make_cluster


def _exec_start(unit: str) -> list[str]:
    joined = unit.replace("\\\n", " ")
    line = next(ln for ln in joined.splitlines() if ln.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_lb_unit_balances_over_every_control_plane() -> None:
    for node in HA.nodes:
        unit = c.render("kubeling-lb.service.j2", HA, node)
        argv = _exec_start(unit)
        assert argv[0] == "/opt/kubeling/venv/bin/kubeling"
        config = config_from(build_parser().parse_args(argv[1:]))
        assert (config.bind_address, config.port) == ("127.0.0.1", c.LB_PORT)
        assert config.backends == (
            Backend("10.0.0.11", 6443),
            Backend("10.0.0.12", 6443),
            Backend("10.0.0.13", 6443),
        )
        assert config.ca_file == "/etc/kubernetes/pki/ca.crt"
        assert "Before=kubelet.service" in unit and "WantedBy=multi-user.target" in unit


def test_backends_follow_the_apiserver_port() -> None:
    cluster = make_cluster(control_planes=2, workers=0, apiserver_port=7443)
    assert cluster.lb_backends == ["10.0.0.11:7443", "10.0.0.12:7443"]


def test_ha_admin_kubeconfig_has_a_context_per_control_plane(tmp_path: Path) -> None:
    import yaml

    from kubeling.pki.commands import InitOptions, init

    init(InitOptions(directory=tmp_path, inventory=HA.pki_inventory()), out=io.StringIO())
    doc = yaml.safe_load(admin_content(HA, tmp_path))
    servers = {entry["name"]: entry["cluster"]["server"] for entry in doc["clusters"]}
    assert servers[doc["contexts"][0]["context"]["cluster"]] == "https://10.0.0.11:6443"
    for cp in HA.control_planes:
        assert servers[cp.name] == f"https://{cp.ip}:6443"
        context = next(c for c in doc["contexts"] if c["name"] == cp.name)["context"]
        assert context["cluster"] == cp.name
    assert doc["current-context"] == doc["contexts"][0]["name"]
    single = make_cluster()
    init(InitOptions(directory=tmp_path / "single", inventory=single.pki_inventory()), out=io.StringIO())
    assert len(yaml.safe_load(admin_content(single, tmp_path / "single"))["contexts"]) == 1
