"""Crossbar simulator oracles: ideal devices give F.linear exactly, the periphery matches its formula,
mappings round-trip, device statistics match their analytic distributions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import snnkit
from snnkit.hardware import crossbar as cb
from snnkit.synapses import SeqConv1d, SeqConv2d, TimeDistributed

PERFECT = cb.Periphery(dac_bits=0, inp_bound=0.0, noise_management="none", adc_bits=0, out_bound=0.0,
                       out_noise=0.0, bound_management="none", ir_drop=0.0)
QUIET = {"device.prog_noise_scale": 0.0, "device.read_noise_scale": 0.0, "periphery.out_noise": 0.0}


def _snn():
    return snnkit.neurons.Sequential(nn.Linear(20, 30), snnkit.neurons.LIF(tau_mem=5.0), nn.Linear(30, 4),
                                     snnkit.neurons.LIF(tau_mem=5.0))


def test_ideal_profile_is_exactly_torch():
    lin = nn.Linear(700, 600)  # two row tiles and two column tiles on 512 x 512 arrays
    x = torch.randn(8, 5, 700)
    assert torch.equal(cb.simulate(lin, "ideal")(x), F.linear(x, lin.weight, lin.bias))
    conv = nn.Sequential(SeqConv2d(3, 4, 3, padding=1), TimeDistributed(nn.Flatten()), nn.Linear(4 * 81, 5))
    xs = torch.randn(6, 2, 3, 9, 9)
    assert torch.equal(cb.simulate(conv, "ideal")(xs), conv(xs))
    c1 = SeqConv1d(2, 3, 5, stride=2)
    x1 = torch.randn(4, 2, 2, 20)
    assert torch.equal(cb.simulate(c1, "ideal")(x1), c1(x1))
    snn = _snn()
    spikes = (torch.rand(10, 3, 20) < 0.3).float()
    assert torch.equal(cb.simulate(snn, "ideal")(spikes), snn(spikes))


def test_tiled_noise_free_path_equals_linear_and_conv():
    cfg = cb.CrossbarConfig(device=cb.PCMDevice(prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0),
                            mapping=cb.DifferentialMapping(), periphery=PERFECT, tile_rows=7, tile_cols=5,
                            drift_compensation="none")
    lin = nn.Linear(23, 11).double()
    x = torch.randn(4, 23, dtype=torch.float64)
    sim = cb.simulate(lin, cfg, t_inference=0.0)
    assert sim.array.n_arrays == 4 * 3
    torch.testing.assert_close(sim(x), F.linear(x, lin.weight, lin.bias), rtol=1e-12, atol=1e-12)
    conv = nn.Conv2d(3, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2)).double()
    xc = torch.randn(2, 3, 8, 7, dtype=torch.float64)
    torch.testing.assert_close(cb.simulate(conv, cfg, t_inference=0.0)(xc), conv(xc), rtol=1e-12, atol=1e-12)


def _periphery_formula(x, w, dac_bits, inp_bound, adc_bits, out_bound):
    """Independent numpy version of the documented read: abs-max scaling, DAC, MVM, ADC, clip."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    s = np.abs(x).max(axis=1, keepdims=True)
    s[s == 0] = 1.0
    d = 2 * inp_bound / (2 ** dac_bits - 2)
    xq = np.clip(np.round(x / s / d) * d, -inp_bound, inp_bound)
    a = 2 * out_bound / (2 ** adc_bits - 2)
    y = np.clip(np.round(xq @ w.T / a) * a, -out_bound, out_bound)
    return y * s


@pytest.mark.parametrize("dac_bits,adc_bits", [(7, 9), (4, 6), (8, 5)])
def test_periphery_quantisation_matches_formula(dac_bits, adc_bits):
    per = cb.Periphery(dac_bits=dac_bits, inp_bound=1.0, adc_bits=adc_bits, out_bound=3.0, out_noise=0.0,
                       bound_management="none")
    x = torch.randn(32, 40, dtype=torch.float64)
    x[3] = 0.0
    w = torch.rand(16, 40, dtype=torch.float64) * 2 - 1
    y1, y2 = per.read(x, w), per.read(x, w)
    assert torch.equal(y1, y2)  # deterministic without output noise
    expected = _periphery_formula(x, w, dac_bits, 1.0, adc_bits, 3.0)
    np.testing.assert_allclose(y1.numpy(), expected, rtol=0, atol=1e-12)  # fused no-grad path
    np.testing.assert_allclose(per.read_reference(x, w).numpy(), expected, rtol=0, atol=1e-12)
    step = 2 * 1.0 / (2 ** dac_bits - 2)
    q = cb.quantize(torch.tensor([0.3 * step, 0.7 * step, -1.6 * step], dtype=torch.float64), dac_bits, 1.0)
    torch.testing.assert_close(q, torch.tensor([0.0, step, -2 * step], dtype=torch.float64))


