// The one place that decides which CPU code runs: start from the portable
// kernels, then override per instruction set the CPU (and KILN_CPU) allows.
#include "dispatch.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "gemm_ukr.hpp"
#include "kiln/cpu_info.hpp"

namespace kiln::detail {
namespace {

enum class Isa { portable = 0, avx2 = 1, avx512 = 2 };

Isa supported_isa() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  // libgcc's checks include the OS's XSAVE support for the wider registers.
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::portable;
}

// KILN_CPU=portable|avx2|avx512 caps the ISA (never above what the CPU supports).
Isa requested_isa() {
  const char* env = std::getenv("KILN_CPU");
  if (env == nullptr) return Isa::avx512;
  if (std::strcmp(env, "portable") == 0) return Isa::portable;
  if (std::strcmp(env, "avx2") == 0) return Isa::avx2;
  return Isa::avx512;
}

// The loop nest's depth from this CPU's L2: the A block (mc x kc) in about half of it, so that
// a deep product passes over C (read and written once per depth block) fewer times; nc shrinks
// to keep the B block (kc x nc) the table's size. A 1024^3 product on a 2 MiB L2 (Intel Xeon,
// AVX-512): 5-10% faster at 1024 deep than at 256 (its C, 2 MiB a thread, spills from L2).
// At most 1024 (the deepest measured); never below the L1 panel's depth, which stays the
// depth where the L2 size is unknown. The convolutions keep the panel depth: theirs were
// 10-20% slower at 1024.
void deepen_to_l2(GemmKernel& g) {
  long l2 = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
  l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  const index_t a_row = g.mc * static_cast<index_t>(sizeof(float));  // bytes per unit of depth
  const index_t fit = l2 > 0 ? static_cast<index_t>(l2) / 2 / a_row / 64 * 64 : 0;
  const index_t kc = std::clamp<index_t>(fit, g.panel_kc, 1024);
  g.nc = std::max<index_t>(g.nr, g.kc * g.nc / kc / g.nr * g.nr);
  g.kc = kc;
}

CpuKernels choose_kernels() {
  const Isa supported = supported_isa(), requested = requested_isa();
  const Isa isa = static_cast<int>(requested) < static_cast<int>(supported) ? requested : supported;

  // Blocks: B micro-panel kc x nr within L1 (kc the panel depth too), B block kc x nc in L3;
  // then kc deepened to the L2 (deepen_to_l2). Direct kernels: small products read in place,
  // at the vector width (a 64^3 product is FMA-bound: AVX2's kernel takes twice AVX-512's time).
  //           name                      mr  nr   mc   kc    nc  panel_kc  micro-kernel   direct   A packing, B^T packing
  CpuKernels k{};
  k.isa = "portable";
  k.gemm = {"portable_4x16", 4, 16, 128, 256, 4096, 256, &gemm_ukr_portable<4, 16>, nullptr,
            nullptr, nullptr};
  k.sparse = {&sparse_row_portable, &axpy_portable};
  k.lstm_gates = {&lstm_gates_forward_portable, &lstm_gates_backward_portable};
  k.adam = &adam_range_portable;
  k.pointwise = pointwise_kernels_portable();
#if defined(__x86_64__) || defined(_M_X64)
  if (isa >= Isa::avx2) {
    k.isa = "avx2";
    k.gemm = {"avx2_6x16", 6, 16, 144, 256, 4096, 256, &gemm_ukr_avx2_6x16, &gemm_direct_avx2,
              &gemm_pack_a_avx2_6, &gemm_pack_b_columns_avx2_16};
    k.sparse = {&sparse_row_avx2, &axpy_avx2};
    k.lstm_gates = {&lstm_gates_forward_avx2, &lstm_gates_backward_avx2};
    k.adam = &adam_range_avx2;
    k.pointwise = pointwise_kernels_avx2();
  }
  if (isa >= Isa::avx512) {
    k.isa = "avx512";
    k.gemm = {"avx512_14x32", 14, 32, 168, 256, 4096, 256, &gemm_ukr_avx512_14x32, &gemm_direct_avx512,
              &gemm_pack_a_avx512_14, &gemm_pack_b_columns_avx2_32,
              {{4, &gemm_ukr_avx512_4x32_of14}, {8, &gemm_ukr_avx512_8x32_of14}}};
    k.sparse = {&sparse_row_avx512, &axpy_avx512};
    k.lstm_gates = {&lstm_gates_forward_avx512, &lstm_gates_backward_avx512};
    k.adam = &adam_range_avx512;
    k.pointwise = pointwise_kernels_avx512();
  }
  if (isa >= Isa::avx2)
    k.conv_direct_rows = {&conv2d_direct_row_avx2, &conv2d_direct_row1_avx2, &conv2d_direct_dot_avx2,
                          &conv2d_direct_dot1_avx2};
  if (isa >= Isa::avx512)
    k.conv_direct_rows = {&conv2d_direct_row_avx512, &conv2d_direct_row1_avx512, &conv2d_direct_dot_avx512,
                          &conv2d_direct_dot1_avx512};
  if (isa >= Isa::avx2) k.conv_wgrad = {6, 16, &conv2d_wgrad_tile_avx2, &conv2d_wgrad_pack_avx2};
  if (isa >= Isa::avx512) k.conv_wgrad = {9, 32, &conv2d_wgrad_tile_avx512, &conv2d_wgrad_pack_avx512};
  if (isa >= Isa::avx2) k.winograd = winograd_kernels_avx2();
  if (isa >= Isa::avx512) k.winograd = winograd_kernels_avx512();
  // attention
  if (isa >= Isa::avx2) k.attention = attention_tile_kernels_avx2();
  if (isa >= Isa::avx512) k.attention = attention_tile_kernels_avx512();
  // gru
  if (isa >= Isa::avx2) k.gru_gates = {&gru_gates_forward_avx2, &gru_gates_backward_avx2};
  if (isa >= Isa::avx512) k.gru_gates = {&gru_gates_forward_avx512, &gru_gates_backward_avx512};
#else
  (void)isa;
#endif
  deepen_to_l2(k.gemm);
  return k;
}

}  // namespace

const CpuKernels& cpu_kernels() {
  static const CpuKernels chosen = choose_kernels();
  return chosen;
}

}  // namespace kiln::detail

namespace kiln {
const char* cpu_isa() { return detail::cpu_kernels().isa; }
}  // namespace kiln
