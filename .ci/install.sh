#!/usr/bin/env bash
# Installs snnkit and everything its tests need into ./.venv, from the project's own files only.
# torch is pinned first (REFERENCE.md section 8): every later install runs under .ci/constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install torch==2.13.0
pip install -c .ci/constraints.txt -e ".[dev]"
for req in .ci/requirements-*.txt; do
  case "$req" in
    *-nodeps.txt) pip install -c .ci/constraints.txt --no-deps -r "$req" ;;
    *) pip install -c .ci/constraints.txt -r "$req" ;;
  esac
done
# Backends with their own installers (Lava needs numpy<2: it gets its own environment).
for script in .ci/install_*.sh; do
  [ -e "$script" ] || continue
  case "$script" in
    *install_aihwkit.sh) [ "${SNNKIT_WITH_AIHWKIT:-0}" = 1 ] && bash "$script" ;;  # ~25 min build: opt-in
    *) bash "$script" ;;
  esac
done
.venv/bin/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
echo "snnkit installed in .venv"
