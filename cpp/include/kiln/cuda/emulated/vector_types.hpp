// kiln's emulated device: CUDA's vector types (vector_types.h) for host C++.
//
// Why: kernels and host code name float4, int2, dim3, make_float4 ... exactly as under
// nvcc; the emulated build (KILN_CUDA=EMULATE) has no CUDA headers, so these are the
// same layouts (size and alignment as the CUDA headers give them: float4 and int4 are
// 16-byte aligned, so a float4 load from a misaligned address is as wrong here as there).
#pragma once

struct alignas(8) float2 { float x, y; };
struct float3 { float x, y, z; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) int2 { int x, y; };
struct int3 { int x, y, z; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct uint3 { unsigned x, y, z; };
struct alignas(16) uint4 { unsigned x, y, z, w; };

// dim3: uint3 whose unnamed components default to 1 (launch dimensions).
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

constexpr float2 make_float2(float x, float y) { return float2{x, y}; }
constexpr float3 make_float3(float x, float y, float z) { return float3{x, y, z}; }
constexpr float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
constexpr double2 make_double2(double x, double y) { return double2{x, y}; }
constexpr int2 make_int2(int x, int y) { return int2{x, y}; }
constexpr int3 make_int3(int x, int y, int z) { return int3{x, y, z}; }
constexpr int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
constexpr uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
constexpr uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }
constexpr uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) {
  return uint4{x, y, z, w};
}
