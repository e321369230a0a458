// kiln's emulated device: the block scheduler, __syncthreads and shared memory
// (block_runner.hpp says what is modelled and why; warp.cpp has the warp collectives).
#include "block_runner.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>

#include "limits.hpp"

// The built-in variables, per OS thread: the scheduler sets threadIdx before it resumes a
// fiber, and every device function that can switch fibers is an opaque call, so code
// after one rereads it.
__thread uint3 threadIdx;
__thread uint3 blockIdx;
__thread dim3 blockDim;
__thread dim3 gridDim;

namespace kiln::cuda_emu {
namespace {

__thread BlockRunner* g_current = nullptr;

constexpr std::size_t kArenaBytes = limits::kSharedPerBlockOptin;

uint3 unflatten(unsigned linear, dim3 d) {
  return uint3{linear % d.x, (linear / d.x) % d.y, linear / (d.x * d.y)};
}

std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

}  // namespace

BlockRunner& current_runner() {
  if (!g_current) {
    std::fprintf(stderr,
                 "kiln emulated device: a device function (__syncthreads, a warp intrinsic, "
                 "KILN_SHARED ...) was called outside a kernel\n");
    std::abort();
  }
  return *g_current;
}

void set_current_runner(BlockRunner* runner) { g_current = runner; }

BarrierCounts sync_threads(int predicate) { return current_runner().sync_threads(predicate); }
void* static_shared_bytes(const void* tag, std::size_t bytes, std::size_t align) {
  return current_runner().static_shared(tag, bytes, align);
}
void* dynamic_shared_bytes() { return current_runner().dynamic_shared(); }
void trap() { current_runner().fail(cudaErrorIllegalInstruction, "__trap()"); }

BlockRunner::BlockRunner()
    : arena_(static_cast<unsigned char*>(std::aligned_alloc(64, kArenaBytes))) {}

BlockRunner::~BlockRunner() { std::free(arena_); }

bool BlockRunner::prepare(const BlockShape& shape, void (*thread_main)(void*), void* closure,
                          std::uint64_t seed) {
  shape_ = shape;
  thread_main_ = thread_main;
  closure_ = closure;
  rng_ = seed;
  threads_per_block_ = shape.block.x * shape.block.y * shape.block.z;
  if (!arena_ || shape.shared_limit > kArenaBytes || !stacks_.reserve(threads_per_block_))
    return false;
  threads_.assign(threads_per_block_, Thread{});
  run_queue_.reserve(threads_per_block_);
  scratch_.reserve(threads_per_block_);
  statics_.clear();
  static_end_ = shape.dynamic_shared;
  error_ = cudaSuccess;
  sticky_ = false;
  message_.clear();
  blockDim = shape.block;
  gridDim = shape.grid;
  return true;
}

bool BlockRunner::run_block(uint3 block_idx) {
  block_idx_ = block_idx;
  blockIdx = block_idx;
  std::memset(arena_, 0xFF, static_end_);
  for (unsigned i = 0; i < threads_per_block_; ++i) {
    Thread& t = threads_[i];
    make_context(t.context, stacks_.bottom(i), StackPool::kStackBytes, &thread_entry, this);
    t.idx = unflatten(i, shape_.block);
    t.wait = Wait::ready;
  }
  live_ = threads_per_block_;
  barrier_arrived_ = 0;
  barrier_count_ = 0;
  run_queue_.clear();
  run_head_ = 0;
  scratch_.resize(threads_per_block_);
  for (unsigned i = 0; i < threads_per_block_; ++i) scratch_[i] = i;
  make_ready(scratch_);
  while (error_ == cudaSuccess) {
    if (run_head_ == run_queue_.size()) {
      if (live_ == 0) break;
      error_ = cudaErrorLaunchFailure;
      sticky_ = true;
      message_ = deadlock_report();
      break;
    }
    current_ = run_queue_[run_head_++];
    if (run_head_ == run_queue_.size()) {
      run_queue_.clear();
      run_head_ = 0;
    }
    threadIdx = threads_[current_].idx;
    switch_context(scheduler_, threads_[current_].context);
  }
  return error_ == cudaSuccess;
}

void BlockRunner::thread_entry(void* self) {
  auto* runner = static_cast<BlockRunner*>(self);
  fiber_started(runner->scheduler_);
  // Nothing may switch fibers inside a catch block (the C++ runtime keeps the exception
  // being handled per OS thread), so the launch stops after it.
  bool escaped = false;
  try {
    runner->thread_main_(runner->closure_);
  } catch (const std::exception& e) {
    runner->set_failure(std::string("an exception escaped the kernel: ") + e.what());
    escaped = true;
  } catch (...) {
    runner->set_failure("an exception escaped the kernel");
    escaped = true;
  }
  if (escaped) runner->stop(cudaErrorLaunchFailure);
  runner->thread_exited();
}

void BlockRunner::thread_exited() {
  Thread& t = threads_[current_];
  t.wait = Wait::finished;
  --live_;
  const unsigned lane = current_ % 32, base = current_ - lane;
  const unsigned lanes = std::min(32u, threads_per_block_ - base);
  for (unsigned l = 0; l < lanes; ++l) {
    const Thread& other = threads_[base + l];
    if (other.wait == Wait::warp && ((other.mask >> lane) & 1u)) {
      {
        std::ostringstream m;
        m << "exited while lane " << l << " waits for it at " << warp_op_name(other.op)
          << " with mask 0x" << std::hex << other.mask;
        set_failure(m.str());
      }
      stop(cudaErrorLaunchFailure);
    }
  }
  if (barrier_arrived_ > 0 && barrier_arrived_ == live_) release_block_barrier();
  switch_context(t.context, scheduler_, /*final=*/true);
  std::abort();  // never resumed
}

void BlockRunner::suspend() {
  Thread& t = threads_[current_];
  switch_context(t.context, scheduler_);
}

std::uint64_t BlockRunner::next_random() {  // splitmix64
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void BlockRunner::make_ready(std::vector<unsigned>& ids) {
  for (std::size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[next_random() % i]);
  for (unsigned id : ids) {
    threads_[id].wait = Wait::ready;
    run_queue_.push_back(id);
  }
}

BarrierCounts BlockRunner::sync_threads(int predicate) {
  Thread& t = threads_[current_];
  t.wait = Wait::block_barrier;
  ++barrier_arrived_;
  barrier_count_ += predicate != 0;
  if (barrier_arrived_ == live_) release_block_barrier();
  suspend();
  return barrier_result_;
}

void BlockRunner::release_block_barrier() {
  barrier_result_ = BarrierCounts{barrier_count_, static_cast<int>(barrier_arrived_)};
  barrier_arrived_ = 0;
  barrier_count_ = 0;
  scratch_.clear();
  for (unsigned i = 0; i < threads_per_block_; ++i)
    if (threads_[i].wait == Wait::block_barrier) scratch_.push_back(i);
  make_ready(scratch_);
}

void* BlockRunner::static_shared(const void* tag, std::size_t bytes, std::size_t align) {
  for (const StaticShared& s : statics_) {
    if (s.tag == tag) return arena_ + s.offset;
  }
  const std::size_t offset = round_up(static_end_, std::max<std::size_t>(align, 16));
  const std::size_t end = offset + bytes;
  const std::size_t static_bytes = end - shape_.dynamic_shared;
  if (static_bytes > limits::kSharedPerBlock || end > shape_.shared_limit) {
    {
      std::ostringstream m;
      m << "KILN_SHARED needs " << static_bytes << " bytes of static shared memory beside "
        << shape_.dynamic_shared << " dynamic; the limit is " << limits::kSharedPerBlock
        << " static and " << shape_.shared_limit << " in all";
      set_failure(m.str());
    }
    stop(cudaErrorInvalidValue, /*sticky=*/false);
  }
  statics_.push_back(StaticShared{tag, offset, bytes});
  static_end_ = end;
  std::memset(arena_ + offset, 0xFF, bytes);
  return arena_ + offset;
}

void BlockRunner::set_failure(const std::string& what) { message_ = where(current_) + ": " + what; }

void BlockRunner::stop(cudaError_t error, bool sticky) {
  error_ = error;
  sticky_ = sticky;
  switch_context(threads_[current_].context, scheduler_, /*final=*/true);
  std::abort();  // never resumed
}

std::string BlockRunner::where(unsigned thread) const {
  const uint3 t = threads_[thread].idx;
  std::ostringstream m;
  m << "block (" << block_idx_.x << "," << block_idx_.y << "," << block_idx_.z << ") thread ("
    << t.x << "," << t.y << "," << t.z << ")";
  return m.str();
}

std::string BlockRunner::deadlock_report() const {
  unsigned at_barrier = 0, at_warp = 0, exited = 0;
  std::ostringstream detail;
  int listed = 0;
  for (unsigned i = 0; i < threads_per_block_; ++i) {
    const Thread& t = threads_[i];
    if (t.wait == Wait::block_barrier) ++at_barrier;
    if (t.wait == Wait::finished) ++exited;
    if (t.wait == Wait::warp) {
      ++at_warp;
      if (listed++ < 4)
        detail << "; lane " << i % 32 << " of warp " << i / 32 << " waits at "
               << warp_op_name(t.op) << " with mask 0x" << std::hex << t.mask << std::dec;
    }
  }
  std::ostringstream m;
  m << "block (" << block_idx_.x << "," << block_idx_.y << "," << block_idx_.z
    << ") cannot go on: " << at_barrier << " threads wait at __syncthreads, " << at_warp
    << " at warp collectives whose lanes never all arrive, " << exited << " have exited"
    << detail.str();
  return m.str();
}

}  // namespace kiln::cuda_emu
