"""NIR round trips against the peers (the oracle): snnkit -> NIR -> snntorch / norse / spikingjelly give
the same spikes (and LI readout membranes) as snnkit, and peer -> NIR -> snnkit gives the peer's spikes.

snnkit -> peer uses ``export_nir(..., target=peer)``: the discretisation bridges live in the library
(snnkit.ir.graph.PEERS / for_peer: snntorch Euler at dt = 1e-4 s, norse Euler at 1e-3 s ignoring ``r``,
spikingjelly Euler at the dt it is given; LI readouts as never-firing LIF nodes; Flatten dims negative).
peer -> snnkit: snntorch must be built with reset_mechanism="zero", reset_delay=False to mean what its
NIR export says (hard reset to v_reset); norse's to_nir writes tau a factor dt too small
(tau = dt / tau_mem_inv), so its files import with dt**2; spikingjelly writes Euler at its dt, like us."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.ir import export_nir, import_nir
from snnkit.synapses import RecurrentCell, SumPool2d, TimeDistributed

T, B = 60, 4


def _snnkit_net(seed: int, cuba: bool = False) -> N.Sequential:
    torch.manual_seed(seed)
    second = N.CubaLIF(tau_syn=3.0, tau_mem=6.0) if cuba else N.LIF(tau_mem=3.0)
    m = N.Sequential(nn.Linear(10, 24), N.LIF(tau_mem=5.0), nn.Linear(24, 5), second)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.5)
    return m


def _run_stepwise(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a peer's single-step module ``net(x_t, state) -> (y_t, state)`` over ``[T, B, ...]``."""
    out, state = [], None
    for x_t in x.unbind(0):
        y, state = net(x_t, state)
        out.append(y)
    return torch.stack(out)


