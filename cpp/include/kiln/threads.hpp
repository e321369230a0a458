// kiln: the number of threads the CPU kernels use.
//
// Default: OpenMP's (OMP_NUM_THREADS, or the number of cores), capped at
// max_num_threads(). set_num_threads(n) applies to every later kernel call, from any
// thread; set_num_threads(0) returns to the OpenMP default; n outside
// [0, max_num_threads()] is refused (std::invalid_argument).
//
// Kernels work in a child of fork() whatever the parent ran (see threads.cpp).
#pragma once

namespace kiln {

void set_num_threads(int n);
int get_num_threads();
// The largest count set_num_threads takes: 4x the hardware threads, at least 64.
int max_num_threads();

}  // namespace kiln
