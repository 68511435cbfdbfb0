// Fused multi-step LIF on the CPU: one pass over time per neuron block, forward and backward.
// Semantics are those of snnkit/functional/lif.py; snnkit/kernels/lif_fused.py is the pure-torch twin.
// Optional tensors (gvlast, h) are passed or returned empty when absent.
// Layout: x, h, spikes are [T, M] (M = batch * features, contiguous); v0, beta, th are [M].
// Compiled with -ffp-contract=off: no fused multiply-adds, so h equals the reference's beta * v + x bit for bit.
#include <torch/extension.h>
#include <algorithm>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>
#ifdef __linux__
#include <sys/mman.h>
#endif

namespace {

// The kernels are memory-bound, and a fresh buffer costs a page fault per 4 KB page on first touch:
// for a convolutional layer's [T, B, C, H, W] that is half of the forward's time. A training step
// allocates the same sizes every time, so large outputs come from a cache of buffers freed by earlier
// calls (exact size, oldest evicted first, at most `limit` bytes held; SNNKIT_CPU_BUFFER_CACHE_MB,
// default 1024, 0 disables). New buffers are 2 MB aligned and advised as huge pages where Linux allows.
// Only buffers of 4 MB or more: glibc serves smaller ones from its heap, but above a few MB it maps and
// unmaps them (or trims its heap), so a W1 layer's [T, B, 512] spikes faulted in afresh on every call
// (measured: a third of the LIF's time). The cap bounds what varying shapes (online chunks) can hold.
class BufferCache {
 public:
  static constexpr size_t kMinBytes = size_t(4) << 20;
  static constexpr size_t kAlign = size_t(2) << 20;

  BufferCache() {
    const char* env = std::getenv("SNNKIT_CPU_BUFFER_CACHE_MB");
    limit_ = (env ? size_t(std::max(0L, std::atol(env))) : size_t(1024)) << 20;
  }

  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->first == bytes) {
          void* p = it->second;
          held_ -= bytes;
          free_.erase(it);
          return p;
        }
      }
    }
    const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (p == nullptr) throw std::bad_alloc();
#ifdef __linux__
    madvise(p, rounded, MADV_HUGEPAGE);  // advice only: ignored where huge pages are off
#endif
    return p;
  }

  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes > limit_) { std::free(p); return; }
    while (held_ + bytes > limit_) {  // evict the oldest
      std::free(free_.front().second);
      held_ -= free_.front().first;
      free_.pop_front();
    }
    free_.emplace_back(bytes, p);
    held_ += bytes;
  }

  size_t release() {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t freed = held_;
    for (auto& entry : free_) std::free(entry.second);
    free_.clear();
    held_ = 0;
    return freed;
  }

  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }

 private:
  std::mutex mu_;
  std::list<std::pair<size_t, void*>> free_;
  size_t held_ = 0, limit_ = 0;
};

BufferCache& buffer_cache() {
  static BufferCache* cache = new BufferCache();  // never destroyed: tensors may be freed at exit
  return *cache;
}

// An uninitialised contiguous tensor, from the cache when it is large.
torch::Tensor empty_cached(at::IntArrayRef sizes, const torch::TensorOptions& options) {
  const size_t bytes = size_t(c10::multiply_integers(sizes)) * options.dtype().itemsize();
  if (bytes < BufferCache::kMinBytes) return torch::empty(sizes, options);
  void* p = buffer_cache().take(bytes);
  return torch::from_blob(p, sizes, [bytes](void* q) { buffer_cache().give(q, bytes); }, options);
}

torch::Tensor empty_cached(const torch::Tensor& like) { return empty_cached(like.sizes(), like.options()); }

int64_t release_buffer_cache() { return int64_t(buffer_cache().release()); }
int64_t buffer_cache_bytes() { return int64_t(buffer_cache().held()); }

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

// One step of a block of n neurons: h = beta v + (1 - beta) x (or + x), s = h > v_th, v = reset(h, s).
// The forward and the backward's recomputation of h share it, so both get the same h to the bit.
template <typename T>
inline void step_block(const T* __restrict__ xt, const T* __restrict__ bb, const T* __restrict__ tb,
                       T* __restrict__ v, T* __restrict__ ht, T* __restrict__ st, int64_t n, int reset,
                       T v_reset, bool decay_input) {
  if (decay_input) {
    for (int64_t j = 0; j < n; ++j) ht[j] = bb[j] * v[j] + (1 - bb[j]) * xt[j];
  } else {
    for (int64_t j = 0; j < n; ++j) ht[j] = bb[j] * v[j] + xt[j];
  }
  // the reset as selects on loop-invariant modes: each loop below vectorises
  if (reset == HARD) {
    for (int64_t j = 0; j < n; ++j) { const T hv = ht[j]; const bool f = hv > tb[j]; st[j] = f ? T(1) : T(0); v[j] = f ? v_reset : hv; }
  } else if (reset == SUBTRACT) {
    for (int64_t j = 0; j < n; ++j) { const T hv = ht[j]; const bool f = hv > tb[j]; st[j] = f ? T(1) : T(0); v[j] = f ? hv - tb[j] : hv; }
  } else {
    for (int64_t j = 0; j < n; ++j) { const T hv = ht[j]; st[j] = hv > tb[j] ? T(1) : T(0); v[j] = hv; }
  }
}

// A block of n neurons' values of a per-neuron parameter from neuron b0 on; where there is one value for
// every neuron (a scalar tau or threshold), that value written n times into `block` (not copied to [M] by
// the caller).
template <typename T>
inline const T* neuron_block(const T* values, bool one, int64_t b0, int64_t n, T* block) {
  if (!one) return values + b0;
  std::fill_n(block, n, values[0]);
  return block;
}

