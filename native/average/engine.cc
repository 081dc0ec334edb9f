// The streaming weight-average engine. After checking the job against the files it names, it runs
// one of two schedules over the job's chunks (a chunk: up to chunk_elems values of one tensor):
//  - chunk-parallel (CPU, threads >= 2): each worker thread takes the next chunk, preads it input
//    by input into its own staging buffer and folds it into its own accumulator while the data is
//    still in that core's cache; one worker's reads overlap the others' arithmetic.
//  - pipelined (CPU with one thread, CUDA): reader threads stage (chunk, input) pieces ahead of a
//    single consumer that feeds the backend (prefetch.h, backend.h); on CUDA, `threads` readers.
// Every value goes through the same arithmetic in the same input order in both, so results never
// depend on the schedule, threads, chunk size or timing; nor do the reported errors (lowest chunk).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <mutex>
#include <thread>
#include <tuple>

#include "average/backend.h"
#include "average/files.h"
#include "average/job.h"
#include "average/kernels.h"
#include "average/prefetch.h"
#include "common/device.h"
#include "common/parallel.h"

namespace rt::average {
namespace {

using Kind = AverageError::Kind;
using Clock = std::chrono::steady_clock;

// Staging slots of the pipelined schedule: more than two lets a reader run on while the consumer
// converts and writes a finished chunk; each extra reader gets one more.
constexpr int kSlots = 4;
// Reader threads: at most 16 on request; by default on CUDA at most 8, the best measured on an
// H200 host (16 cores: 1 -> 8 readers 2.97x for F32, 3.76x for BF16; 16 readers were slower).
constexpr int kMaxReaders = 16;
constexpr int kDefaultCudaReaders = 8;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string input_label(const Job& job, size_t i, const Source& src) {
  return "input " + std::to_string(i) + " (" + (src.path >= 0 ? job.inputs[src.path] : "in-memory data") + ")";
}

// Every byte range the job names must exist before anything is written.
void check_layout(const Job& job, const std::vector<File>& inputs) {
  const uint64_t out_es = kDTypeSize[static_cast<int>(job.out_dtype)];
  std::vector<std::tuple<int, uint64_t, uint64_t, size_t>> written;  // file, begin, end, tensor
  for (size_t t = 0; t < job.tensors.size(); ++t) {
    const Tensor& tensor = job.tensors[t];
    if (tensor.numel == 0) continue;
    if (tensor.out_file < 0 || static_cast<size_t>(tensor.out_file) >= job.outputs.size())
      throw AverageError(Kind::Range, "tensor " + quoted(tensor.name) + ": no output file " +
                                          std::to_string(tensor.out_file), -1, tensor.name);
    written.emplace_back(tensor.out_file, tensor.out_offset, tensor.out_offset + tensor.numel * out_es, t);
    for (size_t i = 0; i < job.n(); ++i) {
      const Source& src = job.source(t, i);
      if (src.path < 0) continue;
      if (static_cast<size_t>(src.path) >= inputs.size())
        throw AverageError(Kind::Range, "input " + std::to_string(i) + ": tensor " + quoted(tensor.name) +
                                            ": no input file " + std::to_string(src.path), static_cast<int>(i), tensor.name);
      const uint64_t end = src.offset + tensor.numel * kDTypeSize[static_cast<int>(src.dtype)];
      const uint64_t size = inputs[src.path].size();
      if (end > size)
        throw AverageError(Kind::Range,
                           input_label(job, i, src) + ": tensor " + quoted(tensor.name) + ": bytes [" +
                               std::to_string(src.offset) + ", " + std::to_string(end) + ") lie past the end of the " +
                               std::to_string(size) + "-byte file",
                           static_cast<int>(i), tensor.name, job.inputs[src.path]);
    }
  }
  // Two tensors writing the same output bytes is a layout bug in the caller.
  std::sort(written.begin(), written.end());
  for (size_t k = 1; k < written.size(); ++k) {
    const auto& [fa, ba, ea, ta] = written[k - 1];
    const auto& [fb, bb, eb, tb] = written[k];
    (void)ba, (void)eb;
    if (fa == fb && bb < ea)
      throw AverageError(Kind::Range,
                         "output " + std::to_string(fa) + " (" + job.outputs[fa] + "): tensors " +
                             quoted(job.tensors[ta].name) + " and " + quoted(job.tensors[tb].name) +
                             " overlap at byte " + std::to_string(bb),
                         -1, job.tensors[tb].name, job.outputs[fa]);
  }
}

// The job's chunks in order: chunk k is tensor t's chunk k - first_chunk[t].
struct Chunks {
  Chunks(const Job& job, size_t chunk_elems) : elems(chunk_elems), first_chunk(job.tensors.size() + 1, 0) {
    for (size_t t = 0; t < job.tensors.size(); ++t)
      first_chunk[t + 1] = first_chunk[t] + (job.tensors[t].numel + elems - 1) / elems;
  }
  uint64_t count() const { return first_chunk.back(); }
  size_t tensor_of(uint64_t k) const {
    return static_cast<size_t>(std::upper_bound(first_chunk.begin(), first_chunk.end(), k) - first_chunk.begin() - 1);
  }
  size_t elems;
  std::vector<uint64_t> first_chunk;
};

// Where finished chunks go, from any thread: flags become errors or reports, bytes go to the output
// file, progress is counted. Chunks may finish out of order, so each issue is kept for the lowest
// chunk index only; after an error no chunk above it is started.
class Sink {
 public:
  Sink(const Job& job, const std::vector<File>& outputs, const ProgressFn& progress, uint64_t total)
      : job_(job), outputs_(outputs), progress_(progress), total_(total), start_(Clock::now()) {}

