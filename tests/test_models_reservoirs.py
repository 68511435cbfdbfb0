"""Reservoir wiring against the published recipes; the liquid's dynamics against snnkit.functional."""
import torch

from snnkit.functional import IzhikevichParameters, izhikevich_step
from snnkit.models.reservoirs import ExcitatoryInhibitoryLSM, IzhikevichReservoir


def test_izhikevich_reservoir_draws_the_published_parameter_ranges_and_obeys_dale():
    res = IzhikevichReservoir(3, n=500, seed=4)
    exc, inh = slice(0, res.n_exc), slice(res.n_exc, None)
    assert res.n_exc == 400
    assert torch.all(res.a[exc] == 0.02) and torch.all(res.b[exc] == 0.2)
    assert torch.all((res.c[exc] >= -65) & (res.c[exc] <= -50)) and torch.all((res.d[exc] >= 2) & (res.d[exc] <= 8))
    assert torch.all((res.a[inh] >= 0.02) & (res.a[inh] <= 0.1)) and torch.all((res.b[inh] >= 0.2) & (res.b[inh] <= 0.25))
    assert torch.all(res.c[inh] == -65) and torch.all(res.d[inh] == 2)
    assert torch.all(res.w_rec[:, exc] >= 0) and torch.all(res.w_rec[:, inh] <= 0)
    assert torch.all(res.w_rec.diagonal() == 0)
    assert 0.08 < float((res.w_rec != 0).float().mean()) < 0.12


def test_isolated_reservoir_neurons_follow_the_izhikevich_equations():
    res = IzhikevichReservoir(2, n=20, noise=0.0, seed=1)
    res.w_rec.zero_()
    x = torch.rand(50, 3, 2)
    spikes, _ = res(x)
    params = IzhikevichParameters(a=res.a, b=res.b, c=res.c, d=res.d, dt=res.dt)
    state = params.initial_state(torch.zeros(3, 20))
    for t, x_t in enumerate(x.unbind(0)):
        s, state = izhikevich_step(x_t @ res.w_in.t(), state, params)
        assert torch.equal(s, spikes[t])


def test_lsm_plastic_mask_covers_only_existing_excitatory_synapses():
    lsm = ExcitatoryInhibitoryLSM(10, n=100, seed=0)
    assert torch.all(lsm.w_rec[lsm.plastic_mask] > 0)
    assert not lsm.plastic_mask[:, lsm.n_exc:].any()
    assert lsm(torch.rand(5, 2, 10)).shape == (5, 2, 100)