def test_fused_read_equals_reference_read_with_noise_and_bound_management():
    per = cb.Periphery()  # aihwkit defaults: 7-bit DAC, 9-bit ADC, bound 12, noise 0.06, iterative
    x = torch.randn(64, 128, dtype=torch.float64) * 3
    w = torch.rand(32, 128, dtype=torch.float64) * 2 - 1  # large outputs: several bound-management rounds
    fast = per.read(x, w, torch.Generator().manual_seed(5))
    ref = per.read_reference(x, w, torch.Generator().manual_seed(5))
    torch.testing.assert_close(fast, ref, rtol=1e-9, atol=1e-9)


def test_iterative_bound_management_avoids_clipping():
    per = cb.Periphery(dac_bits=0, inp_bound=1.0, adc_bits=0, out_bound=2.0, out_noise=0.0)
    x = torch.ones(2, 50, dtype=torch.float64)
    w = torch.ones(3, 50, dtype=torch.float64) * 0.5
    # Exact value 25 is far above the bound 2: halving the input 16x brings it to 1.5625 < 2.
    torch.testing.assert_close(per.read(x, w), torch.full((2, 3), 25.0, dtype=torch.float64))
    clip = cb.Periphery(dac_bits=0, inp_bound=1.0, adc_bits=0, out_bound=2.0, out_noise=0.0, bound_management="none")
    torch.testing.assert_close(clip.read(x, w), torch.full((2, 3), 2.0, dtype=torch.float64))


@pytest.mark.parametrize("mapping", [cb.DifferentialMapping(25.0, 0.0), cb.DifferentialMapping(40.0, 1.0),
                                     cb.SingleDeviceMapping(25.0, 2.0)])
def test_mapping_round_trip(mapping):
    w = torch.randn(30, 17, dtype=torch.float64)
    gs, w_max = mapping.to_conductances(w)
    assert len(gs) == mapping.devices_per_weight
    for g in gs:
        assert float(g.min()) >= mapping.g_min - 1e-12 and float(g.max()) <= mapping.g_max + 1e-12
    torch.testing.assert_close(mapping.to_weights(gs, w_max), w, rtol=1e-12, atol=1e-12)
    if isinstance(mapping, cb.DifferentialMapping):  # one device of each pair idles at g_min
        assert bool((torch.minimum(gs[0], gs[1]) == mapping.g_min).all())


@pytest.mark.parametrize("slices,bits", [(2, 2), (3, 1), (2, 4)])
def test_bit_slicing_round_trip(slices, bits):
    m = cb.DifferentialMapping(25.0, 0.0, slices=slices, bits_per_slice=bits)
    w = torch.randn(12, 9, dtype=torch.float64)
    gs, w_max = m.to_conductances(w)
    assert len(gs) == 2 * slices
    levels = 2 ** bits - 1  # each device holds one of 2^B digit levels
    for g in gs:
        k = g / 25.0 * levels
        torch.testing.assert_close(k, k.round(), rtol=0, atol=1e-9)
    q_max = 2 ** (bits * slices) - 1
    err = (m.to_weights(gs, w_max) - w).abs().max()
    assert float(err) <= float(w_max) / q_max / 2 + 1e-12
    expected = torch.round(w / w_max * q_max) / q_max * w_max
    torch.testing.assert_close(m.to_weights(gs, w_max), expected, rtol=0, atol=1e-12)


def test_pcm_programming_noise_and_drift_statistics():
    dev = cb.PCMDevice()
    for g_t in (2.0, 12.5, 25.0):
        g = torch.full((200_000,), g_t, dtype=torch.float64)
        x = g_t / 25.0
        sigma = 0.26348 + 1.9650 * x - 1.1731 * x * x
        [s] = dev.program([g])
        assert abs(float(s.g_prog.std()) / sigma - 1) < 0.02
        # nu = |N(mu, sd)| is a folded normal; compare its mean with the closed form.
        g_r = max(g_t / 25.0, 1e-7)
        mu = min(max(-0.0155 * math.log(g_r) + 0.0244, 0.049), 0.1)
        sd = min(max(-0.0125 * math.log(g_r) - 0.0059, 0.008), 0.045)
        folded = sd * math.sqrt(2 / math.pi) * math.exp(-mu * mu / (2 * sd * sd)) + mu * math.erf(mu / math.sqrt(2 * sd * sd))
        assert abs(float(s.nu.mean()) - folded) < 5e-4
    # Drift without read noise: g(t) = g_prog ((t + t0) / t0)^-nu exactly.
    quiet = cb.PCMDevice(read_noise_scale=0.0)
    slices = quiet.program([torch.full((1000,), 20.0, dtype=torch.float64)])
    t = 86400.0
    [g_day] = quiet.read(slices, t)
    torch.testing.assert_close(g_day, slices[0].g_prog * ((t + 20.0) / 20.0) ** (-slices[0].nu))