  bool wanted(uint64_t k) const { return k < error_chunk_.load(); }

  void fail(uint64_t k, std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (k < error_chunk_.load()) {
      error_chunk_.store(k);
      error_ = e;
    }
  }

  void put(uint64_t k, size_t t, uint64_t first, size_t count, const ChunkOut& out) {
    const Tensor& tensor = job_.tensors[t];
    if (out.bad_input >= 0) {
      const Source& bad = job_.source(t, static_cast<size_t>(out.bad_input));
      if (!job_.allow_nonfinite)
        return fail(k, std::make_exception_ptr(AverageError(
                           Kind::Nonfinite,
                           input_label(job_, out.bad_input, bad) + ": tensor " + quoted(tensor.name) +
                               " has non-finite values (NaN or infinity" +
                               (bad.dtype == DType::F64 ? ", or beyond the fp32 range)" : ")"),
                           out.bad_input, tensor.name, bad.path >= 0 ? job_.inputs[bad.path] : "")));
      std::lock_guard<std::mutex> lock(mu_);
      if (k < nonfinite_chunk_) nonfinite_chunk_ = k, nonfinite_input_ = out.bad_input, nonfinite_tensor_ = t;
    } else if (out.out_nonfinite) {
      if (!job_.allow_nonfinite)
        return fail(k, std::make_exception_ptr(AverageError(
                           Kind::Overflow,
                           "tensor " + quoted(tensor.name) + ": averaged values overflow " +
                               kDTypeName[static_cast<int>(job_.out_dtype)] + "; choose a wider output dtype",
                           -1, tensor.name)));
      std::lock_guard<std::mutex> lock(mu_);
      if (k < overflow_chunk_) overflow_chunk_ = k, overflow_tensor_ = t;
    }
    const size_t es = kDTypeSize[static_cast<int>(job_.out_dtype)];
    const File& dst = outputs_[tensor.out_file];
    std::string err = dst.write(out.bytes, count * es, tensor.out_offset + first * es);
    if (!err.empty())
      fail(k, std::make_exception_ptr(AverageError(Kind::Io, dst.label() + ": tensor " + quoted(tensor.name) + ": " + err,
                                                   -1, tensor.name, dst.path())));
  }

  // At most every 50 ms, from whichever thread crosses the mark while no report is running.
  void read_bytes(uint64_t n) {
    const uint64_t done = done_.fetch_add(n) + n;
    if (!progress_) return;
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count();
    int64_t last = last_report_ms_.load();
    if (now - last < 50 || !last_report_ms_.compare_exchange_strong(last, now)) return;
    std::unique_lock<std::mutex> lock(progress_mu_, std::try_to_lock);
    if (lock.owns_lock()) progress_(done, total_);
  }

  // Rethrows the lowest error, or completes the outcome.
  void finish(Outcome& r) {
    if (error_) std::rethrow_exception(error_);
    if (nonfinite_chunk_ != UINT64_MAX) {
      r.nonfinite_input = nonfinite_input_;
      r.nonfinite_tensor = job_.tensors[nonfinite_tensor_].name;
    }
    if (overflow_chunk_ != UINT64_MAX) r.overflow_tensor = job_.tensors[overflow_tensor_].name;
    if (progress_) progress_(total_, total_);
  }

