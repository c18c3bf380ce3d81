#!/usr/bin/env bash
# Bring up a kubeling lab on this machine: a control plane and two nodes (each node a network
# namespace with its own kubelet on the local Docker Engine), kube-proxy, cluster DNS and
# metrics-server from the kubeling image (built here on first use, no registry needed).
# Extra arguments go to `kubeling lab up` (e.g. --nodes 3, --name NAME); `kubeling lab down`
# removes it.
source "$(dirname "$0")/lib.sh"
ensure_apt_packages
ensure_docker
ensure_venv
exec "$VENV/bin/kubeling" lab up "$@"
