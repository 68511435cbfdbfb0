"""The C++ CPU engine for multi-step LIF/IF, compiled on first use with PyTorch's JIT extension
builder (needs a C++ compiler at run time, nothing at install time). If it cannot be built the
dispatcher falls back to the pure-torch fused engine and says why once (``snnkit info`` shows it)."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from ..functional.lif import LIFParameters
from .lif_fused import reduce_to

_SURROGATE_IDS = {"atan": 0, "sigmoid": 1, "fast_sigmoid": 2, "triangle": 3, "rectangular": 4, "gaussian": 5,
                  "piecewise_quadratic": 6, "periodic": 7}
_RESET_IDS = {"hard": 0, "subtract": 1, "none": 2}
_ext: ModuleType | None = None
_error: str | None = None


def load() -> ModuleType | None:
    """Build (once) and return the extension, or ``None`` with the reason in :func:`build_error`."""
    global _ext, _error
    if _ext is not None or _error is not None:
        return _ext
    if os.environ.get("SNNKIT_DISABLE_CPP"):
        _error = "disabled by SNNKIT_DISABLE_CPP"
        return None
    try:
        from torch.utils.cpp_extension import load as load_extension

        src = _build_source()
        if not any(src.parent.glob("snnkit_lif_cpu*.so")):
            # first use in this cache folder: say why the next minute is silent (logging: the user decides)
            logging.getLogger("snnkit").warning(
                "snnkit: compiling the C++ LIF engine into %s (first use only, about a minute)", src.parent)
        with _builder_lock(src.parent):
            _ext = load_extension(name="snnkit_lif_cpu", sources=[str(src)], build_directory=str(src.parent),
                                  extra_cflags=list(_CFLAGS),
                                  extra_ldflags=["-fopenmp"], verbose=False)
    except Exception as err:  # no compiler, no ninja, ...: fall back, but say so once
        _error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
        warnings.warn(f"snnkit: C++ LIF engine unavailable ({_error}); using the pure-torch fused engine",
                      RuntimeWarning, stacklevel=2)
    return _ext


# no FMA: h equals the reference bit for bit; 512-bit vectors where the CPU has them (gcc's default is 256): the
# backward's per-element arithmetic then takes half the instructions (measured: 1.9 -> 1.55 ms for W1's hidden layer)
_CFLAGS = ("-O3", "-fopenmp", "-march=native", "-mprefer-vector-width=512", "-ffp-contract=off")
STALE_LOCK_S = 1800.0  # torch's build lock older than this with no live builder: left by a killed build


def _builder_lock(folder: Path) -> Any:
    """Serialise builds of one folder with an flock we own (released by the kernel when a builder dies),
    and remove torch's own ``lock`` file when it was left by a killed build: torch would wait for it
    forever. Without flock (Windows) a lock older than ``STALE_LOCK_S`` counts as stale."""
    import contextlib
    import time

    @contextlib.contextmanager
    def hold() -> Any:
        try:
            import fcntl
        except ImportError:  # pragma: no cover
            fcntl = None  # type: ignore[assignment]
        owner = folder / ".snnkit-builder"
        fd = os.open(owner, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # waits while a live process builds this folder
            torch_lock = folder / "lock"
            stale = torch_lock.exists() and (fcntl is not None
                                             or time.time() - torch_lock.stat().st_mtime > STALE_LOCK_S)
            if stale:  # we hold the builder lock, so nobody alive is building: a killed build left it
                previous = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                warnings.warn(f"snnkit: removing a stale build lock {torch_lock} (left by process {previous}, "
                              "killed during the C++ engine build)", RuntimeWarning, stacklevel=4)
                with contextlib.suppress(FileNotFoundError):
                    torch_lock.unlink()
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    return hold()


def _build_source() -> Path:
    """The kernel source copied into a build folder named by its content, torch version and flags.

    Every checkout with the same source shares one build (no rebuild when the path of the checkout
    changes, no two processes rebuilding the same folder). ``SNNKIT_EXTENSIONS_DIR`` moves the cache.
    """
    import hashlib

    src = Path(__file__).with_name("csrc") / "lif_cpu.cpp"
    code = src.read_bytes()
    import sys

    # the build depends on the torch install (headers, libtorch) and the interpreter: one cache entry each,
    # so two venvs never rebuild each other's engine
    key = [torch.__version__, str(torch.version.git_version), os.path.dirname(torch.__file__), sys.version,
           sys.executable, " ".join(_CFLAGS)]
    digest = hashlib.sha256(code + "\n".join(key).encode()).hexdigest()[:16]
    root = Path(os.environ.get("SNNKIT_EXTENSIONS_DIR", Path.home() / ".cache" / "snnkit" / "extensions"))
    folder = root / f"lif_cpu-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "lif_cpu.cpp"
    if not target.exists() or target.read_bytes() != code:
        from .._atomic import atomic_path

        with atomic_path(target) as tmp:
            tmp.write_bytes(code)
    return target


def build_error() -> str | None:
    return _error


def release_buffers() -> int:
    """Free the engine's cache of large output buffers (kept between calls so that a training step
    reuses the memory of the previous one instead of faulting in fresh pages); returns the bytes freed.
    ``SNNKIT_CPU_BUFFER_CACHE_MB`` caps the cache (default 1024, 0 disables it)."""
    return int(_ext.release_buffer_cache()) if _ext is not None else 0


def cached_buffer_bytes() -> int:
    """Bytes held by the engine's buffer cache (see :func:`release_buffers`)."""
    return int(_ext.buffer_cache_bytes()) if _ext is not None else 0