// h may be null: the pre-reset membranes then stay in a block-sized scratch (the autograd path keeps
// the input instead and recomputes them in backward, which saves writing [T, M] floats here).
// v_rec [n_rec, M] receives the (post-reset) membrane after each step rec[r] (ascending): the states
// that online training (SLTT-K) restarts from, without writing every step's membrane.
template <typename T>
void forward_impl(const T* __restrict__ x, const T* __restrict__ v0, const T* __restrict__ beta,
                  const T* __restrict__ th, T* __restrict__ h, T* __restrict__ s, T* __restrict__ v_last,
                  const int64_t* __restrict__ rec, int64_t n_rec, T* __restrict__ v_rec,
                  int64_t steps, int64_t m, int reset, T v_reset, bool decay_input, bool beta_one, bool th_one) {
#pragma omp parallel for schedule(static)
  for (int64_t b0 = 0; b0 < m; b0 += BLOCK) {
    const int64_t n = std::min(m, b0 + BLOCK) - b0;
    T v[BLOCK], scratch[BLOCK], beta_block[BLOCK], th_block[BLOCK];
    for (int64_t j = 0; j < n; ++j) v[j] = v0[b0 + j];
    const T* bb = neuron_block(beta, beta_one, b0, n, beta_block);
    const T* tb = neuron_block(th, th_one, b0, n, th_block);
    int64_t r = 0;
    for (int64_t t = 0; t < steps; ++t) {
      step_block(x + t * m + b0, bb, tb, v, h ? h + t * m + b0 : scratch, s + t * m + b0, n, reset,
                 v_reset, decay_input);
      for (; r < n_rec && rec[r] == t; ++r) {
        for (int64_t j = 0; j < n; ++j) v_rec[r * m + b0 + j] = v[j];
      }
    }
    for (int64_t j = 0; j < n; ++j) v_last[b0 + j] = v[j];
  }
}

// The backward's constants: the reset mode and the flags enter as 0/1 factors (no branch per element).
template <typename T>
struct BackwardConsts {
  T is_hard, is_sub, keep, scale_in, v_reset, alpha;
  int reset;
  bool decay_input;
  BackwardConsts(int reset_, T v_reset_, bool decay_input_, bool detach, T alpha_)
      : is_hard(reset_ == HARD ? T(1) : T(0)), is_sub(reset_ == SUBTRACT ? T(1) : T(0)), keep(detach ? T(0) : T(1)),
        scale_in(decay_input_ ? T(1) : T(0)), v_reset(v_reset_), alpha(alpha_), reset(reset_),
        decay_input(decay_input_) {}
};

// One step of the backward for n neurons, shared by the plain and the pooled engine. In: the step's
// pre-reset membranes ht (and the previous step's, hprev, or null at t = 0 where v0 is the previous
// membrane), its input xt, dL/ds[t] (gst) and the carried dL/dv (gv). Out: dL/dx[t] (gxt); gv, gt (the
// threshold's gradient) and gb (beta's, when not null) are carried. ghs is an n-float scratch.
// The surrogate is a template parameter, so the inner loop has no per-element switch and vectorises;
// the learnable-beta term, which reads the previous step, has a loop of its own.
template <typename T, int kind>
inline void backward_step(const T* __restrict__ ht, const T* __restrict__ hprev, const T* __restrict__ v0,
                          const T* __restrict__ xt, const T* __restrict__ gst, const T* __restrict__ bb,
                          const T* __restrict__ tb, T* __restrict__ gxt, T* __restrict__ gv, T* __restrict__ gt,
                          T* __restrict__ gb, T* __restrict__ ghs, int64_t n, const BackwardConsts<T>& c) {
  // locals, not loads through c: the stores below cannot alias them, so the loop vectorises
  const T is_hard = c.is_hard, is_sub = c.is_sub, keep = c.keep, scale_in = c.scale_in, v_reset = c.v_reset,
          alpha = c.alpha;
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
  if (gb) {  // d h[t] / d beta = v[t-1] (- x[t] with decay_input)
    const int reset = c.reset;
    const bool decay_input = c.decay_input;
    for (int64_t j = 0; j < n; ++j) {
      T vprev;
      if (hprev == nullptr) {
        vprev = v0[j];
      } else {
        const T hp = hprev[j];
        const bool fp = hp > tb[j];
        vprev = reset == HARD ? (fp ? v_reset : hp) : (reset == SUBTRACT ? (fp ? hp - tb[j] : hp) : hp);
      }
      gb[j] += ghs[j] * (decay_input ? vprev - xt[j] : vprev);
    }
  }
}

