"""e-prop (Bellec et al. 2020): online gradients for recurrent LIF and ALIF networks.

The gradient of a loss ``E`` factorises over time into a learning signal ``L_j^t`` and an
eligibility trace ``e_ji^t`` that each synapse computes forward in time::

    dE/dW_ji = sum_t L_j^t e_ji^t

For LIF neurons (subtract reset; as in the paper, the reset's own derivative is ignored) with
``beta = decay(tau_mem)`` and pseudo-derivative ``psi_j^t = surrogate'(h_j^t - v_th)``::

    xbar_i^t = beta xbar_i^{t-1} + pre_i^t,        e_ji^t = psi_j^t xbar_i^t

For ALIF neurons (threshold ``A^t = v_th + beta_a a^{t-1}``, ``a^t = rho a^{t-1} + z^t``) a second
component follows the adaptation::

    e_ji^t = psi_j^t (xbar_i^t - beta_a eps_ji^{t-1}),      eps_ji^t = rho eps_ji^{t-1} + e_ji^t

With ``L_j^t`` the true total derivative ``dE/dz_j^t`` (recurrent and readout paths; own reset and
adaptation excluded, being in ``e``) this *is* BPTT's gradient (``tests/test_plasticity_eprop.py``).
e-prop proper uses the online signal ``L^t = B (y^t - y*^t)`` through a leaky readout
``y^t = kappa y^{t-1} + W_out z^t``, where ``B = W_out^T`` (symmetric) or a fixed random matrix
(random e-prop), and filters ``e`` with ``kappa``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Literal

import torch
from torch import Tensor, nn

from .. import _checks
from ..functional import ALIFParameters, LIFParameters, decay, lif_step, recurrent_multistep
from ..functional.alif import adapt
from ..functional.lif import integrate, reset_membrane

Signal = Tensor | Callable[[int, Tensor], Tensor]


@dataclass
class EPropState:
    """What an e-prop run returns: gradients and the recorded spikes."""

    grad_in: Tensor
    grad_rec: Tensor
    spikes: Tensor


def _lif_of(p: LIFParameters | ALIFParameters) -> LIFParameters:
    lif = p.lif if isinstance(p, ALIFParameters) else p
    if lif.reset != "subtract" or lif.decay_input:
        raise ValueError(f"e-prop supports reset='subtract' with decay_input=False; got reset={lif.reset!r}, "
                         f"decay_input={lif.decay_input}")
    return lif


def eprop_gradients(x: Tensor, w_in: Tensor, w_rec: Tensor, params: LIFParameters | ALIFParameters,
                    learning_signal: Signal, readout_decay: float = 0.0) -> EPropState:
    """Run a recurrent LIF/ALIF layer forward over ``x [T, B, I]`` and accumulate e-prop gradients.

    ``learning_signal`` is ``[T, B, H]`` or a callable ``(t, spikes_t) -> [B, H]`` (called online).
    ``readout_decay`` (kappa) low-pass filters the eligibility traces for a leaky readout.
    Returns gradients of ``w_in [H, I]`` and ``w_rec [H, H]`` and the spikes ``[T, B, H]``.
    """
    _checks.time_major("x", x, 3)
    if not 0.0 <= readout_decay < 1.0:
        raise ValueError(f"readout_decay={readout_decay} must lie in [0, 1)")
    lif = _lif_of(params)
    alif = isinstance(params, ALIFParameters)
    T, B, n_in = x.shape
    H = w_in.shape[0]
    if tuple(w_in.shape) != (H, n_in) or tuple(w_rec.shape) != (H, H):
        raise ValueError(f"w_in must be [H, {n_in}] and w_rec [H, H]; got {tuple(w_in.shape)}, {tuple(w_rec.shape)}")
    with torch.no_grad():
        w_in, w_rec = w_in.detach(), w_rec.detach()
        beta = float(lif.beta(x))
        th = lif.threshold(x)
        if alif:
            rho, beta_a = params.rho(x), float(params.beta_adapt)
        z = v = a = x.new_zeros(B, H)
        xbar_in, xbar_rec = x.new_zeros(B, n_in), x.new_zeros(B, H)
        kappa = float(readout_decay)
        full = alif or kappa > 0  # per-synapse traces [B, H, fan_in] needed
        if full:
            eps_in, eps_rec = x.new_zeros(B, H, n_in), x.new_zeros(B, H, H)
            ebar_in, ebar_rec = x.new_zeros(B, H, n_in), x.new_zeros(B, H, H)
        g_in, g_rec = x.new_zeros(H, n_in), x.new_zeros(H, H)
        spikes = []
        for t, x_t in enumerate(x.unbind(0)):
            pre_rec = z
            h = integrate(x_t @ w_in.t() + pre_rec @ w_rec.t(), v, beta, False)
            thr = params.threshold(a, x) if alif else th
            z = (h - thr > 0).to(x.dtype)
            psi = lif.surrogate.derivative(h - thr)
            xbar_in = beta * xbar_in + x_t
            xbar_rec = beta * xbar_rec + pre_rec
            sig = learning_signal(t, z) if callable(learning_signal) else learning_signal[t]
            if full:
                e_in = psi.unsqueeze(2) * (xbar_in.unsqueeze(1) - (beta_a * eps_in if alif else 0))
                e_rec = psi.unsqueeze(2) * (xbar_rec.unsqueeze(1) - (beta_a * eps_rec if alif else 0))
                if alif:
                    eps_in, eps_rec = rho * eps_in + e_in, rho * eps_rec + e_rec
                ebar_in, ebar_rec = kappa * ebar_in + e_in, kappa * ebar_rec + e_rec
                g_in += torch.einsum("bh,bhi->hi", sig, ebar_in)
                g_rec += torch.einsum("bh,bhi->hi", sig, ebar_rec)
            else:  # LIF without readout filter: e_ji = psi_j xbar_i, so the sum is one matmul
                ls = sig * psi
                g_in += ls.t() @ xbar_in
                g_rec += ls.t() @ xbar_rec
            v = reset_membrane(h, z, thr, lif)
            if alif:
                a = adapt(a, z, rho)
            spikes.append(z)
    return EPropState(g_in, g_rec, torch.stack(spikes))


def _softmax(y: Tensor) -> Tensor:
    # torch.softmax on tiny tensors pays a thread-pool launch per call (~20 ms on a busy 2-core box)
    e = (y - y.amax(1, keepdim=True)).exp()
    return e / e.sum(1, keepdim=True)


class EProp(nn.Module):
    """A recurrent LIF/ALIF layer with a leaky linear readout, trained online by e-prop.

    ``forward(x)`` is the differentiable forward pass (for BPTT comparisons and inference):
    ``x [T, B, I] -> readout [T, B, O]``. :meth:`learn` runs forward once, computing e-prop gradients
    online, and writes them into ``.grad`` of ``w_in``, ``w_rec``, ``w_out`` and ``b_out`` for any
    optimiser. ``feedback="symmetric"`` uses ``W_out^T`` as feedback, ``"random"`` a fixed random
    matrix. ``loss="ce"`` (softmax cross-entropy at every step against class targets ``[B]`` or
    ``[T, B]``) or ``"mse"`` (targets ``[T, B, O]``).
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, neuron: Literal["lif", "alif"] = "lif",
                 tau_mem: float = 20.0, v_th: float = 0.5, tau_adapt: float = 200.0, beta_adapt: float = 0.2,
                 readout_tau: float = 20.0, feedback: Literal["symmetric", "random"] = "symmetric",
                 surrogate: str = "triangle", seed: int = 0) -> None:
        super().__init__()
        _checks.one_of("neuron", neuron, ("lif", "alif"))
        _checks.one_of("feedback", feedback, ("symmetric", "random"))
        g = torch.Generator().manual_seed(seed)
        self.w_in = nn.Parameter(torch.randn(n_hidden, n_in, generator=g) / n_in ** 0.5)
        self.w_rec = nn.Parameter(torch.randn(n_hidden, n_hidden, generator=g) / n_hidden ** 0.5 * 0.5)
        with torch.no_grad():
            self.w_rec.fill_diagonal_(0.0)  # no self-connections (Bellec 2020)
        self.w_out = nn.Parameter(torch.randn(n_out, n_hidden, generator=g) / n_hidden ** 0.5)
        self.b_out = nn.Parameter(torch.zeros(n_out))
        self.register_buffer("feedback_matrix", torch.randn(n_out, n_hidden, generator=g) / n_hidden ** 0.5)
        lif = LIFParameters(tau_mem=tau_mem, v_th=v_th, reset="subtract", surrogate=surrogate)
        self.params: LIFParameters | ALIFParameters = (
            lif if neuron == "lif" else ALIFParameters(tau_adapt=tau_adapt, beta_adapt=beta_adapt, lif=lif))
        self.kappa = float(decay(readout_tau))
        self.feedback = feedback

    def hidden(self, x: Tensor, detach_reset: bool = True) -> tuple[Tensor, list[Tensor]]:
        """Differentiable recurrent layer; returns spikes ``[T, B, H]`` and the per-step spike tensors
        (the ones whose gradient is e-prop's learning signal)."""
        lif = replace(_lif_of(self.params), detach_reset=detach_reset)
        alif = isinstance(self.params, ALIFParameters)
        params = replace(self.params, lif=lif) if alif else lif
        zs = []

        def step(current: Tensor, state: Any) -> tuple[Tensor, Any]:
            if not alif:
                s, state = lif_step(current, torch.zeros_like(current) if state is None else state, params)
            else:  # alif_step's pieces, with the whole reset term (threshold too) detached as e-prop wants
                v, a = (torch.zeros_like(current), torch.zeros_like(current)) if state is None else state
                th = params.threshold(a, current)
                h = integrate(current, v, lif.beta(current), False)
                s = lif.surrogate(h - th)
                state = (reset_membrane(h, s, th.detach() if detach_reset else th, lif), adapt(a, s, params.rho(current)))
            zs.append(s * 1.0)  # the copy used by recurrence and readout (own reset/adaptation use s)
            return zs[-1], state

        spikes, _ = recurrent_multistep(x, step, lambda z: z @ self.w_rec.t(), drive=lambda x_t: x_t @ self.w_in.t())
        return spikes, zs

    def readout(self, spikes: Tensor) -> Tensor:
        """Leaky readout ``y^t = kappa y^{t-1} + W_out z^t + b``."""
        y = spikes.new_zeros(spikes.shape[1], self.w_out.shape[0])
        ys = []
        for z in spikes.unbind(0):
            y = self.kappa * y + z @ self.w_out.t() + self.b_out
            ys.append(y)
        return torch.stack(ys)

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.hidden(x)[0])

    def learn(self, x: Tensor, target: Tensor, loss: Literal["ce", "mse"] = "ce") -> Tensor:
        """One e-prop pass: accumulate gradients (batch-mean loss summed over time) into ``.grad``.

        Returns the readout ``[T, B, O]`` (detached)."""
        _checks.one_of("loss", loss, ("ce", "mse"))
        T, B = x.shape[:2]
        w_out, b_out = self.w_out.detach(), self.b_out.detach()
        fb = w_out if self.feedback == "symmetric" else self.feedback_matrix
        if loss == "ce":
            tgt = target if target.dim() == 2 else target.unsqueeze(0).expand(T, -1)
            onehot = torch.nn.functional.one_hot(tgt.long(), w_out.shape[0]).to(x.dtype)
        rec = {"y": x.new_zeros(B, w_out.shape[0]), "zbar": x.new_zeros(B, w_out.shape[1]),
               "g_out": torch.zeros_like(w_out), "g_b": torch.zeros_like(b_out), "ys": [], "bbar": 0.0}

        def signal(t: int, z: Tensor) -> Tensor:
            rec["y"] = self.kappa * rec["y"] + z @ w_out.t() + b_out
            rec["zbar"] = self.kappa * rec["zbar"] + z
            err = (_softmax(rec["y"]) - onehot[t]) if loss == "ce" else rec["y"] - target[t]
            err = err / B
            rec["g_out"] += err.t() @ rec["zbar"]
            rec["bbar"] = self.kappa * rec["bbar"] + 1.0  # the bias, too, reaches y^t through the leak
            rec["g_b"] += err.sum(0) * rec["bbar"]
            rec["ys"].append(rec["y"])
            return err @ fb

        st = eprop_gradients(x, self.w_in, self.w_rec, self.params, signal, readout_decay=self.kappa)
        st.grad_rec.fill_diagonal_(0.0)
        for p, g in ((self.w_in, st.grad_in), (self.w_rec, st.grad_rec), (self.w_out, rec["g_out"]),
                     (self.b_out, rec["g_b"])):
            p.grad = g.clone() if p.grad is None else p.grad + g
        return torch.stack(rec["ys"])


__all__ = ["EProp", "EPropState", "eprop_gradients"]
