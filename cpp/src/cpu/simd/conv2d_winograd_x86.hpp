// Internal: the Winograd transforms (conv2d_winograd.hpp) on 8 tiles in ymm registers, for
// the AVX2 and the AVX-512 files (each compiles its own copy with its -m flags; AVX-512's
// 32 registers hold the 36 values of a patch without spilling).
//
// The patches are not gathered (a gather per element costs more than the whole transform):
// each tile's 6 patch rows are read with masked loads (the padding masked off, so never
// read), 8 tiles' row i are transposed in registers (8x8), and the lanes are then the
// tiles. The output tiles go back the same way: 4x8 transposes, one 16-byte store per
// tile row (masked at the output's edges); the weight gradient reads dy's tiles as the
// output's are written, with masked 16-byte loads.
//
// In an unnamed namespace, as conv2d_winograd_math.hpp.
#pragma once

#include <immintrin.h>

#include <algorithm>

#include "../conv2d_winograd.hpp"
#include "../conv2d_winograd_math.hpp"
#include "transpose_8x8_avx.hpp"

namespace kiln::detail {
namespace {
namespace winograd_x86 {

struct Ymm {
  using T = __m256;
  static constexpr int width = 8;
  static T set1(float v) { return _mm256_set1_ps(v); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
};

// Lanes 0..5 of each of rows r[0..7], transposed: c[j] holds element j of every row (the
// 8 x 8 transpose; the compiler drops the two columns not kept).
inline void transpose_8x6(const __m256 r[8], __m256 c[6]) {
  __m256 t[8] = {r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]};
  simd::transpose_8x8(t);
  for (int j = 0; j < 6; ++j) c[j] = t[j];
}

// The first `count` of 8 floats (count in 0..8), as a maskload's mask.
inline __m256i first_lanes(index_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#if defined(__AVX512F__) && defined(__AVX512VL__)
// Which of a patch row's 8 (or a dy tile row's 4) loaded floats to read (AVX-512's masked
// loads cost a plain one).
using RowMask = __mmask8;
inline RowMask row_mask(__m256i in_columns) {
  return _mm256_cmpneq_epi32_mask(in_columns, _mm256_setzero_si256());
}
inline RowMask no_row() { return 0; }
inline __m256 load_row(const float* p, RowMask m) { return _mm256_maskz_loadu_ps(m, p); }
inline __m128 load_row4(const float* p, RowMask m) { return _mm_maskz_loadu_ps(m, p); }
#else
using RowMask = __m256i;
inline RowMask row_mask(__m256i in_columns) { return in_columns; }
inline RowMask no_row() { return _mm256_setzero_si256(); }
inline __m256 load_row(const float* p, RowMask m) { return _mm256_maskload_ps(p, m); }
inline __m128 load_row4(const float* p, RowMask m) {
  return _mm_maskload_ps(p, _mm256_castsi256_si128(m));
}
#endif

// The lines of [begin, end) of a plane `ahead` channels on, into L1: the next channels'
// rows are in other planes, out of the hardware prefetchers' reach, and the transforms
// would wait for each. Skipped when the lanes are far apart (tiles of several images).
struct Prefetch {
  index_t begin = 0, end = 0;
  static constexpr index_t kAhead = 2, kMaxFloats = 4096;
  void note(index_t first, index_t last) {
    if (begin == end) {
      begin = first;
      end = last;
    } else {
      begin = std::min(begin, first);
      end = std::max(end, last);
    }
  }
  void run(const float* plane) const {
    if (end - begin > kMaxFloats) return;
    for (index_t i = begin; i < end; i += 16) _mm_prefetch(reinterpret_cast<const char*>(plane + i), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(plane + end - 1), _MM_HINT_T0);
  }
};

void input_panel(index_t channels, index_t h, index_t w, const float* x, index_t channel_stride,
                 const WinogradPanel& tiles, float* v, index_t e_stride, index_t ld) {
  for (index_t j0 = 0; j0 < tiles.nr; j0 += 8) {
    // Per lane and patch row: the row's offset and which of its 8 loaded floats lie in x
    // (columns col0 .. col0 + 7 inside [0, w), and the row inside [0, h)); the same for
    // every channel.
    index_t offset[6][8];
    RowMask mask[6][8];
    Prefetch prefetch;
    for (int l = 0; l < 8; ++l) {
      const index_t row0 = tiles.row0[j0 + l], col0 = tiles.col0[j0 + l];
      const __m256i columns = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(col0)),
                                               _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      const __m256i in_columns = _mm256_and_si256(
          _mm256_cmpgt_epi32(columns, _mm256_set1_epi32(-1)),
          _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(w)), columns));
      for (int i = 0; i < 6; ++i) {
        const bool row_inside = row0 + i >= 0 && row0 + i < h;
        mask[i][l] = row_inside ? row_mask(in_columns) : no_row();
        offset[i][l] = row_inside ? tiles.corner[j0 + l] + i * w : 0;
        if (row_inside) prefetch.note(offset[i][l] + std::max<index_t>(0, -col0), offset[i][l] + std::min<index_t>(8, w - col0));
      }
    }
    for (index_t c = 0; c < channels; ++c) {
      const float* xc = x + c * channel_stride;
      if (c + Prefetch::kAhead < channels) prefetch.run(xc + Prefetch::kAhead * channel_stride);
      __m256 rows_t[6][6];  // rows_t[i][j]: B times patch row i, element j, over the lanes
      for (int i = 0; i < 6; ++i) {
        __m256 r[8], d[6];
        for (int l = 0; l < 8; ++l) r[l] = load_row(xc + offset[i][l], mask[i][l]);
        transpose_8x6(r, d);
        winograd_math::input_1d<Ymm>(d, rows_t[i]);
      }
      float* vc = v + c * ld + j0;
      for (int j = 0; j < 6; ++j) {
        const __m256 col[6] = {rows_t[0][j], rows_t[1][j], rows_t[2][j],
                               rows_t[3][j], rows_t[4][j], rows_t[5][j]};
        __m256 out[6];
        winograd_math::input_1d<Ymm>(col, out);
        for (int i = 0; i < 6; ++i) _mm256_storeu_ps(vc + (i * 6 + j) * e_stride, out[i]);
      }
    }
  }
}

void output_panel(index_t filters, index_t oh, index_t ow, const float* m, index_t e_stride,
                  index_t ld, const WinogradPanel& tiles, const float* bias, float* y,
                  index_t channel_stride) {
  for (index_t j0 = 0; j0 < tiles.count; j0 += 8) {
    const index_t lanes = std::min<index_t>(8, tiles.count - j0);
    // Per lane: how many of its 4 rows and columns lie inside y.
    index_t rows[8], offset[8];
    __m128i columns[8];
    bool whole = lanes == 8;
    for (int l = 0; l < 8; ++l) {
      rows[l] = l < lanes ? std::min<index_t>(4, oh - tiles.row0[j0 + l]) : 0;
      const index_t cols = l < lanes ? std::min<index_t>(4, ow - tiles.col0[j0 + l]) : 0;
      columns[l] = _mm256_castsi256_si128(first_lanes(cols));
      offset[l] = l < lanes ? tiles.corner[j0 + l] : 0;
      whole = whole && rows[l] == 4 && cols == 4;
    }
    for (index_t k = 0; k < filters; ++k) {
      const float* mk = m + k * ld + j0;
      __m256 cols_t[6][4];  // cols_t[j][i]: A^T times column j of M's tile, row i
      for (int j = 0; j < 6; ++j) {
        __m256 col[6];
        for (int i = 0; i < 6; ++i) col[i] = _mm256_loadu_ps(mk + (i * 6 + j) * e_stride);
        winograd_math::output_1d<Ymm>(col, cols_t[j]);
      }
      const __m256 b = _mm256_set1_ps(bias ? bias[k] : 0.0f);
      float* yk = y + k * channel_stride;
      for (int i = 0; i < 4; ++i) {
        const __m256 row[6] = {cols_t[0][i], cols_t[1][i], cols_t[2][i],
                               cols_t[3][i], cols_t[4][i], cols_t[5][i]};
        __m256 o[4];
        winograd_math::output_1d<Ymm>(row, o);
        for (int j = 0; j < 4; ++j) o[j] = _mm256_add_ps(o[j], b);
        // 4x8 -> 8 rows of 4: tile l's row i in the low half of q[l % 4] (l < 4) or high.
        const __m256 a0 = _mm256_unpacklo_ps(o[0], o[1]), a1 = _mm256_unpackhi_ps(o[0], o[1]);
        const __m256 a2 = _mm256_unpacklo_ps(o[2], o[3]), a3 = _mm256_unpackhi_ps(o[2], o[3]);
        const __m256 q[4] = {_mm256_shuffle_ps(a0, a2, 0x44), _mm256_shuffle_ps(a0, a2, 0xEE),
                             _mm256_shuffle_ps(a1, a3, 0x44), _mm256_shuffle_ps(a1, a3, 0xEE)};
        __m128 tile_row[8];
        for (int l = 0; l < 4; ++l) {
          tile_row[l] = _mm256_castps256_ps128(q[l]);
          tile_row[l + 4] = _mm256_extractf128_ps(q[l], 1);
        }
        float* yi = yk + i * ow;
        if (whole) {
          for (int l = 0; l < 8; ++l) _mm_storeu_ps(yi + offset[l], tile_row[l]);
        } else {
          for (int l = 0; l < 8; ++l)
            if (i < rows[l]) _mm_maskstore_ps(yi + offset[l], columns[l], tile_row[l]);
        }
      }
    }
  }
}

void grad_output_panel(index_t filters, index_t oh, index_t ow, const float* dy,
                       index_t channel_stride, const WinogradPanel& tiles, float* t,
                       index_t e_stride, index_t ld) {
  for (index_t j0 = 0; j0 < tiles.nr; j0 += 8) {
    // Per lane and tile row: its offset in dy and which of its 4 floats lie inside dy.
    index_t offset[4][8];
    RowMask mask[4][8];
    Prefetch prefetch;
    for (int l = 0; l < 8; ++l) {
      const bool used = j0 + l < tiles.count;
      const index_t rows = used ? std::min<index_t>(4, oh - tiles.row0[j0 + l]) : 0;
      const index_t cols = used ? std::min<index_t>(4, ow - tiles.col0[j0 + l]) : 0;
      for (int i = 0; i < 4; ++i) {
        mask[i][l] = i < rows ? row_mask(first_lanes(cols)) : no_row();
        offset[i][l] = i < rows ? tiles.corner[j0 + l] + i * ow : 0;
        if (i < rows && cols > 0) prefetch.note(offset[i][l], offset[i][l] + cols);
      }
    }
    for (index_t k = 0; k < filters; ++k) {
      const float* dyk = dy + k * channel_stride;
      if (k + Prefetch::kAhead < filters) prefetch.run(dyk + Prefetch::kAhead * channel_stride);
      __m256 rows_t[4][6];  // rows_t[i][j]: A times tile row i, element j, over the lanes
      for (int i = 0; i < 4; ++i) {
        // 8 rows of 4 -> 4 columns of 8: lanes l and l + 4 share a register, then 4x4
        // transposes within its halves.
        __m256 r[4];
        for (int l = 0; l < 4; ++l)
          r[l] = _mm256_insertf128_ps(_mm256_castps128_ps256(load_row4(dyk + offset[i][l], mask[i][l])),
                                      load_row4(dyk + offset[i][l + 4], mask[i][l + 4]), 1);
        const __m256 a0 = _mm256_unpacklo_ps(r[0], r[1]), a1 = _mm256_unpackhi_ps(r[0], r[1]);
        const __m256 a2 = _mm256_unpacklo_ps(r[2], r[3]), a3 = _mm256_unpackhi_ps(r[2], r[3]);
        const __m256 column[4] = {_mm256_shuffle_ps(a0, a2, 0x44), _mm256_shuffle_ps(a0, a2, 0xEE),
                                  _mm256_shuffle_ps(a1, a3, 0x44), _mm256_shuffle_ps(a1, a3, 0xEE)};
        winograd_math::grad_output_1d<Ymm>(column, rows_t[i]);
      }
      float* tk = t + k * ld + j0;
      for (int j = 0; j < 6; ++j) {
        const __m256 col[4] = {rows_t[0][j], rows_t[1][j], rows_t[2][j], rows_t[3][j]};
        __m256 out[6];
        winograd_math::grad_output_1d<Ymm>(col, out);
        for (int i = 0; i < 6; ++i) _mm256_storeu_ps(tk + (i * 6 + j) * e_stride, out[i]);
      }
    }
  }
}

}  // namespace winograd_x86
}  // namespace
}  // namespace kiln::detail
