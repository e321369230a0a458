// The thread count, and run_shares: the one OpenMP region of kiln (parallel.hpp).
#include "kiln/threads.hpp"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
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

// ---- after fork() ----------------------------------------------------------------------
// libgomp keeps a thread's pool of workers in that thread's own state and has no fork
// handler. A child of fork() holds only the thread that called fork, which still points at
// the parent's pool: its next team waits forever for workers that were never copied (a
// DataLoader worker or a multiprocessing "fork" child used to hang in its first kernel).
// A thread started in the child has no pool, and gets a fresh one when it leads a team.
// So the child handler marks the forking thread, and the teams that thread asks for are led
// by a thread kiln starts in the child (TeamLeader). Every other thread of the child was
// started there and leads its own teams as usual. (PyTorch's pthreadpool does the same
// with its own pool: the child leaks the inherited pool and builds a new one.)

thread_local bool inherited_pool = false;  // this thread called fork: its pool is the parent's

// A thread that leads the teams of the forking thread, one run_shares call at a time.
class TeamLeader {
 public:
  TeamLeader() : thread_([this] { serve(); }) {}  // std::system_error if no thread starts

  void lead(Shares& shares) {
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = &shares;
    wake_.notify_one();
    wake_.wait(lock, [this] { return job_ == nullptr; });
  }

 private:
  void serve() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return job_ != nullptr; });
      run_team(*job_);  // the caller waits meanwhile, so holding the lock costs nothing
      job_ = nullptr;
      wake_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;  // the caller and the leader, waiting in turn
  Shares* job_ = nullptr;
  std::thread thread_;  // last: starts once the members above exist
};

// Made on the first team after a fork, and only ever used by the forking thread, the one
// thread with inherited_pool set. Never destroyed: a later fork forgets it (its thread is
// not in that child), and at exit it waits on its condition variable.
TeamLeader* leader = nullptr;

void after_fork_in_child() {
  inherited_pool = true;
  leader = nullptr;
}

[[maybe_unused]] const bool fork_handler_registered =
    pthread_atfork(nullptr, nullptr, &after_fork_in_child) == 0;

}  // namespace

void run_shares(int nshares, ShareFunction fn, void* context) {
  Shares shares(nshares, fn, context);
  if (nshares <= 1) {
    shares.run(0);
  } else if (!inherited_pool) {
    run_team(shares);
  } else {
    if (leader == nullptr) {
      try {
        leader = new TeamLeader;
      } catch (...) {  // no thread to lead (out of memory, or of threads): run the shares here
      }
    }
    if (leader != nullptr) {
      leader->lead(shares);
    } else {
      for (int share = 0; share < nshares; ++share) shares.run(share);
    }
  }
  if (shares.error) std::rethrow_exception(shares.error);
}

}  // namespace detail
}  // namespace kiln
