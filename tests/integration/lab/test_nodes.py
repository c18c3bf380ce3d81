"""Lab nodes on the real engine: systemd boots, SSH with the lab key, pyinfra over SSH, a nested dockerd."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubeling.kubelet.images import BUSYBOX_IMAGE, ensure_images
from kubeling.lab import inventory
from tests.integration.lab.conftest import BootedLab, ssh

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_nodes_boot_systemd_to_running_with_no_failed_unit(nodes_lab: BootedLab) -> None:
    for node in nodes_lab.nodes:
        assert nodes_lab.system_state(node) == "running", nodes_lab.failed_units(node)
        assert nodes_lab.boot_times[node.name].systemd < 60


def test_ssh_reaches_each_node_with_the_lab_key_and_its_own_pinned_host_key(nodes_lab: BootedLab) -> None:
    for node in nodes_lab.nodes:
        assert ssh(nodes_lab, node.name, "hostname").strip() == node.name
        assert f"inet {node.ip}/" in ssh(nodes_lab, node.name, "ip -4 addr show eth0")
        settings = ssh(nodes_lab, node.name, "sshd -T").splitlines()
        assert "passwordauthentication no" in settings
    host_keys = [line.split()[2] for line in nodes_lab.known_hosts.read_text().splitlines()]
    assert len(set(host_keys)) == len(nodes_lab.nodes)  # made on each node's first boot, not in the image
    machine_ids = {ssh(nodes_lab, n.name, "cat /etc/machine-id") for n in nodes_lab.nodes}
    assert len(machine_ids) == len(nodes_lab.nodes)


def test_a_wrong_key_is_refused(nodes_lab: BootedLab, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    argv = nodes_lab.ssh_argv(nodes_lab.nodes[0])
    argv[argv.index(str(nodes_lab.key))] = str(other)
    result = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 255 and "Permission denied" in result.stderr


def test_install_packages_are_present_and_their_services_disabled(nodes_lab: BootedLab) -> None:
    worker = nodes_lab.nodes[-1].name
    units = "docker.service containerd.service etcd.service"
    states = ssh(nodes_lab, worker, f"systemctl is-enabled {units} || true")
    assert states.split() == ["disabled", "disabled", "disabled"]
    found = ssh(nodes_lab, worker, "ls /usr/bin/etcd /usr/bin/etcdctl /usr/sbin/dockerd /usr/lib/cni/bridge")
    assert len(found.split()) == 4


def test_pyinfra_gathers_facts_over_ssh_from_the_written_inventory(
    nodes_lab: BootedLab, tmp_path: Path
) -> None:
    path = inventory.write(nodes_lab, tmp_path / "lab.py")
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    result = subprocess.run(
        [pyinfra, "-y", "--json", str(path), "fact", "server.LinuxDistribution"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)["server.LinuxDistribution"]
    assert sorted(facts) == sorted(n.name for n in nodes_lab.nodes)
    for fact in facts.values():
        assert (fact["name"], fact["major"]) == ("Debian", 12)


def test_nested_dockerd_runs_an_image_shipped_over_ssh(nodes_lab: BootedLab) -> None:
    ensure_images()
    worker = nodes_lab.nodes[-1].name
    ssh(nodes_lab, worker, "systemctl start docker.service")
    driver = ssh(nodes_lab, worker, "docker info -f '{{.Driver}} {{.CgroupDriver}}'")
    assert driver.split() == ["overlay2", "systemd"]
    saved = subprocess.run(["docker", "save", BUSYBOX_IMAGE], capture_output=True, check=True, timeout=120)
    assert f"Loaded image: {BUSYBOX_IMAGE}" in ssh(nodes_lab, worker, "docker load", stdin=saved.stdout)
    command = f"docker run --rm {BUSYBOX_IMAGE} sh -c 'echo nested; cat /proc/self/cgroup'"
    lines = ssh(nodes_lab, worker, command).splitlines()
    assert lines[0] == "nested"
    # systemd cgroup driver: the container's cgroup is a scope under the node's system.slice.
    assert any(":memory:" in line and "/system.slice/docker-" in line for line in lines), lines
