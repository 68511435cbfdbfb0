"""snnkit's crossbar against IBM aihwkit 1.2.0 (built by .ci/install_aihwkit.sh; skipped without it).

Exact: aihwkit's PCM noise model is plain torch, so with the same seed and draw order snnkit's PCM
programming, drift exponents and drift/read noise are the same tensors, and its conductance mapping is
aihwkit's single-pair converter. Statistical: weight error after drift, the global drift-compensation
factor and the MVM error of a programmed layer agree with aihwkit's torch tile and its C++ tile."""
from __future__ import annotations

import pytest
import torch

aihwkit = pytest.importorskip("aihwkit")
pytestmark = pytest.mark.aihwkit

from aihwkit.inference.converter.conductance import SinglePairConductanceConverter  # noqa: E402
from aihwkit.inference.noise.pcm import PCMLikeNoiseModel  # noqa: E402
from aihwkit.nn import AnalogLinear  # noqa: E402
from aihwkit.simulator.configs import InferenceRPUConfig, TorchInferenceRPUConfig  # noqa: E402

from snnkit.hardware import crossbar as cb  # noqa: E402

TIMES = [0.0, 1.0, 3600.0, 86400.0, 365 * 86400.0]


def test_pcm_device_draws_equal_aihwkit_conductance_level():
    ref = PCMLikeNoiseModel(g_max=25.0)
    dev = cb.PCMDevice()
    g = torch.rand(96, 80) * 25.0
    g[0, :5] = 0.0
    torch.manual_seed(11)
    a_prog = ref.apply_programming_noise_to_conductance(g)
    a_nu = ref.generate_drift_coefficients(g)
    torch.manual_seed(11)
    [s] = dev.program([g])
    assert torch.equal(s.g_prog, a_prog) and torch.equal(s.nu, a_nu)
    for t in TIMES:
        torch.manual_seed(12)
        a = ref.apply_drift_noise_to_conductance(a_prog, a_nu, t)
        torch.manual_seed(12)
        [b] = dev.read([s], t)
        assert torch.equal(a, b), t


def test_mapping_and_weight_level_programming_equal_aihwkit():
    w = torch.randn(40, 30) * 0.3
    conv = SinglePairConductanceConverter(g_max=25.0)
    a_gs, params = conv.convert_to_conductances(w)
    b_gs, w_max = cb.DifferentialMapping(25.0, 0.0).to_conductances(w)
    assert all(torch.equal(a, b) for a, b in zip(a_gs, b_gs))
    # Same draw order per slice: programming noise then nu, for G+ then G-.
    ref = PCMLikeNoiseModel(g_max=25.0)
    torch.manual_seed(3)
    a_w, a_nus = ref.apply_programming_noise(w)
    torch.manual_seed(3)
    slices = cb.PCMDevice().program(b_gs)
    assert all(torch.equal(a, s.nu) for a, s in zip(a_nus, slices))
    b_w = cb.DifferentialMapping(25.0, 0.0).to_weights([s.g_prog for s in slices], w_max)
    torch.testing.assert_close(b_w, a_w, rtol=1e-6, atol=1e-7)  # only the back-conversion rounds differently


def _aihwkit_layer(w: torch.Tensor, rpu_config, t: float, seed: int) -> AnalogLinear:
    torch.manual_seed(seed)
    layer = AnalogLinear(w.shape[1], w.shape[0], bias=False, rpu_config=rpu_config)
    layer.set_weights(w)
    layer.eval()
    layer.program_analog_weights()
    layer.drift_analog_weights(t)
    return layer


def _tile(layer):
    return next(layer.analog_tiles())


@pytest.mark.parametrize("rpu_cls", [TorchInferenceRPUConfig, InferenceRPUConfig], ids=["torch-tile", "cpp-tile"])
def test_statistics_agree_with_aihwkit_tiles(rpu_cls):
    torch.manual_seed(0)
    w = torch.randn(128, 128)
    w = w / w.abs().max()  # max |w| = 1: aihwkit's unscaled tile and snnkit's normalised read coincide
    x = torch.randn(512, 128)
    y_ideal = x @ w.t()
    stats = {"ours": {"werr": [], "alpha": [], "yerr": []}, "ibm": {"werr": [], "alpha": [], "yerr": []}}
    t = 86400.0
    for seed in range(4):
        ours = cb.simulate(torch.nn.Linear(128, 128, bias=False), "pcm", t_inference=t, seed=100 + seed)
        ours.weight.data.copy_(w)
        cb.program(ours, torch.Generator().manual_seed(100 + seed))
        cb.drift_to(ours, t, torch.Generator().manual_seed(200 + seed))
        arr = ours.array
        stats["ours"]["werr"].append(float((arr.effective_weight(compensated=False) - w).std()))
        stats["ours"]["alpha"].append(float(arr.alpha.mean()))
        with torch.no_grad():
            stats["ours"]["yerr"].append(float((ours(x) - y_ideal).std() / y_ideal.std()))
        ibm = _aihwkit_layer(w, rpu_cls(), t, seed)
        tile = _tile(ibm)
        stats["ibm"]["werr"].append(float((tile.tile.get_weights() - w).std()))
        stats["ibm"]["alpha"].append(float(torch.as_tensor(tile.alpha).mean()))
        with torch.no_grad():
            stats["ibm"]["yerr"].append(float((ibm(x) - y_ideal).std() / y_ideal.std()))
    mean = {k: {q: sum(v) / len(v) for q, v in d.items()} for k, d in stats.items()}
    # Weight error after one day (programming + drift + 1/f, before compensation).
    assert mean["ours"]["werr"] == pytest.approx(mean["ibm"]["werr"], rel=0.1)
    # Global drift-compensation factor.
    assert mean["ours"]["alpha"] == pytest.approx(mean["ibm"]["alpha"], rel=0.04)
    # Relative error of the compensated, periphery-managed MVM.
    assert mean["ours"]["yerr"] == pytest.approx(mean["ibm"]["yerr"], rel=0.15)


def test_programming_noise_distribution_matches_aihwkit_tile():
    # Per-weight programming error at t = 0 against the torch tile: same std per target magnitude.
    torch.manual_seed(1)
    w = torch.linspace(-1, 1, 256).repeat(64, 1)
    ibm = _aihwkit_layer(w, TorchInferenceRPUConfig(), 0.0, 5)
    a_err = _tile(ibm).programmed_weights - w
    ours = cb.simulate(torch.nn.Linear(256, 64, bias=False), "pcm", t_inference=0.0, seed=5)
    ours.weight.data.copy_(w)
    cb.program(ours, torch.Generator().manual_seed(5))
    slices = ours.array._slices[(0, 0)]
    b_err = cb.DifferentialMapping(25.0, 0.0).to_weights([s.g_prog for s in slices], torch.tensor(1.0)) - w
    for lo, hi in ((0, 64), (96, 160), (192, 256)):
        sa, sb = float(a_err[:, lo:hi].std()), float(b_err[:, lo:hi].std())
        assert sb == pytest.approx(sa, rel=0.1)
