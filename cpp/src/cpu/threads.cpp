// The thread count, and run_shares: the one OpenMP region of kiln (parallel.hpp).
#include "kiln/threads.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <exception>
#include <mutex>

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

namespace {

// One call of run_shares: the shares, and the first exception by share index (so that
// the error a caller sees does not depend on which thread failed first).
struct Shares {
  Shares(int count_, ShareFunction fn_, void* context_) : count(count_), fn(fn_), context(context_) {}

  int count;
  ShareFunction fn;
  void* context;
  std::mutex error_mutex;
  int error_share = INT_MAX;
  std::exception_ptr error;

  void run(int share) noexcept {
    try {
      fn(context, share, count);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (share < error_share) {
        error_share = share;
        error = std::current_exception();
      }
    }
  }
};

// The OpenMP region. A granted thread runs shares t, t + granted, ...: all of them run
// however many threads OpenMP grants.
void run_team(Shares& shares) noexcept {
#pragma omp parallel num_threads(shares.count)
  {
    const int granted = omp_get_num_threads();
    for (int share = omp_get_thread_num(); share < shares.count; share += granted) shares.run(share);
  }
}

}  // namespace

void run_shares(int nshares, ShareFunction fn, void* context) {
  Shares shares(nshares, fn, context);
  if (nshares <= 1) {
    shares.run(0);
  } else {
    run_team(shares);
  }
  if (shares.error) std::rethrow_exception(shares.error);
}

}  // namespace detail
}  // namespace kiln