// The pre-reset membranes h are not stored by the forward: each block first recomputes its h[0..T) from
// the input x (the same step_block as the forward), into a per-thread buffer of [T, block] values.
template <typename T, int kind>
void backward_impl(const T* __restrict__ gs, const T* __restrict__ gvlast, const T* __restrict__ x,
                   const T* __restrict__ v0, const T* __restrict__ beta,
                   const T* __restrict__ th, T* __restrict__ gx, T* __restrict__ gv0, T* __restrict__ gbeta,
                   T* __restrict__ gth, T* __restrict__ gxsum, int64_t steps, int64_t m, const BackwardConsts<T>& c) {
  // Neurons per block: whole rows of BLOCK neurons while the buffer holds at most kScratchValues (T <= 4096),
  // narrower beyond, and no wider than one thread's share of the layer (every thread gets a block). A narrow
  // block reads each step's row in short pieces 64 KB apart, which the prefetcher does not follow: W1's
  // hidden layer at T = 1000 took 37 ms with 64-neuron blocks (a 256 KB buffer, in L2) and 20 ms with 512
  // (2 MB, in L3), as much per step as at T = 100.
  constexpr int64_t kScratchValues = int64_t(1) << 21;
  const int64_t share = (m + at::get_num_threads() - 1) / at::get_num_threads();
  const int64_t widest = std::min<int64_t>(BLOCK, (share + 15) / 16 * 16);
  const int64_t block = std::max<int64_t>(16, std::min<int64_t>(widest, kScratchValues / std::max<int64_t>(steps, 1)) / 16 * 16);
#pragma omp parallel
  {
  // not value-initialised: the recomputation writes every value before it is read
  std::unique_ptr<T[]> membranes(new T[size_t(steps) * size_t(block)]);
#pragma omp for schedule(static)
  for (int64_t b0 = 0; b0 < m; b0 += block) {
    const int64_t n = std::min(m, b0 + block) - b0;
    T* __restrict__ hb = membranes.get();
    {  // recompute the block's membranes h[0..T) as the forward did (its spikes are not needed here)
      T v[BLOCK], spikes[BLOCK];
      for (int64_t j = 0; j < n; ++j) v[j] = v0[b0 + j];
      for (int64_t t = 0; t < steps; ++t) {
        step_block(x + t * m + b0, beta + b0, th + b0, v, hb + t * block, spikes, n, c.reset, c.v_reset, c.decay_input);
      }
    }
    T gv[BLOCK], gb[BLOCK], gt[BLOCK], ghs[BLOCK], gsum[BLOCK];
    for (int64_t j = 0; j < n; ++j) { gv[j] = gvlast ? gvlast[b0 + j] : T(0); gb[j] = 0; gt[j] = 0; gsum[j] = 0; }
    for (int64_t t = steps - 1; t >= 0; --t) {
      T* __restrict__ gxt = gx + t * m + b0;
      backward_step<T, kind>(hb + t * block, t > 0 ? hb + (t - 1) * block : nullptr, v0 + b0, x + t * m + b0,
                             gs + t * m + b0, beta + b0, th + b0, gxt, gv, gt, gbeta ? gb : nullptr, ghs, n, c);
      if (gxsum) {
        for (int64_t j = 0; j < n; ++j) gsum[j] += gxt[j];
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      gv0[b0 + j] = gv[j];
      if (gbeta) gbeta[b0 + j] = gb[j];
      if (gth) gth[b0 + j] = gt[j];
      if (gxsum) gxsum[b0 + j] = gsum[j];
    }
  }
  }
}

// LIF followed by a k x k average pooling with stride k (no padding, floor mode) in one pass: the spikes
// never reach memory, and in backward the pooling's gradient is spread over its windows on the fly.
// One step's neurons are [G, H, W, C], C innermost: channels-last with G = batch, or NCHW with C = 1 and
// G = batch * channels; the output is [G, H / k, W / k, C]. A work item is a band of k rows of one
// image (contiguous neurons). Rows and columns past the last full window evolve as usual and reach no
// output, as with the unfused pooling.
struct PoolGeometry {
  int64_t g, h, w, c, k;
  int64_t m() const { return g * h * w * c; }
  int64_t band() const { return k * w * c; }
  int64_t bands() const { return (h + k - 1) / k; }
  int64_t ho() const { return h / k; }
  int64_t wo() const { return w / k; }
  int64_t mo() const { return g * ho() * wo() * c; }
  // work item -> its band: rows (k, or fewer for the last band), neurons, offsets in a step's input/output
  struct Band { int64_t rows, n, off, out_off; bool full; };
  Band band_of(int64_t item) const {
    const int64_t gi = item / bands(), bi = item % bands(), r = std::min(k, h - bi * k);
    return {r, r * w * c, (gi * h + bi * k) * w * c, (gi * ho() + bi) * wo() * c, r == k};
  }
};

// s: one full band's spikes [k, W, C] -> o: its pooled row [W / k, C] (PyTorch's order: window sum / k^2)
template <typename T>
inline void pool_band(const T* __restrict__ s, T* __restrict__ o, const PoolGeometry& q) {
  const T area = T(q.k * q.k);
  for (int64_t ow = 0; ow < q.wo(); ++ow) {
    T* __restrict__ oo = o + ow * q.c;
    for (int64_t ch = 0; ch < q.c; ++ch) oo[ch] = 0;
    for (int64_t i = 0; i < q.k; ++i) {
      for (int64_t j = 0; j < q.k; ++j) {
        const T* __restrict__ ss = s + (i * q.w + ow * q.k + j) * q.c;
        for (int64_t ch = 0; ch < q.c; ++ch) oo[ch] += ss[ch];
      }
    }
    for (int64_t ch = 0; ch < q.c; ++ch) oo[ch] /= area;
  }
}

// The pooling's backward for one band: go [W / k, C] -> gs [rows, W, C], go / k^2 over each window, 0
// outside the windows (a partial band has none).
template <typename T>
inline void unpool_band(const T* __restrict__ go, T* __restrict__ gs, int64_t rows, const PoolGeometry& q) {
  std::fill(gs, gs + rows * q.w * q.c, T(0));
  if (rows < q.k) return;
  const T area = T(q.k * q.k);
  for (int64_t ow = 0; ow < q.wo(); ++ow) {
    for (int64_t i = 0; i < q.k; ++i) {
      for (int64_t j = 0; j < q.k; ++j) {
        T* __restrict__ gg = gs + (i * q.w + ow * q.k + j) * q.c;
        for (int64_t ch = 0; ch < q.c; ++ch) gg[ch] = go[ow * q.c + ch] / area;
      }
    }
  }
}

template <typename T>
void forward_pool_impl(const T* __restrict__ x, const T* __restrict__ v0, const T* __restrict__ beta,
                       const T* __restrict__ th, T* __restrict__ out, T* __restrict__ v_last, int64_t steps,
                       const PoolGeometry& q, int reset, T v_reset, bool decay_input) {
  const int64_t m = q.m(), mo = q.mo();
#pragma omp parallel
  {
  std::vector<T> v(q.band()), hs(q.band()), sp(q.band());
#pragma omp for schedule(static)
  for (int64_t item = 0; item < q.g * q.bands(); ++item) {
    const auto b = q.band_of(item);
    std::copy(v0 + b.off, v0 + b.off + b.n, v.data());
    for (int64_t t = 0; t < steps; ++t) {
      step_block(x + t * m + b.off, beta + b.off, th + b.off, v.data(), hs.data(), sp.data(), b.n, reset, v_reset,
                 decay_input);
      if (b.full) pool_band(sp.data(), out + t * mo + b.out_off, q);
    }
    std::copy(v.data(), v.data() + b.n, v_last + b.off);
  }
  }
}

template <typename T, int kind>
void backward_pool_impl(const T* __restrict__ gout, const T* __restrict__ gvlast, const T* __restrict__ x,
                        const T* __restrict__ v0, const T* __restrict__ beta, const T* __restrict__ th,
                        T* __restrict__ gx, T* __restrict__ gv0, T* __restrict__ gbeta, T* __restrict__ gth,
                        int64_t steps, const PoolGeometry& q, const BackwardConsts<T>& c) {
  const int64_t m = q.m(), mo = q.mo(), band = q.band();
#pragma omp parallel
  {
  // the band's recomputed membranes [T, band] (the caller bounds T * band), state, spikes and gradients
  std::vector<T> hb(size_t(steps) * size_t(band)), v(band), sp(band), gs(band), gv(band), gt(band), gb(band),
      ghs(band);
#pragma omp for schedule(static)
  for (int64_t item = 0; item < q.g * q.bands(); ++item) {
    const auto b = q.band_of(item);
    const int64_t n = b.n, off = b.off;
    std::copy(v0 + off, v0 + off + n, v.data());  // recompute the band's membranes as the forward did
    for (int64_t t = 0; t < steps; ++t) {
      step_block(x + t * m + off, beta + off, th + off, v.data(), hb.data() + t * n, sp.data(), n, c.reset,
                 c.v_reset, c.decay_input);
    }
    for (int64_t j = 0; j < n; ++j) { gv[j] = gvlast ? gvlast[off + j] : T(0); gb[j] = 0; gt[j] = 0; }
    for (int64_t t = steps - 1; t >= 0; --t) {
      unpool_band(gout + t * mo + (b.full ? b.out_off : 0), gs.data(), b.rows, q);
      backward_step<T, kind>(hb.data() + t * n, t > 0 ? hb.data() + (t - 1) * n : nullptr, v0 + off,
                             x + t * m + off, gs.data(), beta + off, th + off, gx + t * m + off, gv.data(),
                             gt.data(), gbeta ? gb.data() : nullptr, ghs.data(), n, c);
    }
    for (int64_t j = 0; j < n; ++j) {
      gv0[off + j] = gv[j];
      if (gbeta) gbeta[off + j] = gb[j];
      if (gth) gth[off + j] = gt[j];
    }
  }
  }
}

// The backward of the spatial-only (SLTT) gradient: no route through time, g_h = g_s * sg(h - v_th);
// ghsum (optional, [M]): the sum over time of g_h, per neuron. The pre-reset membranes h come either
// kept from the forward, or (h null) recomputed step by step from its input x and v0, as the temporal
// backward does: the forward then writes no [T, M] membranes.
template <typename T, int kind>
void spatial_backward_impl(const T* __restrict__ gs, const T* __restrict__ h, const T* __restrict__ x,
                           const T* __restrict__ v0, const T* __restrict__ beta, const T* __restrict__ th,
                           int reset, T v_reset, bool decay_input, T* __restrict__ gh, T* __restrict__ ghsum,
                           int64_t steps, int64_t m, T alpha, bool beta_one, bool th_one) {
#pragma omp parallel for schedule(static)
  for (int64_t b0 = 0; b0 < m; b0 += BLOCK) {
    const int64_t n = std::min(m, b0 + BLOCK) - b0;
    T sum[BLOCK], v[BLOCK], h_block[BLOCK], s_block[BLOCK], beta_block[BLOCK], th_block[BLOCK];
    const T* bb = beta ? neuron_block(beta, beta_one, b0, n, beta_block) : nullptr;
    const T* tb = neuron_block(th, th_one, b0, n, th_block);
    for (int64_t j = 0; j < n; ++j) sum[j] = 0;
    if (!h) std::copy(v0 + b0, v0 + b0 + n, v);
    for (int64_t t = 0; t < steps; ++t) {
      const T* __restrict__ ht = h ? h + t * m + b0 : h_block;
      if (!h) step_block(x + t * m + b0, bb, tb, v, h_block, s_block, n, reset, v_reset, decay_input);
      const T* __restrict__ gst = gs + t * m + b0;
      T* __restrict__ ght = gh + t * m + b0;
      for (int64_t j = 0; j < n; ++j) ght[j] = gst[j] * surrogate<T, kind>(ht[j] - tb[j], alpha);
      if (ghsum) {
        for (int64_t j = 0; j < n; ++j) sum[j] += ght[j];
      }
    }
    if (ghsum) std::copy(sum, sum + n, ghsum + b0);
  }
}

// The leaky integration alone, v[t] = beta v[t-1] + x[t] (or + (1 - beta) x[t] with decay_input), every
// step's v written: an LI layer's membranes, or OTTT's presynaptic trace of a synapse's input. The same
// arithmetic as step_block's first loop, so the same values to the bit as the reference.
template <typename T>
void integrate_impl(const T* __restrict__ x, const T* __restrict__ v0, const T* __restrict__ beta, T* __restrict__ out,
                    int64_t steps, int64_t m, bool decay_input, bool beta_one) {
#pragma omp parallel for schedule(static)
  for (int64_t b0 = 0; b0 < m; b0 += BLOCK) {
    const int64_t n = std::min(m, b0 + BLOCK) - b0;
    T beta_block[BLOCK];
    const T* bb = neuron_block(beta, beta_one, b0, n, beta_block);
    const T* prev = v0 + b0;
    for (int64_t t = 0; t < steps; ++t) {
      const T* __restrict__ xt = x + t * m + b0;
      T* __restrict__ ot = out + t * m + b0;
      if (decay_input) {
        for (int64_t j = 0; j < n; ++j) ot[j] = bb[j] * prev[j] + (1 - bb[j]) * xt[j];
      } else {
        for (int64_t j = 0; j < n; ++j) ot[j] = bb[j] * prev[j] + xt[j];
      }
      prev = ot;
    }
  }
}

// x [T, M], v0 [M], beta [M] or one value for all. Returns the membranes [T, M].
torch::Tensor leaky_integrate(torch::Tensor x, torch::Tensor v0, torch::Tensor beta, bool decay_input) {
  const int64_t steps = x.size(0), m = x.size(1);
  TORCH_CHECK(v0.numel() == m && (beta.numel() == 1 || beta.numel() == m),
              "v0 needs ", m, " values and beta 1 or ", m, "; got ", v0.numel(), " and ", beta.numel());
  TORCH_CHECK(x.is_contiguous() && v0.is_contiguous() && beta.is_contiguous(), "x, v0 and beta must be contiguous");
  auto out = empty_cached(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "leaky_integrate", [&] {
    integrate_impl<scalar_t>(x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(),
                             out.data_ptr<scalar_t>(), steps, m, decay_input, beta.numel() == 1);
  });
  return out;
}

// Returns spikes, last membrane, with need_h the pre-reset membranes (else an empty tensor), and the
// membranes after the steps in `record` (int64, ascending, in [0, T); [len(record), M], empty if none).
std::vector<torch::Tensor> lif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor beta, torch::Tensor th,
                                       int64_t reset, double v_reset, bool decay_input, bool need_h,
                                       torch::Tensor record) {
  const int64_t steps = x.size(0), m = x.size(1), n_rec = record.numel();
  TORCH_CHECK(v0.numel() == m && (beta.numel() == 1 || beta.numel() == m) && (th.numel() == 1 || th.numel() == m),
              "v0 needs ", m, " values and beta and th 1 or ", m, "; got ", v0.numel(), ", ", beta.numel(), ", ",
              th.numel());
  TORCH_CHECK(x.is_contiguous() && v0.is_contiguous() && beta.is_contiguous() && th.is_contiguous(),
              "x, v0, beta and th must be contiguous");
  TORCH_CHECK(record.scalar_type() == torch::kInt64 && record.is_contiguous(), "record must be contiguous int64");
  const int64_t* rec = record.data_ptr<int64_t>();
  for (int64_t r = 0; r < n_rec; ++r) {
    TORCH_CHECK(rec[r] >= 0 && rec[r] < steps && (r == 0 || rec[r] > rec[r - 1]),
                "record must be ascending steps in [0, ", steps, "); got ", rec[r], " at ", r);
  }
  auto h = need_h ? empty_cached(x) : x.new_empty({0}), s = empty_cached(x), v_last = torch::empty_like(v0);
  auto v_rec = x.new_empty({n_rec, m});
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_forward", [&] {
    forward_impl<scalar_t>(x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(),
                           th.data_ptr<scalar_t>(), need_h ? h.data_ptr<scalar_t>() : nullptr, s.data_ptr<scalar_t>(),
                           v_last.data_ptr<scalar_t>(), rec, n_rec, v_rec.data_ptr<scalar_t>(), steps, m, (int)reset,
                           (scalar_t)v_reset, decay_input, beta.numel() == 1, th.numel() == 1);
  });
  return {s, v_last, h, v_rec};
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