_NO_STEPS = torch.empty(0, dtype=torch.int64)
_EMPTY = torch.empty(0)


def _one_or_per_neuron(c: Tensor, neuron_shape: tuple[int, ...] | torch.Size) -> Tensor:
    """A tau (decay) or threshold as the engine reads it: one value where there is one (the engine
    broadcasts it; no copy to every neuron), else one contiguous value per neuron."""
    return c.reshape(1) if c.numel() == 1 else c.expand(neuron_shape).contiguous().reshape(-1)


def supports(xs: Tensor, p: LIFParameters) -> bool:
    return xs.device.type == "cpu" and xs.dtype in (torch.float32, torch.float64) \
        and p.surrogate.name in _SURROGATE_IDS


class _MemoryOrder:
    """A ``[T, ...]`` tensor seen in its memory order (time outermost), so the kernel's flat ``[T, M]``
    view needs no copy: a channels-last convolution output stays channels-last through the neurons."""

    def __init__(self, xs: Tensor, perm: list[int] | None = None) -> None:
        if perm is None:  # found from the strides
            perm = [0] + sorted(range(1, xs.dim()), key=lambda d: -xs.stride(d))  # stable: ties keep order
            if xs.is_contiguous() or not xs.permute(perm).is_contiguous():
                perm = list(range(xs.dim()))  # already [T, M], or not dense: one copy below
        self.perm = perm
        self.inverse = [perm.index(d) for d in range(len(perm))]
        self.shape = tuple(xs.shape[d] for d in perm)

    def flat(self, t: Tensor) -> Tensor:
        """``[T, ...]`` in the original order -> ``[T, M]`` contiguous in memory order."""
        return t.permute(self.perm).reshape(t.shape[0], -1).contiguous()

    def flat_neurons(self, t: Tensor, neuron_shape: torch.Size) -> Tensor:
        """A tensor broadcastable to one step -> ``[M]`` in memory order."""
        return t.expand(neuron_shape).permute([d - 1 for d in self.perm[1:]]).contiguous().reshape(-1)

    def unflat(self, t2: Tensor) -> Tensor:
        return t2.reshape(self.shape).permute(self.inverse)

    def unflat_neurons(self, t1: Tensor) -> Tensor:
        return t1.reshape(self.shape[1:]).permute([d - 1 for d in self.inverse[1:]])


