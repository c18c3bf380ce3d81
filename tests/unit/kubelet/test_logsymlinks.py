"""Container log links: made for listed containers, dangling ones removed, other files left alone."""

from __future__ import annotations

import os
from pathlib import Path

from kubeling.kubelet import runtime as rt
from kubeling.kubelet.logsymlinks import ContainerLogLinks, link_name


def container(cid: str, log: Path, pod: str = "web", name: str = "c") -> rt.ContainerStatus:
    labels = {rt.POD_NAME: pod, rt.POD_NAMESPACE: "default"}
    return rt.ContainerStatus(cid, "s1", name, 0, "running", labels=labels, engine_log_path=str(log))


def test_links_follow_the_listing(tmp_path: Path) -> None:
    engine = tmp_path / "engine"
    engine.mkdir()
    first, second = "a" * 64, "b" * 64
    (engine / f"{first}.log").write_text('{"log":"hi"}\n')
    (engine / f"{second}.log").write_text("")
    links = ContainerLogLinks(tmp_path / "containers")
    (tmp_path / "containers").mkdir()
    (tmp_path / "containers" / "not-ours.txt").write_text("kept")

    links.sync([container(first, engine / f"{first}.log"), container(second, engine / f"{second}.log", "db")])
    link = tmp_path / "containers" / link_name("web", "default", "c", first)
    assert link.name == f"web_default_c-{first}.log"
    assert os.readlink(link) == str(engine / f"{first}.log") and link.read_text() == '{"log":"hi"}\n'

    # The engine removed the first container (and its log): its link dangles and goes.
    (engine / f"{first}.log").unlink()
    links.sync([container(second, engine / f"{second}.log", "db")])
    names = sorted(p.name for p in (tmp_path / "containers").iterdir())
    assert names == ["db_default_c-" + second + ".log", "not-ours.txt"]


def test_containers_without_a_log_yet_get_no_link(tmp_path: Path) -> None:
    links = ContainerLogLinks(tmp_path / "containers")
    links.sync([rt.ContainerStatus("c" * 64, "s1", "c", 0, "created", labels={rt.POD_NAME: "web"})])
    assert list((tmp_path / "containers").iterdir()) == []
