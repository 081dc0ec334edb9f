// Streaming-average section of rt_gpu_check. Check: the engine on device 'cuda' writes the same
// bytes as on 'cpu' (NaN payloads aside), on mixed-dtype inputs with awkward sizes and values
// (subnormals, F16 overflow), and on the big timing files; a NaN input fails the same way on both.
// Time: engine GB/s on N page-cache-warm files against pread bandwidth of the same files in the
// engine's chunk size, and the device-only accumulate kernel against the device triad.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "average/backend.h"
#include "average/job.h"
#include "bench/gpu_check.h"
#include "common/dtype.h"
#include "common/parallel.h"

namespace rt::bench {
namespace {

using average::Device;
using average::Job;
using average::Outcome;

const char* name_of(DType d) { return kDTypeName[static_cast<int>(d)]; }
size_t size_of(DType d) { return static_cast<size_t>(kDTypeSize[static_cast<int>(d)]); }

// A private directory under --tmp, removed with everything in it however the section ends.
struct TempDir {
  explicit TempDir(const std::string& parent) {
    std::string tmpl = parent + "/rt-gpu-check-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error(parent + ": cannot create a temporary directory: " + std::strerror(errno));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// Whole-file writes, flushed: background writeback of fresh files would compete with the timing.
void write_file(const std::string& path, const unsigned char* data, size_t bytes, bool append = false) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0) throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  for (size_t done = 0; done < bytes;) {
    const ssize_t w = ::write(fd, data + done, bytes - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(path + ": write failed: " + std::strerror(err));
    }
    done += static_cast<size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
}

std::vector<unsigned char> read_file(const std::string& path) {
  std::vector<unsigned char> out(std::filesystem::file_size(path));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  for (size_t done = 0; done < out.size();) {
    const ssize_t r = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ::close(fd);
      throw std::runtime_error(path + ": short read");
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  return out;
}

// Awkward but finite values: random bit patterns (subnormals included) with the exponent kept
// below 2^33 for F32/BF16 (sums stay finite in fp32; F16 outputs may overflow), any finite F16,
// and F64 in [-2, 2).
void odd_values(unsigned char* dst, size_t numel, DType dtype, uint64_t seed) {
  const size_t es = size_of(dtype);
  if (dtype == DType::F64) {
    std::vector<float> f(numel);
    fill_uniform(f.data(), numel, seed, 2.0f);
    for (size_t i = 0; i < numel; ++i) {
      const double d = static_cast<double>(f[i]) * (1.0 + 1e-9 * static_cast<double>(i % 7));
      std::memcpy(dst + 8 * i, &d, 8);
    }
    return;
  }
  fill_bits(dst, numel * es, seed);
  for (size_t i = 0; i < numel; ++i) {
    if (dtype == DType::F32) {
      uint32_t b;
      std::memcpy(&b, dst + 4 * i, 4);
      b &= 0xcfffffffu;
      std::memcpy(dst + 4 * i, &b, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, dst + 2 * i, 2);
      if (dtype == DType::BF16) h &= 0xcfffu;
      else if ((h & 0x7c00u) == 0x7c00u) h &= 0xbfffu;  // F16 inf/NaN exponent: drop its top bit
      std::memcpy(dst + 2 * i, &h, 2);
    }
  }
}

// Checkpoint-like values: uniform in [-0.1, 0.1) rounded to the dtype (no subnormals, which
// would cost CPU assists and make the timing about the data rather than the engine).
void weight_values(unsigned char* dst, size_t numel, DType dtype, uint64_t seed) {
  std::vector<float> f(numel);
  fill_uniform(f.data(), numel, seed, 0.1f);
  parallel_for((numel + 65535) / 65536, [&](size_t c) {
    const size_t end = std::min(numel, (c + 1) * 65536);
    for (size_t i = c * 65536; i < end; ++i) {
      if (dtype == DType::BF16) {
        const uint16_t h = f32_to_bf16(f[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      } else {
        std::memcpy(dst + 4 * i, &f[i], 4);
      }
    }
  });
}

bool is_nan(const unsigned char* p, DType d) {
  if (d == DType::F32) {
    uint32_t b;
    std::memcpy(&b, p, 4);
    return (b & 0x7fffffffu) > 0x7f800000u;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return d == DType::F16 ? (h & 0x7fffu) > 0x7c00u : (h & 0x7fffu) > 0x7f80u;
}

// Output elements [begin, end) byte range of dtype d that differ, two NaNs counting as equal;
// bytes outside the range must match exactly (the engine must not touch them).
uint64_t differences(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b, size_t begin,
                     size_t end, DType d) {
  if (a.size() != b.size()) return UINT64_MAX;
  uint64_t n = 0;
  for (size_t k = 0; k < begin; ++k) n += a[k] != b[k];
  for (size_t k = end; k < a.size(); ++k) n += a[k] != b[k];
  const size_t es = size_of(d);
  for (size_t k = begin; k + es <= end; k += es)
    if (std::memcmp(&a[k], &b[k], es) != 0 && !(is_nan(&a[k], d) && is_nan(&b[k], d))) ++n;
  return n;
}

// N input files, each a junk prefix then every tensor back to back, input i of tensor t as
// dtypes[t][i]; returns the job minus outputs and out_dtype.
Job write_inputs(const TempDir& dir, const std::string& tag, const std::vector<size_t>& sizes,
                 const std::vector<std::vector<DType>>& dtypes, void (*values)(unsigned char*, size_t, DType, uint64_t)) {
  Job job;
  const size_t n = dtypes.front().size();
  job.tensors.resize(sizes.size());
  job.sources.resize(sizes.size() * n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<unsigned char> bytes(5 + i, 0xab);
    for (size_t t = 0; t < sizes.size(); ++t) {
      const DType d = dtypes[t][i];
      job.sources[t * n + i] = {static_cast<int>(i), nullptr, bytes.size(), d};
      const size_t at = bytes.size();
      bytes.resize(at + sizes[t] * size_of(d));
      values(bytes.data() + at, sizes[t], d, 1 + 97 * t + 13 * i);
    }
    job.inputs.push_back(dir.file(tag + std::to_string(i) + ".bin"));
    write_file(job.inputs.back(), bytes.data(), bytes.size());
    job.weights.push_back(static_cast<float>(i + 1) / static_cast<float>(n * (n + 1) / 2));
  }
  for (size_t t = 0; t < sizes.size(); ++t) job.tensors[t] = {"t" + std::to_string(t), sizes[t], 0, 0};
  return job;
}

// Points the job at a fresh output file (tensors from byte 7, 3 guard bytes after); returns the
// end of the tensor bytes.
size_t set_output(Job& job, const std::string& path, DType out) {
  job.out_dtype = out;
  job.outputs = {path};
  size_t off = 7;
  for (auto& t : job.tensors) t.out_offset = off, off += t.numel * size_of(out);
  std::vector<unsigned char> fill(off + 3, 0xee);
  write_file(path, fill.data(), fill.size());
  return off;
}

std::string count_text(uint64_t n, const char* what) { return std::to_string(n) + " " + what; }

// Mixed dtypes, awkward sizes: CUDA (two chunk sizes) and the CPU pipelined schedule against
// the CPU chunk-parallel engine, for each output dtype; then a NaN input on both devices.
Json check_mixed(Context& ctx, const TempDir& dir) {
  const std::vector<size_t> sizes = {0, 1, 7, 33, 100003, (size_t{1} << 20) + 3, 3 * 768 * 768};
  const DType rot[] = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::BF16};
  std::vector<std::vector<DType>> dtypes(sizes.size(), std::vector<DType>(5));
  for (size_t t = 0; t < sizes.size(); ++t)
    for (size_t i = 0; i < 5; ++i) dtypes[t][i] = rot[(i + t) % 5];
  Job job = write_inputs(dir, "mixed", sizes, dtypes, odd_values);
  job.allow_nonfinite = true;  // F16 outputs of large BF16 sums overflow: both must write the same infinities
  Json cases = Json::array();
  for (DType out : {DType::F32, DType::F16, DType::BF16}) {
    Job ref = job;
    ref.device = Device::Cpu;
    const size_t end = set_output(ref, dir.file("mixed-cpu.out"), out);
    const Outcome want = average::run_average(ref, {});
    const std::vector<unsigned char> want_bytes = read_file(ref.outputs[0]);
    struct Variant {
      const char* name;
      Device device;
      int threads;
      size_t chunk;
    };
    for (const Variant& v : {Variant{"cpu pipelined", Device::Cpu, 1, 1024}, Variant{"cuda", Device::Cuda, 0, 1024},
                             Variant{"cuda", Device::Cuda, 0, 0}}) {
      const std::string name = std::string("average mixed dtypes -> ") + name_of(out) + ": " + v.name + " (chunk " +
                               (v.chunk ? std::to_string(v.chunk) : "default") + ") vs cpu chunk-parallel";
      Json c = Json::object().set("out", name_of(out)).set("variant", v.name).set("chunk_elems", v.chunk);
      if (v.device == Device::Cuda && !ctx.gpu) {
        ctx.check(name, nullptr, ctx.no_gpu_reason);
        cases.push(c.set("skipped", ctx.no_gpu_reason));
        continue;
      }
      ctx.attempt(name, [&] {
        Job run = job;
        run.device = v.device, run.threads = v.threads, run.chunk_elems = v.chunk;
        set_output(run, dir.file("mixed-run.out"), out);
        const Outcome got = average::run_average(run, {});
        const uint64_t diff = differences(read_file(run.outputs[0]), want_bytes, 7, end, out);
        const bool same_reports = got.nonfinite_input == want.nonfinite_input && got.overflow_tensor == want.overflow_tensor;
        const bool ok = diff == 0 && same_reports;
        c.set("differing_elements", diff).set("overflow_tensor", got.overflow_tensor).set("same_reports", same_reports);
        ctx.check(name, &ok, count_text(diff, "differing elements") + (same_reports ? "" : ", different overflow reports"));
      });
      cases.push(std::move(c));
    }
  }

  // A NaN in input 3 of tensor 4: the same error, word for word, on both devices.
  Json nonfinite = Json::object();
  {
    const average::Source& src = job.source(4, 3);
    std::vector<unsigned char> bytes = read_file(job.inputs[3]);
    const unsigned char nan32[] = {0, 0, 0xc0, 0x7f}, nan16[] = {0xc0, 0x7f}, nan64[] = {0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
    const unsigned char* nan = src.dtype == DType::F32 ? nan32 : src.dtype == DType::F64 ? nan64 : nan16;
    std::memcpy(&bytes[src.offset + 10 * size_of(src.dtype)], nan, size_of(src.dtype));
    write_file(job.inputs[3], bytes.data(), bytes.size());
    auto message = [&](Device d) -> std::string {
      Job run = job;
      run.allow_nonfinite = false, run.device = d;
      set_output(run, dir.file("nan.out"), DType::F32);
      try {
        average::run_average(run, {});
        return "no error";
      } catch (const average::AverageError& e) {
        return std::string(e.kind == average::AverageError::Kind::Nonfinite ? "nonfinite: " : "other: ") + e.what();
      }
    };
    const std::string cpu = message(Device::Cpu);
    nonfinite.set("cpu", cpu);
    const bool cpu_ok = cpu.rfind("nonfinite: ", 0) == 0;
    ctx.check("average NaN input: cpu reports a non-finite input", &cpu_ok, cpu);
    if (ctx.gpu) {
      const std::string cuda = message(Device::Cuda);
      nonfinite.set("cuda", cuda);
      const bool ok = cuda == cpu;
      ctx.check("average NaN input: cuda reports the same error as cpu", &ok, cuda);
    } else {
      nonfinite.set("cuda", Json::object().set("skipped", ctx.no_gpu_reason));
      ctx.check("average NaN input: cuda reports the same error as cpu", nullptr, ctx.no_gpu_reason);
    }
  }
  return Json::object().set("sizes", Json::array_of(sizes)).set("cases", std::move(cases)).set("nonfinite", std::move(nonfinite));
}

// Engine GB/s (input bytes / wall time, median of repeats after a warm-up) and pread GB/s of the
// same files in the engine's chunk size (median likewise).
struct Rate {
  double gbs = 0, read_gbs = 0;
  int threads = 0;
  Json json;
};

Rate engine_rate(Context& ctx, const Job& job, size_t chunk_bytes) {
  std::vector<double> engine, read;
  Outcome o;
  for (int r = 0; r <= ctx.opt.avg_repeats; ++r) {
    o = average::run_average(job, {});
    if (r > 0) engine.push_back(static_cast<double>(o.bytes_read) / o.seconds / 1e9);
  }
  for (int r = 0; r < ctx.opt.avg_repeats; ++r) {
    const average::ReadBandwidth b = average::read_bandwidth(job.inputs, chunk_bytes);
    read.push_back(static_cast<double>(b.bytes) / b.seconds / 1e9);
  }
  Rate rate;
  rate.gbs = median(engine), rate.read_gbs = median(read), rate.threads = o.threads;
  rate.json = Json::object()
                  .set("gbs", rate.gbs)
                  .set("read_gbs", rate.read_gbs)
                  .set("of_read", rate.gbs / rate.read_gbs)
                  .set("chunk_elems", o.chunk_elems)
                  .set("read_chunk_bytes", chunk_bytes)
                  .set("threads", o.threads);
  return rate;
}

// N files of avg_file_mib each (page cache warm), F32 -> F32 or BF16 -> BF16, in 4 Mi-element
// tensors: CPU and CUDA engine rates, and their outputs compared.
Json throughput(Context& ctx, const TempDir& dir, DType dtype) {
  const size_t n = static_cast<size_t>(ctx.opt.avg_files);
  const size_t numel = (ctx.opt.avg_file_mib << 20) / size_of(dtype);
  const size_t tensor = size_t{4} << 20;
  std::vector<size_t> sizes;
  for (size_t left = numel; left > 0; left -= std::min(left, tensor)) sizes.push_back(std::min(left, tensor));
  // Written file by file in blocks of 16 Mi values so the generator's memory stays small.
  Job job;
  const auto t0 = std::chrono::steady_clock::now();
  const size_t block = std::min(numel, size_t{16} << 20);
  std::vector<unsigned char> buf(block * size_of(dtype));
  for (size_t i = 0; i < n; ++i) {
    job.inputs.push_back(dir.file(std::string("tp-") + name_of(dtype) + "-" + std::to_string(i) + ".bin"));
    write_file(job.inputs.back(), nullptr, 0);
    for (size_t at = 0; at < numel; at += block) {
      const size_t k = std::min(block, numel - at);
      weight_values(buf.data(), k, dtype, 1000 * i + at / block + 7);
      write_file(job.inputs.back(), buf.data(), k * size_of(dtype), true);
    }
    job.weights.push_back(1.0f / static_cast<float>(n));
  }
  for (size_t t = 0, off = 0; t < sizes.size(); off += sizes[t++]) {
    job.tensors.push_back({"t" + std::to_string(t), sizes[t], off * size_of(dtype), 0});
    for (size_t i = 0; i < n; ++i) job.sources.push_back({static_cast<int>(i), nullptr, off * size_of(dtype), dtype});
  }
  job.out_dtype = dtype;
  auto output = [&](const std::string& name) {
    std::vector<unsigned char> zeros(numel * size_of(dtype), 0);
    write_file(dir.file(name), zeros.data(), zeros.size());
    return std::vector<std::string>{dir.file(name)};
  };
  average::read_bandwidth(job.inputs, size_t{4} << 20);  // page cache warm before any timing
  say("  wrote %zu x %zu MiB %s (fsynced) in %.1f s", n, ctx.opt.avg_file_mib, name_of(dtype), seconds_since(t0));

  Json j = Json::object().set("files", n).set("file_mib", ctx.opt.avg_file_mib).set("tensors", sizes.size());
  Job cpu = job;
  cpu.device = Device::Cpu, cpu.outputs = output("tp-cpu.out");
  const std::string label = std::to_string(n) + " x " + std::to_string(ctx.opt.avg_file_mib) + " MiB " + name_of(dtype);
  Rate c = engine_rate(ctx, cpu, average::kDefaultCpuChunkElems * size_of(dtype));
  say("  cpu  engine %s: %6.2f GB/s; pread (1 thread, same chunk) %6.2f GB/s", label.c_str(), c.gbs, c.read_gbs);
  j.set("cpu", std::move(c.json));
  if (!ctx.gpu) {
    j.set("cuda", Json::object().set("skipped", ctx.no_gpu_reason));
    ctx.check("average " + label + ": cuda vs cpu bit-exact", nullptr, ctx.no_gpu_reason);
    return j;
  }
  // One reader thread (the engine before it read in parallel) as the same-run baseline, then a
  // few reader counts, then the default (threads, at most 16).
  Job one = job;
  one.device = Device::Cuda, one.readers = 1, one.outputs = output("tp-cuda1.out");
  Rate g1 = engine_rate(ctx, one, average::kDefaultCudaChunkElems * size_of(dtype));
  say("  cuda engine %s: %6.2f GB/s with 1 reader", label.c_str(), g1.gbs);
  Json sweep = Json::array();
  for (int readers : {2, 4, 8}) {
    Job some = one;
    some.readers = readers;
    Rate gr = engine_rate(ctx, some, average::kDefaultCudaChunkElems * size_of(dtype));
    say("  cuda engine %s: %6.2f GB/s with %d readers, %.2fx one reader", label.c_str(), gr.gbs, readers, gr.gbs / g1.gbs);
    sweep.push(Json::object().set("readers", readers).set("gbs", gr.gbs).set("vs_one_reader", gr.gbs / g1.gbs));
  }
  Job cuda = job;
  cuda.device = Device::Cuda, cuda.outputs = output("tp-cuda.out");
  Rate g = engine_rate(ctx, cuda, average::kDefaultCudaChunkElems * size_of(dtype));
  say("  cuda engine %s: %6.2f GB/s (default: %d readers) = %.2f of the cpu engine, %.2fx one reader",
      label.c_str(), g.gbs, g.threads, g.gbs / c.gbs, g.gbs / g1.gbs);
  j.set("cuda", std::move(g.json.set("of_cpu_engine", g.gbs / c.gbs).set("vs_one_reader", g.gbs / g1.gbs)));
  j.set("cuda_one_reader", std::move(g1.json));
  j.set("cuda_readers", std::move(sweep));
  const uint64_t diff = differences(read_file(cuda.outputs[0]), read_file(cpu.outputs[0]), 0, numel * size_of(dtype), dtype);
  const bool ok = diff == 0;
  j.set("differing_elements", diff);
  ctx.check("average " + label + ": cuda vs cpu bit-exact", &ok, count_text(diff, "differing elements"));
  return j;
}

// The accumulate kernel alone, inputs already on the device (one array re-read N times, far
// larger than L2): what the engine could reach if reads and copies were free.
Json kernel_rate(Context& ctx, DType dtype) {
  if (!ctx.gpu) return Json::object().set("skipped", ctx.no_gpu_reason);
#ifdef RT_WITH_CUDA
  const size_t elems = (ctx.opt.avg_file_mib << 20) / size_of(dtype);
  const average::KernelTiming k = average::cuda_accumulate_timing(dtype, elems, ctx.opt.avg_files, 5);
  const double gbs = k.bytes / (k.median_ms * 1e-3) / 1e9;
  const double input_gbs = static_cast<double>(elems * size_of(dtype)) * ctx.opt.avg_files / (k.median_ms * 1e-3) / 1e9;
  say("  cuda accumulate kernel %s: %.3f ms per fold of %d inputs, %.0f GB/s moved (%.2f of triad), %.0f GB/s of input",
      name_of(dtype), k.median_ms, ctx.opt.avg_files, gbs, gbs / ctx.cuda_triad_gbs, input_gbs);
  return Json::object()
      .set("elems", elems)
      .set("inputs", ctx.opt.avg_files)
      .set("median_ms", k.median_ms)
      .set("bytes_moved", k.bytes)
      .set("gbs", gbs)
      .set("of_triad", gbs / ctx.cuda_triad_gbs)
      .set("input_gbs", input_gbs);
#else
  (void)dtype;
  return Json::object().set("skipped", "CUDA kernels not built");
#endif
}

}  // namespace

void run_average_section(Context& ctx) {
  TempDir dir(ctx.opt.tmp_dir);
  Json section = Json::object();
  say("average: agreement (mixed dtypes, 5 inputs)");
  ctx.attempt("average mixed-dtype agreement", [&] { section.set("agreement", check_mixed(ctx, dir)); });
  say("average: throughput (%d files x %zu MiB, page cache warm)", ctx.opt.avg_files, ctx.opt.avg_file_mib);
  Json tp = Json::object(), kernel = Json::object();
  for (DType d : {DType::F32, DType::BF16}) {
    ctx.attempt(std::string("average throughput ") + name_of(d), [&] { tp.set(name_of(d), throughput(ctx, dir, d)); });
    ctx.attempt(std::string("average kernel ") + name_of(d), [&] { kernel.set(name_of(d), kernel_rate(ctx, d)); });
  }
  section.set("throughput", std::move(tp));
  section.set("kernel", std::move(kernel));
  ctx.report.set("average", std::move(section));
}

}  // namespace rt::bench