class _CppLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, beta: Tensor, th: Tensor, p: LIFParameters):  # type: ignore[override]
        ext = load()
        order, neuron_shape = _MemoryOrder(xs), xs.shape[1:]
        x2 = order.flat(xs)
        v0f, bf, tf = (order.flat_neurons(t, neuron_shape) for t in (v0, beta, th))
        # the input is kept rather than the membranes: backward recomputes them (one [T, M] write fewer)
        s, v_last, _, _ = ext.lif_forward(x2, v0f, bf, tf, _RESET_IDS[p.reset], float(p.v_reset), p.decay_input,
                                          False, _NO_STEPS)
        ctx.save_for_backward(x2, v0f, bf, tf)
        ctx.p, ctx.order, ctx.v0_shape, ctx.beta_shape, ctx.th_shape = p, order, v0.shape, beta.shape, th.shape
        return order.unflat(s), order.unflat_neurons(v_last)

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vlast: Tensor):  # type: ignore[override]
        x2, v0f, bf, tf = ctx.saved_tensors
        p: LIFParameters = ctx.p
        order: _MemoryOrder = ctx.order
        gs = torch.zeros_like(x2) if g_spikes is None else order.flat(g_spikes)
        gvl = x2.new_empty(0) if g_vlast is None else order.flat_neurons(g_vlast, g_vlast.shape)
        need_beta, need_th = ctx.needs_input_grad[2], ctx.needs_input_grad[3]
        gx, gv0, gbeta, gth, _ = _backward(gs, gvl, x2, v0f, bf, tf, p, need_beta, need_th, False)
        g_v0 = reduce_to(order.unflat_neurons(gv0), ctx.v0_shape)
        g_beta = reduce_to(order.unflat_neurons(gbeta), ctx.beta_shape) if need_beta else None
        g_th = reduce_to(order.unflat_neurons(gth), ctx.th_shape) if need_th else None
        return order.unflat(gx), g_v0, g_beta, g_th, None


def _backward(gs: Tensor, gvl: Tensor, x2: Tensor, v0f: Tensor, bf: Tensor, tf: Tensor, p: LIFParameters,
              need_beta: bool, need_th: bool, need_sum: bool) -> list[Tensor]:
    """The engine's backward: ``(gx, gv0, gbeta, gth, sum over time of gx)`` (the last three when asked)."""
    return load().lif_backward(gs, gvl, x2, v0f, bf, tf, _RESET_IDS[p.reset], float(p.v_reset),  # type: ignore[union-attr]
                               p.decay_input, p.detach_reset, _SURROGATE_IDS[p.surrogate.name],
                               float(p.surrogate.alpha), need_beta, need_th, need_sum)


def lif_multistep_cpp(xs: Tensor, v0: Tensor | None, p: LIFParameters) -> tuple[Tensor, Tensor]:
    """C++ equivalent of :func:`snnkit.functional.lif_multistep` (spikes, last membrane)."""
    v0 = torch.zeros_like(xs[0]) if v0 is None else v0
    return _CppLIF.apply(xs, v0, p.beta(xs), p.threshold(xs), p)


# the fused backward keeps a band's membranes [T, k rows x W x C] per thread: beyond this many floats the
# unfused engine and pooling run instead (see kernels.lif_avgpool)
MAX_POOL_SCRATCH = 1 << 21


def pool_geometry(xs: Tensor) -> tuple[list[int], tuple[int, int, int, int]] | None:
    """For ``xs [T, B, C, H, W]`` in PyTorch's layout or channels-last: the permutation to its memory order
    and the fused kernel's ``(G, H, W, C)`` (one step's neurons, C innermost); None for other layouts."""
    T, B, C, H, W = xs.shape
    if xs.is_contiguous():
        return [0, 1, 2, 3, 4], (B * C, H, W, 1)
    if xs.permute(0, 1, 3, 4, 2).is_contiguous():
        return [0, 1, 3, 4, 2], (B, H, W, C)
    return None


