"""The balancer's unit file: rendered for every node of an HA cluster, its command line parsed by
``kubeling``'s own parser and pointing at every control plane."""

from __future__ import annotations

import shlex

from deploys import cluster as c

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
