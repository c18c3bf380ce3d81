"""vagrant/Vagrantfile passes ``vagrant validate`` and agrees with inventories/vagrant.py.

Vagrant comes from Debian (bookworm's 2.3.4) and is installed when missing;
validation needs no provider and no box.  The Vagrantfile is validated from a
copy in a temporary folder, so the key pair it makes on first use lands there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kubeling.verify.layout import CONTROL_PLANE, ETCD, NODE
from kubeling.verify.targets import load_targets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[3]
VAGRANTFILE = ROOT / "vagrant" / "Vagrantfile"


@pytest.fixture(scope="module")
def vagrant() -> str:
    found = shutil.which("vagrant")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "vagrant"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    found = shutil.which("vagrant")
    if install.returncode or not found:
        why = install.stderr.strip()[-300:]
        pytest.skip(f"vagrant is not installed and apt-get could not install it: {why}")
    return found


def _validate(vagrant: str, directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(VAGRANTFILE, directory / "Vagrantfile")
    environment = {
        **os.environ,
        "VAGRANT_HOME": str(directory / ".vagrant.d"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",  # no version check over the network
        **env,
    }
    return subprocess.run(
        [vagrant, "validate", "--ignore-provider"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )


def test_vagrantfile_validates_and_makes_the_lab_key(vagrant: str, tmp_path: Path) -> None:
    done = _validate(vagrant, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validated successfully" in done.stdout
    public = (tmp_path / "id_ed25519.pub").read_text()
    assert public.startswith("ssh-ed25519 ") and "kubeling-vagrant" in public
    assert (tmp_path / "id_ed25519").stat().st_mode & 0o077 == 0


def test_a_bad_size_is_refused_with_its_name(vagrant: str, tmp_path: Path) -> None:
    done = _validate(vagrant, tmp_path, KUBELING_CPUS="two")
    assert done.returncode != 0
    assert "Integer" in done.stdout + done.stderr or "invalid value" in done.stdout + done.stderr


def test_inventory_matches_the_vagrantfile() -> None:
    text = VAGRANTFILE.read_text()
    subnet = re.search(r'SUBNET = "([\d.]+)"', text)
    assert subnet
    machines = {
        name: f"{subnet[1]}.{last}"
        for name, last in re.findall(r'name: "([\w-]+)",\s+ip: "#\{SUBNET\}\.(\d+)"', text)
    }
    targets = load_targets(ROOT / "inventories" / "vagrant.py")
    assert {t.name: t.node_ip for t in targets} == machines
    assert [t.name for t in targets if CONTROL_PLANE in t.groups] == ["kubeling-cp-1"]
    assert [t.name for t in targets if ETCD in t.groups] == ["kubeling-cp-1"]
    assert [t.name for t in targets if NODE in t.groups] == ["kubeling-worker-1", "kubeling-worker-2"]
    for target in targets:
        assert (target.user, target.sudo, target.address) == ("vagrant", True, target.node_ip)
        assert target.key == str(ROOT / "vagrant" / "id_ed25519")
