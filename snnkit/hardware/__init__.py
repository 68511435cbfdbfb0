"""Backends that run a snnkit network elsewhere: ``snnkit.hardware.loihi`` (Intel Loihi 2 through
Lava) and ``snnkit.hardware.crossbar`` (resistive-memory crossbar simulation). Chip and device profiles
are TOML files in the repository's top-level ``hardware/`` folder."""