// The backward's outputs (gx [T, M]; gv0, and gbeta / gth when asked, [M]) and its dispatch over the
// dtype and the surrogate, shared by the plain and the pooled backward:
// run(surrogate tag, gx, gv0, gbeta or null, gth or null), the pointers typed by the dtype.
template <typename Run>
std::vector<torch::Tensor> backward_outputs(const torch::Tensor& x, const torch::Tensor& v0, bool need_beta,
                                            bool need_th, int64_t kind, Run&& run) {
  auto gx = empty_cached(x), gv0 = torch::empty_like(v0);
  auto gbeta = need_beta ? torch::empty_like(v0) : torch::Tensor();
  auto gth = need_th ? torch::empty_like(v0) : torch::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_backward", [&] {
    with_surrogate(kind, [&](auto surr) {
      run(surr, gx.data_ptr<scalar_t>(), gv0.data_ptr<scalar_t>(), need_beta ? gbeta.data_ptr<scalar_t>() : nullptr,
          need_th ? gth.data_ptr<scalar_t>() : nullptr);
    });
  });
  return {gx, gv0, gbeta, gth};
}

template <typename T>
const T* optional_ptr(const torch::Tensor& t) { return t.numel() ? t.data_ptr<T>() : nullptr; }

// x: the forward's input [T, M] (the membranes are recomputed from it).
// need_sum: a fifth output [M], the sum over time of gx (a bias's gradient before the sum over the batch).
std::vector<torch::Tensor> lif_backward(torch::Tensor gs, torch::Tensor gvlast, torch::Tensor x,
                                        torch::Tensor v0, torch::Tensor beta, torch::Tensor th, int64_t reset,
                                        double v_reset, bool decay_input, bool detach, int64_t kind, double alpha,
                                        bool need_beta, bool need_th, bool need_sum) {
  const int64_t steps = x.size(0), m = x.size(1);
  TORCH_CHECK(gs.sizes() == x.sizes() && v0.numel() == m && beta.numel() == m && th.numel() == m &&
              (gvlast.numel() == 0 || gvlast.numel() == m),
              "gs must be shaped like x [T, M], v0, beta and th have M values and gvlast M or none; got gs ",
              gs.sizes(), ", x ", x.sizes(), ", v0 ", v0.numel(), ", beta ", beta.numel(), ", th ", th.numel(),
              ", gvlast ", gvlast.numel());
  auto gxsum = need_sum ? torch::empty_like(v0) : torch::Tensor();
  auto grads = backward_outputs(x, v0, need_beta, need_th, kind, [&](auto surr, auto* gx, auto* gv0, auto* gb, auto* gt) {
    using T = std::remove_pointer_t<decltype(gx)>;
    backward_impl<T, decltype(surr)::value>(gs.data_ptr<T>(), optional_ptr<T>(gvlast), x.data_ptr<T>(),
                                            v0.data_ptr<T>(), beta.data_ptr<T>(), th.data_ptr<T>(), gx, gv0, gb, gt,
                                            need_sum ? gxsum.data_ptr<T>() : nullptr, steps, m,
                                            BackwardConsts<T>((int)reset, T(v_reset), decay_input, detach, T(alpha)));
  });
  grads.push_back(gxsum);
  return grads;
}

