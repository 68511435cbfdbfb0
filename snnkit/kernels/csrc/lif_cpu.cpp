// Fused multi-step LIF on the CPU: one pass over time per neuron block, forward and backward.
// Semantics are those of snnkit/functional/lif.py; snnkit/kernels/lif_fused.py is the pure-torch twin.
// Optional tensors (gvlast, x) are passed empty when absent.
// Layout: x, h, spikes are [T, M] (M = batch * features, contiguous); v0, beta, th are [M].
#include <torch/extension.h>
#include <cmath>
#include <type_traits>

namespace {

enum Reset { HARD = 0, SUBTRACT = 1, NONE = 2 };
enum Surr { ATAN = 0, SIGMOID = 1, FAST_SIGMOID = 2, TRIANGLE = 3, RECTANGULAR = 4, GAUSSIAN = 5,
            PIECEWISE_QUADRATIC = 6, PERIODIC = 7 };

template <typename T, int kind>
inline T surrogate(T x, T alpha) {
  const T pi = T(3.14159265358979323846);
  switch (kind) {
    case ATAN: { T z = pi / 2 * alpha * x; return alpha / 2 / (1 + z * z); }
    case SIGMOID: { T s = 1 / (1 + std::exp(-alpha * x)); return alpha * s * (1 - s); }
    case FAST_SIGMOID: { T d = 1 + alpha * std::abs(x); return 1 / (d * d); }
    case TRIANGLE: { T r = 1 - alpha * std::abs(x); return r > 0 ? alpha * r : T(0); }
    case RECTANGULAR: return std::abs(x) < T(0.5) / alpha ? alpha : T(0);
    case GAUSSIAN: return alpha / std::sqrt(pi) * std::exp(-(alpha * x) * (alpha * x));
    case PIECEWISE_QUADRATIC: { T r = alpha - alpha * alpha * std::abs(x); return r > 0 ? r : T(0); }
    case PERIODIC: return std::abs(x) < pi / (2 * alpha) ? (2 * alpha / pi) * std::cos(alpha * x) : T(0);
  }
  return T(0);
}

constexpr int64_t BLOCK = 512;  // neurons per work item: the state of a block stays in L1

template <typename T>
void forward_impl(const T* __restrict__ x, const T* __restrict__ v0, const T* __restrict__ beta,
                  const T* __restrict__ th, T* __restrict__ h, T* __restrict__ s, T* __restrict__ v_last,
                  int64_t steps, int64_t m, int reset, T v_reset, bool decay_input) {
  const bool hard = reset == HARD, sub = reset == SUBTRACT;
#pragma omp parallel for schedule(static)
  for (int64_t b0 = 0; b0 < m; b0 += BLOCK) {
    const int64_t n = std::min(m, b0 + BLOCK) - b0;
    const T* __restrict__ bb = beta + b0;
    const T* __restrict__ tb = th + b0;
    T v[BLOCK];
    for (int64_t j = 0; j < n; ++j) v[j] = v0[b0 + j];
    for (int64_t t = 0; t < steps; ++t) {
      const T* __restrict__ xt = x + t * m + b0;
      T* __restrict__ ht = h + t * m + b0;
      T* __restrict__ st = s + t * m + b0;
      if (decay_input) {
        for (int64_t j = 0; j < n; ++j) ht[j] = bb[j] * v[j] + (1 - bb[j]) * xt[j];
      } else {
        for (int64_t j = 0; j < n; ++j) ht[j] = bb[j] * v[j] + xt[j];
      }
      // the reset as selects on loop-invariant modes: each loop below vectorises
      if (hard) {
        for (int64_t j = 0; j < n; ++j) { const T hv = ht[j]; const bool f = hv > tb[j]; st[j] = f ? T(1) : T(0); v[j] = f ? v_reset : hv; }
      } else if (sub) {
        for (int64_t j = 0; j < n; ++j) { const T hv = ht[j]; const bool f = hv > tb[j]; st[j] = f ? T(1) : T(0); v[j] = f ? hv - tb[j] : hv; }
      } else {
        for (int64_t j = 0; j < n; ++j) { const T hv = ht[j]; st[j] = hv > tb[j] ? T(1) : T(0); v[j] = hv; }
      }
    }
    for (int64_t j = 0; j < n; ++j) v_last[b0 + j] = v[j];
  }
}

// The surrogate is a template parameter so the inner loop has no per-element switch. The reset mode
// and the flags enter as 0/1 factors (no branch per element), so the loop over the neurons of a block
// vectorises; the learnable-beta term, which reads the previous step, has a loop of its own.
template <typename T, int kind>
void backward_impl(const T* __restrict__ gs, const T* __restrict__ gvlast, const T* __restrict__ h,
                   const T* __restrict__ x, const T* __restrict__ v0, const T* __restrict__ beta,
                   const T* __restrict__ th, T* __restrict__ gx, T* __restrict__ gv0, T* __restrict__ gbeta,
                   T* __restrict__ gth, int64_t steps, int64_t m, int reset,
                   T v_reset, bool decay_input, bool detach, T alpha) {
  const T is_hard = reset == HARD ? T(1) : T(0), is_sub = reset == SUBTRACT ? T(1) : T(0);
  const T keep = detach ? T(0) : T(1), scale_in = decay_input ? T(1) : T(0);
#pragma omp parallel for schedule(static)
  for (int64_t b0 = 0; b0 < m; b0 += BLOCK) {
    const int64_t n = std::min(m, b0 + BLOCK) - b0;
    const T* __restrict__ bb = beta + b0;
    const T* __restrict__ tb = th + b0;
    T gv[BLOCK], gb[BLOCK], gt[BLOCK], ghs[BLOCK];
    for (int64_t j = 0; j < n; ++j) { gv[j] = gvlast ? gvlast[b0 + j] : T(0); gb[j] = 0; gt[j] = 0; }
    for (int64_t t = steps - 1; t >= 0; --t) {
      const T* __restrict__ ht = h + t * m + b0;
      const T* __restrict__ gst = gs + t * m + b0;
      T* __restrict__ gxt = gx + t * m + b0;
      for (int64_t j = 0; j < n; ++j) {
        const T hv = ht[j], thj = tb[j], bj = bb[j];
        const T sp = hv > thj ? T(1) : T(0);
        const T sg = surrogate<T, kind>(hv - thj, alpha);
        const T a = gst[j] * sg;
        // dv/dh and dv/dth of the reset: hard (1 - s) + (v_reset - h) sg, subtract 1 - th sg, none 1
        const T A = 1 + is_hard * (keep * (v_reset - hv) * sg - sp) - is_sub * keep * thj * sg;
        const T dvdth = -is_hard * keep * (v_reset - hv) * sg + is_sub * (keep * thj * sg - sp);
        const T g = gv[j];
        const T gh = a + g * A;
        gxt[j] = gh * (1 - scale_in * bj);
        gt[j] += -a + g * dvdth;
        gv[j] = gh * bj;
        ghs[j] = gh;
      }
      if (gbeta) {  // d h[t] / d beta = v[t-1] (- x[t] with decay_input)
        for (int64_t j = 0; j < n; ++j) {
          T vprev;
          if (t == 0) {
            vprev = v0[b0 + j];
          } else {
            const T hp = h[(t - 1) * m + b0 + j];
            const bool fp = hp > tb[j];
            vprev = reset == HARD ? (fp ? v_reset : hp) : (reset == SUBTRACT ? (fp ? hp - tb[j] : hp) : hp);
          }
          gb[j] += ghs[j] * (decay_input ? vprev - x[t * m + b0 + j] : vprev);
        }
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      gv0[b0 + j] = gv[j];
      if (gbeta) gbeta[b0 + j] = gb[j];
      if (gth) gth[b0 + j] = gt[j];
    }
  }
}

// The backward of the spatial-only (SLTT) gradient: no route through time, g_h = g_s * sg(h - v_th).
template <typename T, int kind>
void spatial_backward_impl(const T* __restrict__ gs, const T* __restrict__ h, const T* __restrict__ th,
                           T* __restrict__ gh, int64_t steps, int64_t m, T alpha) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < steps; ++t) {
    const T* __restrict__ ht = h + t * m;
    const T* __restrict__ gst = gs + t * m;
    T* __restrict__ ght = gh + t * m;
    for (int64_t j = 0; j < m; ++j) ght[j] = gst[j] * surrogate<T, kind>(ht[j] - th[j], alpha);
  }
}

