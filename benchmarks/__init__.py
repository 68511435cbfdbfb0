"""Performance benchmarks against peer libraries. Run ``snnkit bench NAME --json`` or
``python -m benchmarks NAME --json``; each module defines ``main(argv) -> int``."""
