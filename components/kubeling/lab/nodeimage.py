"""The lab's node image ``kubeling/node:<version>``: Debian with systemd as PID 1, sshd and a nested engine.

A lab node is a container that behaves like a small host: systemd boots it,
sshd lets pyinfra in, and the packages a kubeling install wants are already
there (so the install "ensures" them without a mirror, which the image does
not carry).  Built on this host as root, like the base image:

1. debootstrap a bookworm minbase with :data:`NODE_PACKAGES` (mirror read from
   this host's apt configuration, ``image/sources.py``);
2. :func:`configure` the tree: units that make no sense in a container are
   masked, the preinstalled services (docker, containerd, etcd) disabled so
   the install decides what runs where, SSH host keys removed and generated
   on each node's first boot, an empty machine-id (each node gets its own),
   and the nested dockerd set to the systemd cgroup driver so pod cgroups
   nest under the node;
3. ``image/rootfs.slim`` and ``docker import`` as one layer, then a two-line
   Dockerfile adds ``STOPSIGNAL SIGRTMIN+3`` (``docker import --change``
   refuses it on Docker 20.10), built by the classic builder.

The result is labelled with :func:`recipe_hash` (package list + recipe
version) and reused while the label matches, so only a recipe change rebuilds.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from kubeling.image import recipes, rootfs, sources
from kubeling.image.build import build_lock, cache_dir, docker_client
from kubeling.image.errors import ImageError

log = logging.getLogger(__name__)

NODE_REPOSITORY = "kubeling/node"
RECIPE_LABEL = "io.kubeling.node-recipe"
# Bumped when configure() changes in a way the package list does not show.
NODE_RECIPE_VERSION = "2"
NODE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-venv", "sudo",
    "iproute2", "iptables", "conntrack", "ca-certificates", "kmod", "procps",
    # Preinstalled but disabled: an install finds them present instead of spending minutes in apt.
    "docker.io", "containernetworking-plugins", "etcd-server", "etcd-client",
)  # fmt: skip
# udev, gettys, module loading, remounting / and scrubbing ext4 need a real machine; here they fail or wait.
MASKED_UNITS = (
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "getty.target",
    "console-getty.service",
    "systemd-modules-load.service",
    "systemd-remount-fs.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "e2scrub_reap.service",
)
DISABLED_UNITS = ("docker.service", "docker.socket", "containerd.service", "etcd.service")
SSH_KEYGEN_UNIT = "kubeling-ssh-host-keys.service"
SSH_KEYGEN_UNIT_TEXT = """\
[Unit]
Description=SSH host keys of this node, made on its first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
# ed25519 only: an RSA key costs seconds of every node's boot, and sshd_config names only this one.
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
"""
SSHD_CONFIG = """\
# kubeling lab node: keys only, one host key made on first boot.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""
DOCKER_DAEMON_JSON = '{"exec-opts": ["native.cgroupdriver=systemd"]}\n'
_CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class NodeImage:
    ref: str
    built: bool  # False: an image of the same recipe was already there
    seconds: float
    size: int