std::vector<torch::Tensor> lif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor beta, torch::Tensor th,
                                       int64_t reset, double v_reset, bool decay_input) {
  const int64_t steps = x.size(0), m = x.size(1);
  auto h = torch::empty_like(x), s = torch::empty_like(x), v_last = torch::empty_like(v0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_forward", [&] {
    forward_impl<scalar_t>(x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(),
                           th.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), s.data_ptr<scalar_t>(),
                           v_last.data_ptr<scalar_t>(), steps, m, (int)reset, (scalar_t)v_reset, decay_input);
  });
  return {s, v_last, h};
}

// Calls run(std::integral_constant<int, KIND>{}) for the surrogate id `kind`: each kernel is
// instantiated once per surrogate, so its inner loop has no per-element switch.
template <typename Run>
void with_surrogate(int64_t kind, Run&& run) {
  switch (kind) {
    case ATAN: run(std::integral_constant<int, ATAN>{}); break;
    case SIGMOID: run(std::integral_constant<int, SIGMOID>{}); break;
    case FAST_SIGMOID: run(std::integral_constant<int, FAST_SIGMOID>{}); break;
    case TRIANGLE: run(std::integral_constant<int, TRIANGLE>{}); break;
    case RECTANGULAR: run(std::integral_constant<int, RECTANGULAR>{}); break;
    case GAUSSIAN: run(std::integral_constant<int, GAUSSIAN>{}); break;
    case PIECEWISE_QUADRATIC: run(std::integral_constant<int, PIECEWISE_QUADRATIC>{}); break;
    case PERIODIC: run(std::integral_constant<int, PERIODIC>{}); break;
    default: TORCH_CHECK(false, "unknown surrogate id ", kind);
  }
}

