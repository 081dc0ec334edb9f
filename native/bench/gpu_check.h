// Shared pieces of rt_gpu_check (gpu_check.cc): options, the report being built, seeded data,
// timing helpers. Each section (optimizers, average) adds its results and named checks to the
// report; a check that cannot run (no GPU) is recorded as skipped, never as passed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "bench/json.h"

namespace rt::bench {

struct Options {
  bool quick = false;                      // small sizes: for machines without a GPU (CPU parts only)
  std::vector<size_t> optim_params;        // total parameters of each optimizer benchmark size
  int optim_steps = 25;                    // timed CUDA steps per size (median reported)
  int avg_files = 8;                       // streaming-average inputs
  size_t avg_file_mib = 256;               // bytes of each input (either dtype)
  int avg_repeats = 3;                     // timed engine / read-bandwidth runs (median reported)
  std::string tmp_dir = "/tmp";
  int device = 0;                          // fixed: the average engine's CUDA backend uses device 0
};

// What the sections share: whether the GPU parts can run, the triads measured at the start (the
// denominators of every ratio) and the growing report.
struct Context {
  Options opt;
  bool gpu = false;
  std::string no_gpu_reason;  // why the GPU parts are skipped
  double cuda_triad_gbs = 0, cuda_peak_gbs = 0, cpu_triad_gbs = 0;
  Json report = Json::object();
  Json checks = Json::array();
  int failures = 0;

  // pass == nullptr: skipped for the reason given.
  void check(const std::string& name, const bool* pass, const std::string& detail);
  bool failed() const { return failures > 0; }

  // Runs one part of a section; an exception fails that part (a named check) and the rest go on.
  template <class Fn>
  void attempt(const std::string& part, Fn fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      const bool no = false;
      check(part + ": ran to the end", &no, e.what());
    }
  }
};

// Same tensor split as src/bench/optim.ts transformerLikeSizes and scripts/gpu_torch_compare.py:
// blocks of (qkv, qkv bias, proj, bias, fc1, fc1 bias, fc2, bias, 2 norms' weights and biases)
// with a width chosen from the total, the last tensor cut short.
std::vector<size_t> transformer_like_sizes(size_t total);

// Deterministic values independent of thread count: element i of stream `seed` is a pure
// function of (seed, i). Uniform in [-scale, scale).
void fill_uniform(float* x, size_t n, uint64_t seed, float scale);
// Raw random bits of `bytes` bytes (for bit-pattern dtype data); element-independent likewise.
void fill_bits(unsigned char* x, size_t bytes, uint64_t seed);
uint64_t mix64(uint64_t x);

double median(std::vector<double> v);

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Human summary lines go to stderr as they are produced.
void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

void run_optim_section(Context& ctx);
void run_average_section(Context& ctx);

}  // namespace rt::bench
