// Internal: the GRU gate passes written once over a vector type V (lstm_gates_math.hpp's
// contract, whose sigmoid, tanh and masked loads they reuse), so the portable, AVX2 and
// AVX-512 versions run the same arithmetic. Like that header, everything sits in an unnamed
// namespace so each -m flavour gets its own copy.
#pragma once

#include "gru_gates.hpp"
#include "lstm_gates_math.hpp"

namespace kiln::detail {
namespace {
namespace gru_math {

using gate_math::load_n;
using gate_math::store_n;

template <class V>
inline void forward_vector(const GruForwardSpan& s, index_t H, index_t j, int n) {
  using T = typename V::T;
  auto load = [n](const float* p) { return load_n<V>(p, n); };
  auto store = [n](float* p, T v) { store_n<V>(p, v, n); };
  float* g = s.gates + j;
  const float* hg = s.hg + j;
  const T r = gate_math::sigmoid<V>(V::add(load(g), load(hg)));
  const T z = gate_math::sigmoid<V>(V::add(load(g + H), load(hg + H)));
  const T hn = load(hg + 2 * H);
  const T nn = gate_math::tanh<V>(V::fmadd(r, hn, load(g + 2 * H)));
  // (1 - z) n + z h = n + z (h - n)
  const T h = V::fmadd(z, V::sub(load(s.h_prev + j), nn), nn);
  store(g, r);
  store(g + H, z);
  store(g + 2 * H, nn);
  store(g + 3 * H, hn);
  store(s.h_out + j, h);
}

template <class V>
inline void forward(index_t n, index_t H, const GruForwardSpan& s) {
  index_t j = 0;
  for (; j + V::width <= n; j += V::width) forward_vector<V>(s, H, j, V::width);
  if (j < n) forward_vector<V>(s, H, j, static_cast<int>(n - j));
}

// d_n = dh (1 - z)(1 - n^2); d_z = dh (h - n) z (1 - z); d_r = d_n hn r (1 - r);
// d_x = (d_r, d_z, d_n); d_h = (d_r, d_z, d_n r); dh_prev = dh z.
template <class V>
inline void backward_vector(const GruBackwardSpan& s, index_t H, index_t j, int n) {
  using T = typename V::T;
  auto load = [n](const float* p) { return load_n<V>(p, n); };
  auto store = [n](float* p, T v) { store_n<V>(p, v, n); };
  const T one = V::set1(1.0f);
  const float* g = s.gates + j;
  const T r = load(g), z = load(g + H), nn = load(g + 2 * H), hn = load(g + 3 * H);
  const T dh = V::add(load(s.dh_a + j), load(s.dh_b + j));
  const T d_n = V::mul(V::mul(dh, V::sub(one, z)), V::sub(one, V::mul(nn, nn)));
  const T d_z = V::mul(V::mul(dh, V::sub(load(s.h_prev + j), nn)), V::mul(z, V::sub(one, z)));
  const T d_r = V::mul(V::mul(d_n, hn), V::mul(r, V::sub(one, r)));
  float* dx = s.d_x + j;
  float* dhg = s.d_h + j;
  store(dx, d_r);
  store(dx + H, d_z);
  store(dx + 2 * H, d_n);
  store(dhg, d_r);
  store(dhg + H, d_z);
  store(dhg + 2 * H, V::mul(d_n, r));
  store(s.dh_prev + j, V::mul(dh, z));
}

template <class V>
inline void backward(index_t n, index_t H, const GruBackwardSpan& s) {
  index_t j = 0;
  for (; j + V::width <= n; j += V::width) backward_vector<V>(s, H, j, V::width);
  if (j < n) backward_vector<V>(s, H, j, static_cast<int>(n - j));
}

}  // namespace gru_math
}  // namespace
}  // namespace kiln::detail
