// Every public kernel writes its outputs, all of them, and nothing else. Each output is a
// Guarded buffer (check.hpp) filled with a sentinel; after the call its guards must be
// intact, no element may still hold the sentinel (in-place buffers excepted), and the bits
// must be the same at 1 and 2 threads. Each kernel runs at a small size (serial, vector
// tails) and one past the threading threshold (~1 Mflop), so both paths write.
// The values themselves are checked against the reference by the Python tests.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "check.hpp"
#include "kiln/kiln.hpp"
#include "kiln/sparse_matmul.hpp"

using kiln::index_t;

namespace {

// One output of a kernel call: its size, and its prior contents if the kernel updates it
// in place (then it is not checked for being written everywhere).
struct Out {
  std::size_t size;
  std::vector<float> initial;
};

constexpr std::uint32_t kUnwrittenBits = 0x7fc0deadu;  // a quiet NaN no kernel computes

float unwritten() {
  float f;
  std::memcpy(&f, &kUnwrittenBits, 4);
  return f;
}

bool is_unwritten(float f) { return std::memcmp(&f, &kUnwrittenBits, 4) == 0; }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

using Call = std::function<void(std::vector<Guarded<float>>&, Guarded<std::int64_t>&)>;

// Runs `call` at 1 and 2 threads on fresh guarded outputs and checks them; `indices` is an
// int64 output (max pooling's), empty for the other kernels.
void check_kernel(const std::string& name, const std::vector<Out>& outs, const Call& call,
                  std::size_t indices = 0) {
  std::vector<std::vector<float>> first;
  std::vector<std::int64_t> first_indices;
  for (int threads : {1, 2}) {
    kiln::set_num_threads(threads);
    std::vector<Guarded<float>> buffers;
    for (const Out& o : outs) {
      buffers.emplace_back(o.size, unwritten());
      if (!o.initial.empty()) std::copy(o.initial.begin(), o.initial.end(), buffers.back().data());
    }
    Guarded<std::int64_t> index_buffer(indices, -77);
    call(buffers, index_buffer);
    const std::string what = name + " at " + std::to_string(threads) + " thread(s)";
    CHECK_GUARDS(index_buffer, what.c_str());
    for (std::size_t o = 0; o < outs.size(); ++o) {
      CHECK_GUARDS(buffers[o], (what + ", output " + std::to_string(o)).c_str());
      if (outs[o].initial.empty()) {
        std::size_t missed = 0;
        for (float v : buffers[o].values()) missed += is_unwritten(v);
        if (missed) {
          std::printf("%s left %zu of %zu elements of output %zu unwritten\n", what.c_str(), missed,
                      outs[o].size, o);
          ++failures();
        }
      }
      if (threads == 1) {
        first.push_back(buffers[o].values());
      } else if (!same_bits(buffers[o].values(), first[o])) {
        std::printf("%s: output %zu differs from 1 thread's\n", name.c_str(), o);
        ++failures();
      }
    }
    for (std::int64_t v : index_buffer.values()) CHECK(v != -77);
    if (threads == 1) {
      first_indices = index_buffer.values();
    } else {
      CHECK(index_buffer.values() == first_indices);
    }
  }
  kiln::set_num_threads(0);
}

std::size_t sz(index_t n) { return static_cast<std::size_t>(n); }

void linear(index_t m, index_t in, index_t out, bool out_by_in) {
  const auto x = random_floats(sz(m * in), 1), w = random_floats(sz(in * out), 2);
  const auto y = random_floats(sz(m * out), 3), dy = random_floats(sz(m * out), 4);
  kiln::LinearBackwardParams p{m, in, out, out_by_in, kiln::Activation::relu};
  check_kernel("linear_backward " + std::to_string(m), {{sz(m * out)}, {sz(m * in)}, {sz(in * out)}, {sz(out)}},
               [&](auto& o, auto&) {
                 kiln::linear_backward(p, x.data(), w.data(), y.data(), dy.data(), o[0].data(),
                                       o[1].data(), o[2].data(), o[3].data());
               });
}

void lstm(index_t t, index_t b, index_t i, index_t h) {
  const kiln::LstmParams p{b, i, h, t};
  const auto x = random_floats(sz(t * b * i), 1), h0 = random_floats(sz(b * h), 2),
             c0 = random_floats(sz(b * h), 3), w_ih = random_floats(sz(4 * h * i), 4),
             w_hh = random_floats(sz(4 * h * h), 5), b_ih = random_floats(sz(4 * h), 6),
             b_hh = random_floats(sz(4 * h), 7), up = random_floats(sz(t * b * h), 8);
  const std::string size = " " + std::to_string(t) + "x" + std::to_string(b) + "x" + std::to_string(h);
  check_kernel("lstm_cell_forward" + size, {{sz(b * h)}, {sz(b * h)}, {sz(4 * b * h)}}, [&](auto& o, auto&) {
    kiln::lstm_cell_forward(p, x.data(), h0.data(), c0.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                            b_hh.data(), o[0].data(), o[1].data(), o[2].data());
  });
  std::vector<float> h_new(sz(b * h)), c_new(sz(b * h)), gates(sz(4 * b * h));
  kiln::lstm_cell_forward(p, x.data(), h0.data(), c0.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                          b_hh.data(), h_new.data(), c_new.data(), gates.data());
  check_kernel("lstm_cell_backward" + size,
               {{sz(b * i)}, {sz(b * h)}, {sz(b * h)}, {sz(4 * h * i)}, {sz(4 * h * h)}, {sz(4 * h)}},
               [&](auto& o, auto&) {
                 kiln::lstm_cell_backward(p, x.data(), h0.data(), c0.data(), w_ih.data(), w_hh.data(),
                                          gates.data(), c_new.data(), up.data(), up.data(), o[0].data(),
                                          o[1].data(), o[2].data(), o[3].data(), o[4].data(), o[5].data());
               });
  const std::vector<Out> forward_outs = {{sz(t * b * h)}, {sz(b * h)}, {sz(b * h)}, {sz(4 * t * b * h)},
                                         {sz(t * b * h)}};
  check_kernel("lstm_sequence_forward" + size, forward_outs, [&](auto& o, auto&) {
    kiln::lstm_sequence_forward(p, x.data(), h0.data(), c0.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                                b_hh.data(), o[0].data(), o[1].data(), o[2].data(), o[3].data(),
                                o[4].data());
  });
  std::vector<float> y(sz(t * b * h)), h_n(sz(b * h)), c_n(sz(b * h)), all_gates(sz(4 * t * b * h)),
      cells(sz(t * b * h));
  kiln::lstm_sequence_forward(p, x.data(), h0.data(), c0.data(), w_ih.data(), w_hh.data(), b_ih.data(),
                              b_hh.data(), y.data(), h_n.data(), c_n.data(), all_gates.data(), cells.data());
  check_kernel("lstm_sequence_backward" + size,
               {{sz(t * b * i)}, {sz(b * h)}, {sz(b * h)}, {sz(4 * h * i)}, {sz(4 * h * h)}, {sz(4 * h)}},
               [&](auto& o, auto&) {
                 kiln::lstm_sequence_backward(p, x.data(), h0.data(), c0.data(), w_ih.data(), w_hh.data(),
                                              y.data(), all_gates.data(), cells.data(), up.data(),
                                              h0.data(), c0.data(), o[0].data(), o[1].data(), o[2].data(),
                                              o[3].data(), o[4].data(), o[5].data());
               });
}

void adam(index_t n) {
  const auto param = random_floats(sz(n), 1), grad = random_floats(sz(n), 2);
  std::vector<float> m = random_floats(sz(n), 3), v = random_floats(sz(n), 4);
  for (auto& e : v) e = e * e;
  for (bool amsgrad : {false, true}) {
    kiln::AdamParams p;
    p.step = 3;
    p.weight_decay = 0.01;
    p.amsgrad = amsgrad;
    check_kernel("adam_step " + std::to_string(n), {{sz(n), param}, {sz(n), m}, {sz(n), v}, {sz(n), v}},
                 [&](auto& o, auto&) {
                   kiln::adam_step(p, n, o[0].data(), grad.data(), o[1].data(), o[2].data(),
                                   amsgrad ? o[3].data() : nullptr);
                 });
  }
}

void embedding(index_t num_indices, index_t v, index_t d) {
  std::vector<std::int64_t> indices(sz(num_indices));
  for (index_t i = 0; i < num_indices; ++i) indices[sz(i)] = (i * 7919) % v;
  const auto weight = random_floats(sz(v * d), 1), grad_out = random_floats(sz(num_indices * d), 2);
  check_kernel("embedding_forward " + std::to_string(num_indices), {{sz(num_indices * d)}}, [&](auto& o, auto&) {
    kiln::embedding_forward(num_indices, indices.data(), v, d, weight.data(), o[0].data());
  });
  check_kernel("embedding_backward " + std::to_string(num_indices), {{sz(v * d)}}, [&](auto& o, auto&) {
    kiln::embedding_backward(num_indices, indices.data(), grad_out.data(), v, d, 1, o[0].data());
  });
}

void pointwise(index_t rows, index_t cols) {
  const index_t n = rows * cols;
  const auto x = random_floats(sz(n), 1), dy = random_floats(sz(n), 2);
  for (auto act : {kiln::Activation::relu, kiln::Activation::sigmoid, kiln::Activation::tanh,
                   kiln::Activation::gelu, kiln::Activation::gelu_tanh}) {
    const std::string name = std::string(kiln::activation_name(act)) + " " + std::to_string(n);
    check_kernel(name, {{sz(n)}}, [&](auto& o, auto&) { kiln::activation_forward(act, n, x.data(), o[0].data()); });
    check_kernel(name + " backward", {{sz(n)}}, [&](auto& o, auto&) {
      kiln::activation_backward(act, n, x.data(), x.data(), dy.data(), o[0].data());
    });
  }
  for (bool log : {false, true}) {
    check_kernel("softmax " + std::to_string(n), {{sz(n)}},
                 [&](auto& o, auto&) { kiln::softmax_forward(rows, cols, x.data(), o[0].data(), log); });
    check_kernel("softmax_backward " + std::to_string(n), {{sz(n)}}, [&](auto& o, auto&) {
      kiln::softmax_backward(rows, cols, x.data(), dy.data(), o[0].data(), log);
    });
  }
}

void losses(index_t rows, index_t classes) {
  const index_t n = rows * classes;
  const auto logits = random_floats(sz(n), 1), probs = random_floats(sz(n), 2),
             pos_weight = random_floats(sz(classes), 3);
  std::vector<std::int64_t> target(sz(rows));
  for (index_t i = 0; i < rows; ++i) target[sz(i)] = i % 5 == 4 ? -100 : i % classes;
  kiln::CrossEntropyParams p;
  p.rows = rows;
  p.classes = classes;
  p.label_smoothing = 0.1f;
  const std::string size = " " + std::to_string(rows) + "x" + std::to_string(classes);
  check_kernel("softmax_cross_entropy" + size, {{1}, {sz(n)}}, [&](auto& o, auto&) {
    kiln::softmax_cross_entropy(p, logits.data(), target.data(), o[0].data(), o[1].data());
  });
  check_kernel("softmax_cross_entropy_probs" + size, {{1}, {sz(n)}}, [&](auto& o, auto&) {
    kiln::softmax_cross_entropy_probs(p, logits.data(), probs.data(), o[0].data(), o[1].data());
  });
  check_kernel("bce_with_logits" + size, {{1}, {sz(n)}}, [&](auto& o, auto&) {
    kiln::bce_with_logits(rows, classes, logits.data(), probs.data(), pos_weight.data(), 0.5f, o[0].data(),
                          o[1].data());
  });
  check_kernel("mse" + size, {{1}, {sz(n)}}, [&](auto& o, auto&) {
    kiln::mse(n, logits.data(), probs.data(), 2.0f, o[0].data(), o[1].data());
  });
}

void conv(kiln::Conv2dParams p) {
  const index_t oh = p.out_h(), ow = p.out_w();
  const index_t xs = p.n * p.c * p.h * p.w, ws = p.k * (p.c / p.groups) * p.r * p.s, ys = p.n * p.k * oh * ow;
  const auto x = random_floats(sz(xs), 1), w = random_floats(sz(ws), 2), bias = random_floats(sz(p.k), 3),
             dy = random_floats(sz(ys), 4);
  const std::string name = "conv2d " + std::to_string(p.n) + "x" + std::to_string(p.c) + "x" +
                           std::to_string(p.h) + "x" + std::to_string(p.w) + " k" + std::to_string(p.k) +
                           " r" + std::to_string(p.r) + " stride " + std::to_string(p.stride_h) + " groups " +
                           std::to_string(p.groups);
  check_kernel(name, {{sz(ys)}},
               [&](auto& o, auto&) { kiln::conv2d_forward(p, x.data(), w.data(), bias.data(), o[0].data()); });
  check_kernel(name + " backward", {{sz(xs)}, {sz(ws)}, {sz(p.k)}}, [&](auto& o, auto&) {
    kiln::conv2d_backward(p, x.data(), w.data(), dy.data(), o[0].data(), o[1].data(), o[2].data());
  });
}

kiln::Conv2dParams conv_params(index_t n, index_t c, index_t hw, index_t k, index_t r, index_t stride,
                               index_t pad, index_t dilation, index_t groups) {
  kiln::Conv2dParams p;
  p.n = n;
  p.c = c;
  p.h = p.w = hw;
  p.k = k;
  p.r = p.s = r;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

void pool(index_t n, index_t c, index_t hw, index_t kernel, index_t stride, index_t pad, bool ceil_mode) {
  kiln::Pool2dParams p;
  p.n = n;
  p.c = c;
  p.h = p.w = hw;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.ceil_mode = ceil_mode;
  const index_t xs = n * c * hw * hw, ys = n * c * p.out_h() * p.out_w();
  const auto x = random_floats(sz(xs), 1), dy = random_floats(sz(ys), 2);
  const std::string name = "pool2d " + std::to_string(hw) + " kernel " + std::to_string(kernel);
  check_kernel("max_" + name, {{sz(ys)}},
               [&](auto& o, auto& indices) { kiln::max_pool2d_forward(p, x.data(), o[0].data(), indices.data()); },
               sz(ys));
  std::vector<float> y(sz(ys));
  std::vector<std::int64_t> indices(sz(ys));
  kiln::max_pool2d_forward(p, x.data(), y.data(), indices.data());
  check_kernel("max_" + name + " backward", {{sz(xs)}},
               [&](auto& o, auto&) { kiln::max_pool2d_backward(p, dy.data(), indices.data(), o[0].data()); });
  check_kernel("avg_" + name, {{sz(ys)}},
               [&](auto& o, auto&) { kiln::avg_pool2d_forward(p, x.data(), o[0].data(), true, 0); });
  check_kernel("avg_" + name + " backward", {{sz(xs)}},
               [&](auto& o, auto&) { kiln::avg_pool2d_backward(p, dy.data(), o[0].data(), false, 0); });
}

void sparse(index_t m, index_t k, index_t n) {
  std::vector<std::int64_t> indptr(sz(m + 1), 0);
  std::vector<std::int32_t> indices;
  for (index_t i = 0; i < m; ++i) {
    for (index_t j = (i * 3) % 5; j < k; j += 1 + (i + j) % 7) indices.push_back(static_cast<std::int32_t>(j));
    indptr[sz(i + 1)] = static_cast<std::int64_t>(indices.size());
  }
  const auto data = random_floats(indices.size(), 1), w = random_floats(sz(k * n), 2),
             bias = random_floats(sz(n), 3), dy = random_floats(sz(m * n), 4);
  const kiln::CsrMatrix x{m, k, static_cast<index_t>(indices.size()), indptr.data(), indices.data(), data.data()};
  for (bool transpose : {false, true}) {
    const std::string name = "sparse_matmul " + std::to_string(m) + (transpose ? " transposed" : "");
    check_kernel(name, {{sz(m * n)}}, [&](auto& o, auto&) {
      kiln::sparse_matmul(x, n, w.data(), transpose, bias.data(), 0.0f, o[0].data());
    });
    check_kernel(name + " backward_weight", {{sz(k * n)}}, [&](auto& o, auto&) {
      kiln::sparse_matmul_backward_weight(x, n, dy.data(), transpose, 0.0f, o[0].data());
    });
  }
}

}  // namespace

int main() {
  // The harness itself: a write one past either end is seen.
  for (std::ptrdiff_t at : {-1, 4}) {
    Guarded<float> g(4);
    CHECK(g.intact());
    g.data()[at] = 0.0f;
    CHECK(!g.intact());
  }
  linear(3, 5, 7, true);
  linear(300, 200, 100, false);
  lstm(2, 3, 5, 7);
  lstm(6, 16, 64, 96);
  adam(37);
  adam(1000003);
  embedding(5, 7, 3);
  embedding(20000, 500, 64);
  pointwise(3, 11);
  pointwise(1001, 1003);
  losses(7, 5);
  losses(4001, 257);
  conv(conv_params(2, 3, 5, 4, 3, 1, 1, 1, 1));     // small: the direct kernel where it applies
  conv(conv_params(16, 32, 8, 32, 3, 1, 1, 1, 1));  // small images: batched columns
  conv(conv_params(2, 16, 33, 24, 3, 2, 1, 1, 2));  // strided, groups: im2col GEMMs, col2im
  conv(conv_params(1, 8, 40, 16, 3, 1, 2, 2, 1));   // dilated: dx as a convolution
  pool(2, 3, 7, 3, 2, 1, true);
  pool(8, 32, 64, 3, 2, 1, false);
  pool(4, 16, 64, 2, 2, 0, false);
  sparse(7, 9, 5);
  sparse(3000, 500, 300);
  std::printf("%d failures\n", failures());
  return failures() == 0 ? 0 : 1;
}
