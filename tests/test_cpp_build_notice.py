"""The first build of the C++ engine says what it is doing (it takes about a minute); a cached one is quiet."""
import logging

import torch.utils.cpp_extension

from snnkit.kernels import lif_cpu


def test_first_build_logs_a_notice_and_a_cached_build_does_not(tmp_path, monkeypatch, caplog):
    built = []

    def fake_load(name, sources, build_directory, **kwargs):   # stands in for the compiler
        built.append(build_directory)
        open(f"{build_directory}/{name}.so", "wb").close()
        return object()

    monkeypatch.setenv("SNNKIT_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.delenv("SNNKIT_DISABLE_CPP", raising=False)
    monkeypatch.setattr(torch.utils.cpp_extension, "load", fake_load)
    for attempt in range(2):
        monkeypatch.setattr(lif_cpu, "_ext", None)
        monkeypatch.setattr(lif_cpu, "_error", None)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="snnkit"):
            assert lif_cpu.load() is not None
        notices = [r for r in caplog.records if "compiling the C++ LIF engine" in r.getMessage()]
        assert len(notices) == (1 if attempt == 0 else 0)
    assert len(built) == 2
