// kiln::cuda's LSTM cell and sequence, forward and backward, against the CPU's kernels.
//
// Odd batch, input and hidden sizes (1, 7, 33, 130), with and without biases, h0 / c0 /
// dh_n / dc_n / dy given or null, cells null (c_n carries the state), T = 0 and 1, misaligned
// buffers; every output within a normwise bound (float32 rounding per term of the longest
// chain of sums, times the output's largest magnitude), guard values around every output.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cuda_gemm_check.hpp"
#include "kiln/cuda/lstm.hpp"
#include "kiln/lstm.hpp"

using kiln::index_t;

namespace {

std::vector<float> scaled(std::size_t n, unsigned seed, float scale) {
  std::vector<float> v = random_floats(n, seed);
  for (float& x : v) x *= scale;
  return v;
}

// got vs want, normwise: |got - want| <= 4 (terms + 4) eps max|want| + 1e-6.
int compare_normwise(const char* what, const DeviceImage& got_image, const std::vector<float>& want,
                     double terms, bool& intact) {
  bool ok = false;
  const std::vector<float> got = got_image.download(&ok);
  intact &= ok;
  double scale = 0;
  for (float v : want) scale = std::fmax(scale, std::fabs(v));
  return compare(what, got, want, std::vector<double>(want.size(), sum_bound(terms, scale)));
}

const float* maybe(const DeviceImage& d, bool given) { return given ? d.get() : nullptr; }
const float* maybe(const std::vector<float>& v, bool given) { return given ? v.data() : nullptr; }

struct Case {
  index_t T, B, I, H;
  bool bias, h0, c0, dh_n, dc_n, dy, cells;
  int offset;
};

int run_cell(const Case& t) {
  kiln::LstmParams p{t.B, t.I, t.H, 1};
  const index_t B = t.B, I = t.I, H = t.H, G = 4 * H;
  const auto x = scaled(B * I, 31, 1.0f), h = scaled(B * H, 32, 1.0f), c = scaled(B * H, 33, 1.0f);
  const auto w_ih = scaled(G * I, 34, 0.3f), w_hh = scaled(G * H, 35, 0.3f);
  const auto b_ih = scaled(G, 36, 0.5f), b_hh = scaled(G, 37, 0.5f);
  const auto dh_new = scaled(B * H, 38, 1.0f), dc_new = scaled(B * H, 39, 1.0f);
  std::vector<float> h_new(B * H), c_new(B * H), gates(B * G);
  kiln::lstm_cell_forward(p, x.data(), h.data(), c.data(), w_ih.data(), w_hh.data(),
                          maybe(b_ih, t.bias), maybe(b_hh, t.bias), h_new.data(), c_new.data(),
                          gates.data());
  std::vector<float> dx(B * I), dh(B * H), dc(B * H), dw_ih(G * I), dw_hh(G * H), db(G);
  kiln::lstm_cell_backward(p, x.data(), h.data(), c.data(), w_ih.data(), w_hh.data(), gates.data(),
                           c_new.data(), dh_new.data(), maybe(dc_new, t.dc_n), dx.data(), dh.data(),
                           dc.data(), dw_ih.data(), dw_hh.data(), db.data());

  const int o = t.offset;
  DeviceImage d_x(x, o), d_h(h, o), d_c(c, o), d_wih(w_ih, o), d_whh(w_hh, o), d_bih(b_ih, o),
      d_bhh(b_hh, o), d_dhn(dh_new, o), d_dcn(dc_new, o);
  DeviceImage d_hnew(B * H, o), d_cnew(B * H, o), d_gates(B * G, o), d_dx(B * I, o), d_dh(B * H, o),
      d_dc(B * H, o), d_dwih(G * I, o), d_dwhh(G * H, o), d_db(G, o),
      d_work(kiln::cuda::lstm_cell_backward_workspace(p), o);
  DeviceImage d_fwork(kiln::cuda::lstm_cell_forward_workspace(p), o);  // used when it is not empty
  kiln::cuda::lstm_cell_forward(p, d_x.get(), d_h.get(), d_c.get(), d_wih.get(), d_whh.get(),
                                maybe(d_bih, t.bias), maybe(d_bhh, t.bias), d_hnew.get(),
                                d_cnew.get(), d_gates.get(), 0, d_fwork.get());
  // The backward from the CPU's gates and c_new, so each direction is checked on its own.
  DeviceImage d_gates_cpu(gates, o), d_cnew_cpu(c_new, o);
  kiln::cuda::lstm_cell_backward(p, d_x.get(), d_h.get(), d_c.get(), d_wih.get(), d_whh.get(),
                                 d_gates_cpu.get(), d_cnew_cpu.get(), d_dhn.get(),
                                 maybe(d_dcn, t.dc_n), d_dx.get(), d_dh.get(), d_dc.get(),
                                 d_dwih.get(), d_dwhh.get(), d_db.get(), d_work.get());
  CUDA_OK(cudaDeviceSynchronize());
  bool intact = true;
  const double fwd = I + H + 2, bwd = static_cast<double>(G) + B;
  int bad = compare_normwise("h_new", d_hnew, h_new, fwd, intact) +
            compare_normwise("c_new", d_cnew, c_new, fwd, intact) +
            compare_normwise("gates", d_gates, gates, fwd, intact) +
            compare_normwise("dx", d_dx, dx, bwd, intact) + compare_normwise("dh", d_dh, dh, bwd, intact) +
            compare_normwise("dc", d_dc, dc, bwd, intact) +
            compare_normwise("dw_ih", d_dwih, dw_ih, bwd, intact) +
            compare_normwise("dw_hh", d_dwhh, dw_hh, bwd, intact) +
            compare_normwise("db", d_db, db, bwd, intact);
  bad += !intact;
  if (bad)
    std::printf("cell B=%lld I=%lld H=%lld bias=%d dc_new=%d offset=%d: %d bad%s\n", (long long)B,
                (long long)I, (long long)H, t.bias, t.dc_n, o, bad, intact ? "" : " (guards overwritten)");
  return bad;
}

int run_sequence(const Case& t) {
  kiln::LstmParams p{t.B, t.I, t.H, t.T};
  const index_t T = t.T, B = t.B, I = t.I, H = t.H, G = 4 * H;
  const auto x = scaled(T * B * I, 41, 1.0f), h0 = scaled(B * H, 42, 1.0f), c0 = scaled(B * H, 43, 1.0f);
  const auto w_ih = scaled(G * I, 44, 0.3f), w_hh = scaled(G * H, 45, 0.3f);
  const auto b_ih = scaled(G, 46, 0.5f), b_hh = scaled(G, 47, 0.5f);
  const auto dy = scaled(T * B * H, 48, 1.0f), dh_n = scaled(B * H, 49, 1.0f), dc_n = scaled(B * H, 50, 1.0f);
  std::vector<float> y(T * B * H), hn(B * H), cn(B * H), gates(T * B * G), cells(T * B * H);
  kiln::lstm_sequence_forward(p, x.data(), maybe(h0, t.h0), maybe(c0, t.c0), w_ih.data(), w_hh.data(),
                              maybe(b_ih, t.bias), maybe(b_hh, t.bias), y.data(), hn.data(), cn.data(),
                              gates.data(), cells.data());
  std::vector<float> dx(T * B * I), dh0(B * H), dc0(B * H), dw_ih(G * I), dw_hh(G * H), db(G);
  kiln::lstm_sequence_backward(p, x.data(), maybe(h0, t.h0), maybe(c0, t.c0), w_ih.data(), w_hh.data(),
                               y.data(), gates.data(), cells.data(), maybe(dy, t.dy), maybe(dh_n, t.dh_n),
                               maybe(dc_n, t.dc_n), dx.data(), dh0.data(), dc0.data(), dw_ih.data(),
                               dw_hh.data(), db.data());

  const int o = t.offset;
  DeviceImage d_x(x, o), d_h0(h0, o), d_c0(c0, o), d_wih(w_ih, o), d_whh(w_hh, o), d_bih(b_ih, o),
      d_bhh(b_hh, o), d_dy(dy, o), d_dhn(dh_n, o), d_dcn(dc_n, o);
  DeviceImage d_y(T * B * H, o), d_hn(B * H, o), d_cn(B * H, o), d_gates(T * B * G, o),
      d_cells(T * B * H, o), d_fwork(kiln::cuda::lstm_sequence_forward_workspace(p), o);
  kiln::cuda::lstm_sequence_forward(p, d_x.get(), maybe(d_h0, t.h0), maybe(d_c0, t.c0), d_wih.get(),
                                    d_whh.get(), maybe(d_bih, t.bias), maybe(d_bhh, t.bias), d_y.get(),
                                    d_hn.get(), d_cn.get(), d_gates.get(),
                                    t.cells ? d_cells.get() : nullptr, 0, d_fwork.get());
  DeviceImage d_ycpu(y, o), d_gcpu(gates, o), d_ccpu(cells, o);
  DeviceImage d_dx(T * B * I, o), d_dh0(B * H, o), d_dc0(B * H, o), d_dwih(G * I, o), d_dwhh(G * H, o),
      d_db(G, o), d_work(kiln::cuda::lstm_sequence_backward_workspace(p), o);
  kiln::cuda::lstm_sequence_backward(p, d_x.get(), maybe(d_h0, t.h0), maybe(d_c0, t.c0), d_wih.get(),
                                     d_whh.get(), d_ycpu.get(), d_gcpu.get(), d_ccpu.get(),
                                     maybe(d_dy, t.dy), maybe(d_dhn, t.dh_n), maybe(d_dcn, t.dc_n),
                                     d_dx.get(), d_dh0.get(), d_dc0.get(), d_dwih.get(), d_dwhh.get(),
                                     d_db.get(), d_work.get());
  CUDA_OK(cudaDeviceSynchronize());
  bool intact = true;
  const double fwd = static_cast<double>(T + 1) * (I + H + 2);
  const double bwd = static_cast<double>(T + 1) * (G + B + H);
  int bad = compare_normwise("y", d_y, y, fwd, intact) + compare_normwise("h_n", d_hn, hn, fwd, intact) +
            compare_normwise("c_n", d_cn, cn, fwd, intact) +
            compare_normwise("gates", d_gates, gates, fwd, intact) +
            (t.cells ? compare_normwise("cells", d_cells, cells, fwd, intact) : 0) +
            compare_normwise("dx", d_dx, dx, bwd, intact) + compare_normwise("dh0", d_dh0, dh0, bwd, intact) +
            compare_normwise("dc0", d_dc0, dc0, bwd, intact) +
            compare_normwise("dw_ih", d_dwih, dw_ih, bwd, intact) +
            compare_normwise("dw_hh", d_dwhh, dw_hh, bwd, intact) +
            compare_normwise("db", d_db, db, bwd, intact);
  bad += !intact;
  if (bad)
    std::printf("sequence T=%lld B=%lld I=%lld H=%lld bias=%d h0=%d c0=%d dh_n=%d dc_n=%d dy=%d "
                "cells=%d offset=%d: %d bad%s\n",
                (long long)T, (long long)B, (long long)I, (long long)H, t.bias, t.h0, t.c0, t.dh_n,
                t.dc_n, t.dy, t.cells, o, bad, intact ? "" : " (guards overwritten)");
  return bad;
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  const Case cells[] = {
      {1, 1, 1, 1, true, 1, 1, 1, 1, 1, 1, 0},    {1, 7, 33, 5, true, 1, 1, 1, 0, 1, 1, 0},
      {1, 33, 7, 33, false, 1, 1, 1, 1, 1, 1, 1}, {1, 3, 130, 17, true, 1, 1, 1, 1, 1, 1, 0},
      {1, 2, 0, 9, true, 1, 1, 1, 1, 1, 1, 0},    {1, 9, 16, 20, true, 1, 1, 1, 1, 1, 1, 0},
      {1, 3, 600, 20, true, 1, 1, 1, 1, 1, 1, 0},  // a deep [x h]: the step's GEMM splits k
  };
  const Case sequences[] = {
      {5, 3, 7, 9, true, true, true, true, true, true, true, 0},
      {4, 7, 33, 5, false, false, false, false, false, true, true, 0},
      {3, 2, 5, 33, true, true, false, false, true, true, false, 1},
      {1, 1, 1, 1, true, true, true, true, true, false, true, 0},
      {0, 3, 4, 5, true, true, true, true, true, true, true, 0},
      {0, 3, 4, 5, true, false, false, false, false, true, true, 0},
      {6, 9, 16, 20, true, true, true, false, true, true, true, 1},
      {20, 30, 6, 5, true, true, true, true, true, true, true, 0},  // 600 rows: split dW
      {2, 3, 600, 20, true, true, true, true, true, true, true, 0},  // deep input projection: split
  };
  int n = 0, bad_cases = 0;
  for (const Case& t : cells) ++n, bad_cases += run_cell(t) != 0;
  for (const Case& t : sequences) ++n, bad_cases += run_sequence(t) != 0;

  bool threw = false;
  try {
    kiln::cuda::lstm_cell_forward({2, 3, 4, 1}, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                  nullptr, nullptr, nullptr, nullptr);
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "x is null") != nullptr;
  }
  CHECK(threw);
  std::printf("%d cases, %d failed\n", n, bad_cases);
  return bad_cases + failures();
}
