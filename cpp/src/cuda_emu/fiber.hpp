// kiln's emulated device: fibers, the execution contexts a block's threads run on.
//
// Why: __syncthreads must be a real barrier. Each CUDA thread of a block runs on its own
// stack and gives the OS thread up only where the kernel synchronises (a barrier, a warp
// collective, its end), so a block's threads interleave exactly there and nowhere else.
// The switch is a few hand-written x86-64 instructions (callee-saved registers, MXCSR and
// the x87 control word), nanoseconds; swapcontext would make a system call per switch.
// Under AddressSanitizer every switch is announced to it (__sanitizer_*_switch_fiber).
#pragma once

#include <cstddef>

namespace kiln::cuda_emu {

// A suspended execution context: its stack pointer (the registers are saved on its stack)
// and, for AddressSanitizer, its stack's bounds and fake stack.
struct Context {
  void* sp = nullptr;
  const void* stack_bottom = nullptr;
  std::size_t stack_bytes = 0;
  void* fake_stack = nullptr;
};

// Stacks for `count` fibers, kept from launch to launch, each with a guard page below it:
// a kernel that overflows its 64 KiB faults instead of writing into its neighbour's stack.
class StackPool {
 public:
  static constexpr std::size_t kStackBytes = 64 * 1024;

  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  // Makes stacks 0 .. count-1 available (false: the memory could not be mapped).
  bool reserve(unsigned count);
  unsigned char* bottom(unsigned i) const;

 private:
  unsigned char* base_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  unsigned count_ = 0;
};

// Prepares `fiber` so that switching to it calls entry(arg) on [bottom, bottom + bytes).
// entry must never return: it ends by switching away with final = true.
void make_context(Context& fiber, unsigned char* bottom, std::size_t bytes, void (*entry)(void*),
                  void* arg);

// Saves the running context in `from` and resumes `to`; returns when something switches
// back to `from`. final: `from` is never resumed (its fake stack can go).
void switch_context(Context& from, Context& to, bool final = false);

// The first call in a fiber's entry: completes the switch that started it, and learns
// the bounds of the stack it came from (`from`, the scheduler's).
void fiber_started(Context& from);

}  // namespace kiln::cuda_emu