std::vector<torch::Tensor> lif_backward(torch::Tensor gs, torch::Tensor gvlast, torch::Tensor h, torch::Tensor x,
                                        torch::Tensor v0, torch::Tensor beta, torch::Tensor th, int64_t reset,
                                        double v_reset, bool decay_input, bool detach, int64_t kind, double alpha,
                                        bool need_beta, bool need_th) {
  const int64_t steps = h.size(0), m = h.size(1);
  auto gx = torch::empty_like(h), gv0 = torch::empty_like(v0);
  auto gbeta = need_beta ? torch::empty_like(v0) : torch::Tensor();
  auto gth = need_th ? torch::empty_like(v0) : torch::Tensor();
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lif_backward", [&] {
    with_surrogate(kind, [&](auto surr) {
      backward_impl<scalar_t, decltype(surr)::value>(
          gs.data_ptr<scalar_t>(), gvlast.numel() ? gvlast.data_ptr<scalar_t>() : nullptr, h.data_ptr<scalar_t>(),
          x.numel() ? x.data_ptr<scalar_t>() : nullptr, v0.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(),
          th.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), gv0.data_ptr<scalar_t>(),
          need_beta ? gbeta.data_ptr<scalar_t>() : nullptr, need_th ? gth.data_ptr<scalar_t>() : nullptr, steps, m,
          (int)reset, (scalar_t)v_reset, decay_input, detach, (scalar_t)alpha);
    });
  });
  return {gx, gv0, gbeta, gth};
}

// gs, h: [T, M]; th: [M]. Returns g_h [T, M].
torch::Tensor lif_spatial_backward(torch::Tensor gs, torch::Tensor h, torch::Tensor th, int64_t kind, double alpha) {
  const int64_t steps = h.size(0), m = h.size(1);
  auto gh = torch::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lif_spatial_backward", [&] {
    with_surrogate(kind, [&](auto surr) {
      spatial_backward_impl<scalar_t, decltype(surr)::value>(gs.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                                                             th.data_ptr<scalar_t>(), gh.data_ptr<scalar_t>(),
                                                             steps, m, (scalar_t)alpha);
    });
  });
  return gh;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.def("lif_forward", &lif_forward, "fused LIF forward");
  mod.def("lif_backward", &lif_backward, "fused LIF backward");
  mod.def("lif_spatial_backward", &lif_spatial_backward, "LIF backward without the route through time (SLTT)");
}
