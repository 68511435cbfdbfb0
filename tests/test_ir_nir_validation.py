"""Hostile NIR files: each is refused with InvalidFileError/SizeLimitError naming the node and field,
before any array is read (HDF5 layout checks) or any module is built (graph checks). Files are
written with the real `nir` writer or with h5py in nir's layout; the oracle is the documented error."""
from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.errors import InvalidFileError, SizeLimitError
from snnkit.ir import export_nir, import_nir


def _good(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "good.nir"
    export_nir(N.Sequential(nn.Linear(4, 3), N.LIF(tau_mem=5.0)), str(path), dt=1e-3)
    return path


def _graph(**override):
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}),
             "fc": nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3)),
             "lif": nir.LIF(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3),
                            v_reset=np.zeros(3)),
             "output": nir.Output(output_type={"output": np.array([3])})}
    nodes.update(override)
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
                        metadata={"snnkit.dt": 1e-3}, type_check=False)


def _write(tmp_path, graph, name="bad.nir"):
    path = tmp_path / name
    nir.write(str(path), graph)
    return path


def test_valid_file_still_imports(tmp_path):
    model = import_nir(str(_good(tmp_path)))
    assert model(torch.ones(5, 2, 4)).shape == (5, 2, 3)


def test_weight_bomb_declared_in_hdf5_is_refused_before_reading(tmp_path):
    path = _good(tmp_path)
    with h5py.File(path, "a") as f:
        del f["node/nodes/0/weight"]
        # 10^10 float64 declared; chunked and never written, so the file itself stays tiny
        f["node/nodes/0"].create_dataset("weight", shape=(100_000, 100_000), dtype="f8", chunks=(1, 1000))
    with pytest.raises(SizeLimitError, match="nodes/0/weight"):
        import_nir(str(path))


def test_nested_graph_depth_bomb(tmp_path):
    g = _graph()
    for _ in range(12):
        g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}), "inner": g,
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "inner"), ("inner", "output")], type_check=False)
    with pytest.raises(SizeLimitError, match="nested at most"):
        import_nir(str(_write(tmp_path, g)))


def test_nan_time_constant(tmp_path):
    bad = nir.LIF(tau=np.array([5e-3, np.nan, 5e-3]), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3))
    with pytest.raises(InvalidFileError, match=r"nodes\.lif\.tau"):
        import_nir(str(_write(tmp_path, _graph(lif=bad))))


def test_negative_time_constant(tmp_path):
    bad = nir.LIF(tau=np.full(3, -1.0), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3))
    with pytest.raises(InvalidFileError, match=r"nodes\.lif\.tau.*> 0"):
        import_nir(str(_write(tmp_path, _graph(lif=bad))))


def test_bias_shape_mismatch(tmp_path):
    with pytest.raises(InvalidFileError, match=r"nodes\.fc\.bias"):
        import_nir(str(_write(tmp_path, _graph(fc=nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(7))))))


def test_weight_not_a_matrix(tmp_path):
    with pytest.raises(InvalidFileError, match=r"nodes\.fc\.weight"):
        import_nir(_graph(fc=nir.Linear(weight=np.ones((3, 4, 2)))), dt=1e-3)


def test_edge_to_a_missing_node():
    g = _graph()
    g.edges.append(("lif", "nowhere"))
    with pytest.raises(InvalidFileError, match="edges"):
        import_nir(g, dt=1e-3)


def test_input_shape_bomb(tmp_path):
    g = _graph(input=nir.Input(input_type={"input": np.array([100_000, 100_000])}))
    with pytest.raises(SizeLimitError, match=r"nodes\.input\.input_type"):
        import_nir(str(_write(tmp_path, g)))


def test_conv_kernel_and_stride_out_of_range():
    conv = nir.Conv2d(input_shape=(8, 8), weight=np.ones((2, 1, 3, 3)), stride=(1000, 1), padding=(0, 0),
                      dilation=(1, 1), groups=1, bias=np.zeros(2))
    with pytest.raises(InvalidFileError, match=r"nodes\.fc\.stride"):
        import_nir(_graph(fc=conv), dt=1e-3)


def test_negative_delay():
    with pytest.raises(InvalidFileError, match=r"nodes\.fc\.delay"):
        import_nir(_graph(fc=nir.Delay(delay=np.array([-1.0, 0, 0, 0]))), dt=1e-3)


def test_unsupported_node_type_is_named(tmp_path):
    with pytest.raises(InvalidFileError, match=r"nodes\.fc\.type.*Threshold"):
        import_nir(str(_write(tmp_path, _graph(fc=nir.Threshold(threshold=np.ones(4))))))


def test_reset_metadata_injection(tmp_path):
    bad = nir.LIF(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3), metadata={"snnkit.reset": "__import__('os').system('true')"})
    with pytest.raises(InvalidFileError, match=r"snnkit\.reset"):
        import_nir(str(_write(tmp_path, _graph(lif=bad))))


def test_extension_kind_cannot_name_a_module_to_import(tmp_path, monkeypatch):
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda name, *a: imported.append(name))
    bad = nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3), metadata={"snnkit.module": "os"})
    with pytest.raises(InvalidFileError, match="unknown snnkit extension kind 'os'"):
        import_nir(str(_write(tmp_path, _graph(fc=bad))))
    assert imported == []


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "text.nir"
    path.write_text("not hdf5")
    with pytest.raises(InvalidFileError, match="HDF5"):
        import_nir(str(path))


def test_bad_dt_metadata(tmp_path):
    g = _graph()
    g.metadata["snnkit.dt"] = -1.0
    with pytest.raises(InvalidFileError, match="snnkit.dt"):
        import_nir(str(_write(tmp_path, g)))
