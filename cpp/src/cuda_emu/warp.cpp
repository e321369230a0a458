// kiln's emulated device: warp collectives (__shfl*_sync, __ballot/__any/__all_sync,
// __syncwarp) as barriers over the lanes their mask names.
//
// Why a barrier: CUDA requires every lane a mask names to execute the same intrinsic
// with the same mask before any of them gets its result. Each lane deposits its value
// and waits; the last one to arrive computes every lane's result (the PTX shfl.sync
// rules: segments of `width` lanes, an out-of-segment source gives the lane its own
// value) and releases them. A calling lane missing from its own mask, a mask naming
// lanes the block does not have or that have exited, or a width that is not a power of
// two up to 32 is a fault; lanes that never arrive show as a deadlock.
#include <algorithm>
#include <sstream>

#include "block_runner.hpp"

namespace kiln::cuda_emu {
namespace {

bool is_shuffle(WarpOp op) {
  return op == WarpOp::shfl_idx || op == WarpOp::shfl_up || op == WarpOp::shfl_down ||
         op == WarpOp::shfl_xor;
}

// The lane `lane` reads from, as shfl.sync defines it (its own lane when out of range).
int source_lane(WarpOp op, int lane, int arg, int width) {
  const int segment_first = lane & ~(width - 1);
  const int segment_last = segment_first + width - 1;
  switch (op) {
    case WarpOp::shfl_idx:
      return segment_first | (arg & (width - 1));
    case WarpOp::shfl_up: {
      const int j = lane - (arg & 31);
      return j >= segment_first ? j : lane;
    }
    case WarpOp::shfl_down: {
      const int j = lane + (arg & 31);
      return j <= segment_last ? j : lane;
    }
    case WarpOp::shfl_xor: {
      const int j = lane ^ (arg & 31);
      return j <= segment_last ? j : lane;
    }
    default:
      return lane;
  }
}

}  // namespace

const char* warp_op_name(WarpOp op) {
  switch (op) {
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::sync: return "__syncwarp";
  }
  return "a warp collective";
}

std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width) {
  return current_runner().warp_collective(op, mask, value, arg, width);
}

std::uint64_t BlockRunner::warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg,
                                           int width) {
  const unsigned lane = current_ % 32, base = current_ - lane;
  const unsigned lanes = std::min(32u, threads_per_block_ - base);
  const unsigned existing = lanes == 32 ? ~0u : (1u << lanes) - 1;
  auto refuse = [&](const char* why) {
    {
      std::ostringstream m;
      m << warp_op_name(op) << " with mask 0x" << std::hex << mask << std::dec << " in lane "
        << lane << ": " << why;
      set_failure(m.str());
    }
    stop(cudaErrorLaunchFailure);
  };
  if (!((mask >> lane) & 1u)) refuse("the mask does not name the calling lane");
  if (mask & ~existing) refuse("the mask names lanes this block does not have");
  if (is_shuffle(op) && (width < 1 || width > 32 || (width & (width - 1)) != 0))
    refuse("width must be a power of two from 1 to 32");
  for (unsigned l = 0; l < lanes; ++l)
    if (((mask >> l) & 1u) && threads_[base + l].wait == Wait::finished)
      refuse("a lane the mask names has exited");

  Thread& t = threads_[current_];
  t.wait = Wait::warp;
  t.op = op;
  t.mask = mask;
  t.arg = arg;
  t.width = width;
  t.value = value;
  bool complete = true;
  for (unsigned l = 0; l < lanes && complete; ++l) {
    if (!((mask >> l) & 1u)) continue;
    const Thread& other = threads_[base + l];
    complete = other.wait == Wait::warp && other.op == op && other.mask == mask;
  }
  if (complete) complete_warp_collective(base, lanes, mask, op);
  suspend();
  return t.result;
}

void BlockRunner::complete_warp_collective(unsigned base, unsigned lanes, unsigned mask, WarpOp op) {
  unsigned ballot = 0;
  for (unsigned l = 0; l < lanes; ++l)
    if (((mask >> l) & 1u) && threads_[base + l].value != 0) ballot |= 1u << l;
  scratch_.clear();
  for (unsigned l = 0; l < lanes; ++l) {
    if (!((mask >> l) & 1u)) continue;
    Thread& t = threads_[base + l];
    switch (op) {
      case WarpOp::ballot: t.result = ballot; break;
      case WarpOp::any: t.result = ballot != 0; break;
      case WarpOp::all: t.result = ballot == mask; break;
      case WarpOp::sync: t.result = 0; break;
      default: {
        // A source outside the mask is undefined in CUDA; here it is the lane's own value.
        const int j = source_lane(op, static_cast<int>(l), t.arg, t.width);
        t.result = ((mask >> j) & 1u) ? threads_[base + j].value : t.value;
      }
    }
    scratch_.push_back(base + l);
  }
  make_ready(scratch_);
}

}  // namespace kiln::cuda_emu