// x: [T, M] with M = G * H * W * C (see PoolGeometry). Returns the pooled spikes [T, G * H/k * W/k * C]
// and the last membrane [M].
std::vector<torch::Tensor> lif_avgpool_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor beta,
                                               torch::Tensor th, int64_t reset, double v_reset, bool decay_input,
                                               int64_t g, int64_t h, int64_t w, int64_t c, int64_t k) {
  const PoolGeometry q{g, h, w, c, k};
  TORCH_CHECK(k >= 1 && x.size(1) == q.m(), "geometry ", g, "x", h, "x", w, "x", c, " does not match ", x.size(1));
  const int64_t steps = x.size(0);
  auto out = empty_cached({steps, q.mo()}, x.options()), v_last = torch::empty_like(v0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_avgpool_forward", [&] {
    forward_pool_impl<scalar_t>(x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(),
                                th.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), v_last.data_ptr<scalar_t>(), steps,
                                q, (int)reset, (scalar_t)v_reset, decay_input);
  });
  return {out, v_last};
}

// gout: [T, G * H/k * W/k * C]; x: the forward's input [T, M]. Returns gx, gv0, gbeta, gth as lif_backward.
std::vector<torch::Tensor> lif_avgpool_backward(torch::Tensor gout, torch::Tensor gvlast, torch::Tensor x,
                                                torch::Tensor v0, torch::Tensor beta, torch::Tensor th,
                                                int64_t reset, double v_reset, bool decay_input, bool detach,
                                                int64_t kind, double alpha, bool need_beta, bool need_th,
                                                int64_t g, int64_t h, int64_t w, int64_t c, int64_t k) {
  const PoolGeometry q{g, h, w, c, k};
  TORCH_CHECK(k >= 1 && x.size(1) == q.m() && gout.size(1) == q.mo(), "geometry does not match the tensors");
  const int64_t steps = x.size(0);
  return backward_outputs(x, v0, need_beta, need_th, kind, [&](auto surr, auto* gx, auto* gv0, auto* gb, auto* gt) {
    using T = std::remove_pointer_t<decltype(gx)>;
    backward_pool_impl<T, decltype(surr)::value>(gout.data_ptr<T>(), optional_ptr<T>(gvlast), x.data_ptr<T>(),
                                                 v0.data_ptr<T>(), beta.data_ptr<T>(), th.data_ptr<T>(), gx, gv0, gb,
                                                 gt, steps, q, BackwardConsts<T>((int)reset, T(v_reset), decay_input,
                                                                                 detach, T(alpha)));
  });
}

