// CPU STREAM-style triad (see membw.h); the CUDA one is in membw.cu.
#include "common/membw.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/parallel.h"

namespace rt {
namespace {

constexpr size_t kTriadChunk = size_t{1} << 16;  // floats: 256 KiB per array per chunk
constexpr float kScalar = 3.0f;

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;

AlignedFloats alloc_floats(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
  if (!p) throw std::bad_alloc();
  return AlignedFloats(p);
}

// Chunks start at multiples of kTriadChunk floats of 64-byte aligned arrays, so 16-byte
// streaming stores are aligned.
void triad_chunk(float* a, const float* b, const float* c, size_t begin, size_t end, bool nontemporal) {
  size_t i = begin;
#if defined(__SSE2__)
  if (nontemporal) {
    const __m128 s = _mm_set1_ps(kScalar);
    for (; i + 4 <= end; i += 4)
      _mm_stream_ps(a + i, _mm_add_ps(_mm_loadu_ps(b + i), _mm_mul_ps(s, _mm_loadu_ps(c + i))));
    _mm_sfence();
  }
#else
  (void)nontemporal;
#endif
  for (; i < end; ++i) a[i] = b[i] + kScalar * c[i];
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

BandwidthResult cpu_triad(size_t array_bytes, int repeats, bool nontemporal) {
  if (repeats < 1) throw std::invalid_argument("repeats must be >= 1");
  const size_t n = array_bytes / sizeof(float);
  if (n == 0) throw std::invalid_argument("array_bytes must be at least 4");
  AlignedFloats a = alloc_floats(n), b = alloc_floats(n), c = alloc_floats(n);
  const size_t chunks = (n + kTriadChunk - 1) / kTriadChunk;
  // First touch from the pool, as the timed passes will touch the pages.
  parallel_for(chunks, [&](size_t k) {
    size_t end = std::min(n, (k + 1) * kTriadChunk);
    for (size_t i = k * kTriadChunk; i < end; ++i) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
  });
  std::vector<double> seconds;
  for (int r = 0; r <= repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    parallel_for(chunks, [&](size_t k) {
      triad_chunk(a.get(), b.get(), c.get(), k * kTriadChunk, std::min(n, (k + 1) * kTriadChunk), nontemporal);
    });
    auto t1 = std::chrono::steady_clock::now();
    if (r > 0) seconds.push_back(std::chrono::duration<double>(t1 - t0).count());  // r == 0 warms up
  }
  if (a[n - 1] != 1.0f + kScalar * 2.0f) throw std::runtime_error("triad produced a wrong result");
  const double bytes = 3.0 * sizeof(float) * static_cast<double>(n);
  BandwidthResult res;
  res.best_gbs = bytes / *std::min_element(seconds.begin(), seconds.end()) / 1e9;
  res.median_gbs = bytes / median_of(seconds) / 1e9;
  res.array_bytes = n * sizeof(float);
  res.repeats = repeats;
  res.threads = num_threads();
  return res;
}

#ifndef RT_WITH_CUDA
BandwidthResult cuda_triad(size_t, int, int) {
  throw std::runtime_error("CUDA kernels not built (configure with RATATOUILLE_CUDA=ON and nvcc)");
}
#endif

}  // namespace rt
