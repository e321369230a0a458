// kiln's emulated device: launch checks and the order blocks run in (launch.hpp).
//
// Why shuffled: CUDA promises nothing about the order of blocks, so a kernel whose result
// depends on it is wrong on some GPU. Blocks run one after another in an order drawn from
// a seed and the launch's number (a keyed bijection of the block indices, no table), so a
// dependence on order fails here, reproducibly.
#include <atomic>
#include <cstdlib>

#include "block_runner.hpp"
#include "launch.hpp"
#include "limits.hpp"
#include "state.hpp"

namespace kiln::cuda_emu {
namespace {

std::uint64_t mix(std::uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t seed_from_environment() {
  const char* env = std::getenv("KILN_CUDA_EMU_SEED");
  return env ? std::strtoull(env, nullptr, 0) : 0x6b696c6eull;
}

std::atomic<std::uint64_t> g_seed{seed_from_environment()};
std::atomic<std::uint64_t> g_launches{0};
__thread bool g_in_launch = false;

// A permutation of [0, n): rounds of bijections of [0, 2^bits) (multiply by an odd
// number, add, xor-shift, all modulo 2^bits), walked along its cycle until inside [0, n).
class BlockOrder {
 public:
  BlockOrder(std::uint64_t n, std::uint64_t seed) : n_(n) {
    while (bits_ < 64 && (std::uint64_t{1} << bits_) < n) ++bits_;
    mask_ = bits_ == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits_) - 1;
    for (auto& k : keys_) k = mix(seed += 0x9e3779b97f4a7c15ull);
  }
  std::uint64_t operator()(std::uint64_t i) const {
    do i = round(i);
    while (i >= n_);
    return i;
  }

 private:
  std::uint64_t round(std::uint64_t x) const {
    const unsigned shift = bits_ / 2 + 1;
    for (int r = 0; r < 3; ++r) {
      x = (x * (keys_[r] | 1u) + (keys_[r] >> 32)) & mask_;
      x ^= x >> shift;
    }
    return x;
  }
  std::uint64_t n_;
  unsigned bits_ = 0;
  std::uint64_t mask_ = 0;
  std::uint64_t keys_[3];
};

bool configuration_is_valid(dim3 grid, dim3 block) {
  const unsigned g[3] = {grid.x, grid.y, grid.z}, b[3] = {block.x, block.y, block.z};
  for (int d = 0; d < 3; ++d) {
    if (g[d] == 0 || g[d] > limits::kMaxGridDim[d]) return false;
    if (b[d] == 0 || b[d] > limits::kMaxBlockDim[d]) return false;
  }
  return std::uint64_t{block.x} * block.y * block.z <= limits::kMaxThreadsPerBlock;
}

}  // namespace

void set_block_order_seed(std::uint64_t seed) { g_seed = seed; }

cudaError_t launch_kernel(const LaunchRequest& r) {
  if (cudaError_t e = enter()) return e;
  if (g_in_launch) return record(cudaErrorNotSupported);  // dynamic parallelism
  if (!stream_is_valid(r.stream)) return record(cudaErrorInvalidResourceHandle);
  if (!configuration_is_valid(r.grid, r.block)) return record(cudaErrorInvalidConfiguration);
  bool opted_in = false;
  const std::size_t dynamic_limit = max_dynamic_shared(r.kernel, &opted_in);
  if (r.shared_bytes > dynamic_limit) return record(cudaErrorInvalidValue);
  const std::size_t shared_limit =
      opted_in ? limits::kSharedPerBlockOptin : limits::kSharedPerBlock;

  thread_local BlockRunner runner;
  const std::uint64_t seed = mix(g_seed.load() ^ mix(g_launches.fetch_add(1) + 1));
  const BlockShape shape{r.grid, r.block, r.shared_bytes, shared_limit};
  if (!runner.prepare(shape, r.thread_main, r.closure, seed))
    return record(cudaErrorLaunchOutOfResources);

  const std::uint64_t blocks = std::uint64_t{r.grid.x} * r.grid.y * r.grid.z;
  const BlockOrder order(blocks, mix(seed));
  g_in_launch = true;
  set_current_runner(&runner);
  for (std::uint64_t k = 0; k < blocks; ++k) {
    const std::uint64_t b = order(k);
    const uint3 idx{static_cast<unsigned>(b % r.grid.x),
                    static_cast<unsigned>((b / r.grid.x) % r.grid.y),
                    static_cast<unsigned>(b / (std::uint64_t{r.grid.x} * r.grid.y))};
    if (!runner.run_block(idx)) break;
  }
  set_current_runner(nullptr);
  g_in_launch = false;
  if (runner.error() == cudaSuccess) return cudaSuccess;
  if (runner.error_is_sticky())
    set_fault(runner.error(), runner.message());
  else
    set_launch_error(runner.error(), runner.message());
  return runner.error();
}

}  // namespace kiln::cuda_emu
