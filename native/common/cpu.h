// CPU feature level used to pick a kernel variant at run time.
// RATATOUILLE_CPU=scalar|avx2|avx512 caps the level (tests use it to run every variant).
#pragma once

namespace rt {

enum class CpuLevel { Scalar = 0, AVX2 = 1, AVX512 = 2 };

// Highest level both supported by this CPU and allowed by RATATOUILLE_CPU / set_cpu_level_cap.
CpuLevel cpu_level();
// Cap the level for this process (tests, benchmarks). Returns the level now in force.
CpuLevel set_cpu_level_cap(CpuLevel cap);
const char* cpu_level_name(CpuLevel level);
// Highest level the hardware supports, ignoring caps.
CpuLevel cpu_level_supported();

}  // namespace rt
