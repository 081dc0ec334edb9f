// CUDA STREAM-style triad (see membw.h): grid-stride float4 loop, timed with events.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "common/cuda_buffer.h"
#include "common/membw.h"

namespace rt {
namespace {

constexpr float kScalar = 3.0f;

__global__ void fill_kernel(float* a, float* b, float* c, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
}

// n4 float4s; cudaMalloc alignment makes the float4 views legal.
__global__ void triad_kernel(float4* a, const float4* b, const float4* c, size_t n4) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n4;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float4 x = b[i], y = c[i];
    a[i] = make_float4(x.x + kScalar * y.x, x.y + kScalar * y.y, x.z + kScalar * y.z, x.w + kScalar * y.w);
  }
}

}  // namespace

BandwidthResult cuda_triad(size_t array_bytes, int repeats, int device) {
  if (repeats < 1) throw std::invalid_argument("repeats must be >= 1");
  const size_t n4 = array_bytes / sizeof(float4);
  if (n4 == 0) throw std::invalid_argument("array_bytes must be at least 16");
  RT_CUDA_CHECK(cudaSetDevice(device));
  int sms = 0;
  RT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  DeviceArray<float4> a(n4), b(n4), c(n4);
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>(std::max(1, sms) * 8);
  fill_kernel<<<blocks, threads>>>(reinterpret_cast<float*>(a.get()), reinterpret_cast<float*>(b.get()),
                                    reinterpret_cast<float*>(c.get()), n4 * 4);
  RT_CUDA_CHECK(cudaGetLastError());
  std::vector<double> ms;
  CudaEvent start, stop;
  for (int r = 0; r <= repeats; ++r) {
    RT_CUDA_CHECK(cudaEventRecord(start.get()));
    triad_kernel<<<blocks, threads>>>(a.get(), b.get(), c.get(), n4);
    RT_CUDA_CHECK(cudaGetLastError());
    RT_CUDA_CHECK(cudaEventRecord(stop.get()));
    double t = elapsed_ms(start, stop);
    if (r > 0) ms.push_back(t);  // r == 0 warms up
  }
  float last[4];
  RT_CUDA_CHECK(cudaMemcpy(last, a.get() + (n4 - 1), sizeof last, cudaMemcpyDeviceToHost));
  if (last[3] != 1.0f + kScalar * 2.0f) throw std::runtime_error("CUDA triad produced a wrong result");
  std::sort(ms.begin(), ms.end());
  const double bytes = 3.0 * sizeof(float4) * static_cast<double>(n4);
  BandwidthResult res;
  res.best_gbs = bytes / (ms.front() * 1e-3) / 1e9;
  double med = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  res.median_gbs = bytes / (med * 1e-3) / 1e9;
  res.array_bytes = n4 * sizeof(float4);
  res.repeats = repeats;
  res.threads = 0;
  return res;
}

}  // namespace rt
