// kiln's emulated device: the calls device code makes into the emulator.
//
// Why apart: device_code.hpp (included by every kernel source) needs only these few
// declarations, not the scheduler behind them (block_runner.hpp, which includes this).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::cuda_emu {

enum class WarpOp : unsigned char { shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, sync };

struct BarrierCounts {
  int count;         // threads whose predicate was non-zero
  int participants;  // threads that reached the barrier (those that had not exited)
};

// __syncthreads and its _count/_and/_or forms.
BarrierCounts sync_threads(int predicate);
// Every warp intrinsic: the calling lane's value (bits of a shuffled variable, or a vote's
// predicate), its srcLane/delta/laneMask and width; returns the lane's result.
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width);
// The block's copy of one static KILN_SHARED declaration (tag: its address).
void* static_shared_bytes(const void* tag, std::size_t bytes, std::size_t align);
// The launch's dynamic shared memory (16-byte aligned).
void* dynamic_shared_bytes();
// __trap(): a sticky cudaErrorIllegalInstruction, as on the GPU.
[[noreturn]] void trap();

}  // namespace kiln::cuda_emu
