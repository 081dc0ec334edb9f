// A weight-average job as the engine sees it (already type-checked by the binding) and its result.
// out = sum_i w_i * theta_i over N inputs, tensor by tensor, streamed in fixed-size chunks: the
// working set (accumulator, two staging buffers, one output chunk) does not grow with N or model size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/dtype.h"

namespace rt::average {

// Where one input's values of one tensor live: a byte offset in job.inputs[path], or memory owned
// by the caller (kept alive until run_average returns).
struct Source {
  int path = -1;                    // index into Job::inputs, or -1 for in-memory bytes
  const unsigned char* bytes = nullptr;
  uint64_t offset = 0;              // byte offset in the file (path >= 0)
  DType dtype = DType::F32;
};

struct Tensor {
  std::string name;
  uint64_t numel = 0;
  uint64_t out_offset = 0;  // absolute byte offset in outputs[out_file]
  int out_file = 0;
};

enum class Device { Cpu, Cuda };

struct Job {
  std::vector<std::string> inputs;   // opened read-only once each
  std::vector<std::string> outputs;  // must exist; written with pwrite at each tensor's out_offset
  std::vector<float> weights;        // one per input, N = weights.size()
  DType out_dtype = DType::F32;
  std::vector<Tensor> tensors;
  std::vector<Source> sources;  // tensors.size() * N, tensor-major: sources[t * N + i]
  Device device = Device::Cpu;
  int threads = 0;               // CPU workers (1: pipelined), or CUDA reader threads; 0 = rt::num_threads()
  int readers = 0;               // reader threads of the pipelined schedule; 0 = 1 on CPU, `threads` on CUDA
  size_t chunk_elems = 0;        // accumulator elements per chunk; 0 = default for the device
  bool allow_nonfinite = false;  // false: a NaN/inf input value or an output overflow is an error

  size_t n() const { return weights.size(); }
  const Source& source(size_t t, size_t i) const { return sources[t * n() + i]; }
};

struct Outcome {
  uint64_t bytes_read = 0;     // input bytes consumed (files and in-memory sources)
  uint64_t bytes_written = 0;  // output bytes written
  double seconds = 0;
  int threads = 0;
  size_t chunk_elems = 0;
  // With allow_nonfinite: the first (tensor order, then lowest input index) non-finite input
  // value found, and the first tensor whose output has non-finite values. -1 / "" when none.
  int nonfinite_input = -1;
  std::string nonfinite_tensor;
  std::string overflow_tensor;
};

// A failure the caller can act on. kind picks the JS error class and code; input/tensor/path say
// where (input -1: not tied to one input).
struct AverageError : std::runtime_error {
  enum class Kind { Range, Io, Nonfinite, Overflow, Device };
  AverageError(Kind k, const std::string& msg, int in = -1, std::string t = {}, std::string p = {})
      : std::runtime_error(msg), kind(k), input(in), tensor(std::move(t)), path(std::move(p)) {}
  Kind kind;
  int input;
  std::string tensor;
  std::string path;
};

// Called from the engine thread at most every 50 ms, and once at the end with done == total.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Runs the whole job; throws AverageError (and nothing else but std::bad_alloc). Outputs may hold
// partial data after a throw: the caller writes to temporary files and discards them.
Outcome run_average(const Job& job, const ProgressFn& progress);

// Default chunk on the CPU: 128 Ki elements (512 KiB of fp32 accumulator), so one worker's
// accumulator, staging buffer and output chunk (~1.5 MiB) stay in its core's L2/L3 between the
// pread and the arithmetic. On CUDA: 1 Mi elements, fewer and larger transfers and launches.
constexpr size_t kDefaultCpuChunkElems = size_t{1} << 17;
constexpr size_t kDefaultCudaChunkElems = size_t{1} << 20;

// Sequentially preads each file whole into one reused buffer of chunk_bytes: the engine's read
// pattern without the arithmetic, to express average throughput as a share of read bandwidth.
struct ReadBandwidth {
  uint64_t bytes = 0;
  double seconds = 0;
};
ReadBandwidth read_bandwidth(const std::vector<std::string>& paths, size_t chunk_bytes);

}  // namespace rt::average
