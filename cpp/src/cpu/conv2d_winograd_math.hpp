// Internal: the one-dimensional F(4x4, 3x3) transforms (conv2d_winograd.hpp), B^T and A^T
// applied to a column of a tile, written once over a vector type V whose lanes are tiles,
// so that the portable (V of one float, conv2d_winograd.cpp) and the x86 transforms
// (simd/conv2d_winograd_x86.hpp) run the same arithmetic. The 2-D transforms apply them
// to the columns, then to the rows.
//
// V provides: T; set1, add, sub, mul, fmadd(a, b, c) = a * b + c, fnmadd(a, b, c) = c - a * b.
//
// In an unnamed namespace on purpose, as lstm_gates_math.hpp: each file that includes it
// (compiled with its own -m flags) keeps its own copy.
#pragma once

#include "conv2d_winograd.hpp"

namespace kiln::detail {
namespace {
namespace winograd_math {

// (B^T d) for one column d0..d5 of a patch:
//   [4  0 -5  0 1 0]
//   [0 -4 -4  1 1 0]
//   [0  4 -4 -1 1 0]
//   [0 -2 -1  2 1 0]
//   [0  2 -1 -2 1 0]
//   [0  4  0 -5 0 1]
template <class V>
inline void input_1d(const typename V::T d[6], typename V::T out[6]) {
  const typename V::T four = V::set1(4.0f), five = V::set1(5.0f), two = V::set1(2.0f);
  const typename V::T t1 = V::fnmadd(four, d[2], d[4]), t2 = V::fnmadd(four, d[1], d[3]);
  const typename V::T t3 = V::sub(d[4], d[2]), t4 = V::mul(two, V::sub(d[3], d[1]));
  out[0] = V::fmadd(four, d[0], V::fnmadd(five, d[2], d[4]));
  out[1] = V::add(t1, t2);
  out[2] = V::sub(t1, t2);
  out[3] = V::add(t3, t4);
  out[4] = V::sub(t3, t4);
  out[5] = V::fmadd(four, d[1], V::fnmadd(five, d[3], d[5]));
}

// (A^T m) for one column m0..m5:
//   [1 1  1 1  1 0]
//   [0 1 -1 2 -2 0]
//   [0 1  1 4  4 0]
//   [0 1 -1 8 -8 1]
template <class V>
inline void output_1d(const typename V::T m[6], typename V::T out[4]) {
  const typename V::T a = V::add(m[1], m[2]), b = V::sub(m[1], m[2]);
  const typename V::T c = V::add(m[3], m[4]), d = V::sub(m[3], m[4]);
  out[0] = V::add(V::add(m[0], a), c);
  out[1] = V::fmadd(V::set1(2.0f), d, b);
  out[2] = V::fmadd(V::set1(4.0f), c, a);
  out[3] = V::add(V::fmadd(V::set1(8.0f), d, b), m[5]);
}

// (A y) for one column y0..y3 of a tile of dy (the weight gradient's transform):
//   [1  0  0  0]
//   [1  1  1  1]
//   [1 -1  1 -1]
//   [1  2  4  8]
//   [1 -2  4 -8]
//   [0  0  0  1]
template <class V>
inline void grad_output_1d(const typename V::T y[4], typename V::T out[6]) {
  const typename V::T even = V::add(y[0], y[2]), odd = V::add(y[1], y[3]);
  const typename V::T even4 = V::fmadd(V::set1(4.0f), y[2], y[0]);
  const typename V::T odd2 = V::fmadd(V::set1(8.0f), y[3], V::mul(V::set1(2.0f), y[1]));
  out[0] = y[0];
  out[1] = V::add(even, odd);
  out[2] = V::sub(even, odd);
  out[3] = V::add(even4, odd2);
  out[4] = V::sub(even4, odd2);
  out[5] = y[3];
}

}  // namespace winograd_math
}  // namespace
}  // namespace kiln::detail