def test_generic_faults_levels_and_variation():
    dev = cb.LevelDevice(g_max=40.0, g_min=1.0, levels=16, prog_noise_std=0.0, d2d_variation=0.0,
                         stuck_off_fraction=0.05, stuck_on_fraction=0.02, t0=1.0)
    g = torch.rand(100_000, dtype=torch.float64) * 39 + 1
    [s] = dev.program([g])
    assert abs(float(s.stuck_off.double().mean()) - 0.05) < 0.004
    assert abs(float(s.stuck_on.double().mean()) - 0.02) < 0.003
    assert bool((s.g_prog[s.stuck_off] == 1.0).all()) and bool((s.g_prog[s.stuck_on] == 40.0).all())
    free = ~(s.stuck_off | s.stuck_on)
    level = (s.g_prog[free] - 1.0) / (39.0 / 15)
    torch.testing.assert_close(level, level.round(), rtol=0, atol=1e-9)
    var = cb.LevelDevice(g_max=40.0, g_min=0.0, prog_noise_std=0.0, d2d_variation=0.1)
    [v] = var.program([torch.full((100_000,), 20.0, dtype=torch.float64)])
    assert abs(float(v.g_prog.std()) / 2.0 - 1) < 0.02  # 10 % of 20 uS


def test_global_drift_compensation_undoes_uniform_drift():
    # Every device drifts with the same nu: compensation must restore the t = 0 outputs.
    dev = cb.LevelDevice(g_max=25.0, g_min=0.0, prog_noise_std=0.3, drift_nu_mean=0.05, drift_nu_std=0.0, t0=20.0)
    per = cb.Periphery(dac_bits=0, adc_bits=0, out_noise=0.0, out_bound=0.0, bound_management="none")
    cfg = cb.CrossbarConfig(device=dev, mapping=cb.DifferentialMapping(), periphery=per)
    lin = nn.Linear(64, 10).double()
    x = torch.randn(16, 64, dtype=torch.float64)
    sim = cb.simulate(lin, cfg, t_inference=0.0, seed=3)
    y0 = sim(x)
    t = 365 * 86400.0
    cb.drift_to(sim, t)
    torch.testing.assert_close(sim.array.drift_gain, torch.full_like(sim.array.drift_gain, ((t + 20) / 20) ** 0.05))
    torch.testing.assert_close(sim(x), y0, rtol=1e-10, atol=1e-10)
    # the old name of the gain (state dict key and attribute) still works, with a DeprecationWarning
    old = {k.replace("drift_gain", "alpha"): v.clone() for k, v in sim.state_dict().items()}
    sim.array.drift_gain.fill_(1.0)
    sim.load_state_dict(old)
    with pytest.warns(DeprecationWarning, match="drift_gain"):
        torch.testing.assert_close(sim.array.alpha, torch.full_like(sim.array.alpha, ((t + 20) / 20) ** 0.05))
    cb.set_compensation(sim, False)
    torch.testing.assert_close(sim(x) - lin.bias, (y0 - lin.bias) * ((t + 20) / 20) ** -0.05)


def test_energy_model_by_hand():
    cfg = cb.CrossbarConfig.from_profile("ideal", overrides={"device.model": "pcm", **QUIET,
                                                             "device.drift_scale": 0.0, "tile.rows": 8})
    lin = nn.Linear(8, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -1.0, 0, 0, 0, 0, 0, 0.5]] * 3))
    sim = cb.simulate(lin, cfg, t_inference=0.0)
    x = torch.zeros(5, 1, 8)
    x[:, 0, 0] = 1.0  # each of 5 time steps drives row 0 only (a spike)
    rep = cb.estimate_energy(sim, x)
    e = cfg.energy
    [layer] = rep["layers"]
    assert layer["reads_per_inference"] == 5
    assert layer["dac_pj"] == pytest.approx(5 * e.e_dac_pj)
    assert layer["adc_pj"] == pytest.approx(5 * 3 * e.e_adc_pj)
    # row 0 holds G+ = 25 uS in each of 3 columns (G- = 0): V^2 G t per read.
    assert layer["cell_pj"] == pytest.approx(5 * 3 * 25.0 * e.v_read ** 2 * e.t_integrate_ns * 1e-3)
    assert rep["latency_ns"] == pytest.approx(5 * (e.t_integrate_ns + e.t_adc_ns))


