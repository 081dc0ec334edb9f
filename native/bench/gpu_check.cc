// rt_gpu_check: the native GPU check of model-ratatouille, llm.c style (check first, then time).
// Runs the CUDA optimizer steps and the CUDA streaming average against their CPU references, then
// times them against the device triad (and page-cache reads) measured in the same run. Uses the
// C++ APIs directly: no Node, no Python. Built by `cmake -DRATATOUILLE_BUILD_TOOLS=ON`; run by
// scripts/gpu-check.sh. Without a GPU (or a CUDA build) the CPU parts run and the GPU parts are
// reported as skipped.
//
//   rt_gpu_check [--quick] [--optim-params 16M,64M] [--optim-steps 25] [--avg-files 8]
//                [--avg-mib 256] [--avg-repeats 3] [--tmp /tmp]
//
// GPU: device 0, as the average engine's CUDA backend uses (CUDA_VISIBLE_DEVICES picks another).
// stdout: one JSON object. stderr: a human summary. Exit: 0 every check that ran passed (GPU
// checks may be skipped: see "gpu".available), 1 some check failed, 2 bad arguments or an
// unexpected error (the JSON then holds "error").
#include "bench/gpu_check.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "common/cpu.h"
#include "common/device.h"
#include "common/membw.h"
#include "common/parallel.h"

