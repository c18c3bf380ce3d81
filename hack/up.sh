#!/usr/bin/env bash
# Bring up a kubeling lab on this machine: three Debian nodes (1 control plane + 2 workers) as
# systemd containers, installed over SSH by deploys/install.py (pyinfra) exactly as real hosts
# would be, with kube-proxy, cluster DNS, host-gw pod routes and metrics-server. The images
# (kubeling, the node image) are built here on first use, no registry needed.
# Extra arguments go to `kubeling lab up` (e.g. --nodes 3, --control-planes 3, --kind netns);
# `kubeling lab down` removes it.
source "$(dirname "$0")/lib.sh"
ensure_apt_packages
ensure_docker
ensure_venv
exec "$VENV/bin/kubeling" lab up "$@"
