// Where the arithmetic of the pipelined engine runs (reader threads -> backend -> writer thread):
// the CPU with one compute thread, or a CUDA device. The engine loop (engine.cc) hands each staged
// input chunk to accumulate(), and after the last input of a chunk queues what finish() returns
// for the writer thread's pwrite.
#pragma once

#include <cstdlib>
#include <memory>
#include <vector>

#include "average/prefetch.h"

namespace rt::average {

struct ChunkOut {
  const unsigned char* bytes;  // count values of the output dtype, valid until the call after next
  int bad_input;               // lowest input with a non-finite value in this chunk, or -1
  bool out_nonfinite;          // some output value is not finite (overflow, or a bad input)
  size_t freed = 0;            // items (oldest first) whose host memory finish() gave back
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Host staging buffers for the reader, one per slot.
  virtual std::vector<unsigned char*> staging() = 0;
  // Whether in-memory sources must be copied into a slot before accumulate() sees them.
  virtual bool stages_memory() const = 0;
  // Folds item into the accumulator (first: the accumulator starts at w*x). Returns how many of
  // the items handed in so far, oldest first, no longer need their host memory. A backend may
  // hold an item's staging slot past the call (CUDA: until its async copy is done) so the next
  // copy is queued before the wait; finish() gives every held slot back.
  virtual size_t accumulate(const Item& item, DType dtype, float w, bool first) = 0;
  // Converts the accumulator's first count values to the output dtype, into the next of
  // kOutBuffers alternating buffers: a writer thread may still be writing the previous chunk.
  virtual ChunkOut finish(size_t count) = 0;
  static constexpr int kOutBuffers = 2;
};

std::unique_ptr<Backend> make_cpu_backend(size_t chunk_elems, size_t stage_bytes, int slots, DType out);

// 64-byte aligned host memory for accumulators and staging.
struct FreeDeleter {
  void operator()(unsigned char* p) const { std::free(p); }
};
using HostBuffer = std::unique_ptr<unsigned char, FreeDeleter>;
HostBuffer host_buffer(size_t bytes);
#ifdef RT_WITH_CUDA
// Throws AverageError(Kind::Device) when no device can be used.
std::unique_ptr<Backend> make_cuda_backend(size_t chunk_elems, size_t stage_bytes, int slots, DType out);

// Device-only timing of the accumulate kernel, for benchmarks (native/bench/gpu_check): one fold
// of `inputs` passes over a device-resident array of `elems` values of `dtype` into the fp32
// accumulator (the first pass initialises it, as for input 0), repeated after one warm-up.
// bytes: what one fold must move (each pass reads the input, later passes read the accumulator,
// every pass writes it). Throws rt::CudaError.
struct KernelTiming {
  double median_ms = 0, min_ms = 0;
  double bytes = 0;
};
KernelTiming cuda_accumulate_timing(DType dtype, size_t elems, int inputs, int repeats);
#endif

}  // namespace rt::average