def recipe_hash(packages: tuple[str, ...] = NODE_PACKAGES) -> str:
    text = "\n".join([NODE_RECIPE_VERSION, recipes.DEBIAN_SUITE, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()


def node_ref(version: str | None = None) -> str:
    return f"{NODE_REPOSITORY}:{recipes.resolve_version(version)}"


def _chroot(tree: Path, *command: str) -> None:
    result = subprocess.run(["chroot", str(tree), *command], capture_output=True, text=True, env=_CHROOT_ENV)
    if result.returncode != 0:
        raise ImageError(f"{' '.join(command)} in the node tree failed: {result.stderr.strip()}")


def configure(tree: Path) -> None:
    """Make a debootstrapped tree boot as a container node (see the module docstring)."""
    units = tree / "etc/systemd/system"
    for unit in MASKED_UNITS:
        link = units / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    _chroot(tree, "systemctl", "disable", *DISABLED_UNITS)
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (units / SSH_KEYGEN_UNIT).write_text(SSH_KEYGEN_UNIT_TEXT)
    _chroot(tree, "systemctl", "enable", SSH_KEYGEN_UNIT)
    (tree / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (tree / "etc/ssh/sshd_config.d/kubeling.conf").write_text(SSHD_CONFIG)
    (tree / "etc/docker").mkdir(parents=True, exist_ok=True)
    (tree / "etc/docker/daemon.json").write_text(DOCKER_DAEMON_JSON)
    # An empty machine-id: systemd makes a fresh one per container instead of all nodes sharing one.
    (tree / "etc/machine-id").write_text("")
    (tree / "var/lib/dbus/machine-id").unlink(missing_ok=True)


def _import_changes(digest: str) -> list[str]:
    return [
        "ENV container=docker",
        "ENV LANG=C.UTF-8",
        f'LABEL {RECIPE_LABEL}="{digest}"',
        'CMD ["/sbin/init"]',
    ]


def _add_stop_signal(client: docker.DockerClient, rootfs_ref: str, ref: str) -> None:
    dockerfile = f"FROM {rootfs_ref}\nSTOPSIGNAL SIGRTMIN+3\n"
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True, network_mode="none")
    except docker.errors.BuildError as exc:
        raise ImageError(f"docker build of {ref} failed: {exc.msg}") from None


def _current(client: docker.DockerClient, ref: str, digest: str) -> docker.models.images.Image | None:
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    return image if (image.labels or {}).get(RECIPE_LABEL) == digest else None


def _node_build_lock(cache: Path) -> contextlib.AbstractContextManager[None]:
    """Concurrent callers build once; a lock of its own, so node and kubeling image builds never
    wait on each other (they share nothing but the scratch parent)."""
    return build_lock(cache, "node-image.lock")


def _image_id(client: docker.DockerClient, ref: str) -> str:
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return ""


def ensure_node_image(
    version: str | None = None, *, no_cache: bool = False, client: docker.DockerClient | None = None
) -> NodeImage:
    """``kubeling/node:<version>``, built now (minutes) unless an image of the same recipe is there."""
    started = time.monotonic()
    ref, digest, cache = node_ref(version), recipe_hash(), cache_dir()
    with docker_client(client) as engine, _node_build_lock(cache):
        image = _current(engine, ref, digest)
        if image is not None and not no_cache:
            return NodeImage(ref, False, time.monotonic() - started, int(image.attrs.get("Size") or 0))
        replaced = _image_id(engine, ref)
        rootfs.ensure_image_tools()
        mirror = sources.find_mirror(recipes.DEBIAN_SUITE)
        rootfs_ref = f"{NODE_REPOSITORY}-rootfs:{digest[:12]}"
        log.info("building %s: debootstrap %s with systemd, sshd and docker", ref, recipes.DEBIAN_SUITE)
        with rootfs.scratch_dir(cache / "rootfs") as tree:
            rootfs.debootstrap(tree, mirror, NODE_PACKAGES)
            configure(tree)
            rootfs.slim(tree)
            rootfs.import_rootfs(tree, rootfs_ref, _import_changes(digest))
        try:
            _add_stop_signal(engine, rootfs_ref, ref)
        finally:
            # Only the tag goes: the node image keeps the layer.
            try:
                engine.images.remove(rootfs_ref)
            except docker.errors.APIError as exc:
                log.debug("keeping %s: %s", rootfs_ref, exc)
        built = engine.images.get(ref)
        if replaced and replaced != built.id:
            # The older recipe's image, unless a node still runs it (the engine refuses then).
            with contextlib.suppress(docker.errors.APIError):
                engine.images.remove(replaced)
    return NodeImage(ref, True, time.monotonic() - started, int(built.attrs.get("Size") or 0))
