// kiln's emulated device: the x86-64 context switch and the fibers' stacks (fiber.hpp).
//
// Why hand-written: the switch saves only what the System V ABI says a call preserves
// (rbx, rbp, r12-r15, MXCSR, x87 control word); everything else is dead across a call.
// kiln's CPU build is x86-64 only (CMakeLists.txt); another architecture needs its own
// dozen lines here (or ucontext, at a system call per switch).
#include "fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#define KILN_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_EMU_ASAN 1
#endif
#endif
#if defined(KILN_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#error "kiln's emulated device has a context switch for x86-64 only (see fiber.cpp)"
#endif

// kiln_emu_switch(void** save_sp, void* load_sp): pushes the callee-saved state, stores
// rsp in *save_sp, loads load_sp and pops the state saved there.
// kiln_emu_fiber_start: where a fresh context "returns" to; r12 = entry, r13 = arg.
asm(R"(
  .text
  .p2align 4
  .globl kiln_emu_switch
  .hidden kiln_emu_switch
  .type kiln_emu_switch, @function
kiln_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kiln_emu_switch, .-kiln_emu_switch

  .p2align 4
  .globl kiln_emu_fiber_start
  .hidden kiln_emu_fiber_start
  .type kiln_emu_fiber_start, @function
kiln_emu_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r13, %rdi
  callq *%r12
  ud2
  .cfi_endproc
  .size kiln_emu_fiber_start, .-kiln_emu_fiber_start
)");

extern "C" void kiln_emu_switch(void** save_sp, void* load_sp);
extern "C" void kiln_emu_fiber_start();

namespace kiln::cuda_emu {
namespace {

std::size_t page_bytes() {
  static const std::size_t bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

std::size_t stride_bytes() { return StackPool::kStackBytes + page_bytes(); }

}  // namespace

StackPool::~StackPool() {
  if (base_) munmap(base_, mapped_bytes_);
}

bool StackPool::reserve(unsigned count) {
  if (count <= count_) return true;
  if (base_) munmap(base_, mapped_bytes_);
  base_ = nullptr;
  count_ = 0;
  const std::size_t bytes = stride_bytes() * count;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return false;
  base_ = static_cast<unsigned char*>(p);
  mapped_bytes_ = bytes;
  for (unsigned i = 0; i < count; ++i) mprotect(base_ + i * stride_bytes(), page_bytes(), PROT_NONE);
  count_ = count;
  return true;
}

unsigned char* StackPool::bottom(unsigned i) const { return base_ + i * stride_bytes() + page_bytes(); }

void make_context(Context& fiber, unsigned char* bottom, std::size_t bytes, void (*entry)(void*),
                  void* arg) {
#if defined(KILN_EMU_ASAN)
  // Frames abandoned on this stack (a launch that failed, an entry that never returns)
  // left their red zones poisoned.
  __asan_unpoison_memory_region(bottom, bytes);
#endif
  // The frame kiln_emu_switch pops, lowest address first: MXCSR and x87 control word,
  // r15, r14, r13 (arg), r12 (entry), rbx, rbp, then the return address. The top is
  // 16-byte aligned, so kiln_emu_fiber_start calls entry with the ABI's alignment.
  auto top = reinterpret_cast<std::uintptr_t>(bottom + bytes) & ~std::uintptr_t{15};
  auto* frame = reinterpret_cast<std::uint64_t*>(top) - 8;
  std::uint32_t mxcsr;
  std::uint16_t fpu_control;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpu_control));
  frame[0] = mxcsr | (static_cast<std::uint64_t>(fpu_control) << 32);
  frame[1] = 0;                                    // r15
  frame[2] = 0;                                    // r14
  frame[3] = reinterpret_cast<std::uint64_t>(arg);    // r13
  frame[4] = reinterpret_cast<std::uint64_t>(entry);  // r12
  frame[5] = 0;                                    // rbx
  frame[6] = 0;                                    // rbp
  frame[7] = reinterpret_cast<std::uint64_t>(&kiln_emu_fiber_start);
  fiber.sp = frame;
  fiber.stack_bottom = bottom;
  fiber.stack_bytes = bytes;
  fiber.fake_stack = nullptr;
}

void switch_context(Context& from, Context& to, bool final) {
#if defined(KILN_EMU_ASAN)
  __sanitizer_start_switch_fiber(final ? nullptr : &from.fake_stack, to.stack_bottom, to.stack_bytes);
#else
  (void)final;
#endif
  kiln_emu_switch(&from.sp, to.sp);
#if defined(KILN_EMU_ASAN)
  __sanitizer_finish_switch_fiber(from.fake_stack, nullptr, nullptr);
#endif
}

void fiber_started(Context& from) {
#if defined(KILN_EMU_ASAN)
  const void* bottom = nullptr;
  std::size_t bytes = 0;
  __sanitizer_finish_switch_fiber(nullptr, &bottom, &bytes);
  from.stack_bottom = bottom;
  from.stack_bytes = bytes;
#else
  (void)from;
#endif
}

}  // namespace kiln::cuda_emu
