"""``snnkit.ir.peer_run``: a file written with ``export_nir(..., target=peer)`` and run by the peer's own
importer (the oracle: snntorch, norse, spikingjelly as installed) gives the snnkit model's outputs, for a
spiking output and for an LI readout (its membrane); ``snnkit export --nir-target`` reports that check."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.ir import export_nir
from snnkit.ir.peer_run import readout_node, run_in_peer

PEERS = ["snntorch", "norse", "spikingjelly"]


def _net(readout: str) -> N.Sequential:
    torch.manual_seed(5)
    last = N.LI(tau_mem=4.0) if readout == "li" else N.LIF(tau_mem=3.0, reset="hard")
    m = N.Sequential(nn.Linear(10, 20), N.LIF(tau_mem=5.0, reset="hard"), nn.Linear(20, 4), last)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.5)
    return m


@pytest.mark.parametrize("readout", ["spikes", "li"])
@pytest.mark.parametrize("target", PEERS)
def test_peer_runs_the_file_as_snnkit_does(tmp_path, target, readout):
    model = _net(readout)
    x = (torch.rand(40, 3, 10, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    path = tmp_path / "net.nir"
    export_nir(model, str(path), target=target)
    with torch.no_grad():
        ref = model(x)
    assert model[:2](x).sum() > 10, "the hidden layer must spike"
    assert (readout_node(path) is not None) == (readout == "li")
    torch.testing.assert_close(run_in_peer(path, target, x), ref, rtol=1e-5, atol=1e-5)


def test_unknown_peer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="allowed"):
        run_in_peer(tmp_path / "x.nir", "brian2", torch.zeros(1, 1, 1))


def test_missing_peer_says_how_to_install(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_norse(name, *args, **kwargs):
        if name.startswith("norse"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    import sys
    for mod in [m for m in sys.modules if m.startswith("norse")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_norse)
    with pytest.raises(ImportError, match="pip install --no-deps norse"):
        run_in_peer(tmp_path / "x.nir", "norse", torch.zeros(1, 1, 1))


def test_a_damaged_file_is_refused_before_any_peer_sees_it(tmp_path):
    from snnkit.errors import InvalidFileError
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(InvalidFileError, match="bad.nir"):
        run_in_peer(bad, "norse", torch.zeros(1, 1, 1))


def test_extensions_used_names_what_peers_would_run_differently():
    from snnkit.ir import to_graph
    from snnkit.ir.graph import extensions_used
    soft = N.Sequential(nn.Linear(4, 3), N.LIF(reset="subtract"))
    assert extensions_used(to_graph(soft, extensions=True)) == ["reset=subtract"]
    assert extensions_used(to_graph(_net("spikes"))) == []
