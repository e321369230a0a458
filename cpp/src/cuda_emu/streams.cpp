// kiln's emulated device: streams and events.
//
// Why this simple: every operation runs to completion when it is enqueued, so each
// stream is trivially in order and every wait is already satisfied; what is left to
// emulate is the handles (a destroyed or unknown one is cudaErrorInvalidResourceHandle)
// and event timing, which measures host time between two records.
#include <chrono>
#include <mutex>
#include <set>

#include "state.hpp"

struct CUstream_st {
  unsigned flags;
};

struct CUevent_st {
  unsigned flags;
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
};

namespace kiln::cuda_emu {
namespace {

std::mutex g_mutex;
std::set<CUstream_st*> g_streams;  // guarded by g_mutex
std::set<CUevent_st*> g_events;    // guarded by g_mutex

bool event_is_valid(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_events.count(event) != 0;
}

}  // namespace

bool stream_is_valid(cudaStream_t stream) {
  if (stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return true;
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_streams.count(stream) != 0;
}

void destroy_all_streams_and_events() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (CUstream_st* s : g_streams) delete s;
  for (CUevent_st* e : g_events) delete e;
  g_streams.clear();
  g_events.clear();
}

}  // namespace kiln::cuda_emu

using namespace kiln::cuda_emu;

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (cudaError_t e = enter()) return e;
  if (!stream || flags > cudaStreamNonBlocking) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  *stream = *g_streams.insert(new CUstream_st{flags}).first;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (cudaError_t e = enter()) return e;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_streams.erase(stream)) return record(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (cudaError_t e = enter()) return e;
  return stream_is_valid(stream) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags) {
  if (cudaError_t e = enter()) return e;
  if (!stream_is_valid(stream) || !event_is_valid(event)) return record(cudaErrorInvalidResourceHandle);
  return flags == 0 ? cudaSuccess : record(cudaErrorInvalidValue);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (cudaError_t e = enter()) return e;
  if (!event || flags > (cudaEventBlockingSync | cudaEventDisableTiming))
    return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  auto* created = new CUevent_st;
  created->flags = flags;
  *event = *g_events.insert(created).first;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (cudaError_t e = enter()) return e;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_events.erase(event)) return record(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (cudaError_t e = enter()) return e;
  if (!stream_is_valid(stream)) return record(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_events.count(event)) return record(cudaErrorInvalidResourceHandle);
  event->recorded = true;
  event->time = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (cudaError_t e = enter()) return e;
  return event_is_valid(event) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (cudaError_t e = enter()) return e;
  if (!ms) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_events.count(start) || !g_events.count(end)) return record(cudaErrorInvalidResourceHandle);
  if ((start->flags | end->flags) & cudaEventDisableTiming) return record(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}
