// The emulated device's warp intrinsics equal their definitions (CUDA C++ Programming
// Guide, "Warp Shuffle Functions" and "Warp Vote Functions"): every shuffle at every
// width, over ints, floats, doubles and 64-bit integers; ballot/any/all; collectives of
// disjoint masks in divergent branches; __syncwarp as a warp barrier, whose absence
// gives a wrong result; a butterfly reduction.
#include <cstdint>
#include <vector>

#include "cuda/launch.hpp"
#include "cuda_check.hpp"

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kThreads = 64;  // two warps

int value_of(int tid) { return tid * 3 + 1; }

enum Op { kIdx, kUp, kDown, kXor };

template <class T>
__global__ void shuffle_kernel(int op, int arg, int width, T* out) {
  const int tid = threadIdx.x;
  const int lane = tid % 32;
  const T v = static_cast<T>(tid * 3 + 1);
  T r{};
  switch (op) {
    case kIdx: r = __shfl_sync(kFull, v, (lane * arg) % 32, width); break;
    case kUp: r = __shfl_up_sync(kFull, v, static_cast<unsigned>(arg), width); break;
    case kDown: r = __shfl_down_sync(kFull, v, static_cast<unsigned>(arg), width); break;
    case kXor: r = __shfl_xor_sync(kFull, v, arg, width); break;
  }
  out[tid] = r;
}

// The definitions, lane by lane (a lane of warp w reads within warp w).
int expected_shuffle(int op, int arg, int width, int tid) {
  const int lane = tid % 32, warp_base = tid - lane;
  const int segment = lane / width * width, in_segment = lane % width;
  int src = lane;
  switch (op) {
    case kIdx: src = segment + ((lane * arg) % 32) % width; break;
    case kUp: src = in_segment >= arg ? lane - arg : lane; break;
    case kDown: src = in_segment + arg < width ? lane + arg : lane; break;
    case kXor: src = lane ^ arg; break;  // arg < width: stays in the segment
  }
  return value_of(warp_base + src);
}

template <class T>
int check_shuffles() {
  int wrong = 0;
  DeviceBuffer<T> out(kThreads);
  for (int width : {1, 2, 4, 8, 16, 32})
    for (int op : {kIdx, kUp, kDown, kXor})
      for (int arg : {0, 1, 3, 5, width / 2, width - 1}) {
        if (op == kXor && arg >= width) continue;
        if (op != kIdx && arg >= width && width > 1) continue;
        CUDA_OK(kiln::cuda::launch(shuffle_kernel<T>, dim3(1), dim3(kThreads), 0, 0, op, arg, width,
                                   out.get()));
        const std::vector<T> got = out.download();
        for (int tid = 0; tid < kThreads; ++tid)
          wrong += got[tid] != static_cast<T>(expected_shuffle(op, arg, width, tid));
      }
  return wrong;
}

__global__ void votes(const int* pred, unsigned* ballot, int* any, int* all) {
  const int tid = threadIdx.x;
  ballot[tid] = __ballot_sync(kFull, pred[tid]);
  any[tid] = __any_sync(kFull, pred[tid]);
  all[tid] = __all_sync(kFull, pred[tid]);
}

// Lanes 0-15 shuffle among themselves while lanes 16-31 vote among themselves.
__global__ void divergent(int* out) {
  const int lane = threadIdx.x;
  if (lane < 16)
    out[lane] = __shfl_down_sync(0x0000ffffu, lane * 10, 1, 16);
  else
    out[lane] = static_cast<int>(__ballot_sync(0xffff0000u, lane % 4 == 0));
}

// Each lane reads its neighbour's slot after __syncwarp (or without it).
template <bool kSync>
__global__ void rotate_through_shared(const int* in, int* out) {
  KILN_SHARED(int, slots, [32]);
  const int lane = threadIdx.x;
  slots[lane] = in[lane];
  if constexpr (kSync) __syncwarp();
  out[lane] = slots[(lane + 1) % 32];
}

__global__ void butterfly_sum(const float* x, float* out) {
  float v = x[threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(kFull, v, offset);
  out[threadIdx.x] = v;
}

}  // namespace

int main() {
  CHECK(check_shuffles<int>() == 0);
  CHECK(check_shuffles<float>() == 0);
  CHECK(check_shuffles<double>() == 0);
  CHECK(check_shuffles<long long>() == 0);
  CHECK(check_shuffles<unsigned>() == 0);

  {
    std::vector<int> pred(kThreads);
    for (int t = 0; t < kThreads; ++t) pred[t] = t < 32 ? (t % 5 == 0) * (t + 1) : 1;
    pred[40] = 0;  // warp 1: all but one
    DeviceBuffer<int> dpred(pred), dany(kThreads), dall(kThreads);
    DeviceBuffer<unsigned> dballot(kThreads);
    CUDA_OK(kiln::cuda::launch(votes, dim3(1), dim3(kThreads), 0, 0, dpred.get(), dballot.get(),
                               dany.get(), dall.get()));
    const std::vector<unsigned> ballot = dballot.download();
    const std::vector<int> any = dany.download(), all = dall.download();
    int wrong = 0;
    for (int t = 0; t < kThreads; ++t) {
      const int base = t - t % 32;
      unsigned want = 0;
      for (int l = 0; l < 32; ++l) want |= (pred[base + l] != 0 ? 1u : 0u) << l;
      wrong += ballot[t] != want || any[t] != (want != 0) || all[t] != (want == kFull);
    }
    CHECK(wrong == 0);
    CHECK(ballot[0] == 0x42108421u);  // lanes 0, 5, 10, ..., 30
    CHECK(all[33] == 0 && any[33] == 1);
  }
  {
    DeviceBuffer<int> out(32);
    CUDA_OK(kiln::cuda::launch(divergent, dim3(1), dim3(32), 0, 0, out.get()));
    const std::vector<int> got = out.download();
    int wrong = 0;
    for (int l = 0; l < 16; ++l) wrong += got[l] != (l < 15 ? (l + 1) * 10 : l * 10);
    for (int l = 16; l < 32; ++l) wrong += got[l] != static_cast<int>(0x11110000u);
    CHECK(wrong == 0);
  }
  {
    std::vector<int> in(32);
    for (int l = 0; l < 32; ++l) in[l] = 100 + l;
    DeviceBuffer<int> din(in), with(32), without(32);
    CUDA_OK(kiln::cuda::launch(rotate_through_shared<true>, dim3(1), dim3(32), 0, 0, din.get(), with.get()));
    CUDA_OK(kiln::cuda::launch(rotate_through_shared<false>, dim3(1), dim3(32), 0, 0, din.get(), without.get()));
    const std::vector<int> a = with.download(), b = without.download();
    int right_with = 0, right_without = 0;
    for (int l = 0; l < 32; ++l) {
      right_with += a[l] == in[(l + 1) % 32];
      right_without += b[l] == in[(l + 1) % 32];
    }
    CHECK(right_with == 32);
    CHECK(right_without < 32);
  }
  {
    std::vector<float> x(32);
    float sum = 0;
    for (int l = 0; l < 32; ++l) sum += (x[l] = static_cast<float>(l % 7));
    DeviceBuffer<float> dx(x), out(32);
    CUDA_OK(kiln::cuda::launch(butterfly_sum, dim3(1), dim3(32), 0, 0, dx.get(), out.get()));
    const std::vector<float> got = out.download();
    int right = 0;
    for (int l = 0; l < 32; ++l) right += got[l] == sum;
    CHECK(right == 32);
  }
  std::printf("%s\n", failures() ? "FAILED" : "ok");
  return failures();
}
