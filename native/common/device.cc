// CUDA device queries that degrade to "no GPU" answers instead of failing: the addon loads and
// reports the same on machines without a driver, a device, or a CUDA build.
#include "common/device.h"

#include <cstdio>

#ifdef RT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace rt {

bool cuda_built() {
#ifdef RT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef RT_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

std::string cuda_device_summary(int device) {
#ifdef RT_WITH_CUDA
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no GPU (") + cudaGetErrorString(err) + ")";
  }
  if (device < 0 || device >= n) return "no such device";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return "device properties unavailable";
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return buf;
#else
  (void)device;
  return "CUDA kernels not built";
#endif
}

double cuda_peak_bandwidth_gbs(int device) {
#ifdef RT_WITH_CUDA
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) {
    cudaGetLastError();
    return 0.0;
  }
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
#else
  (void)device;
  return 0.0;
#endif
}

}  // namespace rt
