#include "kiln/threads.hpp"

#include <omp.h>

#include <atomic>

#include "check.hpp"
#include "parallel.hpp"

namespace kiln {
namespace {
// 0: follow OpenMP (OMP_NUM_THREADS, omp_set_num_threads, threadpoolctl).
std::atomic<int> requested_threads{0};
}  // namespace

void set_num_threads(int n) {
  KILN_CHECK(n >= 0, "set_num_threads: n must be >= 0 (0 = OpenMP's default), got " << n);
  static const int openmp_default = omp_get_max_threads();  // before we first change it
  requested_threads.store(n);
  // Also tell OpenMP, so that threadpoolctl and omp_get_max_threads() agree with us.
  omp_set_num_threads(n > 0 ? n : openmp_default);
}

int get_num_threads() {
  const int n = requested_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

namespace detail {
int threads_for(double flops) {
  // A parallel region costs a few microseconds on an idle machine and far more when the
  // other cores are busy; below ~1 Mflop (10-30 us of work on one core) it does not pay.
  if (omp_in_parallel() || flops < 1e6) return 1;
  return get_num_threads();
}
}  // namespace detail

}  // namespace kiln
