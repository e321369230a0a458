// kiln: the number of threads the CPU kernels use.
//
// Default: OpenMP's (OMP_NUM_THREADS, or the number of cores). set_num_threads(n)
// applies to every later kernel call, from any thread; set_num_threads(0) returns
// to the OpenMP default.
#pragma once

namespace kiln {

void set_num_threads(int n);
int get_num_threads();

}  // namespace kiln