 private:
  const Job& job_;
  const std::vector<File>& outputs_;
  const ProgressFn& progress_;
  const uint64_t total_;
  const Clock::time_point start_;
  std::mutex mu_, progress_mu_;
  std::atomic<uint64_t> error_chunk_{UINT64_MAX};
  std::exception_ptr error_;
  uint64_t nonfinite_chunk_ = UINT64_MAX, overflow_chunk_ = UINT64_MAX;
  int nonfinite_input_ = -1;
  size_t nonfinite_tensor_ = 0, overflow_tensor_ = 0;
  std::atomic<uint64_t> done_{0};
  std::atomic<int64_t> last_report_ms_{0};
};

void run_chunk_parallel(const Job& job, const std::vector<File>& inputs, const Chunks& chunks, size_t stage_bytes,
                        int threads, Sink& sink) {
  std::atomic<uint64_t> next{0};
  const CpuLevel level = cpu_level();
  const AccumulateFn accumulate = accumulate_for(level);
  const ConvertFn convert = convert_for(level);
  const size_t out_es = kDTypeSize[static_cast<int>(job.out_dtype)];
  auto worker = [&] {
    uint64_t k = next.fetch_add(1);
    try {
      HostBuffer stage = host_buffer(stage_bytes), acc = host_buffer(chunks.elems * sizeof(float)),
                 out = host_buffer(chunks.elems * out_es);
      float* a = reinterpret_cast<float*>(acc.get());
      for (; k < chunks.count() && sink.wanted(k); k = next.fetch_add(1)) {
        const size_t t = chunks.tensor_of(k);
        const uint64_t first = (k - chunks.first_chunk[t]) * chunks.elems;
        const size_t count = static_cast<size_t>(std::min<uint64_t>(chunks.elems, job.tensors[t].numel - first));
        int bad_input = -1;
        for (size_t i = 0; i < job.n(); ++i) {
          const DType dtype = job.source(t, i).dtype;
          const unsigned char* x = stage_source(job, inputs, t, i, first, count, stage.get(), false);
          if (accumulate(a, x, dtype, count, job.weights[i], i == 0) && bad_input < 0) bad_input = static_cast<int>(i);
          sink.read_bytes(count * kDTypeSize[static_cast<int>(dtype)]);
        }
        const bool out_bad = convert(a, out.get(), job.out_dtype, count);
        sink.put(k, t, first, count, ChunkOut{out.get(), bad_input, out_bad});
      }
    } catch (...) {
      sink.fail(k, std::current_exception());
    }
  };
  // Own threads rather than the shared pool: a job holds its workers for its whole run, which
  // would stall every other parallel kernel (and pool resizes) meanwhile.
  std::vector<std::thread> helpers;
  try {
    for (int p = 1; p < threads; ++p) helpers.emplace_back(worker);
  } catch (...) {
    sink.fail(0, std::current_exception());  // cannot start a thread: stop the others early
  }
  worker();
  for (auto& h : helpers) h.join();
}

// Writes the pipelined schedule's finished chunks on its own thread, so the consumer folds the
// next chunk while the last one is pwritten (in the consumer, the write took ~40% of its time).
class ChunkWriter {
 public:
  struct Chunk {
    uint64_t k;
    size_t tensor;
    uint64_t first;
    size_t count;
    ChunkOut out;
  };

  explicit ChunkWriter(Sink& sink) : sink_(sink), thread_([this] { run(); }) {}
  ~ChunkWriter() { close(); }
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Returns once at most `chunks` posted chunks are not yet written: the backend's output buffers
  // alternate, so before finish() the writer may hold one chunk, no more.
  void wait_until_pending(size_t chunks) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return pending_ <= chunks; });
  }

  void post(const Chunk& c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(c);
      ++pending_;
    }
    cv_.notify_all();
  }

  // Writes what was posted, then ends the thread.
  void close() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    for (;;) {
      Chunk c;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return;
        c = queue_.front();
        queue_.pop_front();
      }
      sink_.put(c.k, c.tensor, c.first, c.count, c.out);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --pending_;
      }
      cv_.notify_all();
    }
  }

  Sink& sink_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> queue_;
  size_t pending_ = 0;  // posted, not yet written
  bool closed_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

