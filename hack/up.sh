#!/usr/bin/env bash
# Bring up a kubeling cluster on this machine and leave it running in the foreground.
# Today: the all-in-one server (control plane + a kubelet on this machine's Docker Engine);
# the lab of local nodes joins later.
source "$(dirname "$0")/lib.sh"
ensure_apt_packages
ensure_docker
ensure_venv
DATA_DIR=${KUBELING_DATA_DIR:-$ROOT/data}
echo "==> starting kubeling server (data in $DATA_DIR); in another shell:"
echo "    export KUBECONFIG=$DATA_DIR/admin.kubeconfig PATH=$VENV/bin:\$PATH; kubectl get ns"
exec "$VENV/bin/kubeling" server --data-dir "$DATA_DIR" --with-kubelet "$@"
