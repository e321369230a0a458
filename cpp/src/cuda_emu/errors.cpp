// kiln's emulated device: the runtime's error state and its names (state.hpp).
//
// Why as CUDA has it: callers test cudaGetLastError after a launch and every call's
// return; a configuration error is the calling thread's and cudaGetLastError clears it;
// a fault inside a kernel poisons the whole context, so every later call returns it.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "state.hpp"

namespace kiln::cuda_emu {
namespace {

thread_local cudaError_t g_last_error = cudaSuccess;
std::mutex g_fault_mutex;
cudaError_t g_fault = cudaSuccess;  // guarded by g_fault_mutex
std::string g_failure;              // guarded by g_fault_mutex

}  // namespace

int visible_devices() {
  static const int devices = [] {
    const char* env = std::getenv("KILN_CUDA_EMU_DEVICES");
    return env && std::strcmp(env, "0") == 0 ? 0 : 1;
  }();
  return devices;
}

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) g_last_error = e;
  return e;
}

cudaError_t enter() {
  if (visible_devices() == 0) return record(cudaErrorNoDevice);
  std::lock_guard<std::mutex> lock(g_fault_mutex);
  return record(g_fault);
}

void set_fault(cudaError_t e, const std::string& message) {
  std::fprintf(stderr, "kiln emulated device: %s (%s)\n", message.c_str(), cudaGetErrorName(e));
  std::lock_guard<std::mutex> lock(g_fault_mutex);
  if (g_fault == cudaSuccess) g_fault = e;
  g_failure = message;
  record(e);
}

void set_launch_error(cudaError_t e, const std::string& message) {
  std::fprintf(stderr, "kiln emulated device: %s (%s)\n", message.c_str(), cudaGetErrorName(e));
  std::lock_guard<std::mutex> lock(g_fault_mutex);
  g_failure = message;
  record(e);
}

void clear_faults() {
  std::lock_guard<std::mutex> lock(g_fault_mutex);
  g_fault = cudaSuccess;
  g_failure.clear();
  g_last_error = cudaSuccess;
}

const char* last_failure() {
  static thread_local std::string copy;
  std::lock_guard<std::mutex> lock(g_fault_mutex);
  copy = g_failure;
  return copy.c_str();
}

}  // namespace kiln::cuda_emu

using kiln::cuda_emu::g_last_error;

cudaError_t cudaGetLastError() {
  const cudaError_t e = kiln::cuda_emu::enter();
  if (e != cudaSuccess) return e;  // sticky: never cleared
  const cudaError_t last = g_last_error;
  g_last_error = cudaSuccess;
  return last;
}

cudaError_t cudaPeekAtLastError() {
  const cudaError_t e = kiln::cuda_emu::enter();
  return e != cudaSuccess ? e : g_last_error;
}

namespace {

struct ErrorText {
  cudaError_t error;
  const char* name;
  const char* text;
};

// CUDA's own wording.
constexpr ErrorText kErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorLaunchTimeout, "cudaErrorLaunchTimeout", "the launch timed out and was terminated"},
    {cudaErrorAssert, "cudaErrorAssert", "device-side assert triggered"},
    {cudaErrorIllegalInstruction, "cudaErrorIllegalInstruction", "an illegal instruction was encountered"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

const ErrorText* find(cudaError_t e) {
  for (const ErrorText& t : kErrors)
    if (t.error == e) return &t;
  return nullptr;
}

}  // namespace

const char* cudaGetErrorString(cudaError_t error) {
  const ErrorText* t = find(error);
  return t ? t->text : "unrecognized error code";
}

const char* cudaGetErrorName(cudaError_t error) {
  const ErrorText* t = find(error);
  return t ? t->name : "cudaErrorUnknown";
}
