// kiln's emulated device: one block's threads as fibers, and what they synchronise on.
//
// Why: this is where CUDA's execution model is kept. A block's threads run one at a time
// on the launching OS thread, each on its own fiber, each until it reaches __syncthreads,
// a warp collective or its end; the next runs in a shuffled (seeded) order, so threads of
// one phase see each other's writes only after a barrier, whichever order they run in,
// and a missing barrier shows as a wrong result. A barrier releases when every thread
// that has not exited reaches it (exited threads count as arrived, as on the hardware);
// a warp collective releases when every lane its mask names reaches the same collective
// with the same mask (a named lane that exited is a fault, as CUDA leaves it undefined).
// Shared memory is one arena per block: the launch's dynamic bytes, then each static
// KILN_SHARED declaration when its first thread reaches it, poisoned (0xFF bytes, NaN as
// float) before every block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "device_calls.hpp"
#include "fiber.hpp"
#include "kiln/cuda/emulated/runtime_api.hpp"

namespace kiln::cuda_emu {

const char* warp_op_name(WarpOp op);  // "__shfl_sync", ...

struct BlockShape {
  dim3 grid, block;
  std::size_t dynamic_shared;  // bytes, from the launch
  std::size_t shared_limit;    // static + dynamic
};

class BlockRunner {
 public:
  BlockRunner();
  ~BlockRunner();

  // Before the first block of a launch; false if the fibers' stacks could not be mapped.
  bool prepare(const BlockShape& shape, void (*thread_main)(void*), void* closure,
               std::uint64_t seed);
  // Runs every thread of one block to its end; false on a fault (error(), message()).
  bool run_block(uint3 block_idx);
  cudaError_t error() const { return error_; }
  bool error_is_sticky() const { return sticky_; }
  const std::string& message() const { return message_; }

  // ---- called on a fiber, by the device functions ----
  BarrierCounts sync_threads(int predicate);
  std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width);
  void* static_shared(const void* tag, std::size_t bytes, std::size_t align);
  void* dynamic_shared() { return arena_; }
  // Stops the launch with `error`; the calling fiber never resumes. Its frames are
  // abandoned, not unwound, so nothing owning memory may be alive in them: compose the
  // message first, in a scope of its own, with set_failure. sticky: a fault, not a
  // configuration the runtime would have refused.
  [[noreturn]] void stop(cudaError_t error, bool sticky = true);
  void set_failure(const std::string& what);  // "block (..) thread (..): what"
  [[noreturn]] void fail(cudaError_t error, const char* what) {
    set_failure(what);
    stop(error);
  }

 private:
  enum class Wait : unsigned char { ready, block_barrier, warp, finished };
  struct Thread {
    Context context;
    uint3 idx;
    Wait wait;
    WarpOp op;
    unsigned mask;
    int arg, width;
    std::uint64_t value, result;
  };
  struct StaticShared {
    const void* tag;
    std::size_t offset, bytes;
  };

  static void thread_entry(void* self);
  void thread_exited();
  void suspend();  // back to the scheduler until made ready again
  void make_ready(std::vector<unsigned>& ids);  // shuffled onto the run queue
  void release_block_barrier();
  void complete_warp_collective(unsigned warp_base, unsigned lanes, unsigned mask, WarpOp op);
  std::string where(unsigned thread) const;
  std::string deadlock_report() const;
  std::uint64_t next_random();

  BlockShape shape_{};
  void (*thread_main_)(void*) = nullptr;
  void* closure_ = nullptr;
  std::uint64_t rng_ = 0;
  unsigned threads_per_block_ = 0;

  StackPool stacks_;
  std::vector<Thread> threads_;
  Context scheduler_;
  std::vector<unsigned> run_queue_;
  std::size_t run_head_ = 0;
  std::vector<unsigned> scratch_;
  unsigned current_ = 0;
  unsigned live_ = 0;
  uint3 block_idx_{};

  unsigned barrier_arrived_ = 0;
  int barrier_count_ = 0;
  BarrierCounts barrier_result_{};

  unsigned char* arena_ = nullptr;
  std::size_t static_end_ = 0;  // arena bytes in use: dynamic, then static
  std::vector<StaticShared> statics_;

  cudaError_t error_ = cudaSuccess;
  bool sticky_ = false;
  std::string message_;
};

// The runner of the launch in progress on this OS thread (fails loudly outside one).
BlockRunner& current_runner();
void set_current_runner(BlockRunner* runner);

}  // namespace kiln::cuda_emu
