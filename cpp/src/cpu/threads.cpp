// The thread count, and run_shares: the one OpenMP region of kiln (parallel.hpp).
#include "kiln/threads.hpp"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <exception>
#include <mutex>
#include <thread>

#include "check.hpp"
#include "parallel.hpp"

namespace kiln {
namespace {
// 0: follow OpenMP (OMP_NUM_THREADS, omp_set_num_threads, threadpoolctl).
std::atomic<int> requested_threads{0};
}  // namespace

int max_num_threads() {
  // Each kernel splits its work into one share per thread: threads beyond the cores only
  // add start-up and switching cost, and beyond a few thousand libgomp itself fails (it
  // sizes per-thread tables on the stack: 100000 threads overflow it). 4x the hardware
  // threads leaves room for oversubscription experiments, 64 for small machines' tests.
  static const int bound = std::max(64, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  return bound;
}

void set_num_threads(int n) {
  KILN_CHECK(n >= 0, "set_num_threads: n must be >= 0 (0 = OpenMP's default), got " << n);
  KILN_CHECK(n <= max_num_threads(),
             "set_num_threads: n must be at most " << max_num_threads()
                 << " (4 threads per hardware thread, at least 64), got " << n);
  static const int openmp_default = omp_get_max_threads();  // before we first change it
  requested_threads.store(n);
  // Also tell OpenMP, so that threadpoolctl and omp_get_max_threads() agree with us.
  omp_set_num_threads(n > 0 ? n : std::min(openmp_default, max_num_threads()));
}

int get_num_threads() {
  const int n = requested_threads.load();
  return n > 0 ? n : std::min(omp_get_max_threads(), max_num_threads());  // OMP_NUM_THREADS too
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

// ---- fork() ---------------------------------------------------------------------------
// libgomp keeps a thread's pool of workers in that thread's own state and has no fork
// handler. A child of fork() holds only the thread that called fork, which still points at
// the parent's pool: its next team waits forever for workers that were never copied (a
// DataLoader worker or a multiprocessing "fork" child used to hang in its first kernel).
// So, just before fork, the forking thread releases its pool (omp_pause_resource_all, OpenMP
// 5.0: the workers exit, and the next region starts new ones): the child then has no pool
// and makes its own on its first team; the parent's next team makes a new one too (~100 us,
// once per fork). Other threads' pools are not the child's: their threads are not in it.
// Should the release fail (fork from inside a parallel region), the child runs that
// thread's kernels on one thread instead of hanging. (PyTorch's pthreadpool does the like
// with its own pool: the child leaks the inherited pool and builds another.)

int pool_released = 0;                     // omp_pause_resource_all's answer, for the child
thread_local bool inherited_pool = false;  // this thread forked with its pool held: one thread

void before_fork() { pool_released = omp_pause_resource_all(omp_pause_soft); }
void after_fork_in_child() { inherited_pool = pool_released != 0; }

[[maybe_unused]] const bool fork_handlers_registered =
    pthread_atfork(&before_fork, nullptr, &after_fork_in_child) == 0;

}  // namespace

void run_shares(int nshares, ShareFunction fn, void* context) {
  Shares shares(nshares, fn, context);
  if (nshares <= 1) {
    shares.run(0);
  } else if (!inherited_pool) {
    run_team(shares);
  } else {
    for (int share = 0; share < nshares; ++share) shares.run(share);
  }
  if (shares.error) std::rethrow_exception(shares.error);
}

}  // namespace detail
}  // namespace kiln