// gs, kept: [T, M]; th: [M] or one value for all. kept is the pre-reset membranes h, or with from_input
// the forward's input x (v0 [M] and beta [M] or one value; reset, v_reset and decay_input then recompute
// h). Returns g_h [T, M] and, with need_sum, its sum over time [M] (else empty).
std::vector<torch::Tensor> lif_spatial_backward(torch::Tensor gs, torch::Tensor kept, bool from_input,
                                                torch::Tensor v0, torch::Tensor beta, torch::Tensor th, int64_t reset,
                                                double v_reset, bool decay_input, int64_t kind, double alpha,
                                                bool need_sum) {
  const int64_t steps = kept.size(0), m = kept.size(1);
  TORCH_CHECK(gs.sizes() == kept.sizes() && (th.numel() == 1 || th.numel() == m) &&
              (!from_input || (v0.numel() == m && (beta.numel() == 1 || beta.numel() == m))),
              "gs must be shaped like kept [T, M], th (with from_input beta too) have 1 or M values and v0 M; got ",
              "gs ", gs.sizes(), ", kept ", kept.sizes(), ", th ", th.numel(), ", v0 ", v0.numel(), ", beta ", beta.numel());
  TORCH_CHECK(gs.is_contiguous() && kept.is_contiguous() && th.is_contiguous() &&
              (!from_input || (v0.is_contiguous() && beta.is_contiguous())), "the inputs must be contiguous");
  auto gh = empty_cached(kept), ghsum = need_sum ? kept.new_empty({m}) : kept.new_empty({0});
  AT_DISPATCH_FLOATING_TYPES(kept.scalar_type(), "lif_spatial_backward", [&] {
    with_surrogate(kind, [&](auto surr) {
      const scalar_t* k = kept.data_ptr<scalar_t>();
      spatial_backward_impl<scalar_t, decltype(surr)::value>(
          gs.data_ptr<scalar_t>(), from_input ? nullptr : k, from_input ? k : nullptr,
          from_input ? v0.data_ptr<scalar_t>() : nullptr, from_input ? beta.data_ptr<scalar_t>() : nullptr,
          th.data_ptr<scalar_t>(), (int)reset, (scalar_t)v_reset, decay_input, gh.data_ptr<scalar_t>(),
          need_sum ? ghsum.data_ptr<scalar_t>() : nullptr, steps, m, (scalar_t)alpha, beta.numel() == 1,
          th.numel() == 1);
    });
  });
  return {gh, ghsum};
}

