// Internal: the direct convolution's row kernels (conv2d_direct.hpp), written once over a
// vector type (simd/vec_avx2.hpp, simd/vec_avx512.hpp) and instantiated per ISA:
//
//   out[f * ld + j] = sum over t < taps of w[t * F + f] * x[offsets[t] + j]   f < F, j < width
//
// F filters x V vectors of pixels are held in registers; each tap loads V vectors of x
// once for all F filters. The last partial vector is read and written masked, so nothing
// outside [0, width) is touched.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail::conv_direct {

template <class Vec, int F, int V, bool Tail>
inline void row_tile(index_t taps, const index_t* offsets, const float* x, const float* w,
                     float* out, index_t ld, index_t tail) {
  constexpr int L = Vec::kLanes;
  auto load_x = [&](index_t t, Vec* xv) {
    const float* xt = x + offsets[t];
    for (int v = 0; v < V; ++v)
      xv[v] = (Tail && v == V - 1) ? Vec::load_partial(xt + v * L, tail) : Vec::load(xt + v * L);
  };
  // The first tap starts the sums (taps >= 1): no path where they stay zero, which made
  // GCC keep a copy of them on the stack.
  Vec acc[F][V], xv[V];
  load_x(0, xv);
  for (int f = 0; f < F; ++f) {
    const Vec wf = Vec::set1(w[f]);
    for (int v = 0; v < V; ++v) acc[f][v] = wf * xv[v];
  }
  for (index_t t = 1; t < taps; ++t) {
    load_x(t, xv);
    for (int f = 0; f < F; ++f) {
      const Vec wf = Vec::set1(w[t * F + f]);
      for (int v = 0; v < V; ++v) acc[f][v] = fmadd(wf, xv[v], acc[f][v]);
    }
  }
  for (int f = 0; f < F; ++f)
    for (int v = 0; v < V; ++v) {
      if (Tail && v == V - 1) {
        Vec::store_partial(out + f * ld + v * L, acc[f][v], tail);
      } else {
        Vec::store(out + f * ld + v * L, acc[f][v]);
      }
    }
}

// Vectors left after the whole tiles (fewer than V), then the partial one, as one tile.
template <class Vec, int F, int V>
inline void row_rest(index_t taps, const index_t* offsets, const float* x, const float* w,
                     float* out, index_t ld, index_t vectors, index_t tail) {
  if constexpr (V > 1) {
    if (vectors == V - 1) {
      if (tail) {
        row_tile<Vec, F, V, true>(taps, offsets, x, w, out, ld, tail);
      } else {
        row_tile<Vec, F, V - 1, false>(taps, offsets, x, w, out, ld, 0);
      }
      return;
    }
    row_rest<Vec, F, V - 1>(taps, offsets, x, w, out, ld, vectors, tail);
  } else if (tail) {
    row_tile<Vec, F, 1, true>(taps, offsets, x, w, out, ld, tail);
  }
}

template <class Vec, int F, int V>
void row(index_t taps, const index_t* offsets, const float* x, const float* w, index_t width,
         float* out, index_t ld) {
  constexpr index_t step = static_cast<index_t>(V) * Vec::kLanes;
  index_t j = 0;
  for (; j + step <= width; j += step) row_tile<Vec, F, V, false>(taps, offsets, x + j, w, out + j, ld, 0);
  const index_t left = width - j;
  if (left > 0)
    row_rest<Vec, F, V>(taps, offsets, x + j, w, out + j, ld, left / Vec::kLanes, left % Vec::kLanes);
}

// The weight gradient's dot kernels:
//
//   dw[f * taps + t] += sum over j < width of dy[f * ld + j] * x[offsets[t] + j]   f < F
//
// T taps at a time: F x T vector sums over the row, each reduced once at its end.
template <class Vec, int F, int T>
void row_dot(index_t taps, const index_t* offsets, const float* x, const float* dy, index_t ld,
             index_t width, float* dw) {
  constexpr int L = Vec::kLanes;
  for (index_t t0 = 0; t0 < taps; t0 += T) {
    const index_t count = taps - t0 < T ? taps - t0 : T;
    const float* xt[T];
    for (int i = 0; i < T; ++i) xt[i] = x + offsets[t0 + (i < count ? i : count - 1)];
    Vec acc[F][T];
    for (int f = 0; f < F; ++f)
      for (int i = 0; i < T; ++i) acc[f][i] = Vec::set1(0.0f);
    index_t j = 0;
    for (; j + L <= width; j += L) {
      Vec d[F];
      for (int f = 0; f < F; ++f) d[f] = Vec::load(dy + f * ld + j);
      for (int i = 0; i < T; ++i) {
        const Vec xv = Vec::load(xt[i] + j);
        for (int f = 0; f < F; ++f) acc[f][i] = fmadd(d[f], xv, acc[f][i]);
      }
    }
    if (j < width) {
      const index_t tail = width - j;
      Vec d[F];
      for (int f = 0; f < F; ++f) d[f] = Vec::load_partial(dy + f * ld + j, tail);
      for (int i = 0; i < T; ++i) {
        const Vec xv = Vec::load_partial(xt[i] + j, tail);
        for (int f = 0; f < F; ++f) acc[f][i] = fmadd(d[f], xv, acc[f][i]);
      }
    }
    for (int f = 0; f < F; ++f)
      for (index_t i = 0; i < count; ++i) dw[f * taps + t0 + i] += reduce_add(acc[f][i]);
  }
}

}  // namespace kiln::detail::conv_direct