namespace rt::bench {

void Context::check(const std::string& name, const bool* pass, const std::string& detail) {
  Json c = Json::object();
  c.set("name", name);
  if (pass) c.set("pass", *pass).set("detail", detail);
  else c.set("pass", Json()).set("skipped", detail);
  if (pass && !*pass) ++failures;
  checks.push(std::move(c));
  say("  [%s] %s: %s", pass ? (*pass ? "PASS" : "FAIL") : "skip", name.c_str(), detail.c_str());
}

std::vector<size_t> transformer_like_sizes(size_t total) {
  const double t = static_cast<double>(total);
  const size_t d = static_cast<size_t>(std::min(4096.0, std::max(64.0, std::floor(std::sqrt(t / 24) / 64) * 64)));
  const size_t block[] = {3 * d * d, 3 * d, d * d, d, 4 * d * d, 4 * d, 4 * d * d, d, d, d, d, d};
  std::vector<size_t> sizes;
  for (size_t left = total, i = 0; left > 0; ++i) {
    const size_t s = std::min(left, block[i % 12]);
    sizes.push_back(s);
    left -= s;
  }
  return sizes;
}

uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

namespace {
constexpr size_t kFillChunk = size_t{1} << 16;
}

void fill_uniform(float* x, size_t n, uint64_t seed, float scale) {
  const uint64_t base = mix64(seed);
  parallel_for((n + kFillChunk - 1) / kFillChunk, [&](size_t c) {
    const size_t end = std::min(n, (c + 1) * kFillChunk);
    for (size_t i = c * kFillChunk; i < end; ++i) {
      const uint64_t r = mix64(base ^ i);
      x[i] = (static_cast<float>(r >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale;
    }
  });
}

void fill_bits(unsigned char* x, size_t bytes, uint64_t seed) {
  const uint64_t base = mix64(seed);
  const size_t words = bytes / 8;
  parallel_for((words + kFillChunk - 1) / kFillChunk, [&](size_t c) {
    const size_t end = std::min(words, (c + 1) * kFillChunk);
    for (size_t i = c * kFillChunk; i < end; ++i) {
      const uint64_t r = mix64(base ^ i);
      std::memcpy(x + 8 * i, &r, 8);
    }
  });
  for (size_t i = words * 8; i < bytes; ++i) x[i] = static_cast<unsigned char>(mix64(base ^ (i << 32)));
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "rt_gpu_check: %s\nusage: rt_gpu_check [--quick] [--optim-params 16M,64M] [--optim-steps N] "
               "[--avg-files N] [--avg-mib MiB] [--avg-repeats N] [--tmp DIR]\n",
               why.c_str());
  std::exit(2);
}

// "16M", "64M", "1000003", "4K" -> count (K, M = 2^10, 2^20).
size_t parse_count(const std::string& s, const char* flag) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  size_t mult = 1;
  if (end && (*end == 'M' || *end == 'm')) mult = size_t{1} << 20, ++end;
  else if (end && (*end == 'K' || *end == 'k')) mult = size_t{1} << 10, ++end;
  if (s.empty() || !end || *end != '\0' || v == 0) usage(std::string(flag) + ": expected a positive count, got '" + s + "'");
  return static_cast<size_t>(v) * mult;
}

Options parse(int argc, char** argv) {
  Options o;
  bool sizes_given = false;
  for (int a = 1; a < argc; ++a) {
    const std::string f = argv[a];
    auto value = [&]() -> std::string {
      if (a + 1 >= argc) usage(f + " needs a value");
      return argv[++a];
    };
    if (f == "--quick") o.quick = true;
    else if (f == "--optim-params") {
      o.optim_params.clear();
      std::string v = value();
      for (size_t b = 0; b <= v.size();) {
        size_t e = v.find(',', b);
        if (e == std::string::npos) e = v.size();
        o.optim_params.push_back(parse_count(v.substr(b, e - b), "--optim-params"));
        b = e + 1;
      }
      sizes_given = true;
    } else if (f == "--optim-steps") o.optim_steps = static_cast<int>(parse_count(value(), "--optim-steps"));
    else if (f == "--avg-files") o.avg_files = static_cast<int>(parse_count(value(), "--avg-files"));
    else if (f == "--avg-mib") o.avg_file_mib = parse_count(value(), "--avg-mib");
    else if (f == "--avg-repeats") o.avg_repeats = static_cast<int>(parse_count(value(), "--avg-repeats"));
    else if (f == "--tmp") o.tmp_dir = value();
    else if (f == "--help" || f == "-h") usage("help");
    else usage("unknown argument '" + f + "'");
  }
  if (!sizes_given) o.optim_params = o.quick ? std::vector<size_t>{size_t{4} << 20} : std::vector<size_t>{size_t{16} << 20, size_t{64} << 20};
  if (o.quick) {
    o.avg_files = std::min(o.avg_files, 4);
    o.avg_file_mib = std::min<size_t>(o.avg_file_mib, 32);
  }
  return o;
}

Json options_json(const Options& o) {
  return Json::object()
      .set("quick", o.quick)
      .set("optim_params", Json::array_of(o.optim_params))
      .set("optim_steps", o.optim_steps)
      .set("avg_files", o.avg_files)
      .set("avg_file_mib", o.avg_file_mib)
      .set("avg_repeats", o.avg_repeats)
      .set("tmp_dir", o.tmp_dir);
}

Json bandwidth_json(const BandwidthResult& r) {
  return Json::object()
      .set("median_gbs", r.median_gbs)
      .set("best_gbs", r.best_gbs)
      .set("array_bytes", r.array_bytes)
      .set("repeats", r.repeats);
}

// Machine facts and the triads every ratio is divided by. Decides whether the GPU parts run.
void probe_machine(Context& ctx) {
  const int devices = cuda_device_count();
  Json m = Json::object()
               .set("cpu_level", cpu_level_name(cpu_level()))
               .set("threads", num_threads())
               .set("cuda_built", cuda_built())
               .set("cuda_devices", devices);
  if (!cuda_built()) ctx.no_gpu_reason = "CUDA kernels not built (configure with -DRATATOUILLE_CUDA=ON)";
  else if (devices <= ctx.opt.device) ctx.no_gpu_reason = cuda_device_summary(ctx.opt.device);  // "no GPU (why)"
  ctx.gpu = ctx.no_gpu_reason.empty();
  if (ctx.gpu) {
    m.set("device", cuda_device_summary(ctx.opt.device));
    ctx.cuda_peak_gbs = cuda_peak_bandwidth_gbs(ctx.opt.device);
    m.set("peak_gbs", ctx.cuda_peak_gbs);
  }
  say("machine: cpu %s x%d threads; %s", cpu_level_name(cpu_level()), num_threads(),
      ctx.gpu ? cuda_device_summary(ctx.opt.device).c_str() : ctx.no_gpu_reason.c_str());

  Json triad = Json::object();
  const BandwidthResult cpu = cpu_triad(ctx.opt.quick ? size_t{64} << 20 : size_t{256} << 20, 5, true);
  ctx.cpu_triad_gbs = cpu.median_gbs;
  triad.set("cpu", bandwidth_json(cpu));
  say("triad: cpu %.1f GB/s (median, 3 x %zu MiB)", cpu.median_gbs, cpu.array_bytes >> 20);
  if (ctx.gpu) {
    try {
      // 3 x 256 MiB: far beyond any GPU's L2, so this is HBM bandwidth.
      const BandwidthResult g = cuda_triad(size_t{256} << 20, 10, ctx.opt.device);
      ctx.cuda_triad_gbs = g.median_gbs;
      Json j = bandwidth_json(g);
      if (ctx.cuda_peak_gbs > 0) j.set("of_peak", g.median_gbs / ctx.cuda_peak_gbs);
      triad.set("cuda", std::move(j));
      say("triad: cuda %.0f GB/s (median), peak %.0f GB/s", g.median_gbs, ctx.cuda_peak_gbs);
    } catch (const std::exception& e) {
      ctx.gpu = false;
      ctx.no_gpu_reason = std::string("CUDA triad failed: ") + e.what();
      triad.set("cuda", Json::object().set("error", e.what()));
    }
  } else {
    triad.set("cuda", Json::object().set("skipped", ctx.no_gpu_reason));
  }
  ctx.report.set("machine", std::move(m));
  ctx.report.set("gpu", Json::object().set("available", ctx.gpu).set("reason", ctx.gpu ? Json() : Json(ctx.no_gpu_reason)));
  ctx.report.set("triad", std::move(triad));
}

// A section that throws fails as a whole; the others still run.
template <class Fn>
void guarded(Context& ctx, const char* name, Fn fn) {
  const auto t0 = std::chrono::steady_clock::now();
  ctx.attempt(name, [&] { fn(ctx); });
  say("%s: %.1f s", name, seconds_since(t0));
}

}  // namespace
}  // namespace rt::bench

int main(int argc, char** argv) {
  using namespace rt::bench;
  const auto t0 = std::chrono::steady_clock::now();
  Context ctx;
  ctx.opt = parse(argc, argv);
  ctx.report.set("tool", "rt_gpu_check").set("options", options_json(ctx.opt));
  int code = 0;
  try {
    probe_machine(ctx);
    if (!ctx.gpu) say("GPU parts skipped: %s", ctx.no_gpu_reason.c_str());
    guarded(ctx, "optim", run_optim_section);
    guarded(ctx, "average", run_average_section);
    code = ctx.failed() ? 1 : 0;
  } catch (const std::exception& e) {
    ctx.report.set("error", e.what());
    say("error: %s", e.what());
    code = 2;
  }
  ctx.report.set("checks", ctx.checks);
  ctx.report.set("pass", code == 0);
  ctx.report.set("seconds", seconds_since(t0));
  std::printf("%s\n", ctx.report.dump(1).c_str());
  say("rt_gpu_check: %s in %.1f s%s", code == 0 ? "all checks that ran passed" : code == 1 ? "SOME CHECKS FAILED" : "error",
      seconds_since(t0), ctx.gpu ? "" : " (GPU parts skipped)");
  return code;
}
