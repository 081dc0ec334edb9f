// Memory-bandwidth probe: a STREAM-style triad a = b + s*c over arrays far larger than the
// last-level cache, counted as STREAM does (3 arrays x 4 bytes per element per pass). Benchmarks
// measure it in the same run as the kernel they judge, so ratios survive a noisy machine.
#pragma once

#include <cstddef>

namespace rt {

struct BandwidthResult {
  double best_gbs = 0, median_gbs = 0;  // over the timed repeats (one warm-up pass not counted)
  size_t array_bytes = 0;               // bytes of each of the three arrays
  int repeats = 0;
  int threads = 0;
};

// CPU triad across the thread pool in fixed 256 KiB chunks. With `nontemporal` the stores to `a`
// bypass the cache, so the bytes counted are the bytes moved (no read-for-ownership of `a`).
BandwidthResult cpu_triad(size_t array_bytes, int repeats, bool nontemporal);

// The same triad on a CUDA device, timed with events. Throws without a CUDA build or GPU.
BandwidthResult cuda_triad(size_t array_bytes, int repeats, int device);

}  // namespace rt