def test_energy_model_defaults_and_limits_are_the_profile_schema():
    # a profile without an [energy] table gets the same constants as EnergyModel() and as pcm.toml spells out
    bare = snnkit.hardware.profiles.validate({"kind": "crossbar", "name": "bare", "device": {"model": "ideal",
                                                                                              "g_max": 25.0}})
    assert cb.CrossbarConfig.from_profile(bare).energy == cb.EnergyModel()
    assert cb.CrossbarConfig.from_profile("pcm").energy == cb.EnergyModel()
    # refused as a profile's [energy] table would be, naming the field and what is allowed
    with pytest.raises(ValueError, match=r"e_adc_pj=-1.0 is not allowed; expected a finite number >= 0"):
        cb.EnergyModel(e_adc_pj=-1.0)
    with pytest.raises(ValueError, match=r"adcs_per_array=2.5 has type float; expected int"):
        cb.EnergyModel(adcs_per_array=2.5)


def test_hardware_aware_training_runs_and_then_programs():
    torch.manual_seed(0)
    x = torch.randn(256, 10)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
    hwa = cb.hardware_aware(model, "pcm", weight_noise=0.05)
    torch.testing.assert_close(hwa.eval()(x), model(x))  # unprogrammed, eval: the digital reference
    hwa.train()
    opt = torch.optim.Adam(hwa.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        loss = F.cross_entropy(hwa(x), y)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    sim = cb.simulate(hwa, "pcm", t_inference=3600.0, seed=0)
    assert len(cb.crossbar_layers(sim)) == 2
    assert float((sim(x).argmax(1) == y).float().mean()) > 0.85


def test_lsm_weights_come_from_programming_noise_and_readout_learns():
    over = {"device.d2d_variation": 0.0, "device.stuck_off_fraction": 0.0, "device.stuck_on_fraction": 0.0,
            "device.read_noise_std": 0.0, "device.levels": 0}
    lsm = cb.ResistiveLSM(12, 150, profile="rram", seed=1, overrides=over)
    # Both devices programmed to the same target: w = (G+ - G-) / (g_max - g_min) ~ N(0, 2 sigma^2) / span^2.
    expected_sd = math.sqrt(2) * 1.0 / 39.0
    assert abs(float(lsm.w_in.std()) / expected_sd - 1) < 0.05
    assert abs(float(lsm.w_rec.mean())) < 0.1 * expected_sd
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    rates = torch.where(y[None, :, None].bool() ^ (torch.arange(12) < 6), 0.3, 0.05)
    x = (torch.rand(30, 200, 12, generator=g) < rates.expand(30, -1, -1)).float()
    lsm.fit(x[:, :150], y[:150])
    acc = float((lsm(x[:, 150:]).argmax(1) == y[150:]).float().mean())
    assert acc > 0.9


def test_drift_study_table_and_plot(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(300, 8)
    y = (x[:, :2].sum(1) > 0).long()
    model = nn.Linear(8, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0, -1.0] + [0.0] * 6, [1.0, 1.0] + [0.0] * 6]))
        model.bias.zero_()
    tab = cb.drift_study(model, x, y, profile="ideal", times=(1.0, 86400.0), plot_path=tmp_path / "d.png",
                         progress=False)
    assert tab["digital"] == 1.0 and tab["compensated"] == [1.0, 1.0] and tab["uncompensated"] == [1.0, 1.0]
    assert (tmp_path / "d.png").stat().st_size > 1000
    pcm = cb.drift_study(model, x, y, profile="pcm", times=(1.0, 365 * 86400.0), repeats=2, progress=False)
    assert pcm["time_labels"] == ["1 s", "1 year"] and len(pcm["compensated_std"]) == 2
    assert all(0.5 <= a <= 1.0 for a in pcm["compensated"] + pcm["uncompensated"])
    assert "| Linear (pcm) | yes |" in cb.drift_table_markdown([pcm])


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="model"):
        cb.simulate("not a model")
    with pytest.raises(ValueError, match="t_inference"):
        cb.simulate(nn.Linear(3, 2), "pcm", t_inference=-1.0)
    with pytest.raises(ValueError, match="groups"):
        cb.simulate(nn.Conv2d(4, 4, 3, groups=2), "pcm")
    with pytest.raises(ValueError, match="bits_per_slice"):
        cb.DifferentialMapping(slices=2, bits_per_slice=0)
    with pytest.raises(ValueError, match="drift_compensation"):
        cb.CrossbarConfig(device=cb.IdealDevice(), mapping=cb.DifferentialMapping(), periphery=PERFECT,
                          drift_compensation="local")
