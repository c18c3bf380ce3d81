#!/usr/bin/env bash
# Run kubeling's test suite: lint, unit and integration tiers (real etcd, Docker, real kubectl).
# Extra arguments go to pytest; `-m e2e` selects the slow lab tier instead.
source "$(dirname "$0")/lib.sh"
ensure_apt_packages
ensure_docker
ensure_venv
cd "$ROOT"
echo "==> ruff"
ruff check components tests bench
echo "==> pytest"
if [ $# -eq 0 ]; then
  set -- -m "not e2e and not slow"
fi
exec python -m pytest -q -p no:cacheprovider "$@"