// An uninitialised contiguous tensor of `sizes` with the options of `like`, from the buffer cache when large:
// the output of a GEMM that feeds the engine (torch's out= argument), warm memory instead of fresh pages.
torch::Tensor cached_empty(std::vector<int64_t> sizes, torch::Tensor like) { return empty_cached(sizes, like.options()); }

// ---- Event-driven synapses: an nn.Linear whose input is 0/1 spikes (snnkit.kernels.set_event_driven) ----
// Only the weights of the inputs that spiked are added: rows x [R, K] become compressed rows (row_ptr
// [R + 1] int64, the columns of their ones idx [nnz] int32), the output row r is bias + the rows of the
// transposed weight wt [K, N] at those columns, added in column order (deterministic, whatever the
// threads), and the weight gradient adds each g[r] to the rows of gwt [K, N] at those columns.

// Writes the columns of the nonzeros of xr [K] to cols; returns how many, and sets `other` when a value
// is neither 0 nor 1 (NaN included). With AVX-512, 16 floats per compare and one step per nonzero.
template <typename T>
inline int64_t row_ones(const T* __restrict__ xr, int64_t K, int32_t* __restrict__ cols, int& other) {
  int64_t n = 0, j = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    for (; j + 16 <= K; j += 16) {
      const __m512 v = _mm512_loadu_ps(xr + j);
      unsigned nz = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ);
      other |= (nz & ~unsigned(_mm512_cmp_ps_mask(v, one, _CMP_EQ_OQ))) != 0;
      while (nz) {
        cols[n++] = int32_t(j + __builtin_ctz(nz));
        nz &= nz - 1;
      }
    }
  }
#endif
  for (; j < K; ++j) {  // no branch: every column is written, only nonzeros move n on
    const T v = xr[j];
    cols[n] = int32_t(j);
    n += v != T(0);
    other |= (v != T(0)) & (v != T(1));
  }
  return n;
}

// The compressed rows of x [R, K], or nothing when a value is neither 0 nor 1 (NaN included) or more
// than max_density of the values are ones (the dense GEMM is then as fast or faster). One pass over x:
// each of a few row ranges lists its rows' columns of ones, the lists are then copied into idx. A pass
// stops early once the ones seen pass the limit, and 64 rows spread over x are counted first, so a
// matrix far denser than the limit (a hidden layer's spikes, often) costs little to refuse.
std::vector<torch::Tensor> spike_rows(torch::Tensor x, double max_density) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [R, K] matrix; got ", x.sizes());
  const int64_t R = x.size(0), K = x.size(1);
  TORCH_CHECK(K < (int64_t(1) << 31), "x has ", K, " columns; at most 2^31 - 1");
  const double limit = max_density * double(R) * double(K);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(R, 4 * at::get_num_threads()));
  auto row_ptr = torch::empty({R + 1}, x.options().dtype(torch::kLong));
  int64_t* rp = row_ptr.data_ptr<int64_t>();
  std::vector<std::vector<int32_t>> lists(chunks);
  std::atomic<bool> refused{false};
  std::atomic<int64_t> seen{0};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spike_rows", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const int64_t sample = std::min<int64_t>(R, 64);
    int64_t sampled = 0;
    for (int64_t i = 0; i < sample; ++i) {
      const scalar_t* xr = xp + (R * i / sample) * K;
      for (int64_t j = 0; j < K; ++j) sampled += xr[j] != scalar_t(0);
    }
    if (double(sampled) > 1.5 * max_density * double(sample) * double(K)) {  // a heuristic: only ever refuses
      refused = true;
      return;
    }
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      std::vector<int32_t> scratch(K);
      for (int64_t c = c0; c < c1 && !refused; ++c) {
        std::vector<int32_t>& list = lists[c];
        for (int64_t r = R * c / chunks; r < R * (c + 1) / chunks; ++r) {
          int other = 0;
          const int64_t n = row_ones(xp + r * K, K, scratch.data(), other);
          rp[r + 1] = n;
          list.insert(list.end(), scratch.begin(), scratch.begin() + n);
          if (other || double(seen.fetch_add(n) + n) > limit) {
            refused = true;
            break;
          }
        }
      }
    });
  });
  if (refused) return {};
  rp[0] = 0;
  for (int64_t r = 0; r < R; ++r) rp[r + 1] += rp[r];
  auto idx = torch::empty({rp[R]}, x.options().dtype(torch::kInt));
  int32_t* ip = idx.data_ptr<int32_t>();
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) std::copy(lists[c].begin(), lists[c].end(), ip + rp[R * c / chunks]);
  });
  return {row_ptr, idx};
}

