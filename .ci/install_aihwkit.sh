#!/usr/bin/env bash
# Builds IBM aihwkit 1.2.0 (sdist only, CPU build, ~25 min on 2 cores) into a cached wheel and installs
# it into .venv. Idempotent: an installed aihwkit 1.2.0 is left alone, a cached wheel is reused.
# Run from the repository root:  bash .ci/install_aihwkit.sh
# Needs: Debian libopenblas-dev (installed with apt-get when missing and we are root), torch already in
# .venv (the build links against it, hence --no-build-isolation), mypy's stubgen on PATH (the build
# generates .pyi stubs), cmake >= 4.2.1, scikit-build, pybind11 (pip-installed into .venv here).
#
# AIHWKIT_BUILD_TYPE=Release (default: -O3, ~25 min on 2 free cores) or None (no optimisation flags:
# compiles several times faster; the C++ tile then runs slowly, which the oracle tests do not mind;
# the pure-torch tile that the benchmark uses is unaffected). Wheels are cached per build type.
set -euo pipefail

AIHWKIT_VERSION="${AIHWKIT_VERSION:-1.2.0}"
PY="${PY:-.venv/bin/python}"
AIHWKIT_BUILD_TYPE="${AIHWKIT_BUILD_TYPE:-Release}"
WHEEL_DIR="${AIHWKIT_WHEEL_DIR:-.cache/wheels}/aihwkit-${AIHWKIT_BUILD_TYPE}"
SDIST_DIR="${AIHWKIT_SDIST_DIR:-.cache/sdist}"
CONSTRAINTS=".ci/constraints.txt"

if "$PY" - "$AIHWKIT_VERSION" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    ok = version("aihwkit").split("+")[0] == sys.argv[1]
    import aihwkit.simulator.rpu_base  # noqa: F401  (the compiled extension must load too)
except (PackageNotFoundError, ImportError):
    ok = False
sys.exit(0 if ok else 1)
PYEOF
then
    echo "aihwkit ${AIHWKIT_VERSION} already installed"
    exit 0
fi

# Runtime dependencies of aihwkit that we actually import (torchvision is not needed for inference).
"$PY" -m pip install -q -c "$CONSTRAINTS" scipy numpy "protobuf>=4.21.6" "requests>=2.25,<3" tqdm

mkdir -p "$WHEEL_DIR"
wheel="$(ls "$WHEEL_DIR"/aihwkit-"${AIHWKIT_VERSION}"-*.whl 2>/dev/null | head -n1 || true)"
# The wheel committed in .ci/wheels (see its README) serves this interpreter when the tags match.
pytag="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
prebuilt=".ci/wheels/aihwkit-${AIHWKIT_VERSION}-${pytag}-${pytag}-linux_x86_64.whl"
if [ -z "$wheel" ] && [ -f "$prebuilt" ]; then
    wheel="$prebuilt"
fi
# The compiled tile links against the OpenBLAS runtime.
if ! ldconfig -p | grep -q 'libopenblas\.so\.0'; then
    if [ "$(id -u)" = "0" ]; then
        apt-get update -qq && apt-get install -y -qq libopenblas0 >/dev/null
    else
        echo "the OpenBLAS runtime is missing: sudo apt-get install -y libopenblas0" >&2
        exit 1
    fi
fi
if [ -z "$wheel" ]; then
    if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
        if [ "$(id -u)" = "0" ]; then
            apt-get install -y libopenblas-dev
        else
            echo "libopenblas-dev is missing: sudo apt-get install -y libopenblas-dev" >&2
            exit 1
        fi
    fi
    # Build tools into the venv (build isolation is off because the extension links against torch).
    "$PY" -m pip install -q -c "$CONSTRAINTS" "cmake>=4.2.1" "scikit-build>=0.18.1" "pybind11>=3.0.1" \
        ninja mypy wheel "setuptools>=77"
    mkdir -p "$SDIST_DIR"
    if [ ! -f "$SDIST_DIR/aihwkit-${AIHWKIT_VERSION}.tar.gz" ]; then
        "$PY" -m pip download -q --no-deps --no-build-isolation --no-binary aihwkit \
            -d "$SDIST_DIR" "aihwkit==${AIHWKIT_VERSION}"
    fi
    venv_bin="$(cd "$(dirname "$PY")" && pwd)"
    export PATH="$venv_bin:$PATH"          # stubgen, cmake, ninja from the venv
    export USE_CUDA=OFF
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    export MAX_JOBS="$CMAKE_BUILD_PARALLEL_LEVEL"
    # Appended after scikit-build's own -DCMAKE_BUILD_TYPE=Release, so ours wins.
    export SKBUILD_CONFIGURE_OPTIONS="-DRPU_BLAS=OpenBLAS -DUSE_CUDA=OFF -DBUILD_TEST=OFF -DCMAKE_BUILD_TYPE=${AIHWKIT_BUILD_TYPE}"
    tmp_wheels="$(mktemp -d "$WHEEL_DIR/.build.XXXXXX")"
    "$PY" -m pip wheel --no-deps --no-build-isolation -w "$tmp_wheels" \
        "$SDIST_DIR/aihwkit-${AIHWKIT_VERSION}.tar.gz"
    built="$(ls "$tmp_wheels"/aihwkit-*.whl | head -n1)"
    mv "$built" "$WHEEL_DIR/"               # same folder: atomic, a half-built wheel is never cached
    rm -rf "$tmp_wheels"
    wheel="$WHEEL_DIR/$(basename "$built")"
fi

"$PY" -m pip install --no-deps --force-reinstall "$wheel"
"$PY" -c "import aihwkit, aihwkit.simulator.rpu_base; print('aihwkit', aihwkit.__version__, 'installed')"