def _spikes(seed: int, n: int = 10) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g) < 0.3).float()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cuba", [False, True])
def test_snnkit_to_snntorch_same_spikes(tmp_path, seed, cuba):
    snntorch_import = pytest.importorskip("snntorch.import_nir")
    import nir
    model, x = _snnkit_net(seed, cuba), _spikes(seed)
    path = tmp_path / "net.nir"
    export_nir(model, str(path), target="snntorch")
    net = snntorch_import.import_from_nir(nir.read(str(path)))
    ref = model(x)
    assert ref.sum() > 10, "test network must spike"
    assert torch.equal(_run_stepwise(net, x), ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cuba", [False, True])
def test_snnkit_to_norse_same_spikes(tmp_path, seed, cuba):
    norse = pytest.importorskip("norse.torch")
    import nir
    model, x = _snnkit_net(seed, cuba), _spikes(seed)
    path = tmp_path / "net.nir"
    export_nir(model, str(path), target="norse")
    net = norse.from_nir(nir.read(str(path)), dt=1e-3)
    ref = model(x)
    assert ref.sum() > 10
    assert torch.equal(_run_stepwise(net, x), ref)


def test_snntorch_to_snnkit_same_spikes():
    snn = pytest.importorskip("snntorch")
    import snntorch.utils
    from snntorch.export_nir import export_to_nir
    torch.manual_seed(3)
    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1, self.l2 = nn.Linear(10, 20), nn.Linear(20, 4)
            self.n1 = snn.Leaky(beta=torch.full((20,), 0.8), threshold=torch.ones(20), **kw)
            self.n2 = snn.Leaky(beta=torch.full((4,), 0.6), threshold=torch.ones(4), **kw)

        def forward(self, x):
            return self.n2(self.l2(self.n1(self.l1(x))))

    peer = Net()
    with torch.no_grad():
        for p in peer.parameters():
            p.mul_(3)
    graph = export_to_nir(peer, torch.zeros(10))
    ours = import_nir(graph, dt=1e-4)
    x = _spikes(4)
    snntorch.utils.reset(peer)
    ref = torch.stack([peer(x_t) for x_t in x.unbind(0)])
    assert ref.sum() > 10
    assert torch.equal(ours(x), ref)


def test_norse_to_snnkit_same_spikes():
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(5)
    p1 = norse.LIFBoxParameters(tau_mem_inv=torch.full((20,), 200.0), v_th=torch.ones(20), v_leak=torch.zeros(20))
    p2 = norse.LIFBoxParameters(tau_mem_inv=torch.full((4,), 300.0), v_th=torch.ones(4), v_leak=torch.zeros(4))
    peer = norse.SequentialState(nn.Linear(10, 20), norse.LIFBoxCell(p1), nn.Linear(20, 4), norse.LIFBoxCell(p2))
    with torch.no_grad():
        for p in peer.parameters():
            p.mul_(8)
    graph = norse.to_nir(peer, torch.zeros(1, 10), dt=1e-3)
    # norse 1.1.0's to_nir writes tau = dt / tau_mem_inv, i.e. dt * (true tau): a factor dt too small.
    # Forward Euler then needs dt' / tau_written = dt / tau_true, so we import with dt' = dt**2.
    ours = import_nir(graph, dt=1e-3 ** 2)
    x = _spikes(6)
    ref = _run_stepwise(peer, x)
    assert ref.sum() > 10
    assert torch.equal(ours(x), ref)


@pytest.mark.parametrize("cuba", [False, True])
def test_snnkit_to_spikingjelly_same_spikes(tmp_path, cuba):
    sj = pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    import nir
    model, x = _snnkit_net(10, cuba), _spikes(10)
    export_nir(model, str(tmp_path / "net.nir"), target="spikingjelly")
    net = sj.import_from_nir(nir.read(str(tmp_path / "net.nir")), dt=1e-4)
    ref = model(x)
    assert ref.sum() > 10
    assert torch.equal(_run_stepwise(net, x), ref)


def test_spikingjelly_to_snnkit_same_spikes():
    sj = pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    from spikingjelly.activation_based import functional, layer, neuron
    torch.manual_seed(1)
    peer = nn.Sequential(layer.Linear(10, 20), neuron.LIFNode(tau=4.0, decay_input=False), layer.Linear(20, 4),
                         neuron.LIFNode(tau=3.0))
    with torch.no_grad():
        for p in peer.parameters():
            p.mul_(8)
    ours = import_nir(sj.export_to_nir(peer, torch.zeros(1, 10), dt=1e-4), dt=1e-4)
    x = _spikes(11)
    functional.reset_net(peer)
    ref = torch.stack([peer(x_t) for x_t in x.unbind(0)])
    assert ref.sum() > 10
    assert torch.equal(ours(x), ref)


PEERS = ["snntorch", "norse", "spikingjelly"]


def _peer_module(target: str, path):
    """The peer's own importer on the file, as a new user would call it."""
    import nir
    graph = nir.read(str(path))  # nir's reader with its type checks
    if target == "snntorch":
        from snntorch.import_nir import import_from_nir
        return import_from_nir(graph)
    if target == "norse":
        import norse.torch as norse
        return norse.from_nir(graph, dt=1e-3)
    from spikingjelly.activation_based.nir_exchange import import_from_nir
    return import_from_nir(graph, dt=1e-4)


def _membrane(target: str, net, state, node: str) -> torch.Tensor:
    if target == "snntorch":
        return net.get_submodule(node).mem
    if target == "norse":
        return state.state[node][0].v
    return state[node][0]  # spikingjelly's functional state: (v,)


@pytest.mark.parametrize("target", PEERS)
def test_li_readout_membrane_matches_in_every_peer(tmp_path, target):
    pytest.importorskip({"snntorch": "snntorch", "norse": "norse.torch",
                         "spikingjelly": "spikingjelly.activation_based.nir_exchange"}[target])
    torch.manual_seed(7)
    model = N.Sequential(nn.Linear(10, 24), N.LIF(tau_mem=5.0, reset="hard"), nn.Linear(24, 5), N.LI(tau_mem=4.0))
    with torch.no_grad():
        model[0].weight.mul_(2.5)
    x = _spikes(7)
    export_nir(model, str(tmp_path / "net.nir"), target=target)
    net = _peer_module(target, tmp_path / "net.nir")
    ref = model(x)  # the LI membrane [T, B, 5]
    assert model[:2](x).sum() > 10
    got, state = [], None
    for x_t in x.unbind(0):
        y, state = net(x_t, state)
        assert not y.any(), "the readout LIF must never fire"
        got.append(_membrane(target, net, state, "3").detach().clone())
    torch.testing.assert_close(torch.stack(got), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("target", PEERS)
def test_conv_net_same_spikes_in_every_peer(tmp_path, target, batch_norm):
    pytest.importorskip({"snntorch": "snntorch", "norse": "norse.torch",
                         "spikingjelly": "spikingjelly.activation_based.nir_exchange"}[target])
    torch.manual_seed(8)
    pool = SumPool2d(2) if target == "norse" else nn.AvgPool2d(2)  # norse reads SumPool2d, not AvgPool2d
    bn = nn.BatchNorm2d(4)  # eval mode: exported as a 1x1 Conv2d with a channel-diagonal kernel
    model = N.Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)),
                         *([TimeDistributed(bn)] if batch_norm else []), N.LIF(tau_mem=4.0, reset="hard"),
                         TimeDistributed(pool), TimeDistributed(nn.Flatten()), nn.Linear(4 * 4 * 4, 5),
                         N.LIF(tau_mem=3.0, reset="hard"))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.5)
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = (torch.rand(T, B, 2, 8, 8, generator=torch.Generator().manual_seed(8)) < 0.3).float()
    export_nir(model, str(tmp_path / "conv.nir"), target=target, input_shape=(2, 8, 8))
    net = _peer_module(target, tmp_path / "conv.nir")
    ref = model(x)
    assert ref.sum() > 10
    assert torch.equal(_run_stepwise(net, x), ref)


