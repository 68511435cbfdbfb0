#!/usr/bin/env bash
# Installs the real Lava runtime (lava-nc 0.10.0) and lava-dl 0.6.0's netx reader into a SEPARATE
# virtual environment, .venv-lava, because Lava needs numpy<2 while snnkit's .venv has numpy 2.
# snnkit talks to it only through a subprocess (snnkit/hardware/loihi/_lava_runner.py) and .npz
# files, so nothing from this environment is imported into the main one.
#
# Python 3.11 fix (REFERENCE.md section 2): lava/magma/compiler/var_model.py declares dataclass
# fields with mutable defaults `ByteEncoder()`, which 3.11 rejects; we change them to
# `field(default_factory=ByteEncoder)`. The file's sha256 is checked before patching, so a
# different Lava release is refused instead of being patched blindly.
#
# lava-dl is installed with --no-deps: its slayer package imports torch and torchvision (no CPU build here).
# snnkit runs lava-dl's real netx loader (lava.lib.dl.netx.hdf5.Network, its blocks and
# optimize_weight_bits); the only slayer name netx imports (rf.neuron_params, for resonate-and-fire
# neurons) is stubbed in snnkit/hardware/loihi/_lava_script.py, so neither torch nor torchvision are needed.
#
# Idempotent; run from the repository root:  bash .ci/install_lava.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LAVA_VENV:-.venv-lava}"
BASE_PY="${LAVA_BASE_PYTHON:-$(.venv/bin/python -c 'import sys; print(sys._base_executable)')}"
ORIG_SHA=3b8acb73dc3ff38d159065aa0339b90f371f99f162e68d10a3117afbd916afa8     # lava-nc 0.10.0 as released
PATCHED_SHA=2fc7130d0c978a12f364bdb0ff1182481230a56f816d21ee4042428d24f87f61  # after our fix

if [ ! -x "$VENV/bin/python" ]; then
  "$BASE_PY" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip >/dev/null
"$PY" -m pip install -q "numpy>=1.24.4,<2" psutil h5py
"$PY" -m pip install -q --ignore-requires-python --only-binary=:all: "numpy>=1.24.4,<2" lava-nc==0.10.0
"$PY" -m pip install -q --no-deps --ignore-requires-python lava-dl==0.6.0

VAR_MODEL="$("$PY" - <<'PYEOF'
import importlib.util, os
spec = importlib.util.find_spec("lava")
print(os.path.join(list(spec.submodule_search_locations)[0], "magma", "compiler", "var_model.py"))
PYEOF
)"
SHA="$(sha256sum "$VAR_MODEL" | cut -d' ' -f1)"
if [ "$SHA" = "$PATCHED_SHA" ]; then
  echo "install_lava: var_model.py already patched"
elif [ "$SHA" = "$ORIG_SHA" ]; then
  "$PY" - "$VAR_MODEL" <<'PYEOF'
import os, sys
path = sys.argv[1]
text = open(path).read()
text = text.replace("from dataclasses import dataclass, InitVar",
                    "from dataclasses import dataclass, InitVar, field", 1)
count = text.count(": ByteEncoder = ByteEncoder()")
text = text.replace(": ByteEncoder = ByteEncoder()", ": ByteEncoder = field(default_factory=ByteEncoder)")
tmp = path + ".tmp"
open(tmp, "w").write(text)
os.replace(tmp, path)
print(f"install_lava: patched {count} mutable ByteEncoder defaults in {path}")
PYEOF
  NEW_SHA="$(sha256sum "$VAR_MODEL" | cut -d' ' -f1)"
  if [ "$NEW_SHA" != "$PATCHED_SHA" ]; then
    echo "install_lava: patched var_model.py has sha256 $NEW_SHA, expected $PATCHED_SHA" >&2
    exit 1
  fi
else
  echo "install_lava: unexpected sha256 $SHA of $VAR_MODEL (expected $ORIG_SHA); refusing to patch" >&2
  exit 1
fi
# Smoke test: the fixed-point LIF process model imports under Python 3.11.
"$PY" -c "import lava.proc.lif.models, lava.proc.dense.models, numpy; print('install_lava: ok, lava-nc 0.10.0, numpy', numpy.__version__)"