class _CppLIFAvgPool(torch.autograd.Function):
    """LIF then a k x k average pooling with stride k, one C++ pass each way: the spikes are never stored."""

    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, beta: Tensor, th: Tensor, p: LIFParameters, k: int):  # type: ignore[override]
        perm, (g, h, w, c) = pool_geometry(xs)  # type: ignore[misc]
        T, B, C, H, W = xs.shape
        order = _MemoryOrder(xs, perm)
        x2 = order.flat(xs)
        v0f, bf, tf = (order.flat_neurons(t, xs.shape[1:]) for t in (v0, beta, th))
        out, v_last = load().lif_avgpool_forward(x2, v0f, bf, tf, _RESET_IDS[p.reset], float(p.v_reset),  # type: ignore[union-attr]
                                                 p.decay_input, g, h, w, c, k)
        ctx.save_for_backward(x2, v0f, bf, tf)
        ctx.p, ctx.order, ctx.geometry, ctx.k = p, order, (g, h, w, c), k
        ctx.shapes = v0.shape, beta.shape, th.shape
        pooled = [T, B, C, H // k, W // k]
        return out.reshape([pooled[d] for d in perm]).permute(order.inverse), order.unflat_neurons(v_last)

    @staticmethod
    def backward(ctx, g_out: Tensor, g_vlast: Tensor):  # type: ignore[override]
        x2, v0f, bf, tf = ctx.saved_tensors
        p: LIFParameters = ctx.p
        order: _MemoryOrder = ctx.order
        if g_out is None:  # only the state's gradient flows back: the output's is zero
            g, h, w, c = ctx.geometry
            go = x2.new_zeros((x2.shape[0], g * (h // ctx.k) * (w // ctx.k) * c))
        else:
            go = order.flat(g_out)
        gvl = x2.new_empty(0) if g_vlast is None else order.flat_neurons(g_vlast, g_vlast.shape)
        need_beta, need_th = ctx.needs_input_grad[2], ctx.needs_input_grad[3]
        gx, gv0, gbeta, gth = load().lif_avgpool_backward(  # type: ignore[union-attr]
            go, gvl, x2, v0f, bf, tf, _RESET_IDS[p.reset], float(p.v_reset), p.decay_input, p.detach_reset,
            _SURROGATE_IDS[p.surrogate.name], float(p.surrogate.alpha), need_beta, need_th, *ctx.geometry, ctx.k)
        v0_shape, beta_shape, th_shape = ctx.shapes
        g_v0 = reduce_to(order.unflat_neurons(gv0), v0_shape)
        g_beta = reduce_to(order.unflat_neurons(gbeta), beta_shape) if need_beta else None
        g_th = reduce_to(order.unflat_neurons(gth), th_shape) if need_th else None
        return order.unflat(gx), g_v0, g_beta, g_th, None, None


def lif_avgpool_cpp(xs: Tensor, v0: Tensor | None, p: LIFParameters, k: int) -> tuple[Tensor, Tensor]:
    """``(avg_pool2d(spikes, k) [T, B, C, H/k, W/k], last membrane)`` of a LIF layer on ``xs [T, B, C, H, W]``
    (PyTorch's layout or channels-last; the output keeps it), equal to the LIF engine followed by
    ``nn.AvgPool2d(k)``; see :func:`snnkit.kernels.lif_avgpool` for when it applies."""
    v0 = torch.zeros_like(xs[0]) if v0 is None else v0
    return _CppLIFAvgPool.apply(xs, v0, p.beta(xs), p.threshold(xs), p, k)


def lif_forward_membranes(xs: Tensor, v0: Tensor, p: LIFParameters) -> tuple[Tensor, Tensor, Tensor]:
    """The C++ forward alone, no autograd: ``(spikes, pre-reset membranes h, last membrane)``
    (used by :mod:`snnkit.training.online`, whose backward needs ``h`` at every step)."""
    s, v_last, h, _ = _forward_no_grad(xs, v0, p, True, _NO_STEPS)
    return s, h.reshape(xs.shape), v_last


def lif_forward_recording(xs: Tensor, v0: Tensor, p: LIFParameters, after: list[int],
                          constants: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The C++ forward alone, no autograd: ``(spikes, last membrane, membranes [len(after), ...])``, the
    last being the (post-reset) membrane after each step in ``after`` (ascending): the states a run
    restarted at the next steps begins from, without writing every step's membrane. ``constants``:
    ``(beta, threshold)`` already computed (see :func:`snnkit.kernels.lif_step`)."""
    record = torch.tensor(after, dtype=torch.int64)
    s, v_last, _, v_rec = _forward_no_grad(xs, v0, p, False, record, constants)
    return s, v_last, v_rec.reshape(len(after), *xs.shape[1:])


def leaky_integrate_cpp(xs: Tensor, v0: Tensor, beta: Tensor, decay_input: bool) -> Tensor:
    """No autograd: every step's ``v[t] = beta v[t-1] + x[t]`` (``+ (1 - beta) x[t]`` with ``decay_input``)
    over ``xs [T, ...]`` in one engine call, equal to :func:`snnkit.functional.li_multistep`'s membranes to
    the bit (OTTT's presynaptic traces; ``beta``: one value or one per neuron)."""
    neuron_shape = xs.shape[1:]
    b = _one_or_per_neuron(beta.detach(), neuron_shape)
    out = load().leaky_integrate(xs.detach().reshape(xs.shape[0], -1).contiguous(),  # type: ignore[union-attr]
                                 v0.detach().expand(neuron_shape).contiguous().reshape(-1), b, decay_input)
    return out.view(xs.shape)


def lif_step_cpp(x: Tensor, v: Tensor, beta: Tensor, th: Tensor, p: LIFParameters) -> tuple[Tensor, Tensor]:
    """One step of the C++ forward for a caller that wants no graph: ``(spikes, new membrane)``, shaped like
    ``x`` (``v`` too). As few tensor calls as can be: a streaming step is short, and each costs microseconds."""
    m = x.numel()
    b, t = (_one_or_per_neuron(c, x.shape) for c in (beta, th))
    s, v_new, _, _ = load().lif_forward(x.reshape(1, m).contiguous(), v.reshape(m).contiguous(), b, t,  # type: ignore[union-attr]
                                        _RESET_IDS[p.reset], float(p.v_reset), p.decay_input, False, _NO_STEPS)
    return s.view(x.shape), v_new.view(x.shape)


def _forward_no_grad(xs: Tensor, v0: Tensor, p: LIFParameters, need_h: bool, record: Tensor,
                     constants: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    shape, neuron_shape = xs.shape, xs.shape[1:]
    v0f = v0.detach().expand(neuron_shape).contiguous().reshape(-1)
    beta_th = (p.beta(xs), p.threshold(xs)) if constants is None else constants
    flat = [v0f, *(_one_or_per_neuron(t.detach(), neuron_shape) for t in beta_th)]
    s, v_last, h, v_rec = load().lif_forward(xs.detach().reshape(shape[0], -1).contiguous(), *flat,  # type: ignore[union-attr]
                                             _RESET_IDS[p.reset], float(p.v_reset), p.decay_input, need_h, record)
    return s.reshape(shape), v_last.reshape(neuron_shape), h, v_rec


def lif_spatial_backward(g_s: Tensor, h: Tensor, th: Tensor, p: LIFParameters) -> Tensor:
    """``g_s * sg(h - v_th)`` in one pass: the backward of the spatial-only (SLTT) gradient."""
    steps = h.shape[0]
    tf = _one_or_per_neuron(th.detach(), h.shape[1:])
    g_h, _ = load().lif_spatial_backward(g_s.reshape(steps, -1).contiguous(), h.reshape(steps, -1).contiguous(),  # type: ignore[union-attr]
                                         False, _EMPTY, _EMPTY, tf, _RESET_IDS[p.reset], float(p.v_reset),
                                         p.decay_input, _SURROGATE_IDS[p.surrogate.name], float(p.surrogate.alpha),
                                         False)
    return g_h.reshape(h.shape)


class _CppLinearLIF(torch.autograd.Function):
    """``F.linear`` then a LIF layer: the GEMM writes its output into the engine's buffer cache (warm pages,
    no bias copy into fresh ones), the LIF runs on it in place of a separate autograd node, and its
    backward pass also sums the bias gradient (one pass over ``[T * B, out]`` fewer). With ``spatial``
    the LIF's backward has no route through time (SLTT: ``g_h = g_s sg(h - v_th)``); both backwards
    recompute the membranes from the current, so the forward writes none. With ``spatial`` the state,
    ``beta`` and the threshold get no gradient (callers check). ``weight_grad_input``: what the weight
    gradient reads instead of ``x`` (OTTT's trace; kept in place of ``x``, which the backward does not need).
    ``events``: a 0/1 input runs event-driven (:func:`linear_forward`); its ones are kept in place of ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, v0: Tensor, beta: Tensor, th: Tensor,  # type: ignore[override]
                p: LIFParameters, spatial: bool, weight_grad_input: Tensor | None, events: bool):
        steps, n_out = x.shape[0], weight.shape[0]
        x2 = x.reshape(-1, x.shape[-1])
        # event-driven: 0/1 inputs as their ones (the weight gradient reads them too; OTTT's trace is not 0/1)
        cur, ones = linear_forward(x2, weight, bias, events and weight_grad_input is None)
        neuron_shape = (*x.shape[1:-1], n_out)
        cur = cur.view(steps, -1)
        s, v_last, v0f, bf, tf = _lif_on_current(cur, v0, beta, th, p, neuron_shape)
        w_in = x2 if weight_grad_input is None else weight_grad_input.detach().reshape(x2.shape)
        kept_in = ones if ones is not None else (w_in,)
        # both backwards recompute the membranes from cur
        ctx.save_for_backward(weight, cur, v0f, bf, tf, *kept_in)
        ctx.in_features = x.shape[-1]
        ctx.p, ctx.spatial, ctx.has_bias = p, spatial, bias is not None
        ctx.shapes = x.shape, neuron_shape, v0.shape, beta.shape, th.shape
        v_last = v_last.view(neuron_shape)
        if spatial:
            ctx.mark_non_differentiable(v_last)
        return s.view(steps, *neuron_shape), v_last

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vlast: Tensor):  # type: ignore[override]
        weight, kept, v0f, bf, tf, *kept_in = ctx.saved_tensors
        w_in: Tensor | tuple[Tensor, Tensor] = kept_in[0] if len(kept_in) == 1 else (kept_in[0], kept_in[1])
        p: LIFParameters = ctx.p
        x_shape, neuron_shape, v0_shape, beta_shape, th_shape = ctx.shapes
        need_x, need_w, need_b, need_v0, need_beta, need_th = ctx.needs_input_grad[:6]
        need_sum = ctx.has_bias and need_b
        gs = torch.zeros_like(kept) if g_spikes is None else g_spikes.reshape(kept.shape).contiguous()
        g_v0 = g_beta = g_th = None
        if ctx.spatial:
            g_cur, g_sum = _spatial_current_grad(gs, kept, v0f, bf, tf, p, need_sum)
        else:  # the temporal backward reads a value per neuron
            gvl = kept.new_empty(0) if g_vlast is None else g_vlast.expand(neuron_shape).contiguous().reshape(-1)
            bf, tf = (t.expand(v0f.shape).contiguous() for t in (bf, tf))
            g_cur, gv0, gbeta, gth, g_sum = _backward(gs, gvl, kept, v0f, bf, tf, p, need_beta, need_th, need_sum)
            g_v0 = reduce_to(gv0.view(neuron_shape), v0_shape) if need_v0 else None
            g_beta = reduce_to(gbeta.view(neuron_shape), beta_shape) if need_beta else None
            g_th = reduce_to(gth.view(neuron_shape), th_shape) if need_th else None
        g_x, g_w, g_b = _linear_grads(g_cur, g_sum, w_in, weight, need_x, need_w, need_sum, ctx.in_features)
        return None if g_x is None else g_x.view(x_shape), g_w, g_b, g_v0, g_beta, g_th, None, None, None, None


def _lif_on_current(cur: Tensor, v0: Tensor, beta: Tensor, th: Tensor, p: LIFParameters,
                    neuron_shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The engine's LIF forward on a Linear's output ``cur [steps, M]`` (no autograd): ``(spikes, last
    membrane, and v0, beta and the threshold as the engine and both backwards read them)``."""
    v0f = v0.detach().expand(neuron_shape).contiguous().reshape(-1)
    # one tau or threshold stays one value (the forward and the spatial backward broadcast it): SLTT-K's
    # chosen steps stack k * B rows, where copies to every neuron cost more than the engine call
    bf, tf = (_one_or_per_neuron(t.detach(), neuron_shape) for t in (beta, th))
    s, v_last, _, _ = load().lif_forward(cur, v0f, bf, tf, _RESET_IDS[p.reset], float(p.v_reset),  # type: ignore[union-attr]
                                         p.decay_input, False, _NO_STEPS)
    return s, v_last, v0f, bf, tf


def _spatial_current_grad(gs: Tensor, cur: Tensor, v0f: Tensor, bf: Tensor, tf: Tensor, p: LIFParameters,
                          need_sum: bool) -> tuple[Tensor, Tensor]:
    """The spatial (SLTT) gradient with respect to the current, ``dL/ds sg(h - v_th)`` (``h`` recomputed
    from ``cur``), and its sum over steps (for the bias; empty unless ``need_sum``)."""
    g_cur, g_sum = load().lif_spatial_backward(gs, cur, True, v0f, bf, tf, _RESET_IDS[p.reset],  # type: ignore[union-attr]
                                               float(p.v_reset), p.decay_input, _SURROGATE_IDS[p.surrogate.name],
                                               float(p.surrogate.alpha), need_sum)
    if p.decay_input:  # h = beta v + (1 - beta) x
        g_cur, g_sum = g_cur * (1 - bf), (g_sum * (1 - bf) if need_sum else g_sum)
    return g_cur, g_sum


def _linear_grads(g_cur: Tensor, g_sum: Tensor, w_in: Tensor | tuple[Tensor, Tensor], weight: Tensor, need_x: bool,
                  need_w: bool, need_sum: bool, in_features: int | None = None
                  ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """A Linear's input, weight and bias gradients from its output's ``g_cur`` (``g_sum``: summed over steps).
    ``w_in``: the input the weight gradient reads, or its ones (:func:`spike_rows`, ``in_features`` wide)."""
    g2 = g_cur.view(-1, weight.shape[0])
    g_x = torch.mm(g2, weight, out=cached_empty((g2.shape[0], weight.shape[1]), g2)) if need_x else None
    if not need_w:
        g_w = None
    elif isinstance(w_in, tuple):
        g_w = event_weight_grad(w_in, g2, in_features)  # type: ignore[arg-type]
    else:
        g_w = g2.t().mm(w_in.reshape(g2.shape[0], -1))
    g_b = g_sum.view(-1, weight.shape[0]).sum(0) if need_sum else None
    return g_x, g_w, g_b


class _CppSpatialChain(torch.autograd.Function):
    """Linear + LIF pairs in a row, each Linear's output (``currents``) already computed, with the spatial
    gradient: SLTT-K's chosen steps (``k * B`` single steps stacked along the batch). The chain is ONE
    autograd node: per pair, the forward is one engine call and the backward a spatial pass and the
    Linear's GEMMs (on ``k * B`` rows a node's Python costs as much as that work). ``layers``: per pair
    ``(parameters, beta, threshold, current [steps, ..., out], v0 or None)``; ``weights_and_biases``: the
    pairs' weights and biases (None where a Linear has none), as the tensors autograd gives gradients to.
    ``events``: a pair's 0/1 input is kept as its ones and its weight gradient is event-driven (see
    :func:`spike_rows`)."""

    @staticmethod
    def forward(ctx, x: Tensor, layers: list[tuple[LIFParameters, Tensor, Tensor, Tensor, Tensor | None]],
                events: bool, *weights_and_biases: Tensor | None):  # type: ignore[override]
        saved: list[Tensor] = []
        ctx.meta, ctx.ones = [], []
        w_in = x.reshape(-1, x.shape[-1])
        for j, (p, beta, th, current, v0) in enumerate(layers):
            weight = weights_and_biases[2 * j]
            steps, neuron_shape = current.shape[0], tuple(current.shape[1:])
            cur = current.detach().reshape(steps, -1).contiguous()
            v0 = current.new_zeros(()) if v0 is None else v0
            s, _, v0f, bf, tf = _lif_on_current(cur, v0, beta, th, p, neuron_shape)
            ones = spike_rows(w_in) if events else None
            saved += [_EMPTY if ones is not None else w_in, weight, cur, v0f, bf, tf]
            ctx.meta.append(p)
            ctx.ones.append(ones)
            w_in = s.view(-1, neuron_shape[-1])
        ctx.save_for_backward(*saved)
        ctx.x_shape = x.shape
        return w_in.view(layers[-1][3].shape)

    @staticmethod
    def backward(ctx, g_out: Tensor):  # type: ignore[override]
        saved = ctx.saved_tensors
        need = ctx.needs_input_grad
        grads: list[Tensor | None] = [None] * (len(need) - 3)
        g = g_out.contiguous()
        for j in reversed(range(len(ctx.meta))):
            w_in, weight, cur, v0f, bf, tf = saved[6 * j:6 * j + 6]
            need_w, need_b = need[3 + 2 * j], need[4 + 2 * j]
            need_x = j > 0 or need[0]
            g_cur, g_sum = _spatial_current_grad(g.reshape(cur.shape), cur, v0f, bf, tf, ctx.meta[j], need_b)
            kept = w_in if ctx.ones[j] is None else ctx.ones[j]
            g, grads[2 * j], grads[2 * j + 1] = _linear_grads(g_cur, g_sum, kept, weight, need_x, need_w, need_b,
                                                              weight.shape[1])
        return None if g is None else g.view(ctx.x_shape), None, None, *grads


# Event-driven synapses (snnkit.kernels.set_event_driven): at most this fraction of ones. Measured (a
# 700 -> 512 and a 512 -> 512 layer, 3200 rows, 2 threads; listing the ones, forward and weight gradient
# against the two dense GEMMs): 5x faster at 2 % ones, 3x at 5 %, 1.8x at 10 %, 1.3x at 15 %, even at 20 %
EVENT_MAX_DENSITY = 0.15
# the event-driven weight gradient's per-thread parts hold at most this many values (fewer parts above)
_EVENT_PART_VALUES = 1 << 26


def spike_rows(x2: Tensor) -> tuple[Tensor, Tensor] | None:
    """The ones of a 0/1 matrix ``x2 [R, K]`` as compressed rows ``(row_ptr [R + 1], columns [nnz])``, or
    None when a value is neither 0 nor 1 or more than :data:`EVENT_MAX_DENSITY` of them are ones."""
    found = load().spike_rows(x2.detach().contiguous(), EVENT_MAX_DENSITY)  # type: ignore[union-attr]
    return (found[0], found[1]) if found else None


def event_linear_into_cache(ones: tuple[Tensor, Tensor], weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear`` on a 0/1 input given by its ones (:func:`spike_rows`): each output row is the bias plus
    the weight columns of its ones, added in column order; written into the engine's buffer cache."""
    out = cached_empty((ones[0].numel() - 1, weight.shape[0]), weight)
    load().event_linear_into(ones[0], ones[1], weight.detach().t().contiguous(),  # type: ignore[union-attr]
                             _EMPTY if bias is None else bias.detach().contiguous(), out)
    return out


def event_weight_grad(ones: tuple[Tensor, Tensor], g2: Tensor, in_features: int) -> Tensor:
    """The weight gradient ``g2.t() @ x`` of a Linear whose 0/1 input ``x`` is given by its ones."""
    parts = load().event_weight_grad_parts(ones[0], ones[1], g2.contiguous(), in_features,  # type: ignore[union-attr]
                                           _EVENT_PART_VALUES)
    return (parts[0] if parts.shape[0] == 1 else parts.sum(0)).t().contiguous()


def linear_forward(x2: Tensor, weight: Tensor, bias: Tensor | None, events: bool
                   ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
    """``F.linear(x2, weight, bias)`` without autograd, in the engine's buffer cache, and the input's ones
    when ``events`` and the input qualifies (:func:`spike_rows`; the output then comes from them), else None."""
    ones = spike_rows(x2) if events else None
    if ones is None:
        return linear_into_cache(x2, weight, bias), None
    return event_linear_into_cache(ones, weight, bias), ones


def linear_into_cache(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear(x, weight, bias)`` (no autograd) written into a buffer from the engine's cache: the
    same GEMM call as ``nn.Linear`` (the same values to the bit), on warm pages instead of fresh ones."""
    out = cached_empty((*x.shape[:-1], weight.shape[0]), x)
    x2, out2 = x.reshape(-1, x.shape[-1]), out.view(-1, weight.shape[0])
    if bias is None:
        torch.mm(x2, weight.t(), out=out2)
    else:
        torch.addmm(bias, x2, weight.t(), out=out2)
    return out


def cached_empty(shape: tuple[int, ...] | torch.Size, like: Tensor) -> Tensor:
    """An uninitialised contiguous tensor with ``like``'s dtype, from the engine's buffer cache when large
    (see :func:`release_buffers`): for outputs written with ``out=``."""
    return load().cached_empty(list(shape), like)  # type: ignore[union-attr]


def linear_lif_cpp(x: Tensor, weight: Tensor, bias: Tensor | None, v0: Tensor | None, p: LIFParameters,
                   spatial: bool = False, weight_grad_input: Tensor | None = None, events: bool = False
                   ) -> tuple[Tensor, Tensor]:
    """``(spikes, last membrane)`` of a LIF layer on ``F.linear(x, weight, bias)`` (see
    :func:`snnkit.kernels.linear_lif` for when it applies and what ``spatial`` and ``weight_grad_input`` do)."""
    shape = (*x.shape[1:-1], weight.shape[0])
    v0 = x.new_zeros(shape) if v0 is None else v0
    return _CppLinearLIF.apply(x, weight, bias, v0, p.beta(x), p.threshold(x), p, spatial, weight_grad_input, events)


def spatial_chain_cpp(x: Tensor, layers: list[tuple[LIFParameters, Tensor, Tensor, Tensor, Tensor | None]],
                      weights_and_biases: list[Tensor | None], events: bool = False) -> Tensor:
    """The last pair's spikes of Linear + LIF pairs whose currents are given (see
    :func:`snnkit.kernels.spatial_linear_lif_chain`)."""
    return _CppSpatialChain.apply(x, layers, events, *weights_and_biases)
