import importlib
import sys

if len(sys.argv) < 2:
    print("usage: python -m benchmarks NAME [options]   (NAME: core, delays, plasticity, loihi, crossbar, ...)")
    sys.exit(2)
sys.exit(importlib.import_module(f"benchmarks.{sys.argv[1]}").main(sys.argv[2:]))