// out [R, N] = bias + sum of wt [K, N] over the columns of each row's ones (row_ptr, idx from spike_rows).
void event_linear_into(torch::Tensor row_ptr, torch::Tensor idx, torch::Tensor wt, torch::Tensor bias,
                       torch::Tensor out) {
  const int64_t R = row_ptr.numel() - 1, N = wt.size(1);
  TORCH_CHECK(wt.dim() == 2 && wt.is_contiguous() && out.is_contiguous() && out.dim() == 2 && out.size(0) == R &&
              out.size(1) == N && out.scalar_type() == wt.scalar_type() &&
              (!bias.numel() || (bias.numel() == N && bias.is_contiguous() && bias.scalar_type() == wt.scalar_type())),
              "wt [K, N], out [R, N] and bias [N] (or empty) must be contiguous, of one dtype; got wt ", wt.sizes(),
              ", out ", out.sizes(), ", bias ", bias.sizes(), ", R = ", R);
  const int64_t* rp = row_ptr.data_ptr<int64_t>();
  const int32_t* ip = idx.data_ptr<int32_t>();
  AT_DISPATCH_FLOATING_TYPES(wt.scalar_type(), "event_linear_into", [&] {
    const scalar_t* w = wt.data_ptr<scalar_t>();
    const scalar_t* b = bias.numel() ? bias.data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, R, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        scalar_t* __restrict__ o = op + r * N;
        for (int64_t c = 0; c < N; ++c) o[c] = b ? b[c] : scalar_t(0);
        const int32_t* ones = ip + rp[r];
        const int64_t n = rp[r + 1] - rp[r];
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {  // four rows of wt per pass over o; added left to right, as one at a time
          const scalar_t* __restrict__ w0 = w + int64_t(ones[i]) * N;
          const scalar_t* __restrict__ w1 = w + int64_t(ones[i + 1]) * N;
          const scalar_t* __restrict__ w2 = w + int64_t(ones[i + 2]) * N;
          const scalar_t* __restrict__ w3 = w + int64_t(ones[i + 3]) * N;
          for (int64_t c = 0; c < N; ++c) o[c] = o[c] + w0[c] + w1[c] + w2[c] + w3[c];
        }
        for (; i < n; ++i) {
          const scalar_t* __restrict__ w0 = w + int64_t(ones[i]) * N;
          for (int64_t c = 0; c < N; ++c) o[c] += w0[c];
        }
      }
    });
  });
}

// The weight gradient, transposed, as parts to add: [P, K, N], part p = sum of g[r] over rows r of the
// p-th of P equal row ranges, at the columns of their ones. One part per thread (no two threads write
// one row), fewer when P * K * N values would pass max_values.
torch::Tensor event_weight_grad_parts(torch::Tensor row_ptr, torch::Tensor idx, torch::Tensor g, int64_t K,
                                      int64_t max_values) {
  const int64_t R = row_ptr.numel() - 1, N = g.size(1);
  TORCH_CHECK(g.dim() == 2 && g.is_contiguous() && g.size(0) == R, "g must be a contiguous [R, N] matrix with R = ",
              R, "; got ", g.sizes());
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), max_values / std::max<int64_t>(1, K * N)));
  auto parts = torch::zeros({P, K, N}, g.options());
  const int64_t* rp = row_ptr.data_ptr<int64_t>();
  const int32_t* ip = idx.data_ptr<int32_t>();
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "event_weight_grad", [&] {
    const scalar_t* gp = g.data_ptr<scalar_t>();
    scalar_t* pp = parts.data_ptr<scalar_t>();
    at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        scalar_t* acc = pp + p * K * N;
        for (int64_t r = R * p / P; r < R * (p + 1) / P; ++r) {
          const scalar_t* __restrict__ gr = gp + r * N;
          for (int64_t i = rp[r]; i < rp[r + 1]; ++i) {
            scalar_t* __restrict__ a = acc + int64_t(ip[i]) * N;
            for (int64_t c = 0; c < N; ++c) a[c] += gr[c];
          }
        }
      }
    });
  });
  return parts;
}

// Whether this thread's floating-point unit flushes denormal results to zero and reads denormal inputs
// as zero (x86 MXCSR FTZ and DAZ, what torch.set_flush_denormal(True) sets); false elsewhere.
bool denormals_flushed() {
#if defined(__x86_64__) || defined(_M_X64)
  return (_mm_getcsr() & 0x8040u) == 0x8040u;
#else
  return false;
#endif
}

// Flush denormals to zero (or stop) on this thread and on every thread of the intra-op pool: each
// thread has its own MXCSR, and torch.set_flush_denormal sets only the caller's.
void set_denormals_flushed(bool on) {
#if defined(__x86_64__) || defined(_M_X64)
  auto apply = [on] { _mm_setcsr(on ? (_mm_getcsr() | 0x8040u) : (_mm_getcsr() & ~0x8040u)); };
  apply();
  const int64_t n = at::get_num_threads();
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) { apply(); });
#endif
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.def("lif_forward", &lif_forward, "fused LIF forward");
  mod.def("lif_backward", &lif_backward, "fused LIF backward");
  mod.def("lif_avgpool_forward", &lif_avgpool_forward, "fused LIF + average pooling forward");
  mod.def("lif_avgpool_backward", &lif_avgpool_backward, "fused LIF + average pooling backward");
  mod.def("release_buffer_cache", &release_buffer_cache, "free the cached output buffers; returns the bytes freed");
  mod.def("buffer_cache_bytes", &buffer_cache_bytes, "bytes held in the cache of output buffers");
  mod.def("lif_spatial_backward", &lif_spatial_backward, "LIF backward without the route through time (SLTT)");
  mod.def("cached_empty", &cached_empty, "an uninitialised tensor from the buffer cache");
  mod.def("leaky_integrate", &leaky_integrate, "the leaky integration alone (LI membranes, OTTT traces)");
  mod.def("denormals_flushed", &denormals_flushed, "whether denormals are flushed to zero on this thread");
  mod.def("set_denormals_flushed", &set_denormals_flushed, "flush denormals on this thread and the pool's");
  mod.def("spike_rows", &spike_rows, "a 0/1 matrix as compressed rows, or nothing (not 0/1, or too dense)");
  mod.def("event_linear_into", &event_linear_into, "a Linear on 0/1 inputs: adds the weights of the ones");
  mod.def("event_weight_grad_parts", &event_weight_grad_parts, "a Linear's weight gradient on 0/1 inputs, in parts");
}