void run_pipelined(const Job& job, const std::vector<File>& inputs, const Chunks& chunks, Backend& backend,
                   int readers, Sink& sink) {
  Prefetcher reader(job, inputs, backend.staging(), chunks.elems, backend.stages_memory(), readers);
  ChunkWriter writer(sink);
  uint64_t k = 0;  // the chunk in progress: items arrive in job order
  try {
    Item item;
    while (sink.wanted(k) && reader.next(item)) {
      const DType dtype = job.source(item.tensor, item.input).dtype;
      for (size_t f = backend.accumulate(item, dtype, job.weights[item.input], item.input == 0); f > 0; --f)
        reader.release();
      sink.read_bytes(item.count * kDTypeSize[static_cast<int>(dtype)]);
      if (item.input + 1 == job.n()) {
        writer.wait_until_pending(Backend::kOutBuffers - 1);
        const ChunkOut out = backend.finish(item.count);
        for (size_t f = out.freed; f > 0; --f) reader.release();
        writer.post({k, item.tensor, item.first, item.count, out});
        ++k;
      }
    }
  } catch (...) {
    sink.fail(k, std::current_exception());
  }
  writer.close();
}

std::unique_ptr<Backend> make_device_backend(const Job& job, size_t chunk_elems, size_t stage_bytes, int readers) {
  if (job.device == Device::Cpu) return make_cpu_backend(chunk_elems, stage_bytes, kSlots + readers - 1, job.out_dtype);
  if (cuda_device_count() == 0)
    throw AverageError(Kind::Device, "CUDA device not available: " + cuda_device_summary(0));
#ifdef RT_WITH_CUDA
  return make_cuda_backend(chunk_elems, stage_bytes, kSlots + readers - 1, job.out_dtype);
#else
  throw AverageError(Kind::Device, "CUDA device not available: CUDA kernels not built");
#endif
}

}  // namespace

Outcome run_average(const Job& job, const ProgressFn& progress) {
  const auto t0 = Clock::now();
  const size_t n = job.n();
  if (n == 0) throw AverageError(Kind::Range, "average: weights must name at least one input");
  if (job.sources.size() != job.tensors.size() * n)
    throw AverageError(Kind::Range, "average: every tensor needs exactly one source per weight");

  std::vector<File> inputs;
  inputs.reserve(job.inputs.size());
  for (size_t k = 0; k < job.inputs.size(); ++k)
    inputs.emplace_back(job.inputs[k], false, "input file " + std::to_string(k) + " (" + job.inputs[k] + ")");
  check_layout(job, inputs);
  std::vector<File> outputs;
  outputs.reserve(job.outputs.size());
  for (size_t k = 0; k < job.outputs.size(); ++k)
    outputs.emplace_back(job.outputs[k], true, "output " + std::to_string(k) + " (" + job.outputs[k] + ")");

  Outcome r;
  size_t max_es = 1;
  for (size_t t = 0; t < job.tensors.size(); ++t) {
    for (size_t i = 0; i < n; ++i) {
      const size_t es = kDTypeSize[static_cast<int>(job.source(t, i).dtype)];
      r.bytes_read += job.tensors[t].numel * es;
      max_es = std::max(max_es, es);
    }
    r.bytes_written += job.tensors[t].numel * kDTypeSize[static_cast<int>(job.out_dtype)];
  }
  r.chunk_elems = job.chunk_elems > 0                ? job.chunk_elems
                  : job.device == Device::Cuda ? kDefaultCudaChunkElems
                                               : kDefaultCpuChunkElems;
  r.threads = job.threads > 0 ? job.threads : num_threads();
  if (job.device == Device::Cuda) r.threads = std::min(r.threads, job.threads > 0 ? kMaxReaders : kDefaultCudaReaders);
  const Chunks chunks(job, r.chunk_elems);
  const size_t stage_bytes = r.chunk_elems * max_es;

  Sink sink(job, outputs, progress, r.bytes_read);
  if (job.device == Device::Cpu && r.threads > 1) {
    const int workers = static_cast<int>(std::min<uint64_t>(r.threads, std::max<uint64_t>(1, chunks.count())));
    run_chunk_parallel(job, inputs, chunks, stage_bytes, workers, sink);
  } else {
    const int readers = std::min(job.readers > 0 ? job.readers : job.device == Device::Cuda ? r.threads : 1, kMaxReaders);
    auto backend = make_device_backend(job, r.chunk_elems, stage_bytes, readers);
    run_pipelined(job, inputs, chunks, *backend, readers, sink);
  }
  sink.finish(r);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace rt::average
