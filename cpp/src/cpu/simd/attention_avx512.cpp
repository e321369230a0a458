// The attention tile loops (../attention_tile.hpp) compiled for AVX512 (CMakeLists.txt's
// -m flags), called only when CPUID reports it (dispatch.cpp).
#include "../attention_tile_impl.hpp"

namespace kiln::detail {

AttentionTileKernels attention_tile_kernels_avx512() {
  return {&attention_scores, &attention_combine, &attention_rank1};
}

}  // namespace kiln::detail