@pytest.mark.parametrize("target", ["norse", "spikingjelly"])
def test_recurrent_net_same_spikes_in_peers(tmp_path, target):
    pytest.importorskip({"norse": "norse.torch", "spikingjelly": "spikingjelly.activation_based.nir_exchange"}[target])
    torch.manual_seed(0)
    model = N.Sequential(nn.Linear(10, 12), RecurrentCell(N.LIF(tau_mem=5.0, reset="hard"), nn.Linear(12, 12, bias=False)),
                         nn.Linear(12, 4), N.LIF(tau_mem=3.0, reset="hard"))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.5)
    x = _spikes(12)
    export_nir(model, str(tmp_path / "rec.nir"), target=target)
    net = _peer_module(target, tmp_path / "rec.nir")
    ref = model(x)
    assert ref.sum() > 10 and model[:2](x).sum() > 10
    assert torch.equal(_run_stepwise(net, x), ref)


@pytest.mark.parametrize("target", PEERS)
def test_peer_targets_refuse_what_the_peer_would_run_differently(target):
    recurrent = N.Sequential(nn.Linear(4, 6), RecurrentCell(N.LIF(reset="hard"), nn.Linear(6, 6, bias=False)))
    if target == "snntorch":  # snntorch 1.0's importer fails on a neuron <-> Linear cycle
        with pytest.raises(ValueError, match="recurrent"):
            export_nir(recurrent, "unused.nir", target=target)
    with pytest.raises(ValueError, match="extensions"):
        export_nir(N.Sequential(nn.Linear(4, 2), N.LIF(reset="subtract")), "unused.nir", target=target)
    with pytest.raises(ValueError, match="dt"):
        export_nir(N.Sequential(nn.Linear(4, 2), N.LIF(reset="hard")), "unused.nir", dt=0.5, target=target)


def test_spikingjelly_conv_net_to_snnkit_same_spikes():
    sj = pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    from spikingjelly.activation_based import functional, layer, neuron
    torch.manual_seed(2)
    peer = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.LIFNode(tau=4.0, decay_input=False),
                         layer.AvgPool2d(2), layer.Flatten(), layer.Linear(64, 5), neuron.LIFNode(tau=3.0))
    with torch.no_grad():
        for p in peer.parameters():
            p.mul_(10)
    ours = import_nir(sj.export_to_nir(peer, torch.zeros(1, 2, 8, 8), dt=1e-4), dt=1e-4)
    x = (torch.rand(40, 3, 2, 8, 8, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    functional.reset_net(peer)
    ref = torch.stack([peer(x_t) for x_t in x.unbind(0)])
    assert ref.sum() >= 5
    assert torch.equal(ours(x), ref)
