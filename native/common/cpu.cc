// Run-time kernel level: what the CPU supports, capped by RATATOUILLE_CPU and by tests through
// set_cpu_level_cap, so one binary carries every variant and tests can run each of them.
#include "common/cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace rt {

CpuLevel cpu_level_supported() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return CpuLevel::AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuLevel::AVX2;
#endif
  return CpuLevel::Scalar;
}

static CpuLevel env_cap() {
  const char* s = std::getenv("RATATOUILLE_CPU");
  if (!s) return CpuLevel::AVX512;
  if (!std::strcmp(s, "scalar")) return CpuLevel::Scalar;
  if (!std::strcmp(s, "avx2")) return CpuLevel::AVX2;
  return CpuLevel::AVX512;
}

static std::atomic<int> g_cap{-1};

CpuLevel set_cpu_level_cap(CpuLevel cap) {
  g_cap.store(static_cast<int>(cap));
  return cpu_level();
}

CpuLevel cpu_level() {
  static const CpuLevel hw = cpu_level_supported();
  static const CpuLevel env = env_cap();
  int cap = g_cap.load();
  CpuLevel level = hw < env ? hw : env;
  if (cap >= 0 && static_cast<CpuLevel>(cap) < level) level = static_cast<CpuLevel>(cap);
  return level;
}

const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::AVX512: return "avx512";
    case CpuLevel::AVX2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace rt
