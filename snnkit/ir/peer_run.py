"""Run a NIR file in a peer library, as a user of that peer would load it: the check that a file written
with ``export_nir(..., target=peer)`` means the same thing there (``snnkit export --nir-target``).

``load_in_peer(path, target)`` calls the peer's own importer (snntorch ``import_from_nir``, norse
``from_nir``, spikingjelly ``import_from_nir``) at the ``dt`` of :data:`snnkit.ir.graph.PEERS`;
``run_in_peer`` steps the imported module over time-major input and returns its output spikes, or, for a
file whose readout was an LI layer (written as a never-firing LIF, metadata ``snnkit.readout``), that
node's membrane, i.e. what the snnkit model outputs.
"""
from __future__ import annotations

import contextlib
import importlib
import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .graph import PEERS
from .nir_import import read_graph

_MODULES = {"snntorch": "snntorch.import_nir", "norse": "norse.torch",
            "spikingjelly": "spikingjelly.activation_based.nir_exchange"}


def _peer(target: str) -> Any:
    if target not in PEERS:
        raise ValueError(f"target={target!r}; allowed: {sorted(PEERS)}")
    try:
        return importlib.import_module(_MODULES[target])
    except ImportError as err:   # norse and spikingjelly pin CUDA builds of torch: install them without deps
        how = 'pip install "snnkit[peers]"' if target == "snntorch" else f"pip install --no-deps {target}"
        raise ImportError(f"running the file in {target} needs {target} ({how}): {err}") from err


def load_in_peer(source: str | Path | "nir.NIRGraph", target: str) -> nn.Module:
    """The peer's module for a NIR file (validated first, like :func:`snnkit.ir.import_nir`) or graph,
    built by the peer's own importer."""
    import nir

    module = _peer(target)
    graph = source if isinstance(source, nir.NIRGraph) else read_graph(source, type_check=True)
    with contextlib.redirect_stdout(io.StringIO()):   # snntorch's importer prints its progress
        if target == "norse":
            return module.from_nir(graph, dt=PEERS[target].dt)
        if target == "spikingjelly":
            return module.import_from_nir(graph, dt=PEERS[target].dt)
        return module.import_from_nir(graph)


def readout_node(source: str | Path | "nir.NIRGraph") -> str | None:
    """Name of the node that holds an LI readout written for a peer (``None``: the output is spikes)."""
    import nir

    graph = source if isinstance(source, nir.NIRGraph) else read_graph(source)
    found = [k for k, n in graph.nodes.items() if (getattr(n, "metadata", None) or {}).get("snnkit.readout") == "LI"]
    return found[-1] if found else None


def _membrane(target: str, net: nn.Module, state: Any, node: str) -> Tensor:
    if target == "snntorch":
        return net.get_submodule(node).mem
    if target == "norse":
        return state.state[node][0].v
    return state[node][0]              # spikingjelly's functional state: (v,)


@torch.no_grad()
def run_in_peer(path: str | Path, target: str, x: Tensor) -> Tensor:
    """Step the peer's import of ``path`` over ``x [T, B, ...]``: ``[T, B, ...]`` output spikes, or the
    readout membrane when the file was written from an LI readout."""
    _peer(target)                                   # an unknown or missing peer fails before the file is read
    graph = read_graph(path, type_check=True)       # read and validated once
    net, node = load_in_peer(graph, target), readout_node(graph)
    out, state = [], None
    for x_t in x.unbind(0):
        y, state = net(x_t, state)
        out.append(y if node is None else _membrane(target, net, state, node).detach().clone())
    return torch.stack(out)


__all__ = ["load_in_peer", "run_in_peer", "readout_node"]
